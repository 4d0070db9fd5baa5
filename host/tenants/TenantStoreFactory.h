#pragma once

#include "tenants/PostgreSqlTenantStore.h"
#include "tenants/TenantStore.h"

#include <memory>
#include <string>

namespace sideband::tenants {

inline constexpr const char* kDefaultStoreUrl = "sqlite:sideband.db";

// Opens the store named by a SIDEBAND_DB value:
//   sqlite:PATH                      a SQLite file (created if missing), relative to the working dir
//   sqlite:///abs/path               the same, URL-style
//   sqlite:PATH?busy_timeout_ms=N    how long to wait for another process's lock (default 2000)
//   postgresql://[user[:password]@]host[:port]/dbname[?options]   (also postgres://) a PostgreSQL
//       database; options: connect_timeout_ms (default 2000), statement_timeout_ms (2000),
//       pool_size (8), sslmode, sslrootcert. User, password, host and dbname may be %-escaped.
// Throws std::invalid_argument for a value
// that names no supported store (the message never repeats the URL: it may hold a password),
// StoreError(Unavailable) when the database cannot be opened or migrated.
std::unique_ptr<TenantStore> openTenantStore(const std::string& url);

// The PostgreSQL store's options for a postgresql:// URL; std::invalid_argument (never repeating
// the URL) when it is malformed or names an unknown option.
PostgreSqlStoreOptions postgreSqlOptions(const std::string& url);

// The URL with any password removed, for messages and logs.
std::string redactStoreUrl(const std::string& url);

} // namespace sideband::tenants
