#pragma once

#include "tenants/TenantStore.h"

#include <stdexcept>
#include <string>
#include <vector>

namespace sideband::tenants {

// Tenants defined as files (docs/tenants.md, tenants/README.md):
//   DIR/<id>/tenant.json      id, name, enabled, call_limit, numbers, greeting, config
//   DIR/<id>/instructions.md  the prompt, verbatim (without it the tenant's calls are rejected
//                             instructions_missing, and loading warns)

// A file that does not hold a valid definition. The message names the file and the field:
// `tenants/x/tenant.json: numbers[1]: "+1-800" is not an E.164 number`.
class TenantFileError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Reads one tenant directory. Throws TenantFileError; appends non-fatal remarks to `warnings`.
TenantDefinition loadTenantDefinition(const std::string &tenantDir, std::vector<std::string> &warnings);

struct TenantDirectory {
    std::vector<TenantDefinition> tenants; // in directory name order
    std::vector<std::string> errors;       // every problem in every file; empty means all valid
    std::vector<std::string> warnings;
};

// Reads every DIR/*/tenant.json and checks them together (ids and numbers unique across files).
// Never throws for a bad file: problems are collected so one run reports all of them.
TenantDirectory loadTenantDirectory(const std::string &dir);

} // namespace sideband::tenants
