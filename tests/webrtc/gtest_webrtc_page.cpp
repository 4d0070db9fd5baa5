// The try-it page in Debian's headless Chromium (tests/browser/webrtc-page.mjs, Playwright) against
// the real host and the simulator: it connects with a web token and a fake microphone, shows the tool
// call and its output in its log, hangs up, and leaves screenshots in SIDEBAND_TEST_OUTPUT_DIR.
#include "HostWithSimulator.h"

#include "tenants/WebTokens.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

using namespace sideband;
using namespace sideband::testing;
using namespace std::chrono_literals;
using ::testing::HasSubstr;

TEST(WebRtcPage, ConnectsShowsTheToolCallAndItsOutputAndHangsUp) {
    HostWithSimulator env([](Settings& s) {
        s.pluginDir = SIDEBAND_TEST_PLUGIN_DIR;
        s.webrtcPage = true;
    });
    env.addTenant("shop", "+18005550160", R"({"plugin":"misbehaving_v1.so"})");
    auto made = tenants::makeWebToken("shop", {}, 30, std::chrono::system_clock::now());
    env.host().store().saveWebToken(made.token, tenants::hashWebTokenSecret(made.secret));

    const std::filesystem::path out = SIDEBAND_TEST_OUTPUT_DIR;
    std::filesystem::create_directories(out);
    const auto log = out / "webrtc-page.log";
    const auto command = "timeout 120 node " SIDEBAND_BROWSER_DIR "/webrtc-page.mjs https://localhost:" +
                         std::to_string(env.host().port()) + "/webrtc/ " + made.secret + " " + out.string() + " > " +
                         log.string() + " 2>&1";
    const int status = std::system(command.c_str());
    std::stringstream printed;
    printed << std::ifstream(log).rdbuf();
    ASSERT_EQ(status, 0) << printed.str();

    EXPECT_THAT(printed.str(), HasSubstr("tool call echo"));
    EXPECT_THAT(printed.str(), HasSubstr("call ended: "));
    EXPECT_TRUE(std::filesystem::file_size(out / "webrtc-page-connected.png") > 0);
    EXPECT_TRUE(std::filesystem::file_size(out / "webrtc-page-ended.png") > 0);
    const auto creates = env.simulator().createRequests();
    ASSERT_EQ(creates.size(), 1u);
    EXPECT_TRUE(env.simulator().waitForRestRequest(creates[0].callId, "hangup", 10000ms));
    std::cout << "screenshots: " << (out / "webrtc-page-connected.png") << ", " << (out / "webrtc-page-ended.png")
              << "\n";
}
