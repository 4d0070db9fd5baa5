#include "tenants/SqlDialect.h"

namespace sideband::tenants {

std::string bindMarkers(std::string_view sql, SqlDialect dialect) {
    if (dialect == SqlDialect::Sqlite) return std::string(sql);
    std::string out;
    out.reserve(sql.size() + 16);
    char quote = 0;
    int next = 1;
    for (char c : sql) {
        if (quote) {
            if (c == quote) quote = 0; // a doubled quote re-opens on the next character: same result
            out += c;
        } else if (c == '\'' || c == '"') {
            quote = c;
            out += c;
        } else if (c == '?') {
            out += '$' + std::to_string(next++);
        } else {
            out += c;
        }
    }
    return out;
}

} // namespace sideband::tenants
