#pragma once

#include <string>
#include <string_view>

namespace sideband::tenants {

// The store's SQL is written once, with `?` markers, in the subset SQLite and PostgreSQL share
// (TEXT/INTEGER/BIGINT, INSERT ... ON CONFLICT ... DO UPDATE). Poco's SQLite connector binds `?`;
// its PostgreSQL connector wants `$1, $2, ...` and rejects `?`, so markers are rewritten per
// backend. `?` inside quoted literals or identifiers is left alone.
enum class SqlDialect { Sqlite, PostgreSql };

std::string bindMarkers(std::string_view sql, SqlDialect dialect);

} // namespace sideband::tenants
