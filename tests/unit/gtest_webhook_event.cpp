#include "webhook/WebhookEvent.h"

#include <gtest/gtest.h>

using sideband::webhook::parseWebhookEvent;

TEST(WebhookEventParser, ParsesTheReferenceIncomingCall) {
    const auto event = parseWebhookEvent(
        R"({"object":"event","id":"evt_1","type":"realtime.call.incoming","created_at":1750287018,)"
        R"("data":{"call_id":"rtc_479a","sip_headers":[{"name":"From","value":"\"Alice\" <sip:+14155550100@sip.example.com>;tag=9f"},)"
        R"({"name":"To","value":"<sip:+18005550123@sip.api.openai.com>"}],"sip_media_security":"srtp"}})");
    ASSERT_TRUE(event);
    EXPECT_EQ(event->id, "evt_1");
    EXPECT_EQ(event->type, "realtime.call.incoming");
    EXPECT_EQ(event->callId, "rtc_479a");
    ASSERT_EQ(event->sipHeaders.size(), 2u);
    EXPECT_EQ(event->sipHeaders[0].name, "From");
    EXPECT_EQ(event->sipHeaders[1].value, "<sip:+18005550123@sip.api.openai.com>");
}

TEST(WebhookEventParser, MissingIdAndCallIdAreNotMalformed) {
    const auto event = parseWebhookEvent(R"({"type":"realtime.call.ended"})");
    ASSERT_TRUE(event);
    EXPECT_TRUE(event->id.empty());
    EXPECT_TRUE(event->callId.empty());
}

TEST(WebhookEventParser, RejectsMalformedBodies) {
    for (const char* body : {
             "",
             "not json",
             "[1,2]",
             "\"text\"",
             R"({"id":"e"})",                                                 // no type
             R"({"type":""})",                                                // empty type
             R"({"type":42})",                                                // type not a string
             R"({"type":"realtime.call.incoming","id":7})",                   // id not a string
             R"({"type":"realtime.call.incoming","data":"x"})",               // data not an object
             R"({"type":"realtime.call.incoming","data":{"call_id":1}})",     // call_id not a string
             R"({"type":"realtime.call.incoming","data":{"call_id":"c","sip_headers":{}}})",
             R"({"type":"realtime.call.incoming","data":{"call_id":"c","sip_headers":["From"]}})",
             R"({"type":"realtime.call.incoming","data":{"call_id":"c","sip_headers":[{"name":1,"value":"x"}]}})",
             R"({"type":"realtime.call.incoming"} trailing)",
         })
        EXPECT_FALSE(parseWebhookEvent(body)) << body;
}
