#include "app/CheckConfig.h"

#include "app/Settings.h"
#include "core/Logging.h"
#include "fleet/RedisClient.h"
#include "openai/OpenAIRestClient.h"
#include "plugins/PluginLoader.h"
#include "tenants/TenantConfigParser.h"
#include "tenants/TenantStoreFactory.h"
#include "webhook/WebhookSignature.h"

#include <Poco/Exception.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/SSLManager.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/URI.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <boost/filesystem.hpp>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <unistd.h>

namespace sideband {
namespace {

namespace fs = boost::filesystem;
constexpr int kExitConfig = 78; // EX_CONFIG

class Report {
public:
    explicit Report(std::ostream& out) : out_(out) {}
    void ok(const std::string& line) { out_ << "ok: " << line << "\n"; }
    void problem(const std::string& line) {
        out_ << "problem: " << line << "\n";
        ++problems_;
    }
    int problems() const { return problems_; }

private:
    std::ostream& out_;
    int problems_ = 0;
};

// Empty when `path` is a readable regular file, else why not.
std::string unreadable(const std::string& path) {
    boost::system::error_code ec;
    if (!fs::exists(path, ec)) return "does not exist";
    if (fs::is_directory(path, ec)) return "is a directory";
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::string("cannot be read (") + std::strerror(errno) + ")";
    return {};
}

void checkListen(Report& report, const char* name, const std::string& address) {
    if (address.empty()) return;
    try {
        Poco::Net::SocketAddress parsed(address); // parsed only: nothing is bound
        report.ok(std::string(name) + " " + parsed.toString());
    } catch (const Poco::Exception& e) {
        report.problem(std::string(name) + " \"" + address + "\" is not a HOST:PORT address: " + e.displayText());
    }
}

void checkTls(Report& report, const Settings& settings) {
    if (settings.tlsCert.empty() && settings.tlsKey.empty()) {
        if (settings.insecureHttp) report.ok("TLS off: SIDEBAND_INSECURE_HTTP=1 (a TLS-terminating proxy in front)");
        return; // otherwise Settings::validate() already said so
    }
    if (settings.tlsCert.empty() || settings.tlsKey.empty()) return; // validate(): must be set together
    bool readable = true;
    for (const auto& [name, path] : {std::pair{"SIDEBAND_TLS_CERT", settings.tlsCert},
                                     std::pair{"SIDEBAND_TLS_KEY", settings.tlsKey}}) {
        if (const auto why = unreadable(path); !why.empty()) {
            report.problem(std::string(name) + " " + path + " " + why);
            readable = false;
        }
    }
    if (!readable) return;
    try {
        Poco::Net::initializeSSL();
        Poco::Net::Context::Params params;
        params.certificateFile = settings.tlsCert;
        params.privateKeyFile = settings.tlsKey;
        params.verificationMode = Poco::Net::Context::VERIFY_NONE;
        Poco::Net::Context::Ptr context = new Poco::Net::Context(Poco::Net::Context::TLS_SERVER_USE, params);
        if (SSL_CTX_check_private_key(context->sslContext()) != 1) {
            report.problem("SIDEBAND_TLS_KEY " + settings.tlsKey + " does not match the certificate " +
                           settings.tlsCert);
            return;
        }
        X509* certificate = SSL_CTX_get0_certificate(context->sslContext());
        if (certificate && X509_cmp_current_time(X509_get0_notAfter(certificate)) < 0) {
            report.problem("SIDEBAND_TLS_CERT " + settings.tlsCert + " has expired");
            return;
        }
        report.ok("TLS certificate " + settings.tlsCert + " and key " + settings.tlsKey + " load and match");
    } catch (const Poco::Exception& e) {
        report.problem("cannot load TLS certificate/key (" + settings.tlsCert + ", " + settings.tlsKey +
                       "): " + e.displayText());
    }
}

void checkSecrets(Report& report, const Settings& settings) {
    // Settings::validate() reports a missing or malformed secret; here only the count is shown.
    if (!settings.webhookSecret.empty()) {
        try {
            const auto secrets = webhook::parseWebhookSecrets(settings.webhookSecret);
            if (!secrets.empty())
                report.ok("OPENAI_WEBHOOK_SECRET set (" + std::to_string(secrets.size()) + " secret" +
                          (secrets.size() == 1 ? "" : "s") + ")");
        } catch (const std::exception&) {
        }
    }
    if (!settings.openaiApiKey.empty()) report.ok("OPENAI_API_KEY set");
}

void checkOpenAI(Report& report, const Settings& settings) {
    try {
        const Poco::URI uri(settings.openaiBaseUrl);
        const auto scheme = uri.getScheme();
        if (scheme != "https" && scheme != "http") {
            report.problem("OPENAI_BASE_URL must be an http(s) URL such as https://api.openai.com/v1");
        } else if (uri.getHost().empty()) {
            report.problem("OPENAI_BASE_URL has no host");
        } else if (!uri.getUserInfo().empty()) {
            report.problem("OPENAI_BASE_URL must not carry credentials (the API key goes in OPENAI_API_KEY)");
        } else {
            // Printed without query or fragment: only scheme, host, port and path.
            report.ok("OPENAI_BASE_URL " + scheme + "://" + uri.getHost() + ":" + std::to_string(uri.getPort()) +
                      uri.getPath());
        }
    } catch (const Poco::Exception& e) {
        report.problem("OPENAI_BASE_URL is not a URL: " + e.displayText());
    }
    if (settings.openaiCaFile.empty()) return;
    if (const auto why = unreadable(settings.openaiCaFile); !why.empty()) {
        report.problem("SIDEBAND_OPENAI_CA_FILE " + settings.openaiCaFile + " " + why);
        return;
    }
    try {
        openai::makeVerifyingClientContext(settings.openaiCaFile); // what the host does with it
        report.ok("SIDEBAND_OPENAI_CA_FILE " + settings.openaiCaFile + " loads");
    } catch (const Poco::Exception& e) {
        report.problem("SIDEBAND_OPENAI_CA_FILE " + settings.openaiCaFile + " does not load: " + e.displayText());
    }
}

// The file a sqlite: URL names (the factory's own syntax), or empty for another kind of store.
std::string sqlitePath(const std::string& url) {
    if (url.rfind("sqlite:", 0) != 0) return {};
    auto rest = url.substr(7);
    if (rest.rfind("//", 0) == 0) rest = rest.substr(2);
    return rest.substr(0, rest.find('?'));
}

std::unique_ptr<tenants::TenantStore> checkStore(Report& report, const Settings& settings) {
    const auto shown = tenants::redactStoreUrl(settings.database);
    // A SQLite file that does not exist yet is not created here: --check-config may run as another
    // user than the service (root, in a deploy script), and the host creates it at start anyway.
    const auto path = sqlitePath(settings.database);
    boost::system::error_code ec;
    if (!path.empty() && !fs::exists(path, ec)) {
        const auto parent = fs::absolute(path).parent_path();
        if (!fs::is_directory(parent, ec))
            report.problem("SIDEBAND_DB " + shown + ": directory " + parent.string() + " does not exist");
        else if (::access(parent.c_str(), W_OK | X_OK) != 0)
            report.problem("SIDEBAND_DB " + shown + ": directory " + parent.string() +
                           " is not writable, so the host cannot create the database");
        else
            report.ok("SIDEBAND_DB " + shown + " does not exist yet; the host creates it at start");
        return nullptr;
    }
    try {
        auto store = tenants::openTenantStore(settings.database); // as at start: migrations may run
        const auto count = store->listTenants().size();
        report.ok("SIDEBAND_DB " + shown + " opens (" + std::to_string(count) + " tenant" + (count == 1 ? "" : "s") +
                  ")");
        return store;
    } catch (const std::exception& e) {
        // The factory's messages never repeat the URL (it may hold a password).
        report.problem("SIDEBAND_DB " + shown + " cannot be opened: " + e.what());
        return nullptr;
    }
}

// A fleet's Redis: reachable with these settings (the URL is shown without its password).
void checkLedger(Report& report, const Settings& settings) {
    if (!settings.sharedLedger()) {
        report.ok("SIDEBAND_LEDGER memory (one host)");
        return;
    }
    try {
        fleet::RedisClient::Options options;
        options.url = settings.ledger;
        options.connectTimeout = options.commandTimeout = std::chrono::milliseconds(settings.redisTimeoutMs);
        fleet::RedisClient redis(options);
        const auto shown = redis.url().display();
        const auto pong = redis.command("check", {"PING"});
        if (pong.isError())
            report.problem("SIDEBAND_LEDGER redis at " + shown + " refuses commands: " + pong.str);
        else
            report.ok("SIDEBAND_LEDGER redis at " + shown + " answers");
    } catch (const std::exception& e) {
        report.problem(std::string("SIDEBAND_LEDGER cannot be reached: ") + e.what());
    }
}

void checkPlugins(Report& report, const Settings& settings, tenants::TenantStore* store) {
    boost::system::error_code ec;
    if (!fs::is_directory(settings.pluginDir, ec)) {
        report.problem("SIDEBAND_PLUGIN_DIR " + settings.pluginDir +
                       (fs::exists(settings.pluginDir, ec) ? " is not a directory" : " does not exist"));
    } else {
        report.ok("SIDEBAND_PLUGIN_DIR " + settings.pluginDir);
    }
    if (!store) return;
    std::vector<tenants::TenantDefinition> tenants;
    try {
        tenants = store->listTenants();
    } catch (const std::exception& e) {
        report.problem(std::string("cannot list tenants: ") + e.what());
        return;
    }
    // Private copies go to a temporary directory of their own, removed with the loader.
    plugins::PluginLoader loader(settings.pluginDir);
    for (const auto& tenant : tenants) {
        const std::string who = "tenant " + tenant.id + (tenant.enabled ? "" : " (disabled)");
        tenants::TenantConfig config;
        try {
            config = tenants::parseTenantConfig(tenant.id, tenant.configJson, tenant.callLimit);
        } catch (const std::exception& e) {
            report.problem(who + ": config does not parse: " + e.what());
            continue;
        }
        if (config.plugin.empty()) continue;
        try {
            const auto plugin = loader.load(config.plugin, config.pluginSha256); // factory runs, tools do not
            report.ok(who + ": plugin " + config.plugin + " loads (" + std::to_string(plugin->tools.size()) +
                      " tools)");
        } catch (const sdk::loader::LoadError& e) {
            report.problem(who + ": plugin " + config.plugin + " does not load (" +
                           sdk::loader::reasonName(e.reason()) + "): " + e.what());
        } catch (const std::exception& e) {
            report.problem(who + ": plugin " + config.plugin + " does not load: " + e.what());
        }
    }
}

} // namespace

int runCheckConfig(const std::string& configFile, std::ostream& out) {
    Report report(out);
    Settings::Lookup lookup;
    try {
        lookup = Settings::environmentThenFile(configFile);
        if (!configFile.empty()) report.ok("config file " + configFile + " read");
    } catch (const Poco::Exception& e) {
        report.problem("cannot read config file " + configFile + ": " + e.displayText());
        lookup = Settings::environmentThenFile({}); // check the environment alone
    }
    std::vector<std::string> problems;
    const auto settings = Settings::load(lookup, problems);
    // Library log lines (store, loader) go to stderr and only when they matter; stdout is the report.
    logging::configure(logging::parseFormat(settings.logFormat), spdlog::level::warn);
    for (const auto& problem : problems) report.problem(problem);
    for (const auto& problem : settings.validate()) report.problem(problem);
    checkListen(report, "SIDEBAND_LISTEN", settings.listen);
    checkListen(report, "SIDEBAND_METRICS_LISTEN", settings.metricsListen);
    checkSecrets(report, settings);
    checkTls(report, settings);
    checkOpenAI(report, settings);
    auto store = checkStore(report, settings);
    checkLedger(report, settings);
    checkPlugins(report, settings, store.get());

    if (report.problems() == 0) {
        out << "configuration ok" << std::endl;
        return 0;
    }
    out << "configuration has " << report.problems() << " problem" << (report.problems() == 1 ? "" : "s")
        << std::endl;
    return kExitConfig;
}

} // namespace sideband
