// PluginLoader against real .so files: every load failure is a typed error, never a crash.
#include "TestPlugins.h"
#include "plugins/PluginLoader.h"

#include <gtest/gtest.h>

#include <boost/filesystem.hpp>

using namespace sideband::plugins;
using namespace sideband::plugins::testing;
using sideband::sdk::loader::LoadError;
using sideband::sdk::loader::LoadFailure;
namespace fs = boost::filesystem;

namespace {

class PluginLoaderTest : public ::testing::Test {
protected:
    LoadFailure failureOf(const std::string& name, const std::string& pin = {}) {
        try {
            loader.load(name, pin);
        } catch (const LoadError& e) {
            message = e.what();
            return e.reason();
        }
        ADD_FAILURE() << name << " loaded";
        return LoadFailure::FileMissing;
    }
    LoadFailure failureOfTestPlugin(const std::string& name) {
        dir.install(testPlugin(name), name + ".so");
        return failureOf(name + ".so");
    }

    TempDir dir;
    TempDir copies;
    PluginLoader loader{dir.path(), copies.path()};
    std::string message;
};

TEST_F(PluginLoaderTest, LoadsAValidPluginWithItsToolsAndDigest) {
    dir.install(testPlugin("misbehaving_v1"), "tools.so");
    auto plugin = loader.load("tools.so");
    ASSERT_TRUE(plugin && plugin->plugin);
    EXPECT_EQ(plugin->tools.size(), 9u);
    EXPECT_EQ(plugin->tools[0].name, "echo");
    EXPECT_EQ(plugin->abiVersion, sideband::sdk::kAbiVersion);
    EXPECT_EQ(plugin->sha256, sideband::sdk::loader::sha256Hex(readFile(testPlugin("misbehaving_v1"))));
}

TEST_F(PluginLoaderTest, RefusesAMissingFile) {
    EXPECT_EQ(failureOf("nope.so"), LoadFailure::FileMissing);
    EXPECT_NE(message.find("nope.so"), std::string::npos);
}

TEST_F(PluginLoaderTest, RefusesAFileThatIsNotASharedLibrary) {
    EXPECT_EQ(failureOfTestPlugin("not_a_library"), LoadFailure::NotALibrary);
}

TEST_F(PluginLoaderTest, RefusesATruncatedLibrary) {
    std::ofstream(dir.file("truncated.so"), std::ios::binary) << readFile(testPlugin("misbehaving_v1")).substr(0, 200);
    EXPECT_EQ(failureOf("truncated.so"), LoadFailure::NotALibrary);
    EXPECT_NE(message.find("cannot be loaded"), std::string::npos);
}

TEST_F(PluginLoaderTest, RefusesALibraryThatIsNotASidebandPlugin) {
    EXPECT_EQ(failureOfTestPlugin("no_symbols"), LoadFailure::SymbolMissing);
    EXPECT_NE(message.find("sideband_sdk_abi_version"), std::string::npos);
}

TEST_F(PluginLoaderTest, RefusesAPluginWithoutAFactory) {
    EXPECT_EQ(failureOfTestPlugin("missing_factory"), LoadFailure::SymbolMissing);
    EXPECT_NE(message.find("sideband_plugin_create"), std::string::npos);
}

TEST_F(PluginLoaderTest, RefusesAnAbiMismatchWithoutCallingTheFactory) {
    // wrong_abi's factory aborts: reaching it would end this test binary.
    EXPECT_EQ(failureOfTestPlugin("wrong_abi"), LoadFailure::AbiMismatch);
    EXPECT_NE(message.find("ABI version " + std::to_string(sideband::sdk::kAbiVersion + 41)), std::string::npos)
        << message;
}

TEST_F(PluginLoaderTest, ContainsAFactoryThatThrows) {
    EXPECT_EQ(failureOfTestPlugin("throws_in_factory"), LoadFailure::FactoryThrew);
    EXPECT_NE(message.find("database credentials missing"), std::string::npos);
}

TEST_F(PluginLoaderTest, RefusesDuplicateToolNames) {
    EXPECT_EQ(failureOfTestPlugin("invalid_tools_1"), LoadFailure::InvalidTools);
    EXPECT_NE(message.find("duplicate"), std::string::npos);
}

TEST_F(PluginLoaderTest, RefusesAToolWhoseSchemaIsNotAnObjectSchema) {
    EXPECT_EQ(failureOfTestPlugin("invalid_tools_2"), LoadFailure::InvalidTools);
    EXPECT_NE(message.find("\"type\": \"object\""), std::string::npos);
}

TEST_F(PluginLoaderTest, ContainsAToolListThatThrows) {
    EXPECT_EQ(failureOfTestPlugin("invalid_tools_3"), LoadFailure::InvalidTools);
    EXPECT_NE(message.find("tool registry not initialised"), std::string::npos);
}

TEST_F(PluginLoaderTest, RefusesPathsOutsideThePluginDirectory) {
    TempDir elsewhere;
    elsewhere.install(testPlugin("misbehaving_v1"), "evil.so");
    EXPECT_EQ(failureOf(elsewhere.file("evil.so")), LoadFailure::OutsidePluginDir);
    EXPECT_EQ(failureOf("../" + fs::path(elsewhere.path()).filename().string() + "/evil.so"),
              LoadFailure::OutsidePluginDir);
    fs::create_symlink(elsewhere.file("evil.so"), dir.file("link.so"));
    EXPECT_EQ(failureOf("link.so"), LoadFailure::OutsidePluginDir);
}

TEST_F(PluginLoaderTest, AcceptsAMatchingSha256PinInEitherCase) {
    dir.install(testPlugin("misbehaving_v1"), "pinned.so");
    auto digest = sideband::sdk::loader::sha256Hex(readFile(testPlugin("misbehaving_v1")));
    std::string upper = digest;
    for (auto& c : upper)
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    EXPECT_NO_THROW(loader.load("pinned.so", upper));
}

TEST_F(PluginLoaderTest, RefusesAMismatchedSha256PinBeforeLoadingTheLibrary) {
    // constructor_aborts aborts when dlopen'ed: the pin must be checked before.
    dir.install(testPlugin("constructor_aborts"), "pinned.so");
    EXPECT_EQ(failureOf("pinned.so", std::string(64, 'a')), LoadFailure::Sha256Mismatch);
    EXPECT_NE(message.find(std::string(64, 'a')), std::string::npos);
}

TEST_F(PluginLoaderTest, ChecksThePinAgainstACachedPluginToo) {
    dir.install(testPlugin("misbehaving_v1"), "shared.so");
    loader.load("shared.so");
    EXPECT_EQ(failureOf("shared.so", std::string(64, 'b')), LoadFailure::Sha256Mismatch);
}

TEST_F(PluginLoaderTest, CachesAPluginByPath) {
    dir.install(testPlugin("misbehaving_v1"), "cached.so");
    auto first = loader.load("cached.so");
    EXPECT_EQ(loader.load("./cached.so"), first);
    EXPECT_EQ(loader.cachedCount(), 1u);
}

TEST_F(PluginLoaderTest, DoesNotCacheFailures) {
    EXPECT_EQ(failureOf("late.so"), LoadFailure::FileMissing);
    dir.install(testPlugin("misbehaving_v1"), "late.so");
    EXPECT_NO_THROW(loader.load("late.so"));
}

TEST_F(PluginLoaderTest, ServesALoadedNameWithoutResolvingItAgainUntilReload) {
    dir.install(testPlugin("misbehaving_v1"), "served.so");
    auto first = loader.load("served.so");
    fs::remove(dir.file("served.so"));
    EXPECT_EQ(loader.load("served.so"), first) << "served from memory, the path is not looked at";
    loader.reloadAll();
    EXPECT_EQ(failureOf("served.so"), LoadFailure::FileMissing);
}

TEST_F(PluginLoaderTest, ReloadLoadsTheRebuiltFileAsANewLibrary) {
    dir.install(testPlugin("misbehaving_v1"), "versioned.so");
    auto before = loader.load("versioned.so");
    dir.install(testPlugin("misbehaving_v2"), "versioned.so");
    EXPECT_EQ(loader.load("versioned.so"), before) << "no reload yet: the cached build serves";
    loader.reloadAll();
    auto after = loader.load("versioned.so");
    EXPECT_NE(after, before);
    EXPECT_NE(after->sha256, before->sha256);
    EXPECT_NE(after->plugin.get(), before->plugin.get());
}

TEST_F(PluginLoaderTest, KeepsALibraryMappedWhileItsPluginIsHeldAndUnloadsItAfter) {
    dir.install(testPlugin("misbehaving_v1"), "held.so");
    auto held = loader.load("held.so");
    loader.reloadAll(); // the cache lets go; `held` still uses the library
    EXPECT_EQ(held->plugin->tools().size(), 9u);
    auto privateCopies = [&] {
        std::size_t n = 0;
        for (auto& entry : fs::directory_iterator(copies.path()))
            n += entry.path().extension() == ".so";
        return n;
    };
    EXPECT_EQ(privateCopies(), 1u);
    held.reset(); // last reference: the plugin is deleted, the library unloaded, its copy removed
    EXPECT_EQ(privateCopies(), 0u);
}

} // namespace
