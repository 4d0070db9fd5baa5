#include "tenants/TenantDefinitionFiles.h"

#include "core/Json.h"
#include "sip/SipHeaderParser.h"
#include "tenants/TenantConfigParser.h"

#include <Poco/Exception.h>
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Parser.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace fs = std::filesystem;

namespace sideband::tenants {
namespace {

constexpr std::uintmax_t kMaxTenantFile = 1 << 20;
constexpr std::uintmax_t kMaxInstructionsFile = 1 << 20;
constexpr int kMaxCallLimit = 100000;
constexpr std::size_t kMaxGreeting = 4096;

const std::set<std::string> kKnownFields = {"id", "name", "enabled", "call_limit", "numbers", "greeting", "config"};

// A value quoted back in an error message: printable and short.
std::string shown(const std::string &value) {
    std::string out = "\"";
    for (char c : value.substr(0, 40))
        out += (c >= 0x20 && c < 0x7f) ? c : '?';
    return out + (value.size() > 40 ? "...\"" : "\"");
}

bool isTenantId(const std::string &id) {
    if (id.empty() || id.size() > 63) return false;
    if (!std::isalnum(static_cast<unsigned char>(id.front()))) return false;
    return std::all_of(id.begin(), id.end(),
                       [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'; });
}

bool isPositiveInteger(const Poco::Dynamic::Var &value, int max) {
    if (!value.isInteger() || value.isBoolean()) return false;
    try {
        const auto number = value.convert<Poco::Int64>();
        return number > 0 && number <= max;
    } catch (const Poco::Exception &) {
        return false;
    }
}

std::string readFile(const fs::path &path, std::uintmax_t maxSize, const std::string &shownName) {
    std::error_code error;
    const auto size = fs::file_size(path, error);
    if (error) throw TenantFileError(shownName + ": cannot read: " + error.message());
    if (size > maxSize) throw TenantFileError(shownName + ": larger than " + std::to_string(maxSize) + " bytes");
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    if (!in && !in.eof()) throw TenantFileError(shownName + ": cannot read");
    return text.str();
}

std::string trimEnd(std::string text) {
    text.erase(text.find_last_not_of(" \t\r\n") + 1);
    return text;
}

} // namespace

TenantDefinition loadTenantDefinition(const std::string &tenantDir, std::vector<std::string> &warnings) {
    const std::string file = tenantDir + "/tenant.json";
    const auto fail = [&](const std::string &problem) { return TenantFileError(file + ": " + problem); };

    const auto text = readFile(file, kMaxTenantFile, file);
    Poco::Dynamic::Var root;
    try {
        Poco::JSON::Parser parser;
        root = parser.parse(text);
    } catch (const Poco::Exception &e) {
        throw fail("not valid JSON: " + e.message());
    }
    if (root.type() != typeid(Poco::JSON::Object::Ptr)) throw fail("must be a JSON object");
    const auto object = root.extract<Poco::JSON::Object::Ptr>();

    for (const auto &[key, value] : *object)
        if (!kKnownFields.count(key))
            throw fail("unknown field " + shown(key) +
                       " (known: id, name, enabled, call_limit, numbers, greeting, config)");

    TenantDefinition tenant;
    const auto id = object->get("id");
    if (!id.isString()) throw fail("id: required, a string");
    tenant.id = id.extract<std::string>();
    if (!isTenantId(tenant.id))
        throw fail("id: " + shown(tenant.id) + " must be 1-63 of a-z 0-9 - _, starting with a letter or digit");
    const auto dirName = fs::path(tenantDir).filename().string();
    if (tenant.id != dirName)
        throw fail("id: " + shown(tenant.id) + " must match its directory name " + shown(dirName));

    const auto name = object->get("name");
    if (!name.isString() || name.extract<std::string>().empty()) throw fail("name: required, a non-empty string");
    tenant.name = name.extract<std::string>();

    if (object->has("enabled")) {
        const auto enabled = object->get("enabled");
        if (!enabled.isBoolean()) throw fail("enabled: must be true or false");
        tenant.enabled = enabled.extract<bool>();
    }

    if (object->has("call_limit") && !object->isNull("call_limit")) {
        const auto limit = object->get("call_limit");
        if (!isPositiveInteger(limit, kMaxCallLimit))
            throw fail("call_limit: must be an integer from 1 to " + std::to_string(kMaxCallLimit));
        tenant.callLimit = limit.convert<int>();
    }

    const auto numbers = object->getArray("numbers");
    if (!numbers) throw fail("numbers: required, an array of E.164 numbers");
    std::set<std::string> seen;
    for (std::size_t i = 0; i < numbers->size(); ++i) {
        const auto where = "numbers[" + std::to_string(i) + "]: ";
        const auto value = numbers->get(static_cast<unsigned>(i));
        if (!value.isString()) throw fail(where + "must be a string");
        const auto number = value.extract<std::string>();
        const auto normalized = sip::normalizeE164(number);
        // Stored numbers are compared byte for byte with the parser's output: only canonical E.164.
        if (!normalized || *normalized != number) {
            std::string hint;
            if (normalized) hint = " (write it as " + *normalized + ")";
            throw fail(where + shown(number) + " is not an E.164 number" + hint);
        }
        if (!seen.insert(number).second) throw fail(where + shown(number) + " is listed twice");
        tenant.numbers.push_back(number);
    }

    std::string greeting;
    if (object->has("greeting") && !object->isNull("greeting")) {
        const auto value = object->get("greeting");
        if (!value.isString()) throw fail("greeting: must be a string");
        greeting = value.extract<std::string>();
        if (greeting.size() > kMaxGreeting)
            throw fail("greeting: longer than " + std::to_string(kMaxGreeting) + " bytes");
    }

    Poco::JSON::Object::Ptr config = new Poco::JSON::Object;
    if (object->has("config") && !object->isNull("config")) {
        config = object->getObject("config");
        if (!config) throw fail("config: must be an object");
    }
    if (const auto problem = tenantConfigProblem(*config)) throw fail(*problem);
    tenant.configJson = json::stringify(config);

    const std::string instructionsFile = tenantDir + "/instructions.md";
    if (fs::exists(instructionsFile)) {
        auto prompt = trimEnd(readFile(instructionsFile, kMaxInstructionsFile, instructionsFile));
        if (prompt.find_first_not_of(" \t\r\n") == std::string::npos)
            throw TenantFileError(instructionsFile +
                                  ": is empty (delete it to import the tenant without instructions)");
        tenant.instructions = Instructions{std::move(prompt), greeting};
    } else {
        warnings.push_back(instructionsFile + ": missing; calls to " + tenant.id +
                           " will be rejected instructions_missing");
    }
    return tenant;
}

TenantDirectory loadTenantDirectory(const std::string &dir) {
    TenantDirectory result;
    std::string root = dir;
    while (root.size() > 1 && root.back() == '/')
        root.pop_back();

    std::error_code error;
    if (!fs::is_directory(root, error)) {
        result.errors.push_back(root + ": not a directory");
        return result;
    }
    std::vector<std::string> names;
    for (const auto &entry : fs::directory_iterator(root, error)) {
        const auto name = entry.path().filename().string();
        if (name.empty() || name.front() == '.' || !entry.is_directory()) continue;
        names.push_back(name);
    }
    if (error) {
        result.errors.push_back(root + ": cannot list: " + error.message());
        return result;
    }
    std::sort(names.begin(), names.end());

    std::map<std::string, std::string> numberFile; // number -> the file that claimed it first
    for (const auto &name : names) {
        const auto tenantDir = root + "/" + name;
        if (!fs::exists(tenantDir + "/tenant.json")) {
            result.warnings.push_back(tenantDir + ": no tenant.json, skipped");
            continue;
        }
        try {
            auto tenant = loadTenantDefinition(tenantDir, result.warnings);
            const auto file = tenantDir + "/tenant.json";
            bool clash = false;
            for (std::size_t i = 0; i < tenant.numbers.size(); ++i) {
                const auto [it, inserted] = numberFile.emplace(tenant.numbers[i], file);
                if (!inserted) {
                    result.errors.push_back(file + ": numbers[" + std::to_string(i) + "]: " + tenant.numbers[i] +
                                            " is already listed in " + it->second);
                    clash = true;
                }
            }
            if (!clash) result.tenants.push_back(std::move(tenant));
        } catch (const TenantFileError &e) {
            result.errors.push_back(e.what());
        }
    }
    if (result.errors.empty() && result.tenants.empty())
        result.errors.push_back(root + ": no tenant definitions found (expected " + root + "/<id>/tenant.json)");
    return result;
}

} // namespace sideband::tenants
