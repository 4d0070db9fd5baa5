#include "tenants/TenantConfigParser.h"
#include "tenants/TenantDefinitionFiles.h"

#include "TempDir.h"

#include <gtest/gtest.h>

using namespace sideband::tenants;
using sideband::testing::TempDir;

namespace {

const std::string kValidTenant = R"({
  "id": "acme",
  "name": "Acme",
  "numbers": ["+18005550123"],
  "greeting": "Hello",
  "config": {"model": "gpt-realtime", "plugin": "appointments.so"}
})";

bool contains(const std::string &text, const std::string &part) {
    return text.find(part) != std::string::npos;
}

std::string joined(const std::vector<std::string> &lines) {
    std::string out;
    for (const auto &line : lines)
        out += line + "\n";
    return out;
}

TEST(TenantDefinitionFiles, LoadsTheExampleTenants) {
    const auto loaded = loadTenantDirectory(SIDEBAND_SOURCE_DIR "/tenants");
    ASSERT_TRUE(loaded.errors.empty()) << joined(loaded.errors);
    EXPECT_TRUE(loaded.warnings.empty()) << joined(loaded.warnings);
    ASSERT_EQ(loaded.tenants.size(), 2u);

    const auto &acme = loaded.tenants[0];
    EXPECT_EQ(acme.id, "acme-dental");
    EXPECT_EQ(acme.numbers, std::vector<std::string>{"+18005550123"});
    ASSERT_TRUE(acme.instructions);
    for (const char *tool : {"find_slots", "book_appointment", "cancel_appointment"})
        EXPECT_TRUE(contains(acme.instructions->prompt, tool)) << tool;
    EXPECT_TRUE(contains(acme.instructions->greeting, "Acme Dental"));
    EXPECT_EQ(parseTenantConfig(acme.id, acme.configJson, acme.callLimit).plugin, "appointments.so");

    const auto &northwind = loaded.tenants[1];
    EXPECT_EQ(northwind.id, "northwind-support");
    EXPECT_EQ(northwind.numbers, std::vector<std::string>{"+18005550188"});
    for (const char *tool : {"transfer_to_human", "end_call"})
        EXPECT_TRUE(contains(northwind.instructions->prompt, tool)) << tool;
    const auto config = parseTenantConfig(northwind.id, northwind.configJson, northwind.callLimit);
    EXPECT_EQ(config.plugin, "call-routing.so");
    EXPECT_EQ(config.settings->getValue<std::string>("transfer_target"), "tel:+14155550199");
}

TEST(TenantDefinitionFiles, ReadsEveryField) {
    TempDir dir;
    dir.write("acme/tenant.json", R"({"id":"acme","name":"Acme","enabled":false,"call_limit":3,
        "numbers":["+18005550123","+442079460958"],"greeting":"Hi","config":{"voice":"marin"}})");
    dir.write("acme/instructions.md", "Be helpful.\n\n");
    std::vector<std::string> warnings;
    const auto tenant = loadTenantDefinition(dir.file("acme"), warnings);
    EXPECT_EQ(tenant.name, "Acme");
    EXPECT_FALSE(tenant.enabled);
    EXPECT_EQ(tenant.callLimit, 3);
    EXPECT_EQ(tenant.numbers, (std::vector<std::string>{"+18005550123", "+442079460958"}));
    EXPECT_EQ(tenant.configJson, R"({"voice":"marin"})");
    ASSERT_TRUE(tenant.instructions);
    EXPECT_EQ(tenant.instructions->prompt, "Be helpful.");
    EXPECT_EQ(tenant.instructions->greeting, "Hi");
    EXPECT_TRUE(warnings.empty());
}

TEST(TenantDefinitionFiles, OptionalFieldsDefault) {
    TempDir dir;
    dir.write("min/tenant.json", R"({"id":"min","name":"Minimal","numbers":[]})");
    dir.write("min/instructions.md", "Prompt");
    std::vector<std::string> warnings;
    const auto tenant = loadTenantDefinition(dir.file("min"), warnings);
    EXPECT_TRUE(tenant.enabled);
    EXPECT_EQ(tenant.callLimit, std::nullopt);
    EXPECT_EQ(tenant.configJson, "{}");
    EXPECT_EQ(tenant.instructions->greeting, "");
}

