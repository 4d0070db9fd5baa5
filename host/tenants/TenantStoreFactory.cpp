#include "tenants/TenantStoreFactory.h"

#include "tenants/PostgreSqlTenantStore.h"
#include "tenants/SqliteTenantStore.h"

#include <algorithm>
#include <charconv>
#include <stdexcept>
#include <utility>
#include <vector>

namespace sideband::tenants {
namespace {

using Options = std::vector<std::pair<std::string, std::string>>;

// "a=1&b=2" as name/value pairs, in order.
Options splitQuery(const std::string& query) {
    Options options;
    std::size_t pos = 0;
    while (pos < query.size()) {
        auto end = query.find('&', pos);
        if (end == std::string::npos) end = query.size();
        const auto param = query.substr(pos, end - pos);
        const auto eq = param.find('=');
        options.emplace_back(param.substr(0, eq), eq == std::string::npos ? std::string() : param.substr(eq + 1));
        pos = end + 1;
    }
    return options;
}

long integerOption(const std::string& name, const std::string& value, long min, long max) {
    long number = -1;
    const auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), number);
    if (ec != std::errc() || ptr != value.data() + value.size() || number < min || number > max)
        throw std::invalid_argument("SIDEBAND_DB: " + name + " must be an integer from " + std::to_string(min) +
                                    " to " + std::to_string(max));
    return number;
}

[[noreturn]] void unknownOption(const char* store, const std::string& name, const char* known) {
    throw std::invalid_argument(std::string("SIDEBAND_DB: unknown ") + store + " option \"" + name +
                                "\" (known: " + known + ")");
}

SqliteStoreOptions sqliteOptions(const std::string& query) {
    SqliteStoreOptions options;
    for (const auto& [name, value] : splitQuery(query)) {
        if (name != "busy_timeout_ms") unknownOption("sqlite", name, "busy_timeout_ms");
        options.busyTimeout = std::chrono::milliseconds(integerOption(name, value, 0, 600000));
    }
    return options;
}

int hexDigit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// %XX escapes decoded; `what` names the part in messages (never its value: it may be the password).
std::string percentDecoded(const std::string& text, const char* what) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '%') {
            out += text[i];
            continue;
        }
        const int high = i + 2 < text.size() ? hexDigit(text[i + 1]) : -1;
        const int low = i + 2 < text.size() ? hexDigit(text[i + 2]) : -1;
        if (high < 0 || low < 0)
            throw std::invalid_argument(std::string("SIDEBAND_DB: bad %-escape in the PostgreSQL ") + what);
        out += static_cast<char>(high * 16 + low);
        i += 2;
    }
    return out;
}

// One libpq keyword=value pair. Poco's connector splits its connection string at spaces before
// libpq sees it, so a value cannot contain one (quoting does not help).
std::string conninfoPair(const char* keyword, const std::string& value, const char* what) {
    if (value.find_first_of(" \t\r\n") != std::string::npos || value.find('\0') != std::string::npos)
        throw std::invalid_argument(std::string("SIDEBAND_DB: the PostgreSQL ") + what +
                                    " must not contain white space");
    std::string quoted = "'";
    for (char c : value) {
        if (c == '\'' || c == '\\') quoted += '\\';
        quoted += c;
    }
    return std::string(keyword) + "=" + quoted + "' ";
}

} // namespace

