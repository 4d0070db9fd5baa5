// PluginLoader against real .so files: every load failure is a typed error, never a crash.
#include "Eventually.h"
#include "TestPlugins.h"
#include "plugins/PluginLoader.h"

#include <sideband/sdk/Fingerprint.h>
#include <sideband/sdk/testing/Mocks.h>

#include <gtest/gtest.h>

#include <boost/filesystem.hpp>

#include <atomic>
#include <cstdlib>
#include <future>
#include <map>
#include <random>
#include <set>
#include <thread>

#include <unistd.h>

using namespace sideband::plugins;
using namespace sideband::plugins::testing;
using sideband::sdk::loader::hostFingerprint;
using sideband::sdk::loader::LoadError;
using sideband::sdk::loader::LoadFailure;
using sideband::sdk::loader::readFingerprint;
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
    EXPECT_EQ(plugin->fingerprint, hostFingerprint());
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
    EXPECT_NE(message.find("no sideband_sdk_fingerprint: built with an SDK older than ABI 2"), std::string::npos)
        << message;
}

TEST_F(PluginLoaderTest, RefusesAPluginWithoutAFactory) {
    EXPECT_EQ(failureOfTestPlugin("missing_factory"), LoadFailure::SymbolMissing);
    EXPECT_NE(message.find("sideband_plugin_create"), std::string::npos);
}

TEST_F(PluginLoaderTest, RefusesAFingerprintMismatchBeforeDlopenNamingTheFieldThatDiffers) {
    // wrong_abi's global constructor writes the marker when the library is dlopen'ed; its factory aborts.
    const std::string marker = copies.file("wrong_abi_constructor_ran");
    ::setenv("SIDEBAND_TEST_WRONG_ABI_MARKER", marker.c_str(), 1);
    EXPECT_EQ(failureOfTestPlugin("wrong_abi"), LoadFailure::AbiMismatch);
    ::unsetenv("SIDEBAND_TEST_WRONG_ABI_MARKER");
    EXPECT_FALSE(fs::exists(marker)) << "the plugin's constructor ran: the library was dlopen'ed";
    EXPECT_NE(message.find("built for poco=0x7fff0000, this host has poco=" SIDEBAND_SDK_FP_POCO), std::string::npos)
        << message;
    for (const char* same : {"sdk=", "compiler=", "cxxabi=", "libstdcxx=", "boost=", "headers="})
        EXPECT_EQ(message.find(same), std::string::npos) << same << " does not differ: " << message;
}

TEST(PluginFingerprint, HostFingerprintHasEveryField) {
    const std::string host = hostFingerprint();
    EXPECT_EQ(host.rfind("sideband-sdk-fingerprint/1 sdk=" + std::to_string(sideband::sdk::kAbiVersion) + " ", 0), 0u)
        << host;
    for (const char* field : {" compiler=gcc-", " cxxabi=", " libstdcxx=", " poco=0x", " boost=", " headers="})
        EXPECT_NE(host.find(field), std::string::npos) << field << " in " << host;
    EXPECT_EQ(host.find("none"), std::string::npos) << host;
}

TEST(PluginFingerprint, DifferencesNameEachDifferingField) {
    const std::string host = "sideband-sdk-fingerprint/1 sdk=2 poco=1 boost=3";
    EXPECT_TRUE(sideband::sdk::loader::fingerprintDifferences(host, host).empty());
    auto differences =
        sideband::sdk::loader::fingerprintDifferences("sideband-sdk-fingerprint/1 sdk=1 poco=1 extra=x", host);
    ASSERT_EQ(differences.size(), 3u);
    EXPECT_EQ(differences[0], "built for sdk=1, this host has sdk=2");
    EXPECT_EQ(differences[1], "built without boost, this host has boost=3");
    EXPECT_EQ(differences[2], "built for extra=x, this host has no extra");
    EXPECT_FALSE(
        sideband::sdk::loader::fingerprintDifferences("sideband-sdk-fingerprint/1  sdk=2 poco=1 boost=3", host).empty())
        << "unequal strings always differ";
}