TEST(TenantDefinitionFiles, AMissingInstructionsFileIsAWarning) {
    TempDir dir;
    dir.write("acme/tenant.json", kValidTenant);
    std::vector<std::string> warnings;
    const auto tenant = loadTenantDefinition(dir.file("acme"), warnings);
    EXPECT_FALSE(tenant.instructions);
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_TRUE(contains(warnings[0], "acme/instructions.md: missing")) << warnings[0];
    EXPECT_TRUE(contains(warnings[0], "instructions_missing")) << warnings[0];
}

TEST(TenantDefinitionFiles, AnEmptyInstructionsFileIsAnError) {
    TempDir dir;
    dir.write("acme/tenant.json", kValidTenant);
    dir.write("acme/instructions.md", "  \n\n");
    std::vector<std::string> warnings;
    try {
        loadTenantDefinition(dir.file("acme"), warnings);
        FAIL();
    } catch (const TenantFileError &e) {
        EXPECT_TRUE(contains(e.what(), dir.file("acme/instructions.md") + ": is empty")) << e.what();
    }
}

struct BadFile {
    const char *json;
    const char *expected; // what follows "<dir>/x/tenant.json: "
};

TEST(TenantDefinitionFiles, BadFilesNameTheFileAndTheField) {
    const std::vector<BadFile> cases = {
        {"{\"id\":", "not valid JSON"},
        {"[1]", "must be a JSON object"},
        {R"({"id":"x","name":"X","numbers":[],"numbrs":[]})", "unknown field \"numbrs\""},
        {R"({"name":"X","numbers":[]})", "id: required"},
        {R"({"id":"y","name":"X","numbers":[]})", "id: \"y\" must match its directory name \"x\""},
        {R"({"id":"X!","name":"X","numbers":[]})", "id: \"X!\" must be"},
        {R"({"id":"x","numbers":[]})", "name: required"},
        {R"({"id":"x","name":"","numbers":[]})", "name: required"},
        {R"({"id":"x","name":"X","enabled":"yes","numbers":[]})", "enabled: must be true or false"},
        {R"({"id":"x","name":"X","call_limit":0,"numbers":[]})", "call_limit: must be an integer"},
        {R"({"id":"x","name":"X","call_limit":"5","numbers":[]})", "call_limit: must be an integer"},
        {R"({"id":"x","name":"X"})", "numbers: required"},
        {R"({"id":"x","name":"X","numbers":"+18005550123"})", "numbers: required"},
        {R"({"id":"x","name":"X","numbers":["+18005550123","+1-800"]})",
         "numbers[1]: \"+1-800\" is not an E.164 number"},
        {R"({"id":"x","name":"X","numbers":["+1 800 555 0123"]})",
         "numbers[0]: \"+1 800 555 0123\" is not an E.164 number (write it as +18005550123)"},
        {R"({"id":"x","name":"X","numbers":["18005550123"]})", "numbers[0]: \"18005550123\" is not an E.164 number"},
        {R"({"id":"x","name":"X","numbers":[""]})", "numbers[0]: \"\" is not an E.164 number"},
        {R"({"id":"x","name":"X","numbers":[18005550123]})", "numbers[0]: must be a string"},
        {R"({"id":"x","name":"X","numbers":["+18005550123","+18005550123"]})",
         "numbers[1]: \"+18005550123\" is listed twice"},
        {R"({"id":"x","name":"X","numbers":[],"greeting":5})", "greeting: must be a string"},
        {R"({"id":"x","name":"X","numbers":[],"config":[]})", "config: must be an object"},
        {R"({"id":"x","name":"X","numbers":[],"config":{"plugin":5}})", "config.plugin: must be a string"},
        {R"({"id":"x","name":"X","numbers":[],"config":{"plugin":"../evil.so"}})",
         "config.plugin: must be a file name"},
        {R"({"id":"x","name":"X","numbers":[],"config":{"plugin_sha256":"abc"}})", "config.plugin_sha256: must be 64"},
        {R"({"id":"x","name":"X","numbers":[],"config":{"tool_timeout_ms":0}})", "config.tool_timeout_ms: must be"},
        {R"({"id":"x","name":"X","numbers":[],"config":{"transfer_target":"4155550199"}})",
         "config.transfer_target: must be a tel:"},
        {R"({"id":"x","name":"X","numbers":[],"config":{"plugin_config":"on"}})",
         "config.plugin_config: must be an object"},
    };
    for (const auto &bad : cases) {
        TempDir dir;
        dir.write("x/tenant.json", bad.json);
        std::vector<std::string> warnings;
        try {
            loadTenantDefinition(dir.file("x"), warnings);
            ADD_FAILURE() << "accepted: " << bad.json;
        } catch (const TenantFileError &e) {
            const std::string expected = dir.file("x/tenant.json") + ": " + bad.expected;
            EXPECT_EQ(std::string(e.what()).rfind(expected, 0), 0u) << e.what() << "\nexpected: " << expected;
        }
    }
}

