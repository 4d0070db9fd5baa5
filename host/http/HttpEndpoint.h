#pragma once

#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>

#include <functional>
#include <map>
#include <set>
#include <string>

namespace sideband::http {

using Poco::Net::HTTPServerRequest;
using Poco::Net::HTTPServerResponse;

// One route's behaviour; the router has already checked the method.
using Endpoint = std::function<void(HTTPServerRequest&, HTTPServerResponse&)>;

// Both send the whole answer before they return.
void sendJson(HTTPServerResponse& response, int status, const std::string& body);
void sendText(HTTPServerResponse& response, int status, const std::string& contentType, const std::string& body);

enum class BodyRead {
    Complete,
    TooLarge,       // over the limit; the rest was read and discarded, the connection stays usable
    TooLargeUnread, // far over the limit; unread, so the connection must be closed after answering
};

// Reads the request body up to `limit` bytes, whether announced by Content-Length or chunked.
// An oversized body is drained (up to 8x the limit) so the client can read the answer: a server
// that closes while the client is still sending makes most clients report a reset, not the 413.
BodyRead readBody(HTTPServerRequest& request, std::size_t limit, std::string& body);

// Routes by exact path, then method: unknown path -> 404, known path with another method -> 405.
// Every answer, errors included, is a JSON body.
class Routes {
public:
    Routes& add(const std::string& method, const std::string& path, Endpoint endpoint);
    void dispatch(HTTPServerRequest& request, HTTPServerResponse& response) const;

private:
    std::map<std::string, std::map<std::string, Endpoint>> byPath_;
};

} // namespace sideband::http
