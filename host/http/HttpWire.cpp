#include "http/HttpWire.h"

#include <cctype>
#include <unordered_map>

namespace sideband::http {

RequestParser::RequestParser(Limits limits, HeadDone headDone) : limits_(limits), headDone_(std::move(headDone)) {
    http_parser_init(&parser_, HTTP_REQUEST);
    parser_.data = this;
}

RequestParser::Result RequestParser::parse(std::string& inbox) {
    complete_ = false;
    const auto consumed = http_parser_execute(&parser_, &settings(), inbox.data(), inbox.size());
    inbox.erase(0, consumed);
    if (complete_) {
        http_parser_pause(&parser_, 0);
        return Result::Complete;
    }
    return HTTP_PARSER_ERRNO(&parser_) == HPE_OK ? Result::NeedMore : Result::Failed;
}

RequestParser::Refusal RequestParser::refusal() const {
    Refusal refusal;
    const auto error = HTTP_PARSER_ERRNO(&parser_);
    refusal.error = http_errno_description(error);
    if (failure_ == Failure::HeadTooLarge || error == HPE_HEADER_OVERFLOW) {
        refusal.status = 431;
        refusal.detail = "Request header fields too large";
    } else if (failure_ == Failure::BodyTooLarge) {
        refusal.status = 413;
        refusal.detail = "Request body too large";
    } else {
        refusal.status = 400;
        refusal.detail = "Bad request";
    }
    return refusal;
}

int RequestParser::onMessageBegin(http_parser* parser) {
    auto& self = of(parser);
    self.request_ = Request{};
    self.headBytes_ = 0;
    self.lastWasValue_ = false;
    self.inTrailer_ = false;
    return 0;
}

int RequestParser::onUrl(http_parser* parser, const char* at, std::size_t length) {
    auto& self = of(parser);
    self.request_.target.append(at, length);
    return self.countHead(length);
}

int RequestParser::onHeaderField(http_parser* parser, const char* at, std::size_t length) {
    auto& self = of(parser);
    // A name split over several reads comes in several calls: ": " and CRLF count once per field,
    // or the same head would be within the limit or over it depending on how TCP cut it. Found by
    // tests/fuzz/fuzz_http_front_door.
    const bool newField = self.lastWasValue_ || (self.request_.headers.empty() && !self.inTrailer_);
    self.lastWasValue_ = false;
    if (self.inTrailer_) return self.countHead(length + (newField ? 4 : 0));
    if (newField) self.request_.headers.emplace_back();
    auto& name = self.request_.headers.back().first;
    for (std::size_t i = 0; i < length; ++i)
        name.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(at[i]))));
    return self.countHead(length + (newField ? 4 : 0)); // ": " and CRLF count towards the head too
}

int RequestParser::onHeaderValue(http_parser* parser, const char* at, std::size_t length) {
    auto& self = of(parser);
    self.lastWasValue_ = true;
    if (self.inTrailer_) return self.countHead(length);
    if (self.request_.headers.empty()) self.request_.headers.emplace_back();
    self.request_.headers.back().second.append(at, length);
    return self.countHead(length);
}

int RequestParser::onHeadersComplete(http_parser* parser) {
    auto& self = of(parser);
    self.request_.method = http_method_str(static_cast<http_method>(parser->method));
    self.request_.path = self.request_.target.substr(0, self.request_.target.find('?'));
    const bool announced = (parser->flags & F_CONTENTLENGTH) != 0;
    if (announced && parser->content_length > self.limits_.maxBodyBytes) {
        self.failure_ = Failure::BodyTooLarge;
        return -1;
    }
    if (announced && parser->content_length > 0) self.request_.body.reserve(parser->content_length);
    // Fields after a chunked body (its trailer) are not headers (RFC 9110 6.5.1): they are counted
    // against the head's limit and dropped. Merged, they would let a client add headers (a webhook's
    // signature headers, say) after its body. Found by tests/fuzz/fuzz_http_front_door.
    self.inTrailer_ = true;
    self.lastWasValue_ = true; // the trailer's first name starts a field
    if (self.headDone_) self.headDone_(parser->http_minor >= 1 && self.request_.header("expect") == "100-continue");
    return 0;
}

