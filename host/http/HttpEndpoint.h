#pragma once

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace sideband::http {

// A whole request as the server's parser read it: handlers never see a partial one.
struct Request {
    std::string method;
    std::string target;                                       // as sent, query included
    std::string path;                                         // target without the query
    std::vector<std::pair<std::string, std::string>> headers; // names lower-cased, in order
    std::string body;
    std::string peer; // "address:port"

    // The first header of that name (lower case), or `fallback`.
    const std::string& header(const std::string& lowerName, const std::string& fallback = empty()) const;

private:
    static const std::string& empty();
};

struct Response {
    int status = 200;
    std::string contentType = "application/json";
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers; // extra ones (Allow, Retry-After, ...)
    bool close = false;                                       // the connection closes after this answer

    static Response json(int status, std::string body);
    static Response text(int status, std::string contentType, std::string body);
    // From an Inline route: the answer needs work that may block. The server runs `work` on a
    // worker and sends what it returns; when no worker is free it answers 503 and calls `refused`
    // instead (to undo what the route reserved).
    static Response later(std::function<Response()> work, std::function<void()> refused = nullptr);
    std::function<Response()> work;    // set by later()
    std::function<void()> refused;
};

// One route's behaviour; the router has already checked the method.
using Endpoint = std::function<Response(const Request&)>;

// Where a route runs. Inline: on the event loop, for answers that never wait on anything (health,
// readiness, metrics), or that decide on the loop what they can and hand the rest on with
// Response::later(); Worker: on the bounded worker pool, for anything that may block.
enum class RunOn { Inline, Worker };

// Routes by exact path, then method: unknown path -> 404, known path with another method -> 405
// (with Allow). HEAD runs a path's GET route (the server sends no body). Every answer, errors
// included, has a JSON body.
class Routes {
public:
    Routes& add(const std::string& method, const std::string& path, Endpoint endpoint, RunOn runOn = RunOn::Worker);

    struct Match {
        const Endpoint* endpoint = nullptr; // null: `error` is the answer
        RunOn runOn = RunOn::Inline;
        Response error;
    };
    Match match(const std::string& method, const std::string& path) const;
    // Runs a matched endpoint; an exception becomes 500 {"detail":"Internal error"}, logged.
    static Response run(const Endpoint& endpoint, const Request& request);

private:
    struct Route {
        Endpoint endpoint;
        RunOn runOn;
    };
    std::map<std::string, std::map<std::string, Route>> byPath_;
};

} // namespace sideband::http
