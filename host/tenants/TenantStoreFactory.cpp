#include "tenants/TenantStoreFactory.h"

#include "tenants/SqliteTenantStore.h"

#include <charconv>
#include <stdexcept>

namespace sideband::tenants {
namespace {

SqliteStoreOptions sqliteOptions(const std::string &query) {
    SqliteStoreOptions options;
    std::size_t pos = 0;
    while (pos < query.size()) {
        auto end = query.find('&', pos);
        if (end == std::string::npos) end = query.size();
        const auto param = query.substr(pos, end - pos);
        const auto eq = param.find('=');
        const auto name = param.substr(0, eq);
        const auto value = eq == std::string::npos ? std::string() : param.substr(eq + 1);
        if (name != "busy_timeout_ms")
            throw std::invalid_argument("SIDEBAND_DB: unknown sqlite option \"" + name + "\" (known: busy_timeout_ms)");
        long ms = -1;
        const auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), ms);
        if (ec != std::errc() || ptr != value.data() + value.size() || ms < 0 || ms > 600000)
            throw std::invalid_argument("SIDEBAND_DB: busy_timeout_ms must be an integer from 0 to 600000");
        options.busyTimeout = std::chrono::milliseconds(ms);
        pos = end + 1;
    }
    return options;
}

} // namespace

std::unique_ptr<TenantStore> openTenantStore(const std::string &url) {
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
        throw std::invalid_argument("SIDEBAND_DB: PostgreSQL is not supported by this build yet; use sqlite:PATH");
    throw std::invalid_argument(
        scheme.empty() ? std::string("SIDEBAND_DB: expected a URL such as sqlite:/var/lib/sideband/sideband.db")
                       : "SIDEBAND_DB: unsupported database scheme \"" + scheme + "\" (supported: sqlite:PATH)");
}

std::string redactStoreUrl(const std::string &url) {
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
