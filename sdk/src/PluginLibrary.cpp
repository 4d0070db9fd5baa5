#include "sideband/sdk/loader/PluginLibrary.h"
#include "sideband/sdk/Fingerprint.h"

#include <Poco/DigestEngine.h>
#include <Poco/JSON/Parser.h>
#include <Poco/JSON/Stringifier.h>
#include <Poco/SHA2Engine.h>

#include <boost/dll/shared_library.hpp>
#include <boost/filesystem.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>
#include <string_view>

#include <elf.h>
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

// The fingerprint read from a plugin's file bytes. The bytes may be hostile: every offset, size and
// index is checked against the file before it is used, and arithmetic is arranged not to overflow.
// Not a security boundary (a hostile plugin can export the right string): it keeps honest builds
// against another SDK or toolchain from running at all; containment is the sandbox's job.
struct FingerprintRead {
    enum Status { Found, Malformed, NoSymbol, BadValue } status;
    std::string value; // Found: the string; otherwise why not
};

constexpr std::size_t kMaxFingerprintLength = 1024;

class ElfBytes {
public:
    explicit ElfBytes(const std::string& bytes) : bytes_(bytes) {}
    bool fits(std::uint64_t offset, std::uint64_t length) const {
        return offset <= bytes_.size() && length <= bytes_.size() - offset;
    }
    template <class T> bool read(std::uint64_t offset, T& out) const {
        if (!fits(offset, sizeof(T))) return false;
        std::memcpy(&out, bytes_.data() + offset, sizeof(T)); // no alignment assumed
        return true;
    }
    std::string_view view(std::uint64_t offset, std::uint64_t length) const { // callers check fits()
        return std::string_view(bytes_.data() + offset, length);
    }
    std::size_t size() const { return bytes_.size(); }

private:
    const std::string& bytes_;
};

FingerprintRead findFingerprint(const std::string& bytes) {
    using R = FingerprintRead;
    const ElfBytes elf(bytes);
    Elf64_Ehdr header;
    if (!elf.read(0, header) || std::memcmp(header.e_ident, ELFMAG, SELFMAG) != 0)
        return {R::Malformed, "not an ELF file, or its header is truncated"};
    if (header.e_ident[EI_CLASS] != ELFCLASS64) return {R::Malformed, "not a 64-bit ELF file"};
    constexpr unsigned char kByteOrder = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? ELFDATA2LSB : ELFDATA2MSB;
    if (header.e_ident[EI_DATA] != kByteOrder) return {R::Malformed, "ELF byte order is not this host's"};
    if (header.e_type != ET_DYN) return {R::Malformed, "not an ELF shared object"};
    if (header.e_shoff == 0) return {R::Malformed, "no ELF section headers"};
    const std::uint64_t entry = header.e_shentsize;
    if (entry < sizeof(Elf64_Shdr)) return {R::Malformed, "ELF section header entries are too small"};
    std::uint64_t count = header.e_shnum;
    if (count == 0) { // extended numbering: the count is section 0's sh_size
        Elf64_Shdr zero;
        if (!elf.read(header.e_shoff, zero))
            return {R::Malformed, "ELF section headers lie beyond the end of the file"};
        count = zero.sh_size;
    }
    // count <= size / entry keeps count * entry from overflowing.
    if (count == 0 || count > elf.size() / entry || !elf.fits(header.e_shoff, count * entry))
        return {R::Malformed, "ELF section headers lie beyond the end of the file"};
    const auto section = [&](std::uint64_t index, Elf64_Shdr& out) {
        return index < count && elf.read(header.e_shoff + index * entry, out);
    };

    Elf64_Shdr symbols{};
    bool haveSymbols = false;
    for (std::uint64_t i = 0; i < count && !haveSymbols; ++i)
        haveSymbols = section(i, symbols) && symbols.sh_type == SHT_DYNSYM;
    if (!haveSymbols) return {R::NoSymbol, "no dynamic symbol table"};
    Elf64_Shdr strings{};
    if (!section(symbols.sh_link, strings) || strings.sh_type != SHT_STRTAB ||
        !elf.fits(strings.sh_offset, strings.sh_size))
        return {R::Malformed, "malformed dynamic string table"};
    if (symbols.sh_entsize < sizeof(Elf64_Sym) || !elf.fits(symbols.sh_offset, symbols.sh_size))
        return {R::Malformed, "malformed dynamic symbol table"};
    const std::string_view names = elf.view(strings.sh_offset, strings.sh_size);
    const std::string_view wanted = kFingerprintSymbol;

    const std::uint64_t symbolCount = symbols.sh_size / symbols.sh_entsize;
    for (std::uint64_t i = 0; i < symbolCount; ++i) {
        Elf64_Sym symbol;
        if (!elf.read(symbols.sh_offset + i * symbols.sh_entsize, symbol)) break;
        if (symbol.st_name >= names.size()) continue;
        const std::string_view name = names.substr(symbol.st_name);
        if (name.size() <= wanted.size() || name.compare(0, wanted.size(), wanted) != 0 || name[wanted.size()] != '\0')
            continue;
        if (symbol.st_shndx == SHN_UNDEF) continue; // a reference to it, not its definition
        if (symbol.st_shndx >= SHN_LORESERVE || ELF64_ST_TYPE(symbol.st_info) != STT_OBJECT)
            return {R::BadValue, "the symbol is not data defined in the file"};
        Elf64_Shdr holder;
        if (!section(symbol.st_shndx, holder) || holder.sh_type == SHT_NOBITS ||
            !elf.fits(holder.sh_offset, holder.sh_size) || symbol.st_value < holder.sh_addr ||
            symbol.st_value - holder.sh_addr >= holder.sh_size)
            return {R::BadValue, "the symbol's value lies outside its section"};
        const std::uint64_t within = symbol.st_value - holder.sh_addr;
        std::uint64_t length = holder.sh_size - within;
        if (symbol.st_size != 0) length = std::min<std::uint64_t>(length, symbol.st_size);
        length = std::min<std::uint64_t>(length, kMaxFingerprintLength + 1);
        std::string_view text = elf.view(holder.sh_offset + within, length);
        const auto end = text.find('\0');
        if (end == std::string_view::npos) return {R::BadValue, "the value is not a string of at most 1024 bytes"};
        text = text.substr(0, end);
        for (char c : text)
            if (c < 0x20 || c > 0x7e) return {R::BadValue, "the value is not printable ASCII"};
        return {R::Found, std::string(text)};
    }
    return {R::NoSymbol, "no such symbol"};
}

