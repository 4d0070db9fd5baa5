#pragma once

// GoogleMock mocks and a ready-made fake of what the host gives a plugin, for plugin authors' tests.
//
//     sideband::sdk::testing::FakeCallContext call;           // call id, tenant, numbers, config
//     call.setPluginConfig(R"({"transfer_target":"tel:+15550100"})");
//     EXPECT_CALL(call.mockActions, transfer("tel:+15550100"));

#include "sideband/sdk/Plugin.h"

#include <Poco/JSON/Parser.h>

#include <gmock/gmock.h>

#include <mutex>
#include <string>
#include <vector>

namespace sideband::sdk::testing {

class MockCallActions : public CallActions {
public:
    MOCK_METHOD(void, transfer, (const std::string& target), (override));
    MOCK_METHOD(void, hangup, (), (override));
};

class MockLogger : public Logger {
public:
    MOCK_METHOD(void, debug, (const std::string& message), (override));
    MOCK_METHOD(void, info, (const std::string& message), (override));
    MOCK_METHOD(void, warn, (const std::string& message), (override));
    MOCK_METHOD(void, error, (const std::string& message), (override));
};

class MockCallContext : public CallContext {
public:
    MOCK_METHOD(const std::string&, callId, (), (const, override));
    MOCK_METHOD(const std::string&, tenantId, (), (const, override));
    MOCK_METHOD(const std::string&, caller, (), (const, override));
    MOCK_METHOD(const std::string&, dialed, (), (const, override));
    MOCK_METHOD(const Poco::JSON::Object&, tenantConfig, (), (const, override));
    MOCK_METHOD(const Poco::JSON::Object&, pluginConfig, (), (const, override));
    MOCK_METHOD(Logger&, log, (), (override));
    MOCK_METHOD(CallActions&, actions, (), (override));
};

// A logger that keeps every line, for assertions.
class RecordingLogger : public Logger {
public:
    void debug(const std::string& m) override { add("debug: " + m); }
    void info(const std::string& m) override { add("info: " + m); }
    void warn(const std::string& m) override { add("warn: " + m); }
    void error(const std::string& m) override { add("error: " + m); }
    std::vector<std::string> lines() const {
        std::lock_guard lock(mutex_);
        return lines_;
    }

private:
    void add(std::string line) {
        std::lock_guard lock(mutex_);
        lines_.push_back(std::move(line));
    }
    mutable std::mutex mutex_;
    std::vector<std::string> lines_;
};

// A CallContext with plain fields, a RecordingLogger and MockCallActions (uninteresting calls are
// allowed; set expectations on `mockActions`).
class FakeCallContext : public CallContext {
public:
    std::string id = "rtc_test";
    std::string tenant = "tenant-test";
    std::string from = "+15550001111";
    std::string to = "+15550002222";
    ::testing::NiceMock<MockCallActions> mockActions;
    RecordingLogger logger;

    FakeCallContext() : config_(new Poco::JSON::Object), plugin_(new Poco::JSON::Object) {}

    // The tenant's config as JSON text; its "plugin_config" member becomes pluginConfig().
    void setTenantConfig(const std::string& json) {
        config_ = Poco::JSON::Parser().parse(json).extract<Poco::JSON::Object::Ptr>();
        auto plugin = config_->getObject("plugin_config");
        plugin_ = plugin ? plugin : Poco::JSON::Object::Ptr(new Poco::JSON::Object);
    }
    // Shortcut: sets {"plugin_config": <json>}.
    void setPluginConfig(const std::string& json) { setTenantConfig("{\"plugin_config\":" + json + "}"); }

    const std::string& callId() const override { return id; }
    const std::string& tenantId() const override { return tenant; }
    const std::string& caller() const override { return from; }
    const std::string& dialed() const override { return to; }
    const Poco::JSON::Object& tenantConfig() const override { return *config_; }
    const Poco::JSON::Object& pluginConfig() const override { return *plugin_; }
    Logger& log() override { return logger; }
    CallActions& actions() override { return mockActions; }

private:
    Poco::JSON::Object::Ptr config_;
    Poco::JSON::Object::Ptr plugin_;
};

} // namespace sideband::sdk::testing
