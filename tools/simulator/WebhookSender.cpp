#include "WebhookSender.h"

#include "core/Json.h"
#include "webhook/WebhookSignature.h"

#include <Poco/JSON/Array.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/Net/SSLManager.h>
#include <Poco/StreamCopier.h>
#include <Poco/String.h>
#include <Poco/URI.h>

#include <memory>
#include <random>
#include <stdexcept>

namespace sideband::simulator {
namespace {

long long unixNow() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

Poco::JSON::Object::Ptr header(const std::string& name, const std::string& value) {
    auto object = json::object();
    object->set("name", name);
    object->set("value", value);
    return object;
}

std::string hex(std::size_t digits) {
    static thread_local std::mt19937_64 random{std::random_device{}()};
    static const char* alphabet = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < digits; ++i)
        out += alphabet[random() % 16];
    return out;
}

} // namespace

std::string randomId(const std::string& prefix, std::size_t digits) {
    return prefix + hex(digits);
}

WebhookEvent makeIncomingCallEvent(const IncomingCall& call) {
    WebhookEvent event;
    event.webhookId = randomId("wh_");
    event.eventId = randomId("evt_");
    event.type = "realtime.call.incoming";
    event.callId = call.callId.empty() ? randomId("rtc_") : call.callId;

    auto body = json::object();
    body->set("object", "event");
    body->set("id", event.eventId);
    body->set("type", event.type);
    body->set("created_at", unixNow());
    auto data = json::object();
    data->set("call_id", event.callId);
    Poco::JSON::Array::Ptr headers = new Poco::JSON::Array;
    const auto display = call.fromName.empty() ? std::string() : "\"" + call.fromName + "\" ";
    headers->add(header("From", display + "<sip:" + call.from + "@sip.example.com>;tag=" + hex(10)));
    headers->add(header("To", "<sip:" + call.to + "@sip.api.openai.com>"));
    headers->add(header("Call-ID", hex(24) + "@sip.example.com"));
    for (const auto& [name, value] : call.extraSipHeaders)
        headers->add(header(name, value));
    data->set("sip_headers", headers);
    data->set("sip_media_security", "srtp");
    body->set("data", data);
    event.body = json::stringify(body);
    return event;
}

WebhookEvent makeCallEvent(const std::string& type, const std::string& callId) {
    WebhookEvent event;
    event.webhookId = randomId("wh_");
    event.eventId = randomId("evt_");
    event.type = type;
    event.callId = callId;
    auto body = json::object();
    body->set("object", "event");
    body->set("id", event.eventId);
    body->set("type", type);
    body->set("created_at", unixNow());
    auto data = json::object();
    data->set("call_id", callId);
    body->set("data", data);
    event.body = json::stringify(body);
    return event;
}

WebhookEvent makeRawEvent(const std::string& body, const std::string& webhookId) {
    WebhookEvent event;
    event.webhookId = webhookId.empty() ? randomId("wh_") : webhookId;
    event.body = body;
    const auto parsed = json::parse(body);
    if (parsed.type() == typeid(Poco::JSON::Object::Ptr)) {
        const auto object = parsed.extract<Poco::JSON::Object::Ptr>();
        event.eventId = object->optValue<std::string>("id", "");
        event.type = object->optValue<std::string>("type", "");
        if (const auto data = object->getObject("data")) event.callId = data->optValue<std::string>("call_id", "");
    }
    return event;
}

WebhookSender::WebhookSender(WebhookSenderOptions options) : options_(std::move(options)) {
    const auto keys = webhook::parseWebhookSecrets(options_.secret);
    if (keys.empty()) throw std::invalid_argument("webhook sender: no webhook secret configured");
    key_ = keys.front();
    const Poco::URI uri(options_.url);
    if (uri.getScheme() != "http" && uri.getScheme() != "https")
        throw std::invalid_argument("webhook sender: URL must be http:// or https://: " + options_.url);
}

std::map<std::string, std::string> WebhookSender::signatureHeaders(const WebhookEvent& event,
                                                                   long long timestamp) const {
    const auto ts = std::to_string(timestamp);
    return {{"webhook-id", event.webhookId},
            {"webhook-timestamp", ts},
            {"webhook-signature", "v1," + webhook::computeSignature(key_, event.webhookId, ts, event.body)}};
}

WebhookDelivery WebhookSender::deliver(const WebhookEvent& event) const {
    WebhookDelivery delivery;
    delivery.headers = signatureHeaders(event, unixNow());
    const auto started = std::chrono::steady_clock::now();
    try {
        const Poco::URI uri(options_.url);
        std::unique_ptr<Poco::Net::HTTPClientSession> session;
        if (uri.getScheme() == "https") {
            Poco::Net::initializeSSL();
            Poco::Net::Context::Params params;
            params.caLocation = options_.caFile;
            params.loadDefaultCAs = options_.caFile.empty();
            params.verificationMode = Poco::Net::Context::VERIFY_STRICT; // the host's certificate, always
            Poco::Net::Context::Ptr context = new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, params);
            session = std::make_unique<Poco::Net::HTTPSClientSession>(uri.getHost(), uri.getPort(), context);
        } else {
            session = std::make_unique<Poco::Net::HTTPClientSession>(uri.getHost(), uri.getPort());
        }
        session->setTimeout(
            Poco::Timespan(std::chrono::duration_cast<std::chrono::microseconds>(options_.timeout).count()));
        Poco::Net::HTTPRequest request(Poco::Net::HTTPRequest::HTTP_POST, uri.getPathAndQuery(),
                                       Poco::Net::HTTPMessage::HTTP_1_1);
        request.setContentType("application/json");
        request.set("User-Agent", "OpenAI/1.0 (+https://platform.openai.com/docs/webhooks) sideband-sim");
        for (const auto& [name, value] : delivery.headers)
            request.set(name, value);
        request.setContentLength64(static_cast<Poco::Int64>(event.body.size()));
        session->sendRequest(request) << event.body;
        Poco::Net::HTTPResponse response;
        auto& in = session->receiveResponse(response);
        delivery.status = response.getStatus();
        Poco::StreamCopier::copyToString(in, delivery.body);
    } catch (const Poco::Exception& e) {
        delivery.error = e.displayText();
    } catch (const std::exception& e) {
        delivery.error = e.what();
    }
    delivery.elapsed =
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started);
    return delivery;
}

} // namespace sideband::simulator