TEST(TenantDefinitionFiles, ADirectoryReportsEveryBadFile) {
    TempDir dir;
    dir.write("a/tenant.json", R"({"id":"a","name":"A","numbers":["+1-800"]})");
    dir.write("b/tenant.json", R"({"id":"b","name":"B","numbers":[],"config":{"plugin":7}})");
    dir.write("c/tenant.json", R"({"id":"c","name":"C","numbers":["+18005550123"]})");
    dir.write("c/instructions.md", "ok");
    const auto loaded = loadTenantDirectory(dir.path());
    ASSERT_EQ(loaded.errors.size(), 2u) << joined(loaded.errors);
    EXPECT_TRUE(contains(loaded.errors[0], "a/tenant.json: numbers[0]")) << loaded.errors[0];
    EXPECT_TRUE(contains(loaded.errors[1], "b/tenant.json: config.plugin")) << loaded.errors[1];
}

TEST(TenantDefinitionFiles, ANumberInTwoFilesIsAnError) {
    TempDir dir;
    dir.write("a/tenant.json", R"({"id":"a","name":"A","numbers":["+18005550123"]})");
    dir.write("b/tenant.json", R"({"id":"b","name":"B","numbers":["+18005550188","+18005550123"]})");
    const auto loaded = loadTenantDirectory(dir.path());
    ASSERT_EQ(loaded.errors.size(), 1u) << joined(loaded.errors);
    EXPECT_EQ(loaded.errors[0], dir.file("b/tenant.json") + ": numbers[1]: +18005550123 is already listed in " +
                                    dir.file("a/tenant.json"));
}

TEST(TenantDefinitionFiles, SkipsDirectoriesWithoutATenantFile) {
    TempDir dir;
    dir.write("acme/tenant.json", kValidTenant);
    dir.write("acme/instructions.md", "Prompt");
    dir.write("notes/readme.txt", "not a tenant");
    dir.write(".hidden/tenant.json", "garbage");
    dir.write("README.md", "# tenants");
    const auto loaded = loadTenantDirectory(dir.path() + "/");
    EXPECT_TRUE(loaded.errors.empty()) << joined(loaded.errors);
    ASSERT_EQ(loaded.tenants.size(), 1u);
    ASSERT_EQ(loaded.warnings.size(), 1u);
    EXPECT_TRUE(contains(loaded.warnings[0], "notes: no tenant.json, skipped")) << loaded.warnings[0];
}

TEST(TenantDefinitionFiles, AMissingOrEmptyDirectoryIsAnError) {
    TempDir dir;
    auto loaded = loadTenantDirectory(dir.file("absent"));
    ASSERT_EQ(loaded.errors.size(), 1u);
    EXPECT_TRUE(contains(loaded.errors[0], "absent: not a directory"));
    loaded = loadTenantDirectory(dir.path());
    ASSERT_EQ(loaded.errors.size(), 1u);
    EXPECT_TRUE(contains(loaded.errors[0], "no tenant definitions found"));
}

TEST(TenantDefinitionFiles, RefusesOversizedFiles) {
    TempDir dir;
    dir.write("acme/tenant.json", kValidTenant);
    dir.write("acme/instructions.md", std::string(2 << 20, 'a'));
    std::vector<std::string> warnings;
    EXPECT_THROW(loadTenantDefinition(dir.file("acme"), warnings), TenantFileError);
}

} // namespace
