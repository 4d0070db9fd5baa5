#pragma once

#include "http/HttpEndpoint.h"

#include <http_parser.h>

#include <cstddef>
#include <functional>
#include <string>

namespace sideband::http {

// HTTP/1.1 on the wire, without a socket: the server's request parser (Node's http-parser with the
// head and body limits) and the serialisation of an answer. HttpServer's connections use both; the
// fuzzer (tests/fuzz/fuzz_http_front_door.cpp) drives them with bytes alone.

// Reads requests from the front of a connection's inbox, one at a time: it stops after each whole
// request, so pipelined ones wait in the inbox and a body is never read as the next request. After a
// refusal (Failed) the parser cannot resynchronise: nothing more on that connection is a request.
// A chunked body's trailer fields count towards the head's limit but are dropped, never merged into
// the request's headers.
class RequestParser {
public:
    struct Limits {
        std::size_t maxHeadBytes = 16 * 1024;   // request line + headers; over it: 431
        std::size_t maxBodyBytes = 1024 * 1024; // announced or received; over it: 413
    };
    // Called when a request's head is complete and within the limits (its body comes next);
    // `expectContinue`: the client waits for `100 Continue` before sending the body.
    using HeadDone = std::function<void(bool expectContinue)>;

    RequestParser(Limits limits, HeadDone headDone);
    RequestParser(const RequestParser&) = delete;
    RequestParser& operator=(const RequestParser&) = delete;

    enum class Result {
        NeedMore, // all of `inbox` was consumed; the request (if one began) is not whole yet
        Complete, // request() is whole; the bytes after it are still in `inbox`
        Failed,   // refused: refusal() says how to answer; the connection must close
    };
    // Parses from the start of `inbox` and erases what it consumed.
    Result parse(std::string& inbox);

    // The request being read; whole after Complete (the next parse() starts a new one).
    Request& request() { return request_; }
    // After Complete: whether the connection may carry another request (HTTP/1.1 keep-alive,
    // no `Connection: close`, no upgrade). True before the first request.
    bool keepAlive() const { return keepAlive_; }

    // After Failed: 431 (head over the limit), 413 (body over the limit) or 400 (malformed), with
    // its JSON detail; `error` is http-parser's own description, for the log.
    struct Refusal {
        int status = 400;
        std::string detail;
        const char* error = "";
    };
    Refusal refusal() const;

private:
    static RequestParser& of(http_parser* parser) { return *static_cast<RequestParser*>(parser->data); }
    static int onMessageBegin(http_parser* parser);
    static int onUrl(http_parser* parser, const char* at, std::size_t length);
    static int onHeaderField(http_parser* parser, const char* at, std::size_t length);
    static int onHeaderValue(http_parser* parser, const char* at, std::size_t length);
    static int onHeadersComplete(http_parser* parser);
    static int onBody(http_parser* parser, const char* at, std::size_t length);
    static int onMessageComplete(http_parser* parser);
    static const http_parser_settings& settings();
    int countHead(std::size_t bytes);

    enum class Failure { None, HeadTooLarge, BodyTooLarge };

    Limits limits_;
    HeadDone headDone_;
    http_parser parser_{};
    Request request_;
    std::size_t headBytes_ = 0;
    bool lastWasValue_ = false;
    bool inTrailer_ = false; // past the head: fields now are a chunked body's trailer
    bool complete_ = false;
    bool keepAlive_ = true;
    Failure failure_ = Failure::None;
};

// RFC 9110's reason phrase for `status`, or "" for one it does not name (RFC 9112 allows that).
const char* reasonPhrase(int status);

// An answer as it is written: status line, Content-Type, Content-Length, the extra headers,
// `Connection: close` when `close`, a blank line, then the body unless `head` (a HEAD request).
std::string serializeResponse(const Response& response, bool head, bool close);

} // namespace sideband::http
