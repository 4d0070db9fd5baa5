#include "tenants/TenantConfigParser.h"

#include <Poco/Exception.h>
#include <Poco/JSON/Parser.h>

#include <cctype>

namespace sideband::tenants {
namespace {

constexpr int kMaxToolTimeoutMs = 600000;

bool isHex64(const std::string &text) {
    if (text.size() != 64) return false;
    for (char c : text)
        if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
    return true;
}

// A file name, not a path: the loader joins it to the plugin directory, and a "../" here would let
// a tenant's config load any library on the machine.
bool isPlainFileName(const std::string &name) {
    if (name == "." || name == ".." || name.size() > 255) return false;
    for (char c : name)
        if (c == '/' || c == '\\' || c == '\0') return false;
    return true;
}

std::string lowerCase(std::string text) {
    for (auto &c : text)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return text;
}

bool startsWith(const std::string &text, const char *prefix) {
    return text.rfind(prefix, 0) == 0;
}

} // namespace

std::optional<std::string> tenantConfigProblem(const Poco::JSON::Object &config) {
    const auto stringAt = [&](const char *key) -> std::optional<std::string> {
        const auto value = config.get(key);
        if (!value.isString()) return std::nullopt;
        return value.extract<std::string>();
    };
    for (const char *key : {"model", "voice"}) {
        if (!config.has(key)) continue;
        const auto value = stringAt(key);
        if (!value || value->empty()) return "config." + std::string(key) + ": must be a non-empty string";
    }
    if (config.has("plugin")) {
        const auto plugin = stringAt("plugin");
        if (!plugin) return std::string("config.plugin: must be a string (a file name in the plugin directory)");
        if (!isPlainFileName(*plugin))
            return std::string("config.plugin: must be a file name without a directory, not a path");
    }
    if (config.has("plugin_sha256")) {
        const auto sha = stringAt("plugin_sha256");
        if (!sha || !isHex64(*sha)) return std::string("config.plugin_sha256: must be 64 hexadecimal characters");
    }
    if (config.has("tool_timeout_ms")) {
        const auto value = config.get("tool_timeout_ms");
        bool ok = value.isInteger() && !value.isBoolean();
        if (ok) {
            try {
                const auto ms = value.convert<Poco::Int64>();
                ok = ms > 0 && ms <= kMaxToolTimeoutMs;
            } catch (const Poco::Exception &) {
                ok = false;
            }
        }
        if (!ok) return "config.tool_timeout_ms: must be an integer from 1 to " + std::to_string(kMaxToolTimeoutMs);
    }
    if (config.has("transfer_target")) {
        const auto target = stringAt("transfer_target");
        if (!target || !(startsWith(*target, "tel:") || startsWith(*target, "sip:") || startsWith(*target, "sips:")) ||
            target->size() < 5)
            return std::string("config.transfer_target: must be a tel:, sip: or sips: URI");
    }
    if (config.has("plugin_config") && !config.getObject("plugin_config"))
        return std::string("config.plugin_config: must be an object");
    return std::nullopt;
}

TenantConfig parseTenantConfig(const std::string &tenantId, const std::string &configJson,
                               std::optional<int> callLimit) {
    const auto fail = [&](const std::string &problem) {
        return StoreError(StoreErrorCode::ConfigParseError, "tenant " + tenantId + ": " + problem);
    };
    Poco::JSON::Object::Ptr object;
    if (configJson.find_first_not_of(" \t\r\n") == std::string::npos) {
        object = new Poco::JSON::Object;
    } else {
        try {
            Poco::JSON::Parser parser;
            const auto root = parser.parse(configJson);
            if (root.type() != typeid(Poco::JSON::Object::Ptr)) throw fail("config: must be a JSON object");
            object = root.extract<Poco::JSON::Object::Ptr>();
        } catch (const Poco::Exception &e) {
            // The parser's message names the position, never the content.
            throw fail("config: not valid JSON (" + e.message() + ")");
        }
    }
    if (const auto problem = tenantConfigProblem(*object)) throw fail(*problem);
    if (callLimit && *callLimit <= 0) throw fail("call_limit: must be a positive integer");

    TenantConfig config;
    config.tenantId = tenantId;
    config.callLimit = callLimit;
    if (object->has("plugin")) config.plugin = object->getValue<std::string>("plugin");
    if (object->has("plugin_sha256")) config.pluginSha256 = lowerCase(object->getValue<std::string>("plugin_sha256"));
    config.settings = object;
    return config;
}

} // namespace sideband::tenants