int RequestParser::onBody(http_parser* parser, const char* at, std::size_t length) {
    auto& self = of(parser);
    if (self.request_.body.size() + length > self.limits_.maxBodyBytes) {
        self.failure_ = Failure::BodyTooLarge; // chunked, or more than announced
        return -1;
    }
    self.request_.body.append(at, length);
    return 0;
}

int RequestParser::onMessageComplete(http_parser* parser) {
    auto& self = of(parser);
    self.keepAlive_ = http_should_keep_alive(parser) != 0 && !parser->upgrade;
    self.complete_ = true;
    http_parser_pause(parser, 1); // one request at a time: the next waits in the inbox
    return 0;
}

const http_parser_settings& RequestParser::settings() {
    static const http_parser_settings settings = [] {
        http_parser_settings s;
        http_parser_settings_init(&s);
        s.on_message_begin = onMessageBegin;
        s.on_url = onUrl;
        s.on_header_field = onHeaderField;
        s.on_header_value = onHeaderValue;
        s.on_headers_complete = onHeadersComplete;
        s.on_body = onBody;
        s.on_message_complete = onMessageComplete;
        return s;
    }();
    return settings;
}

int RequestParser::countHead(std::size_t bytes) {
    headBytes_ += bytes;
    if (headBytes_ + request_.headers.size() * 4 > limits_.maxHeadBytes) {
        failure_ = Failure::HeadTooLarge;
        return -1;
    }
    return 0;
}

// RFC 9110's reason phrases. Poco's table has older spellings ("Gateway Time-Out") and "???" for
// what it does not know; an unknown status gets an empty phrase, which RFC 9112 allows.
const char* reasonPhrase(int status) {
    // clang-format off
    static const std::unordered_map<int, const char*> phrases{
        {100, "Continue"}, {200, "OK"}, {201, "Created"}, {202, "Accepted"}, {204, "No Content"},
        {301, "Moved Permanently"}, {302, "Found"}, {304, "Not Modified"}, {400, "Bad Request"},
        {401, "Unauthorized"}, {403, "Forbidden"}, {404, "Not Found"}, {405, "Method Not Allowed"},
        {408, "Request Timeout"}, {409, "Conflict"}, {410, "Gone"}, {411, "Length Required"},
        {413, "Content Too Large"}, {414, "URI Too Long"}, {415, "Unsupported Media Type"},
        {417, "Expectation Failed"}, {422, "Unprocessable Content"}, {429, "Too Many Requests"},
        {431, "Request Header Fields Too Large"}, {500, "Internal Server Error"}, {501, "Not Implemented"},
        {502, "Bad Gateway"}, {503, "Service Unavailable"}, {504, "Gateway Timeout"},
        {505, "HTTP Version Not Supported"},
    };
    // clang-format on
    const auto phrase = phrases.find(status);
    return phrase == phrases.end() ? "" : phrase->second;
}

std::string serializeResponse(const Response& response, bool head, bool close) {
    std::string out;
    out.reserve(160 + response.body.size());
    out += "HTTP/1.1 ";
    out += std::to_string(response.status);
    out += ' ';
    out += reasonPhrase(response.status);
    out += "\r\nContent-Type: ";
    out += response.contentType;
    out += "\r\nContent-Length: ";
    out += std::to_string(response.body.size());
    out += "\r\n";
    for (const auto& [name, value] : response.headers) {
        out += name;
        out += ": ";
        out += value;
        out += "\r\n";
    }
    out += close ? "Connection: close\r\n\r\n" : "\r\n";
    if (!head) out += response.body;
    return out;
}

} // namespace sideband::http