TEST(PluginFingerprint, IsReadFromThePluginFileBytes) {
    EXPECT_EQ(readFingerprint(readFile(testPlugin("misbehaving_v1"))), hostFingerprint());
    EXPECT_EQ(readFingerprint(readFile(testPlugin("missing_factory"))), hostFingerprint());
    EXPECT_NE(readFingerprint(readFile(testPlugin("wrong_abi"))).value_or(""), hostFingerprint());
    EXPECT_FALSE(readFingerprint(readFile(testPlugin("no_symbols"))));
    EXPECT_FALSE(readFingerprint(readFile(testPlugin("not_a_library"))));
}

TEST(PluginFingerprint, ReadingTruncatedOrGarbageBytesFindsNothingAndNeverCrashes) {
    EXPECT_FALSE(readFingerprint(""));
    EXPECT_FALSE(readFingerprint("\x7f"
                                 "ELF"));
    EXPECT_FALSE(readFingerprint(std::string(4096, '\0')));
    EXPECT_FALSE(readFingerprint(std::string(4096, '\xff')));
    std::string header(64, '\0'); // a valid-looking ELF64 header whose section table is far away
    header.replace(0, 7,
                   "\x7f"
                   "ELF\x02\x01\x01");
    header[16] = 3;                                            // ET_DYN
    header.replace(40, 8, "\xf0\xff\xff\xff\xff\xff\xff\x7f"); // e_shoff near 2^63
    header[58] = 64;                                           // e_shentsize
    header[60] = '\xff';                                       // e_shnum
    header[61] = '\xff';
    EXPECT_FALSE(readFingerprint(header));

    const std::string real = readFile(testPlugin("misbehaving_v1"));
    ASSERT_EQ(readFingerprint(real), hostFingerprint());
    // The section table is at the end of the file: no proper prefix has it.
    for (std::size_t length = 0; length < real.size(); length += 97)
        EXPECT_FALSE(readFingerprint(real.substr(0, length))) << length;
    for (std::size_t length = real.size() - 512; length < real.size(); ++length)
        EXPECT_FALSE(readFingerprint(real.substr(0, length))) << length;

    // Random corruption of the headers and tables the reader follows (fixed seed: reproducible).
    std::mt19937 random(20240611);
    for (int round = 0; round < 3000; ++round) {
        std::string bytes = real;
        for (int flips = 1 + static_cast<int>(random() % 8); flips > 0; --flips) {
            const bool tail = random() % 2; // the section headers are at the end of the file
            const std::size_t span = std::min<std::size_t>(bytes.size(), 4096);
            const std::size_t at = tail ? bytes.size() - 1 - random() % span : random() % span;
            bytes[at] = static_cast<char>(random());
        }
        auto read = readFingerprint(bytes);
        if (read) {
            EXPECT_LE(read->size(), 1024u);
        }
    }
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

TEST_F(PluginLoaderTest, LoadsThePluginsThatFailOnlyWhenTheirToolsRun) {
    // Loading them is harmless (what they break is in their tools): they pass the loader's checks.
    const std::map<std::string, std::string> tools = {
        {"segfaults_in_tool", "crash"}, {"endless_loop", "spin"},     {"memory_hog", "hog"},      {"exits", "exit"},
        {"fork_loop", "fork"},          {"reads_environ", "environ"}, {"writes_outside", "write"}};
    for (const auto& [name, tool] : tools) {
        dir.install(testPlugin(name), name + ".so");
        auto plugin = loader.load(name + ".so");
        std::set<std::string> names;
        for (const auto& definition : plugin->tools)
            names.insert(definition.name);
        EXPECT_EQ(names, (std::set<std::string>{tool, "ok"})) << name;
    }
}

TEST_F(PluginLoaderTest, TheHarmlessBrokenPluginsWorkInProcess) {
    sideband::sdk::testing::FakeCallContext call;
    const auto run = [&](const std::string& name, const std::string& tool, const std::string& arguments) {
        dir.install(testPlugin(name), name + ".so");
        auto plugin = loader.load(name + ".so");
        sideband::sdk::ToolCall toolCall(tool, sideband::sdk::loader::parseArguments(arguments),
                                         sideband::sdk::ToolCall::Clock::now() + std::chrono::seconds(10), nullptr);
        return sideband::sdk::loader::runTool(*plugin->plugin, plugin->tools, call, toolCall).json;
    };
    EXPECT_EQ(run("segfaults_in_tool", "ok", "{}"), R"({"ok":true})");
    EXPECT_EQ(run("memory_hog", "hog", R"({"max_mb":128})"), R"({"allocated_mb":128})");

    const std::string target = dir.file("written.txt");
    EXPECT_EQ(run("writes_outside", "write", R"({"path":")" + target + R"("})"), R"({"written":true})");
    EXPECT_TRUE(fs::exists(target));
    EXPECT_NE(
        run("writes_outside", "write", R"({"path":")" + dir.file("no/such/dir/x") + R"("})").find(R"("error_errno":2)"),
        std::string::npos);

    ::setenv("SIDEBAND_TEST_ENVIRON_PROBE", "visible", 1);
    const std::string environ = run("reads_environ", "environ", R"({"pid":)" + std::to_string(::getppid()) + "}");
    ::unsetenv("SIDEBAND_TEST_ENVIRON_PROBE");
    EXPECT_NE(environ.find(R"("self":")"), std::string::npos) << environ;
    EXPECT_NE(environ.find(R"("other)"), std::string::npos) << environ;
}

TEST_F(PluginLoaderTest, ASlowLoadDoesNotHoldUpLoadsOfOtherPlugins) {
    // slow_constructor's factory appends to `started` and then sleeps until `release` exists (at
    // most 20 s). While it sleeps, another plugin must load: the loader holds no lock across it.
    const std::string started = copies.file("slow_started"), release = copies.file("slow_release");
    ::setenv("SIDEBAND_TEST_SLOW_CONSTRUCTOR_MS", "20000", 1);
    ::setenv("SIDEBAND_TEST_SLOW_CONSTRUCTOR_STARTED", started.c_str(), 1);
    ::setenv("SIDEBAND_TEST_SLOW_CONSTRUCTOR_RELEASE", release.c_str(), 1);
    dir.install(testPlugin("slow_constructor"), "slow.so");
    dir.install(testPlugin("misbehaving_v1"), "quick.so");

    std::atomic<bool> slowDone{false};
    auto slow = std::async(std::launch::async, [&] {
        auto plugin = loader.load("slow.so");
        slowDone = true;
        return plugin;
    });
    ASSERT_TRUE(sideband::testing::eventually([&] { return fs::exists(started); })) << "the slow load never started";
    // A second caller for the same file waits for the first load instead of loading it again.
    auto sameFile = std::async(std::launch::async, [&] { return loader.load("slow.so"); });

    auto quick = loader.load("quick.so");
    EXPECT_FALSE(slowDone) << "the quick load waited for the slow one";
    EXPECT_EQ(quick->tools.size(), 9u);

    std::ofstream(release) << "go\n";
    auto slowPlugin = slow.get();
    EXPECT_EQ(sameFile.get(), slowPlugin);
    EXPECT_EQ(readFile(started), "started\n") << "the slow plugin was loaded once";
    EXPECT_EQ(loader.cachedCount(), 2u);
    for (const char* name : {"SIDEBAND_TEST_SLOW_CONSTRUCTOR_MS", "SIDEBAND_TEST_SLOW_CONSTRUCTOR_STARTED",
                             "SIDEBAND_TEST_SLOW_CONSTRUCTOR_RELEASE"})
        ::unsetenv(name);
}

TEST_F(PluginLoaderTest, ConcurrentCallersForAFailingFileAllSeeTheFailureAndItIsNotCached) {
    dir.install(testPlugin("throws_in_factory"), "throws.so");
    std::vector<std::future<LoadFailure>> callers;
    for (int i = 0; i < 4; ++i)
        callers.push_back(std::async(std::launch::async, [&] {
            try {
                loader.load("throws.so");
            } catch (const LoadError& e) {
                return e.reason();
            }
            return LoadFailure::FileMissing;
        }));
    for (auto& caller : callers)
        EXPECT_EQ(caller.get(), LoadFailure::FactoryThrew);
    EXPECT_EQ(loader.cachedCount(), 0u);
    dir.install(testPlugin("misbehaving_v1"), "throws.so");
    EXPECT_NO_THROW(loader.load("throws.so"));
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
