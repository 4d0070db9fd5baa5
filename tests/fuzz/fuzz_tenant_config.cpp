// libFuzzer target: tenant config parsing (host/tenants/TenantConfigParser.h) and tenant
// definition files (host/tenants/TenantDefinitionFiles.h) on arbitrary JSON text.
// Each input is used twice:
//   1. parseTenantConfig("fuzz", input, limit): must return or throw StoreError(ConfigParseError),
//      nothing else; a returned config has non-null settings and a plugin/pin no longer than the input.
//   2. written as <tmp>/acme-dental/tenant.json (with an instructions.md) and read by
//      loadTenantDefinition: must return or throw TenantFileError, nothing else. A returned
//      definition's configJson must pass parseTenantConfig ("a config that imports is one that
//      parses", TenantConfigParser.h), its id must be the directory's name and its numbers E.164.
#include "FuzzSupport.h"

#include "sip/SipHeaderParser.h"
#include "tenants/TenantConfigParser.h"
#include "tenants/TenantDefinitionFiles.h"

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

using namespace sideband;
using namespace sideband::tenants;
namespace fs = std::filesystem;

namespace {
fs::path gRoot;
std::string gTenantDir;

void cleanup() {
    std::error_code ignored;
    if (!gRoot.empty()) fs::remove_all(gRoot, ignored);
}
} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    fuzz::quietLogging();
    gRoot = fs::temp_directory_path() / ("sideband-fuzz-tenant-" + std::to_string(::getpid()));
    gTenantDir = (gRoot / "acme-dental").string();
    fs::create_directories(gTenantDir);
    std::ofstream(gTenantDir + "/instructions.md") << "You are the receptionist.\n";
    std::atexit(cleanup);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    const std::optional<int> limit = size % 3 == 0 ? std::nullopt : std::optional<int>(static_cast<int>(size % 7) - 2);

    try {
        const TenantConfig config = parseTenantConfig("fuzz", text, limit);
        FUZZ_CHECK(config.settings);
        FUZZ_CHECK(config.plugin.size() <= size && config.pluginSha256.size() <= size);
        FUZZ_CHECK(!limit || *limit > 0);
    } catch (const StoreError& e) {
        FUZZ_CHECK(e.code() == StoreErrorCode::ConfigParseError);
    } catch (...) {
        FUZZ_CHECK(!"parseTenantConfig threw something other than StoreError");
    }

    {
        std::ofstream out(gTenantDir + "/tenant.json", std::ios::binary | std::ios::trunc);
        out.write(text.data(), static_cast<std::streamsize>(text.size()));
    }
    std::vector<std::string> warnings;
    try {
        const TenantDefinition tenant = loadTenantDefinition(gTenantDir, warnings);
        FUZZ_CHECK(tenant.id == "acme-dental");
        FUZZ_CHECK(!tenant.name.empty());
        for (const auto& number : tenant.numbers) {
            const auto normalized = sip::normalizeE164(number);
            FUZZ_CHECK(normalized && *normalized == number);
        }
        try {
            (void)parseTenantConfig(tenant.id, tenant.configJson, tenant.callLimit);
        } catch (...) {
            FUZZ_CHECK(!"an importable tenant's config does not parse");
        }
    } catch (const TenantFileError&) {
    } catch (...) {
        FUZZ_CHECK(!"loadTenantDefinition threw something other than TenantFileError");
    }
    return 0;
}
