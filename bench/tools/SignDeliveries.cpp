// bench-sign-deliveries: writes N pre-signed webhook deliveries for bench/lua/deliveries.lua (wrk),
// one per line: webhook-id TAB webhook-timestamp TAB webhook-signature TAB body.
//   OPENAI_WEBHOOK_SECRET=whsec_... bench-sign-deliveries --kind ended|incoming|badsig --count N --out FILE
//       [--to +18005550100] [--timestamp UNIX]
// ended:    realtime.call.ended for a fresh unknown call id (verify + parse + dedup claim + route + handler)
// incoming: realtime.call.incoming to --to, fresh call id and event id each (the whole accept path)
// badsig:   like ended, but signed with a different key (401 after the HMAC comparison)
// Signed with the host's own computeSignature; the timestamp is "now" unless given (the host allows 300 s).
#include "WebhookSender.h"
#include "webhook/WebhookSignature.h"

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <string>

using namespace sideband;

int main(int argc, char** argv) {
    std::map<std::string, std::string> args;
    for (int i = 1; i + 1 < argc; i += 2) args[argv[i]] = argv[i + 1];
    auto get = [&](const std::string& name, const std::string& fallback) {
        return args.count(name) ? args[name] : fallback;
    };
    const char* secret = std::getenv("OPENAI_WEBHOOK_SECRET");
    if (!secret || !*secret || !args.count("--out")) {
        std::cerr << "usage: OPENAI_WEBHOOK_SECRET=... bench-sign-deliveries --kind ended|incoming|badsig "
                     "--count N --out FILE [--to NUMBER] [--timestamp UNIX]\n";
        return 64;
    }
    const auto kind = get("--kind", "ended");
    const long count = std::stol(get("--count", "1000"));
    const auto to = get("--to", "+18005550100");
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    const auto timestamp = get("--timestamp", std::to_string(now));
    auto key = webhook::parseWebhookSecrets(secret).at(0);
    if (kind == "badsig") key = "not-the-secret-" + key; // well-formed v1 signature, wrong key
    else if (kind != "ended" && kind != "incoming") {
        std::cerr << "unknown --kind " << kind << "\n";
        return 64;
    }

    std::ofstream out(args["--out"], std::ios::binary | std::ios::trunc);
    for (long i = 0; i < count; ++i) {
        simulator::WebhookEvent event;
        if (kind == "incoming") {
            simulator::IncomingCall call;
            call.to = to;
            call.fromName = "Bench Caller";
            event = simulator::makeIncomingCallEvent(call);
        } else {
            event = simulator::makeCallEvent("realtime.call.ended", simulator::randomId("rtc_"));
        }
        if (event.body.find_first_of("\t\n") != std::string::npos) {
            std::cerr << "body holds a tab or newline\n";
            return 1;
        }
        out << event.webhookId << '\t' << timestamp << '\t' << "v1,"
            << webhook::computeSignature(key, event.webhookId, timestamp, event.body) << '\t' << event.body << '\n';
    }
    if (!out) {
        std::cerr << "cannot write " << args["--out"] << "\n";
        return 1;
    }
    return 0;
}
