#include "tenants/TenantsCommand.h"

#include "tenants/TenantConfigParser.h"
#include "tenants/TenantDefinitionFiles.h"
#include "tenants/TenantStoreFactory.h"
#include "tenants/WebTokens.h"

#include <Poco/DateTimeFormat.h>
#include <Poco/DateTimeFormatter.h>
#include <Poco/Environment.h>
#include <Poco/Timestamp.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <memory>
#include <optional>

namespace sideband::tenants {
namespace {

constexpr int kUsage = 64;
constexpr int kDataError = 65;
constexpr int kUnavailable = 69;
constexpr int kConfigError = 78;

constexpr const char* kHelp = R"(usage: sideband-host tenants import DIR [--db URL]
       sideband-host tenants list [--db URL]
       sideband-host tenants token create TENANT [--origin ORIGIN]... [--rate N] [--db URL]
       sideband-host tenants token list TENANT [--db URL]
       sideband-host tenants token revoke TENANT TOKEN_ID [--db URL]
  import           loads every DIR/<id>/tenant.json (+ instructions.md) into the database: all files
                   are checked first and written in one transaction, or nothing is written
  list             prints the tenants in the database
  token create     makes a web token for the tenant's WebRTC calls and prints its secret, once
  token list       prints the tenant's web tokens (never their secrets)
  token revoke     revokes a web token at once
  --origin ORIGIN  a browser origin the token may be used from (scheme://host[:port]); repeatable;
                   none: any origin
  --rate N         calls the token may create per minute (1-10000, default 30)
  --db URL         database (default: $SIDEBAND_DB, else sqlite:sideband.db)
)";

// The command line, parsed.
struct Options {
    std::string url;
    std::vector<std::string> positional;
    std::vector<std::string> origins;
    std::optional<std::string> rate;
};

std::string joined(const std::vector<std::string> &items, const char *separator) {
    std::string out;
    for (const auto &item : items)
        out += (out.empty() ? "" : separator) + item;
    return out;
}

bool sameDefinition(const TenantDefinition &a, const TenantDefinition &b) {
    auto numbersA = a.numbers, numbersB = b.numbers;
    std::sort(numbersA.begin(), numbersA.end());
    std::sort(numbersB.begin(), numbersB.end());
    const auto sameInstructions = a.instructions.has_value() == b.instructions.has_value() &&
                                  (!a.instructions || (a.instructions->prompt == b.instructions->prompt &&
                                                       a.instructions->greeting == b.instructions->greeting));
    return a.name == b.name && a.enabled == b.enabled && a.callLimit == b.callLimit && numbersA == numbersB &&
           a.configJson == b.configJson && sameInstructions;
}

std::string pluginOf(const TenantDefinition &tenant) {
    try {
        const auto config = parseTenantConfig(tenant.id, tenant.configJson, tenant.callLimit);
        return config.plugin.empty() ? "-" : config.plugin;
    } catch (const StoreError &) {
        return "(invalid config)";
    }
}

// Opens the store, turning failures into a message and an exit code.
std::unique_ptr<TenantStore> openStore(const std::string &url, int &exitCode) {
    try {
        return openTenantStore(url);
    } catch (const std::invalid_argument &e) {
        std::cerr << "tenants: " << e.what() << "\n";
        exitCode = kConfigError;
    } catch (const StoreError &e) {
        std::cerr << "tenants: " << e.what() << "\n";
        exitCode = kUnavailable;
    }
    return nullptr;
}

int exitCodeFor(const StoreError &error) {
    return error.code() == StoreErrorCode::Unavailable ? kUnavailable : kDataError;
}

// Columns padded to their widest cell, two spaces apart; the first row is the header.
void printTable(const std::vector<std::vector<std::string>>& rows) {
    std::vector<std::size_t> widths(rows.front().size(), 0);
    for (const auto& row : rows)
        for (std::size_t i = 0; i < row.size(); ++i)
            widths[i] = std::max(widths[i], row[i].size());
    for (const auto& row : rows) {
        std::string line;
        for (std::size_t i = 0; i < row.size(); ++i)
            line += i + 1 < row.size() ? row[i] + std::string(widths[i] - row[i].size() + 2, ' ') : row[i];
        std::cout << line << "\n";
    }
}

int importTenants(const std::string &dir, const std::string &url) {
    auto loaded = loadTenantDirectory(dir);
    for (const auto &warning : loaded.warnings)
        std::cerr << "warning: " << warning << "\n";
    if (!loaded.errors.empty()) {
        for (const auto &error : loaded.errors)
            std::cerr << error << "\n";
        std::cerr << "tenants: nothing imported (" << loaded.errors.size() << " problem"
                  << (loaded.errors.size() == 1 ? "" : "s") << ")\n";
        return kDataError;
    }

    int exitCode = 0;
    const auto store = openStore(url, exitCode);
    if (!store) return exitCode;
    try {
        std::map<std::string, TenantDefinition> existing;
        for (auto &tenant : store->listTenants())
            existing.emplace(tenant.id, std::move(tenant));
        store->upsertTenants(loaded.tenants);
        for (const auto &tenant : loaded.tenants) {
            const auto it = existing.find(tenant.id);
            const char *change = it == existing.end()                 ? "created"
                                 : sameDefinition(it->second, tenant) ? "unchanged"
                                                                      : "updated";
            std::cout << tenant.id << ": " << change << " (" << tenant.numbers.size() << " number"
                      << (tenant.numbers.size() == 1 ? "" : "s") << ", plugin " << pluginOf(tenant) << ")\n";
        }
        std::cout << "imported " << loaded.tenants.size() << " tenant" << (loaded.tenants.size() == 1 ? "" : "s")
                  << " into " << redactStoreUrl(url) << "\n";
        return 0;
    } catch (const StoreError &e) {
        std::cerr << "tenants: " << e.what() << "\ntenants: nothing imported\n";
        return exitCodeFor(e);
    }
}

int listTenants(const std::string &url) {
    int exitCode = 0;
    const auto store = openStore(url, exitCode);
    if (!store) return exitCode;
    std::vector<TenantDefinition> tenants;
    try {
        tenants = store->listTenants();
    } catch (const StoreError &e) {
        std::cerr << "tenants: " << e.what() << "\n";
        return exitCodeFor(e);
    }

    std::vector<std::vector<std::string>> rows = {
        {"ID", "NAME", "ENABLED", "LIMIT", "NUMBERS", "PLUGIN", "INSTRUCTIONS"}};
    for (const auto &tenant : tenants)
        rows.push_back({tenant.id, tenant.name, tenant.enabled ? "yes" : "no",
                        tenant.callLimit ? std::to_string(*tenant.callLimit) : "default",
                        tenant.numbers.empty() ? "-" : joined(tenant.numbers, ","), pluginOf(tenant),
                        tenant.instructions ? "yes" : "MISSING"});
    printTable(rows);
    if (tenants.empty()) std::cout << "(no tenants; add them with: sideband-host tenants import DIR)\n";
    return 0;
}

std::string timeText(std::chrono::system_clock::time_point time) {
    const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(time.time_since_epoch()).count();
    return Poco::DateTimeFormatter::format(Poco::Timestamp(micros), "%Y-%m-%dT%H:%M:%SZ");
}

std::string originsText(const std::vector<std::string>& origins) {
    return origins.empty() ? "any" : joined(origins, ",");
}

// The tenant a token command names, or nullopt with a message and `exitCode` set.
std::optional<TenantDefinition> findTenant(TenantStore& store, const std::string& id, int& exitCode) {
    try {
        for (auto& tenant : store.listTenants())
            if (tenant.id == id) return std::move(tenant);
        std::cerr << "tenants: unknown tenant " << id << "\n";
        exitCode = kDataError;
    } catch (const StoreError& e) {
        std::cerr << "tenants: " << e.what() << "\n";
        exitCode = exitCodeFor(e);
    }
    return std::nullopt;
}

// Runs `body` on the store and the tenant a token command names; store failures become exit codes.
template <typename Body> int withTenant(const std::string& url, const std::string& tenantId, Body&& body) {
    int exitCode = 0;
    const auto store = openStore(url, exitCode);
    if (!store) return exitCode;
    const auto tenant = findTenant(*store, tenantId, exitCode);
    if (!tenant) return exitCode;
    try {
        return body(*store, *tenant);
    } catch (const StoreError& e) {
        std::cerr << "tenants: " << e.what() << "\n";
        return exitCodeFor(e);
    }
}

// --rate's value, or nullopt (with a message) when it is not a whole number in range.
std::optional<int> parseRate(const std::string& text) {
    if (!text.empty() && text.size() <= 5 && text.find_first_not_of("0123456789") == std::string::npos) {
        const int rate = std::stoi(text);
        if (rate >= kMinWebTokenRate && rate <= kMaxWebTokenRate) return rate;
    }
    std::cerr << "tenants: --rate \"" << text << "\": must be a whole number of calls per minute from "
              << kMinWebTokenRate << " to " << kMaxWebTokenRate << "\n";
    return std::nullopt;
}

int createToken(const Options& options) {
    const auto& tenantId = options.positional[2];
    std::vector<std::string> origins;
    for (const auto& origin : options.origins) {
        if (const auto problem = webOriginProblem(origin)) {
            std::cerr << "tenants: --origin \"" << origin << "\": " << *problem << "\n";
            return kUsage;
        }
        if (std::find(origins.begin(), origins.end(), origin) == origins.end()) origins.push_back(origin);
    }
    int rate = WebToken{}.ratePerMinute;
    if (options.rate) {
        const auto parsed = parseRate(*options.rate);
        if (!parsed) return kUsage;
        rate = *parsed;
    }
    return withTenant(options.url, tenantId, [&](TenantStore& store, const TenantDefinition& tenant) {
        const auto made = makeWebToken(tenantId, origins, rate, std::chrono::system_clock::now());
        store.saveWebToken(made.token, hashWebTokenSecret(made.secret));
        std::cout << made.secret << "\n" << std::flush;
        std::cerr << "tenants: web token " << made.token.id << " created for tenant " << tenantId << " (origins "
                  << originsText(origins) << ", " << rate << " calls/minute)\n"
                  << "tenants: the secret above is not shown again: only its hash is stored\n";
        if (!tenant.enabled)
            std::cerr << "warning: tenant " << tenantId << " is disabled: its tokens work once it is enabled\n";
        return 0;
    });
}

int listTokens(const Options& options) {
    const auto& tenantId = options.positional[2];
    return withTenant(options.url, tenantId, [&](TenantStore& store, const TenantDefinition&) {
        const auto tokens = store.webTokens(tenantId);
        std::vector<std::vector<std::string>> rows = {{"ID", "ORIGINS", "RATE", "CREATED", "REVOKED"}};
        for (const auto& token : tokens)
            rows.push_back({token.id, originsText(token.allowedOrigins), std::to_string(token.ratePerMinute) + "/min",
                            timeText(token.createdAt), token.revokedAt ? timeText(*token.revokedAt) : "-"});
        printTable(rows);
        if (tokens.empty())
            std::cout << "(no web tokens; create one with: sideband-host tenants token create " << tenantId << ")\n";
        return 0;
    });
}

int revokeToken(const Options& options) {
    const auto& tenantId = options.positional[2];
    const auto& tokenId = options.positional[3];
    return withTenant(options.url, tenantId, [&](TenantStore& store, const TenantDefinition&) {
        if (store.revokeWebToken(tenantId, tokenId)) {
            std::cout << "revoked web token " << tokenId << " of tenant " << tenantId << "\n";
            return 0;
        }
        const auto tokens = store.webTokens(tenantId);
        const bool revokedBefore =
            std::any_of(tokens.begin(), tokens.end(), [&](const WebToken& token) { return token.id == tokenId; });
        std::cerr << "tenants: "
                  << (revokedBefore ? "web token " + tokenId + " is already revoked"
                                    : "tenant " + tenantId + " has no web token " + tokenId)
                  << "\n";
        return kDataError;
    });
}

int runTokenCommand(const Options& options) {
    const auto& p = options.positional;
    const auto sub = p.size() > 1 ? p[1] : "";
    if (sub == "create" && p.size() == 3) return createToken(options);
    if (sub == "list" && p.size() == 3) return listTokens(options);
    if (sub == "revoke" && p.size() == 4) return revokeToken(options);
    std::cerr << kHelp;
    return kUsage;
}

} // namespace

int runTenantsCommand(const std::vector<std::string> &args) {
    Options options;
    options.url = Poco::Environment::get("SIDEBAND_DB", kDefaultStoreUrl);
    if (options.url.empty()) options.url = kDefaultStoreUrl;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const bool hasValue = i + 1 < args.size();
        if (args[i] == "--db" && hasValue) {
            options.url = args[++i];
        } else if (args[i] == "--origin" && hasValue) {
            options.origins.push_back(args[++i]);
        } else if (args[i] == "--rate" && hasValue) {
            options.rate = args[++i];
        } else if (args[i] == "--help" || args[i] == "-h") {
            std::cout << kHelp;
            return 0;
        } else if (args[i].rfind("--", 0) == 0) {
            std::cerr << "tenants: unknown or incomplete option " << args[i] << "\n" << kHelp;
            return kUsage;
        } else {
            options.positional.push_back(args[i]);
        }
    }
    const auto& positional = options.positional;
    const bool tokenCreate = positional.size() > 1 && positional[0] == "token" && positional[1] == "create";
    if (!tokenCreate && (!options.origins.empty() || options.rate)) {
        std::cerr << "tenants: --origin and --rate belong to token create\n" << kHelp;
        return kUsage;
    }
    if (!positional.empty() && positional[0] == "token") return runTokenCommand(options);
    if (positional.size() == 2 && positional[0] == "import") return importTenants(positional[1], options.url);
    if (positional.size() == 1 && positional[0] == "list") return listTenants(options.url);
    std::cerr << kHelp;
    return kUsage;
}

} // namespace sideband::tenants
