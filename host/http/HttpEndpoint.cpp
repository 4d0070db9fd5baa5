#include "http/HttpEndpoint.h"

#include "core/Json.h"

#include <spdlog/spdlog.h>

#include <istream>

namespace sideband::http {

void sendText(HTTPServerResponse& response, int status, const std::string& contentType, const std::string& body) {
    response.setStatus(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(status));
    response.setContentType(contentType);
    response.setContentLength64(static_cast<Poco::Int64>(body.size()));
    // Flushed here, not when Poco destroys the response after the handler: once every handler has
    // returned, a stopping server closes the connections, and the answer must be out by then.
    std::ostream& out = response.send();
    out.write(body.data(), static_cast<std::streamsize>(body.size()));
    out.flush();
}

void sendJson(HTTPServerResponse& response, int status, const std::string& body) {
    sendText(response, status, "application/json", body);
}

BodyRead readBody(HTTPServerRequest& request, std::size_t limit, std::string& body) {
    const std::size_t drainLimit = limit * 8;
    if (request.hasContentLength()) {
        const auto announced = request.getContentLength64();
        if (announced < 0 || static_cast<std::uint64_t>(announced) > drainLimit) return BodyRead::TooLargeUnread;
        if (static_cast<std::uint64_t>(announced) <= limit) body.reserve(static_cast<std::size_t>(announced));
    }
    std::istream& in = request.stream();
    char buffer[16384];
    std::size_t total = 0;
    while (in) {
        in.read(buffer, sizeof buffer);
        const auto got = static_cast<std::size_t>(in.gcount());
        total += got;
        if (total > drainLimit) return BodyRead::TooLargeUnread;
        if (total <= limit) body.append(buffer, got);
    }
    return total > limit ? BodyRead::TooLarge : BodyRead::Complete;
}

Routes& Routes::add(const std::string& method, const std::string& path, Endpoint endpoint) {
    byPath_[path][method] = std::move(endpoint);
    return *this;
}

void Routes::dispatch(HTTPServerRequest& request, HTTPServerResponse& response) const {
    std::string path = request.getURI();
    if (auto query = path.find('?'); query != std::string::npos) path.resize(query);

    const auto route = byPath_.find(path);
    if (route == byPath_.end()) {
        sendJson(response, 404, json::detail("Not found"));
        return;
    }
    const auto endpoint = route->second.find(request.getMethod());
    if (endpoint == route->second.end()) {
        std::string allow;
        for (const auto& [method, unused] : route->second) allow += (allow.empty() ? "" : ", ") + method;
        response.set("Allow", allow);
        sendJson(response, 405, json::detail("Method not allowed"));
        return;
    }
    try {
        endpoint->second(request, response);
    } catch (const std::exception& e) {
        spdlog::error("request {} {} failed: {}", request.getMethod(), path, e.what());
        if (!response.sent()) sendJson(response, 500, json::detail("Internal error"));
    }
}

} // namespace sideband::http
