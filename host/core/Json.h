#pragma once

#include <Poco/JSON/Object.h>

#include <string>

namespace sideband::json {

// Response bodies keep the key order the spec shows, so they compare byte for byte.
inline Poco::JSON::Object::Ptr object() { return new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER); }

std::string stringify(const Poco::Dynamic::Var& value);

// Parses a JSON document; returns an empty Var on any syntax error.
Poco::Dynamic::Var parse(const std::string& text);

inline std::string detail(const std::string& message) {
    auto body = object();
    body->set("detail", message);
    return stringify(body);
}

} // namespace sideband::json
