#include "TestHttpClient.h"

#include "webhook/WebhookSignature.h"

#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/Net/SSLManager.h>
#include <Poco/StreamCopier.h>
#include <Poco/String.h>

#include <chrono>
#include <memory>

namespace sideband::testing {

TestHttpClient::TestHttpClient(std::string host, unsigned short port, std::string caFile, bool keepAlive)
    : host_(std::move(host)), port_(port), caFile_(std::move(caFile)), keepAlive_(keepAlive) {}

TestHttpClient::~TestHttpClient() = default;

std::unique_ptr<Poco::Net::HTTPClientSession> TestHttpClient::connect() const {
    std::unique_ptr<Poco::Net::HTTPClientSession> session;
    if (caFile_.empty()) {
        session = std::make_unique<Poco::Net::HTTPClientSession>(host_, port_);
    } else {
        Poco::Net::initializeSSL();
        Poco::Net::Context::Params params;
        params.caLocation = caFile_;
        params.verificationMode = Poco::Net::Context::VERIFY_STRICT;
        Poco::Net::Context::Ptr context = new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, params);
        session = std::make_unique<Poco::Net::HTTPSClientSession>(host_, port_, context);
    }
    session->setTimeout(Poco::Timespan(20, 0));
    session->setKeepAlive(keepAlive_);
    return session;
}

HttpResult TestHttpClient::request(const std::string& method, const std::string& path, const std::string& body,
                                   const std::map<std::string, std::string>& headers) {
    std::unique_ptr<Poco::Net::HTTPClientSession> own;
    if (keepAlive_ && !kept_) kept_ = connect();
    if (!keepAlive_) own = connect();
    Poco::Net::HTTPClientSession* session = keepAlive_ ? kept_.get() : own.get();
    Poco::Net::HTTPRequest request(method, path, Poco::Net::HTTPMessage::HTTP_1_1);
    for (const auto& [name, value] : headers)
        request.set(name, value);
    if (!body.empty() || method == "POST") {
        if (!request.has("Content-Type")) request.setContentType("application/json");
        request.setContentLength64(static_cast<Poco::Int64>(body.size()));
    }
    session->sendRequest(request) << body;
    Poco::Net::HTTPResponse response;
    auto& in = session->receiveResponse(response);
    HttpResult result;
    result.status = response.getStatus();
    Poco::StreamCopier::copyToString(in, result.body);
    for (const auto& [name, value] : response)
        result.headers[Poco::toLower(name)] = value;
    return result;
}

std::map<std::string, std::string> signedHeaders(const std::string& key, const std::string& webhookId,
                                                 const std::string& body, long long timestamp) {
    if (timestamp == 0)
        timestamp =
            std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
                .count();
    const auto ts = std::to_string(timestamp);
    return {{"webhook-id", webhookId},
            {"webhook-timestamp", ts},
            {"webhook-signature", "v1," + webhook::computeSignature(key, webhookId, ts, body)}};
}

} // namespace sideband::testing
