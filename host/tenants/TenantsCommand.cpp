#include "tenants/TenantsCommand.h"

#include "tenants/TenantConfigParser.h"
#include "tenants/TenantDefinitionFiles.h"
#include "tenants/TenantStoreFactory.h"

#include <Poco/Environment.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <memory>

namespace sideband::tenants {
namespace {

constexpr int kUsage = 64;
constexpr int kDataError = 65;
constexpr int kUnavailable = 69;
constexpr int kConfigError = 78;

constexpr const char *kHelp = R"(usage: sideband-host tenants import DIR [--db URL]
       sideband-host tenants list [--db URL]
  import   loads every DIR/<id>/tenant.json (+ instructions.md) into the database: all files are
           checked first and written in one transaction, or nothing is written
  list     prints the tenants in the database
  --db URL database (default: $SIDEBAND_DB, else sqlite:sideband.db)
)";

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
    std::vector<std::size_t> widths(rows.front().size(), 0);
    for (const auto &row : rows)
        for (std::size_t i = 0; i < row.size(); ++i)
            widths[i] = std::max(widths[i], row[i].size());
    for (const auto &row : rows) {
        std::string line;
        for (std::size_t i = 0; i < row.size(); ++i)
            line += i + 1 < row.size() ? row[i] + std::string(widths[i] - row[i].size() + 2, ' ') : row[i];
        std::cout << line << "\n";
    }
    if (tenants.empty()) std::cout << "(no tenants; add them with: sideband-host tenants import DIR)\n";
    return 0;
}

} // namespace

int runTenantsCommand(const std::vector<std::string> &args) {
    std::string url = Poco::Environment::get("SIDEBAND_DB", kDefaultStoreUrl);
    if (url.empty()) url = kDefaultStoreUrl;
    std::vector<std::string> positional;
    for (std::size_t i = 0; i < args.size(); ++i) {
        if (args[i] == "--db" && i + 1 < args.size()) {
            url = args[++i];
        } else if (args[i] == "--help" || args[i] == "-h") {
            std::cout << kHelp;
            return 0;
        } else if (args[i].rfind("--", 0) == 0) {
            std::cerr << "tenants: unknown or incomplete option " << args[i] << "\n" << kHelp;
            return kUsage;
        } else {
            positional.push_back(args[i]);
        }
    }
    if (positional.size() == 2 && positional[0] == "import") return importTenants(positional[1], url);
    if (positional.size() == 1 && positional[0] == "list") return listTenants(url);
    std::cerr << kHelp;
    return kUsage;
}

} // namespace sideband::tenants
