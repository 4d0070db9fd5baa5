#pragma once

#include "tenants/TenantStore.h"

#include <memory>
#include <string>

namespace sideband::tenants {

inline constexpr const char *kDefaultStoreUrl = "sqlite:sideband.db";

// Opens the store named by a SIDEBAND_DB value:
//   sqlite:PATH                      a SQLite file (created if missing), relative to the working dir
//   sqlite:///abs/path               the same, URL-style
//   sqlite:PATH?busy_timeout_ms=N    how long to wait for another process's lock (default 2000)
// A PostgreSQL store (postgresql://...) plugs in here. Throws std::invalid_argument for a value
// that names no supported store (the message never repeats the URL: it may hold a password),
// StoreError(Unavailable) when the database cannot be opened or migrated.
std::unique_ptr<TenantStore> openTenantStore(const std::string &url);

// The URL with any password removed, for messages and logs.
std::string redactStoreUrl(const std::string &url);

} // namespace sideband::tenants
