#pragma once

#include "tenants/TenantStore.h"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

// Helpers the tenant store suites share.
namespace sideband::testing {

inline tenants::TenantDefinition tenant(const std::string& id, std::vector<std::string> numbers,
                                        const std::string& configJson = "{}") {
    tenants::TenantDefinition definition;
    definition.id = id;
    definition.name = id + " name";
    definition.numbers = std::move(numbers);
    definition.configJson = configJson;
    definition.instructions = tenants::Instructions{"You are " + id + "'s receptionist.", "Hello from " + id};
    return definition;
}

inline tenants::StoreErrorCode codeOf(const std::function<void()>& call) {
    try {
        call();
    } catch (const tenants::StoreError& e) {
        return e.code();
    }
    ADD_FAILURE() << "no StoreError thrown";
    return tenants::StoreErrorCode::Unavailable;
}

inline std::string messageOf(const std::function<void()>& call) {
    try {
        call();
    } catch (const tenants::StoreError& e) {
        return e.what();
    }
    return "";
}

inline tenants::CallRecord::time_point at(long long millis) {
    return tenants::CallRecord::time_point(std::chrono::milliseconds(millis));
}

inline tenants::WebToken webToken(const std::string& id, const std::string& tenantId,
                                  tenants::CallRecord::time_point createdAt) {
    tenants::WebToken token;
    token.id = id;
    token.tenantId = tenantId;
    token.createdAt = createdAt;
    return token;
}

} // namespace sideband::testing
