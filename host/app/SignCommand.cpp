#include "app/SignCommand.h"

#include "webhook/WebhookSignature.h"

#include <Poco/Environment.h>
#include <Poco/Random.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

namespace sideband {
namespace {

constexpr const char* kUsage = R"(usage: sideband-host sign [options] < body.json
Prints a signed webhook delivery (Standard Webhooks, as OpenAI signs them) as a curl command.
  --url URL           target (default https://127.0.0.1:8443/api/v1/openai/webhook)
  --body-file FILE    read the body from FILE instead of standard input
  --id ID             webhook-id header (default: a random wh_ id)
  --timestamp SECS    webhook-timestamp (default: now)
  --secret-env NAME   variable holding the secret (default OPENAI_WEBHOOK_SECRET; first one is used)
  --headers           print the three headers and the body instead of a curl line
)";

std::string shellQuote(const std::string& text) {
    std::string out = "'";
    for (char c : text) out += (c == '\'') ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

std::string randomWebhookId() {
    Poco::Random random;
    random.seed();
    std::ostringstream id;
    id << "wh_" << std::hex;
    for (int i = 0; i < 4; ++i) id << random.next();
    return id.str();
}

} // namespace

int runSignCommand(const std::vector<std::string>& args) {
    std::string url = "https://127.0.0.1:8443/api/v1/openai/webhook";
    std::string bodyFile, id, timestamp, secretEnv = "OPENAI_WEBHOOK_SECRET";
    bool headersOnly = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const auto& arg = args[i];
        const bool hasValue = i + 1 < args.size();
        if (arg == "--url" && hasValue) url = args[++i];
        else if (arg == "--body-file" && hasValue) bodyFile = args[++i];
        else if (arg == "--id" && hasValue) id = args[++i];
        else if (arg == "--timestamp" && hasValue) timestamp = args[++i];
        else if (arg == "--secret-env" && hasValue) secretEnv = args[++i];
        else if (arg == "--headers") headersOnly = true;
        else {
            std::cerr << (arg == "--help" ? "" : "sign: unknown or incomplete option " + arg + "\n") << kUsage;
            return arg == "--help" ? 0 : 64;
        }
    }

    if (!Poco::Environment::has(secretEnv)) {
        std::cerr << "sign: " << secretEnv << " is not set\n";
        return 64;
    }
    std::vector<std::string> keys;
    try {
        keys = webhook::parseWebhookSecrets(Poco::Environment::get(secretEnv));
    } catch (const std::invalid_argument& e) {
        std::cerr << "sign: " << secretEnv << ": " << e.what() << "\n";
        return 64;
    }
    if (keys.empty()) {
        std::cerr << "sign: " << secretEnv << " holds no secret\n";
        return 64;
    }

    std::string body;
    if (bodyFile.empty()) {
        body.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    } else {
        std::ifstream in(bodyFile, std::ios::binary);
        if (!in) {
            std::cerr << "sign: cannot read " << bodyFile << "\n";
            return 66;
        }
        body.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    if (id.empty()) id = randomWebhookId();
    if (timestamp.empty()) {
        timestamp = std::to_string(
            std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
                .count());
    }
    const auto signature = "v1," + webhook::computeSignature(keys.front(), id, timestamp, body);

    if (headersOnly) {
        std::cout << "webhook-id: " << id << "\nwebhook-timestamp: " << timestamp
                  << "\nwebhook-signature: " << signature << "\n\n"
                  << body << "\n";
    } else {
        std::cout << "curl -sS -X POST " << shellQuote(url) << " -H 'content-type: application/json'"
                  << " -H " << shellQuote("webhook-id: " + id) << " -H " << shellQuote("webhook-timestamp: " + timestamp)
                  << " -H " << shellQuote("webhook-signature: " + signature) << " --data-binary " << shellQuote(body)
                  << "\n";
    }
    return 0;
}

} // namespace sideband
