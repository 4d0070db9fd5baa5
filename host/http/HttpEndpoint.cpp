#include "http/HttpEndpoint.h"

#include "core/Json.h"

#include <spdlog/spdlog.h>

namespace sideband::http {

const std::string& Request::empty() {
    static const std::string none;
    return none;
}

const std::string& Request::header(const std::string& lowerName, const std::string& fallback) const {
    for (const auto& [name, value] : headers)
        if (name == lowerName) return value;
    return fallback;
}

Response Response::json(int status, std::string body) {
    Response response;
    response.status = status;
    response.body = std::move(body);
    return response;
}

Response Response::text(int status, std::string contentType, std::string body) {
    Response response;
    response.status = status;
    response.contentType = std::move(contentType);
    response.body = std::move(body);
    return response;
}

Response Response::later(std::function<Response()> work, std::function<void()> refused) {
    Response response;
    response.work = std::move(work);
    response.refused = std::move(refused);
    return response;
}

Routes& Routes::add(const std::string& method, const std::string& path, Endpoint endpoint, RunOn runOn) {
    byPath_[path][method] = Route{std::move(endpoint), runOn};
    return *this;
}

Routes::Match Routes::match(const std::string& method, const std::string& path) const {
    Match match;
    const auto route = byPath_.find(path);
    if (route == byPath_.end()) {
        match.error = Response::json(404, json::detail("Not found"));
        return match;
    }
    auto endpoint = route->second.find(method);
    // HEAD is a GET whose body the server leaves out (RFC 9110 9.3.2).
    const bool hasGet = route->second.count("GET") > 0;
    if (endpoint == route->second.end() && method == "HEAD" && hasGet) endpoint = route->second.find("GET");
    if (endpoint == route->second.end()) {
        std::string allow;
        for (const auto& [name, unused] : route->second)
            allow += (allow.empty() ? "" : ", ") + name;
        if (hasGet && route->second.count("HEAD") == 0) allow += ", HEAD";
        match.error = Response::json(405, json::detail("Method not allowed"));
        match.error.headers.emplace_back("Allow", allow);
        return match;
    }
    match.endpoint = &endpoint->second.endpoint;
    match.runOn = endpoint->second.runOn;
    return match;
}

Response Routes::run(const Endpoint& endpoint, const Request& request) {
    try {
        return endpoint(request);
    } catch (const std::exception& e) {
        spdlog::error("request {} {} failed: {}", request.method, request.path, e.what());
        return Response::json(500, json::detail("Internal error"));
    }
}

} // namespace sideband::http
