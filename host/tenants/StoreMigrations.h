#pragma once

#include <string>
#include <vector>

namespace sideband::tenants {

// One schema step. Versions are consecutive from 1; a step is never edited once released - a
// change is a new step. Statements use the SQL subset SQLite and PostgreSQL share, so a
// PostgreSQL store can apply the same list.
struct Migration {
    int version;
    const char *description;
    std::vector<std::string> statements;
};

// Every migration this binary knows, in order. Times are milliseconds since the Unix epoch (BIGINT).
const std::vector<Migration> &storeMigrations();

} // namespace sideband::tenants
