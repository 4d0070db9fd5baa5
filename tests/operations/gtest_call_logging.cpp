// core/Logging: call-scoped lines read as before in the human format ("call=X tenant=Y ..."), and
// carry the ids as fields in the JSON format; every JSON line parses, whatever the ids hold.
#include "core/Json.h"
#include "core/Logging.h"

#include <Poco/JSON/Object.h>
#include <spdlog/sinks/ostream_sink.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

using namespace sideband;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

class CallLoggingTest : public ::testing::Test {
protected:
    void use(logging::Format format, spdlog::level::level_enum level = spdlog::level::trace) {
        logging::configure(format, level, std::make_shared<spdlog::sinks::ostream_sink_mt>(out_));
    }
    void TearDown() override {
        spdlog::drop("sideband");
        logging::configure(logging::Format::Human, spdlog::level::info);
    }
    std::vector<std::string> lines() const {
        std::vector<std::string> result;
        std::istringstream in(out_.str());
        for (std::string line; std::getline(in, line);) result.push_back(line);
        return result;
    }
    static Poco::JSON::Object::Ptr parse(const std::string& line) {
        const auto parsed = json::parse(line);
        if (parsed.isEmpty() || parsed.type() != typeid(Poco::JSON::Object::Ptr)) return nullptr;
        return parsed.extract<Poco::JSON::Object::Ptr>();
    }

    std::ostringstream out_;
};

} // namespace

TEST_F(CallLoggingTest, HumanLinesSayWhatTheyAlwaysSaid) {
    use(logging::Format::Human);
    logging::forCall("rtc_1", "acme").info("rejected: {} (SIP {})", "capacity", 486);
    logging::forCall("rtc_2").warn("dialed number {} belongs to no tenant", "+15550000");
    spdlog::info("not about a call");
    const auto all = lines();
    ASSERT_EQ(all.size(), 3u);
    EXPECT_THAT(all[0], HasSubstr("] call=rtc_1 tenant=acme rejected: capacity (SIP 486)"));
    EXPECT_THAT(all[1], HasSubstr("] call=rtc_2 dialed number +15550000 belongs to no tenant"));
    EXPECT_THAT(all[2], HasSubstr("] not about a call"));
}

TEST_F(CallLoggingTest, JsonLinesCarryTheIdsAsFields) {
    use(logging::Format::Json);
    logging::forCall("rtc_1", "acme").info("accepted ({} tools)", 2);
    logging::forCall("rtc_2").warn("no dialed number in the SIP headers");
    spdlog::info("listening");
    const auto all = lines();
    ASSERT_EQ(all.size(), 3u);

    const auto accepted = parse(all[0]);
    ASSERT_TRUE(accepted) << all[0];
    EXPECT_EQ(accepted->getValue<std::string>("call_id"), "rtc_1");
    EXPECT_EQ(accepted->getValue<std::string>("tenant_id"), "acme");
    EXPECT_EQ(accepted->getValue<std::string>("msg"), "accepted (2 tools)");
    EXPECT_EQ(accepted->getValue<std::string>("level"), "info");
    EXPECT_TRUE(accepted->has("ts"));
    EXPECT_TRUE(accepted->has("thread"));

    const auto noTenant = parse(all[1]);
    ASSERT_TRUE(noTenant) << all[1];
    EXPECT_EQ(noTenant->getValue<std::string>("call_id"), "rtc_2");
    ASSERT_TRUE(noTenant->has("tenant_id"));
    EXPECT_TRUE(noTenant->isNull("tenant_id"));
    EXPECT_EQ(noTenant->getValue<std::string>("msg"), "no dialed number in the SIP headers");

    const auto plain = parse(all[2]); // the next line on the same thread is not a call line
    ASSERT_TRUE(plain) << all[2];
    EXPECT_FALSE(plain->has("call_id"));
    EXPECT_FALSE(plain->has("tenant_id"));
    EXPECT_EQ(plain->getValue<std::string>("msg"), "listening");
}

TEST_F(CallLoggingTest, HostileIdsAndMessagesCannotForgeARecord) {
    use(logging::Format::Json);
    const std::string callId = "rtc_\"},\n{\"level\":\"critical\",\"x\":\"\\";
    const std::string tenant = "t\t\x01\"";
    logging::forCall(callId, tenant).info("caller said {}", "\"quoted\"\r\nnext \xff\xfe bytes \xc3\xa9");
    const auto all = lines();
    ASSERT_EQ(all.size(), 1u) << out_.str();
    const auto line = parse(all[0]);
    ASSERT_TRUE(line) << all[0];
    EXPECT_EQ(line->getValue<std::string>("call_id"), callId);
    EXPECT_EQ(line->getValue<std::string>("tenant_id"), tenant);
    EXPECT_EQ(line->getValue<std::string>("level"), "info");
    // Bytes that are not UTF-8 become U+FFFD; valid UTF-8 (é) is kept.
    EXPECT_EQ(line->getValue<std::string>("msg"), "caller said \"quoted\"\r\nnext \xef\xbf\xbd\xef\xbf\xbd bytes \xc3\xa9");
}

TEST_F(CallLoggingTest, LevelsFilterCallLinesLikeAnyOther) {
    use(logging::Format::Json, spdlog::level::info);
    logging::forCall("rtc_1", "acme").debug("session.updated");
    logging::forCall("rtc_1", "acme").error("accept failed: {}", "HTTP 500");
    const auto all = lines();
    ASSERT_EQ(all.size(), 1u);
    const auto line = parse(all[0]);
    ASSERT_TRUE(line);
    EXPECT_EQ(line->getValue<std::string>("level"), "error");
    EXPECT_EQ(line->getValue<std::string>("msg"), "accept failed: HTTP 500");
}

TEST_F(CallLoggingTest, ABadFormatStringIsReportedNotThrown) {
    use(logging::Format::Human);
    EXPECT_NO_THROW(logging::forCall("rtc_1", "acme").info(fmt::runtime("{} and {}"), 1));
    ASSERT_EQ(lines().size(), 1u);
    EXPECT_THAT(lines()[0], HasSubstr("call=rtc_1 tenant=acme (log line not formatted"));
}