PostgreSqlStoreOptions postgreSqlOptions(const std::string& url) {
    const auto authority = url.find("://");
    const auto scheme = authority == std::string::npos ? std::string() : url.substr(0, authority);
    if (scheme != "postgresql" && scheme != "postgres")
        throw std::invalid_argument("SIDEBAND_DB: expected postgresql://[user[:password]@]host[:port]/dbname");
    auto rest = url.substr(authority + 3);
    std::string query;
    if (const auto question = rest.find('?'); question != std::string::npos) {
        query = rest.substr(question + 1);
        rest.resize(question);
    }
    std::string database;
    if (const auto slash = rest.find('/'); slash != std::string::npos) {
        database = percentDecoded(rest.substr(slash + 1), "database name");
        rest.resize(slash);
    }
    std::string user, password;
    bool hasPassword = false;
    if (const auto at = rest.rfind('@'); at != std::string::npos) {
        const auto userInfo = rest.substr(0, at);
        rest = rest.substr(at + 1);
        const auto colon = userInfo.find(':');
        user = percentDecoded(userInfo.substr(0, colon), "user name");
        if (colon != std::string::npos) {
            password = percentDecoded(userInfo.substr(colon + 1), "password");
            hasPassword = true;
        }
    }
    std::string host = rest, port;
    bool hasPort = false;
    if (!rest.empty() && rest.front() == '[') { // [IPv6]:port
        const auto close = rest.find(']');
        if (close == std::string::npos) throw std::invalid_argument("SIDEBAND_DB: unclosed [ in the PostgreSQL host");
        host = rest.substr(1, close - 1);
        const auto after = rest.substr(close + 1);
        if (!after.empty() && after.front() != ':')
            throw std::invalid_argument("SIDEBAND_DB: expected :port after the PostgreSQL host");
        hasPort = !after.empty();
        port = hasPort ? after.substr(1) : "";
    } else if (const auto colon = rest.rfind(':'); colon != std::string::npos) {
        host = rest.substr(0, colon);
        port = rest.substr(colon + 1);
        hasPort = true;
    }
    host = percentDecoded(host, "host");
    if (host.empty()) throw std::invalid_argument("SIDEBAND_DB: postgresql:// needs a host (postgresql://host/dbname)");
    if (database.empty())
        throw std::invalid_argument("SIDEBAND_DB: postgresql:// needs a database name (postgresql://host/dbname)");
    if (hasPort) port = std::to_string(integerOption("the PostgreSQL port", port, 1, 65535));

    PostgreSqlStoreOptions options;
    options.connection = conninfoPair("host", host, "host") + conninfoPair("dbname", database, "database name");
    if (!port.empty()) options.connection += conninfoPair("port", port, "port");
    if (!user.empty()) options.connection += conninfoPair("user", user, "user name");
    if (hasPassword) options.connection += conninfoPair("password", password, "password");
    const auto hostForDisplay = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    options.displayName =
        "postgresql://" + hostForDisplay + (port.empty() ? std::string() : ":" + port) + "/" + database;

    for (const auto& [name, value] : splitQuery(query)) {
        static const char* known = "connect_timeout_ms, statement_timeout_ms, pool_size, sslmode, sslrootcert";
        if (name == "connect_timeout_ms") {
            options.connectTimeout = std::chrono::milliseconds(integerOption(name, value, 1, 600000));
        } else if (name == "statement_timeout_ms") {
            options.statementTimeout = std::chrono::milliseconds(integerOption(name, value, 1, 600000));
        } else if (name == "pool_size") {
            options.poolSize = static_cast<int>(integerOption(name, value, 1, 100));
        } else if (name == "sslmode") {
            static const std::vector<std::string> modes = {"disable", "allow",     "prefer",
                                                           "require", "verify-ca", "verify-full"};
            if (std::find(modes.begin(), modes.end(), value) == modes.end())
                throw std::invalid_argument("SIDEBAND_DB: sslmode must be disable, allow, prefer, require, "
                                            "verify-ca or verify-full");
            options.connection += conninfoPair("sslmode", value, "sslmode");
        } else if (name == "sslrootcert") {
            options.connection += conninfoPair("sslrootcert", percentDecoded(value, "sslrootcert"), "sslrootcert");
        } else {
            unknownOption("postgresql", name, known);
        }
    }
    options.connection.pop_back(); // the last pair's trailing space
    return options;
}

std::unique_ptr<TenantStore> openTenantStore(const std::string& url) {
    const auto colon = url.find(':');
    const auto scheme = colon == std::string::npos ? std::string() : url.substr(0, colon);
    if (scheme == "sqlite") {
        auto rest = url.substr(colon + 1);
        if (rest.rfind("//", 0) == 0) rest = rest.substr(2); // sqlite:///abs/path
        const auto question = rest.find('?');
        const auto path = rest.substr(0, question);
        if (path.empty()) throw std::invalid_argument("SIDEBAND_DB: sqlite: needs a file path (sqlite:PATH)");
        const auto options = sqliteOptions(question == std::string::npos ? "" : rest.substr(question + 1));
        return std::make_unique<SqliteTenantStore>(path, options);
    }
    if (scheme == "postgresql" || scheme == "postgres")
        return std::make_unique<PostgreSqlTenantStore>(postgreSqlOptions(url));
    throw std::invalid_argument(
        scheme.empty()
            ? std::string("SIDEBAND_DB: expected a URL such as sqlite:/var/lib/sideband/sideband.db")
            : "SIDEBAND_DB: unsupported database scheme \"" + scheme + "\" (supported: sqlite:PATH, postgresql://...)");
}

std::string redactStoreUrl(const std::string& url) {
    const auto authority = url.find("://");
    if (authority == std::string::npos) return url;
    const auto start = authority + 3;
    const auto at = url.find('@', start);
    const auto slash = url.find('/', start);
    if (at == std::string::npos || (slash != std::string::npos && slash < at)) return url;
    const auto colon = url.find(':', start);
    if (colon == std::string::npos || colon > at) return url;
    return url.substr(0, colon) + ":***" + url.substr(at);
}

} // namespace sideband::tenants