// "tag key=value key=value..." -> the tag, and the fields in order.
std::pair<std::string, std::vector<std::pair<std::string, std::string>>> splitFingerprint(const std::string& text) {
    std::istringstream in(text);
    std::string tag, token;
    in >> tag;
    std::vector<std::pair<std::string, std::string>> fields;
    while (in >> token) {
        const auto eq = token.find('=');
        fields.emplace_back(token.substr(0, eq), eq == std::string::npos ? "" : token.substr(eq + 1));
    }
    return {tag, fields};
}

} // namespace

std::string hostFingerprint() {
    return SIDEBAND_SDK_FINGERPRINT;
}

std::optional<std::string> readFingerprint(const std::string& elfBytes) {
    auto read = findFingerprint(elfBytes);
    if (read.status != FingerprintRead::Found) return std::nullopt;
    return read.value;
}

std::vector<std::string> fingerprintDifferences(const std::string& plugin, const std::string& host) {
    std::vector<std::string> differences;
    if (plugin == host) return differences;
    const auto [pluginTag, pluginFields] = splitFingerprint(plugin);
    const auto [hostTag, hostFields] = splitFingerprint(host);
    if (pluginTag != hostTag)
        differences.push_back("built for format " + pluginTag + ", this host has format " + hostTag);
    const std::map<std::string, std::string> theirs(pluginFields.begin(), pluginFields.end());
    const std::map<std::string, std::string> ours(hostFields.begin(), hostFields.end());
    for (const auto& [key, value] : hostFields) {
        auto it = theirs.find(key);
        if (it == theirs.end())
            differences.push_back("built without " + key + ", this host has " + key + "=" + value);
        else if (it->second != value)
            differences.push_back("built for " + key + "=" + it->second + ", this host has " + key + "=" + value);
    }
    for (const auto& [key, value] : pluginFields)
        if (!ours.count(key)) differences.push_back("built for " + key + "=" + value + ", this host has no " + key);
    if (differences.empty()) differences.push_back("built as '" + plugin + "', this host is '" + host + "'");
    return differences;
}

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

    // The fingerprint comes from the bytes, not from dlsym: dlopen runs the library's constructors,
    // which for another toolchain's or SDK's build may already misbehave.
    const auto fingerprint = findFingerprint(bytes);
    switch (fingerprint.status) {
    case FingerprintRead::Found:
        break;
    case FingerprintRead::Malformed:
        throw LoadError(LoadFailure::NotALibrary, "plugin file " + path + " cannot be loaded: " + fingerprint.value);
    case FingerprintRead::NoSymbol:
        throw LoadError(LoadFailure::SymbolMissing,
                        "plugin file " + path + " has no " + std::string(kFingerprintSymbol) +
                            ": built with an SDK older than ABI 2 or without SIDEBAND_PLUGIN; rebuild it against "
                            "this host's SDK");
    case FingerprintRead::BadValue:
        throw LoadError(LoadFailure::AbiMismatch, "plugin file " + path + " has an unreadable " +
                                                      std::string(kFingerprintSymbol) + ": " + fingerprint.value);
    }
    const std::string host = hostFingerprint();
    if (fingerprint.value != host) {
        std::string message = "plugin file " + path + " does not match this host's build:";
        const char* separator = " ";
        for (const auto& difference : fingerprintDifferences(fingerprint.value, host)) {
            message += separator + difference;
            separator = "; ";
        }
        throw LoadError(LoadFailure::AbiMismatch, message + "; rebuild it against this host's SDK");
    }

    auto mapping = std::make_shared<Mapping>();
    mapping->copy = writePrivateCopy(path, bytes, options);
    try {
        // rtld_now: an unresolved symbol fails here, with a message, instead of at the first call.
        mapping->library.load(mapping->copy, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
    } catch (const std::exception& e) {
        throw LoadError(LoadFailure::NotALibrary, "plugin file " + path + " cannot be loaded: " + e.what());
    }

    auto& library = mapping->library;
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
    loaded.abiVersion = kAbiVersion; // the fingerprint's sdk= field, equal to the host's
    loaded.fingerprint = fingerprint.value;

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

namespace {

// JSON text is UTF-8 (RFC 8259). An error message that is not (an exception's text in Latin-1, a
// multi-byte character cut in half) would make an output nobody can read: the host's JSON parser
// refuses it (a plugin runner's tool_result carrying it is a broken frame, and the runner is
// restarted), and so does the Realtime API (a WebSocket text frame that is not UTF-8 ends the
// call's socket). Each byte that does not start a well-formed UTF-8 sequence becomes U+FFFD.
// Found by tests/fuzz/fuzz_plugin_tool_result.
std::string wellFormedUtf8(const std::string& text) {
    std::string out;
    out.reserve(text.size());
    const auto* s = reinterpret_cast<const unsigned char*>(text.data());
    const std::size_t n = text.size();
    for (std::size_t i = 0; i < n;) {
        const unsigned char c = s[i];
        std::size_t length = 0;
        std::uint32_t codePoint = 0;
        if (c < 0x80) {
            length = 1;
            codePoint = c;
        } else if (c >= 0xC2 && c <= 0xDF) {
            length = 2;
            codePoint = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            length = 3;
            codePoint = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            length = 4;
            codePoint = c & 0x07;
        }
        bool valid = length > 0 && i + length <= n;
        for (std::size_t k = 1; valid && k < length; ++k) {
            valid = (s[i + k] & 0xC0) == 0x80;
            codePoint = (codePoint << 6) | (s[i + k] & 0x3F);
        }
        // No overlong forms, no surrogates, nothing past U+10FFFF.
        if (valid && ((length == 3 && (codePoint < 0x800 || (codePoint >= 0xD800 && codePoint <= 0xDFFF))) ||
                      (length == 4 && (codePoint < 0x10000 || codePoint > 0x10FFFF))))
            valid = false;
        if (valid) {
            out.append(text, i, length);
            i += length;
        } else {
            out += "\xEF\xBF\xBD";
            ++i;
        }
    }
    return out;
}

} // namespace

std::string errorOutput(const std::string& message) {
    Poco::JSON::Object::Ptr body = new Poco::JSON::Object;
    body->set("error", wellFormedUtf8(message));
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
