#include "sideband/sdk/loader/PluginLibrary.h"

#include <Poco/DigestEngine.h>
#include <Poco/JSON/Parser.h>
#include <Poco/JSON/Stringifier.h>
#include <Poco/SHA2Engine.h>

#include <boost/dll/shared_library.hpp>
#include <boost/filesystem.hpp>

#include <atomic>
#include <fstream>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>

#include <unistd.h>

namespace sideband::sdk::loader {
namespace fs = boost::filesystem;
namespace {

std::string stringify(const Poco::Dynamic::Var& value) {
    std::ostringstream out;
    Poco::JSON::Stringifier::condense(value, out);
    return out.str();
}

Poco::JSON::Object::Ptr parseObject(const std::string& text) {
    try {
        Poco::JSON::Parser parser;
        auto value = parser.parse(text);
        if (value.type() != typeid(Poco::JSON::Object::Ptr)) return nullptr;
        return value.extract<Poco::JSON::Object::Ptr>();
    } catch (const std::exception&) {
        return nullptr;
    }
}

// A fresh 0700 directory per process: nobody else can swap the copy between hashing and dlopen.
// Removed when the process exits (a library still mapped then stays mapped: unlinking is safe),
// so restarts and test runs leave nothing behind in the temp directory.
class PrivateCopyDirectory {
public:
    PrivateCopyDirectory()
        : path_(fs::temp_directory_path() / fs::unique_path("sideband-plugins-%%%%-%%%%-%%%%")), owner_(::getpid()) {
        fs::create_directories(path_);
        fs::permissions(path_, fs::owner_all);
    }
    ~PrivateCopyDirectory() {
        if (::getpid() != owner_) return; // a forked child exiting must not take its parent's copies
        boost::system::error_code ignored;
        fs::remove_all(path_, ignored);
    }
    PrivateCopyDirectory(const PrivateCopyDirectory&) = delete;
    PrivateCopyDirectory& operator=(const PrivateCopyDirectory&) = delete;
    const fs::path& path() const { return path_; }

private:
    fs::path path_;
    pid_t owner_;
};

const fs::path& defaultCopyDirectory() {
    static const PrivateCopyDirectory dir;
    return dir.path();
}

// The library a plugin's objects live in, plus its private copy on disk; removed on unload.
struct Mapping {
    boost::dll::shared_library library;
    fs::path copy;
    ~Mapping() {
        library.unload();
        boost::system::error_code ignored;
        fs::remove(copy, ignored);
    }
};

std::string readFile(const std::string& path) {
    boost::system::error_code ec;
    if (!fs::is_regular_file(path, ec))
        throw LoadError(LoadFailure::FileMissing, "plugin file " + path + " does not exist or is not a regular file");
    std::ifstream in(path, std::ios::binary);
    std::ostringstream bytes;
    bytes << in.rdbuf();
    if (!in) throw LoadError(LoadFailure::FileMissing, "plugin file " + path + " cannot be read");
    return bytes.str();
}

fs::path writePrivateCopy(const std::string& path, const std::string& bytes, const LoadOptions& options) {
    static std::atomic<unsigned> generation{0};
    fs::path dir = options.copyDirectory.empty() ? defaultCopyDirectory() : fs::path(options.copyDirectory);
    fs::create_directories(dir);
    auto copy = dir / (fs::path(path).stem().string() + "." + std::to_string(::getpid()) + "." +
                       std::to_string(++generation) + ".so");
    std::ofstream out(copy.string(), std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out)
        throw LoadError(LoadFailure::FileMissing, "cannot write a private copy of " + path + " to " + dir.string());
    return copy;
}

} // namespace

const char* reasonName(LoadFailure reason) {
    switch (reason) {
    case LoadFailure::OutsidePluginDir:
        return "outside_plugin_dir";
    case LoadFailure::FileMissing:
        return "file_missing";
    case LoadFailure::Sha256Mismatch:
        return "sha256_mismatch";
    case LoadFailure::NotALibrary:
        return "not_a_library";
    case LoadFailure::SymbolMissing:
        return "symbol_missing";
    case LoadFailure::AbiMismatch:
        return "abi_mismatch";
    case LoadFailure::FactoryThrew:
        return "factory_threw";
    case LoadFailure::InvalidTools:
        return "invalid_tools";
    }
    return "unknown";
}

const char* outcomeName(ToolOutcome outcome) {
    switch (outcome) {
    case ToolOutcome::Ok:
        return "ok";
    case ToolOutcome::Error:
        return "error";
    case ToolOutcome::InvalidOutput:
        return "invalid_output";
    case ToolOutcome::UnknownTool:
        return "unknown_tool";
    case ToolOutcome::BadArguments:
        return "bad_arguments";
    case ToolOutcome::Timeout:
        return "timeout";
    }
    return "unknown";
}

std::string sha256Hex(const std::string& bytes) {
    Poco::SHA2Engine engine(Poco::SHA2Engine::SHA_256);
    engine.update(bytes.data(), static_cast<unsigned>(bytes.size()));
    return Poco::DigestEngine::digestToHex(engine.digest());
}

void validateTools(const std::vector<ToolDefinition>& tools) {
    // OpenAI's function name rule.
    static const std::regex kName("[A-Za-z0-9_-]{1,64}");
    std::set<std::string> seen;
    for (const auto& tool : tools) {
        auto fail = [&](const std::string& why) {
            throw LoadError(LoadFailure::InvalidTools, "tool '" + tool.name + "': " + why);
        };
        if (!std::regex_match(tool.name, kName)) fail("name must match [A-Za-z0-9_-]{1,64}");
        if (!seen.insert(tool.name).second) fail("duplicate tool name");
        const auto& schema = tool.parameters;
        if (!schema) fail("no parameters schema");
        if (!schema->has("type") || schema->get("type") != "object")
            fail("parameters schema must have \"type\": \"object\"");
        std::set<std::string> properties;
        if (schema->has("properties")) {
            auto props = schema->getObject("properties");
            if (!props) fail("\"properties\" must be an object");
            for (const auto& [key, value] : *props) {
                if (value.type() != typeid(Poco::JSON::Object::Ptr))
                    fail("property '" + key + "' must be a schema object");
                properties.insert(key);
            }
        }
        if (schema->has("required")) {
            auto required = schema->getArray("required");
            if (!required) fail("\"required\" must be an array");
            for (const auto& entry : *required) {
                if (!entry.isString() || !properties.count(entry.toString()))
                    fail("\"required\" names a property that is not declared");
            }
        }
    }
}

LoadedPlugin loadPlugin(const std::string& path, const LoadOptions& options) {
    // Read once, hash what was read, and load exactly those bytes from a private copy. Hashing the
    // file and then dlopen'ing it by name would let anyone who can write the plugin directory swap
    // the file in between; and a dlopen runs the library's constructors, so the pin must hold before
    // it, not after.
    const std::string bytes = readFile(path);
    const std::string digest = sha256Hex(bytes);
    if (!options.expectedSha256.empty() && options.expectedSha256 != digest)
        throw LoadError(LoadFailure::Sha256Mismatch,
                        "plugin file " + path + " has SHA-256 " + digest + ", pinned " + options.expectedSha256);
    if (bytes.size() < 4 || bytes.compare(0, 4,
                                          "\x7f"
                                          "ELF") != 0)
        throw LoadError(LoadFailure::NotALibrary, "plugin file " + path + " is not an ELF shared library");

    auto mapping = std::make_shared<Mapping>();
    mapping->copy = writePrivateCopy(path, bytes, options);
    try {
        // rtld_now: an unresolved symbol fails here, with a message, instead of at the first call.
        mapping->library.load(mapping->copy, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
    } catch (const std::exception& e) {
        throw LoadError(LoadFailure::NotALibrary, "plugin file " + path + " cannot be loaded: " + e.what());
    }

    auto& library = mapping->library;
    if (!library.has(kAbiVersionSymbol))
        throw LoadError(LoadFailure::SymbolMissing, "plugin file " + path + " does not export " +
                                                        std::string(kAbiVersionSymbol) + " (missing SIDEBAND_PLUGIN?)");
    // Checked before anything else in the plugin is touched: another ABI may lay out every type
    // differently, even the factory's result.
    const std::uint32_t version = library.get<const std::uint32_t>(kAbiVersionSymbol);
    if (version != kAbiVersion)
        throw LoadError(LoadFailure::AbiMismatch, "plugin file " + path + " was built against SDK ABI version " +
                                                      std::to_string(version) + ", this host speaks version " +
                                                      std::to_string(kAbiVersion) + "; rebuild it against this SDK");
    if (!library.has(kFactoryAlias))
        throw LoadError(LoadFailure::SymbolMissing, "plugin file " + path + " does not export the factory " +
                                                        std::string(kFactoryAlias) + " (missing SIDEBAND_PLUGIN?)");
    auto& factory = library.get_alias<Plugin*()>(kFactoryAlias);

    std::string failure;
    Plugin* raw = nullptr;
    try {
        raw = factory();
        if (!raw) failure = "returned null";
    } catch (const std::exception& e) {
        failure = std::string("threw: ") + e.what();
    } catch (...) {
        failure = "threw a non-standard exception";
    }
    if (!failure.empty()) throw LoadError(LoadFailure::FactoryThrew, "plugin file " + path + ": factory " + failure);

    // The deleter holds the mapping: the library stays loaded for exactly as long as the plugin
    // object is referenced (Boost.DLL's refcounting pattern), and the object is deleted first.
    LoadedPlugin loaded;
    loaded.plugin = std::shared_ptr<Plugin>(raw, [mapping](Plugin* p) mutable {
        delete p;
        mapping.reset();
    });
    loaded.sha256 = digest;
    loaded.path = path;
    loaded.abiVersion = version;

    try {
        // Copied through JSON text: objects the plugin allocated may use code (vtables of template
        // instantiations) that lives in the plugin and vanishes on unload.
        for (const auto& tool : loaded.plugin->tools()) {
            Poco::JSON::Object::Ptr schema = tool.parameters ? parseObject(stringify(tool.parameters)) : nullptr;
            loaded.tools.push_back({tool.name, tool.description, schema});
        }
    } catch (const std::exception& e) {
        failure = std::string("tools() threw: ") + e.what();
    } catch (...) {
        failure = "tools() threw a non-standard exception";
    }
    if (!failure.empty()) throw LoadError(LoadFailure::InvalidTools, "plugin file " + path + ": " + failure);
    try {
        validateTools(loaded.tools);
    } catch (const LoadError& e) {
        throw LoadError(LoadFailure::InvalidTools, "plugin file " + path + " has an invalid tool list: " + e.what());
    }
    return loaded;
}

std::string errorOutput(const std::string& message) {
    Poco::JSON::Object::Ptr body = new Poco::JSON::Object;
    body->set("error", message);
    return stringify(body);
}

Poco::JSON::Object::Ptr parseArguments(const std::string& argumentsJson) {
    if (argumentsJson.find_first_not_of(" \t\r\n") == std::string::npos) return new Poco::JSON::Object;
    return parseObject(argumentsJson);
}

ToolOutput runTool(Plugin& plugin, const std::vector<ToolDefinition>& tools, CallContext& call, const ToolCall& tool) {
    bool known = false;
    for (const auto& definition : tools)
        known = known || definition.name == tool.name();
    if (!known) return {errorOutput("unknown tool '" + tool.name() + "'"), ToolOutcome::UnknownTool};
    try {
        Poco::JSON::Object::Ptr result = plugin.callTool(call, tool);
        if (!result) return {errorOutput("tool '" + tool.name() + "' returned no result"), ToolOutcome::InvalidOutput};
        std::string text;
        try {
            text = stringify(result);
        } catch (const std::exception&) {
        }
        // Re-parsed so NaN, infinities or values Poco cannot express never reach the model.
        if (text.empty() || !parseObject(text))
            return {errorOutput("tool '" + tool.name() + "' returned a result that is not valid JSON"),
                    ToolOutcome::InvalidOutput};
        return {text, ToolOutcome::Ok};
    } catch (const std::invalid_argument& e) {
        return {errorOutput(e.what()), ToolOutcome::BadArguments};
    } catch (const std::exception& e) {
        return {errorOutput(e.what()), ToolOutcome::Error};
    } catch (...) {
        return {errorOutput("tool '" + tool.name() + "' failed"), ToolOutcome::Error};
    }
}

} // namespace sideband::sdk::loader
