#include "core/Logging.h"

#include "core/ScopedValue.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

namespace sideband::logging {
namespace {

// The call the current thread is logging a line for (set only inside detail::logCallLine).
thread_local const detail::CallScope* tCurrentCall = nullptr;

// spdlog builds its registry and default logger on first use, under a static-init guard inside
// libspdlog that ThreadSanitizer cannot see. Built here, at load time on the main thread, it exists
// before any thread can log, also in a binary that never calls configure() (the test suites), where
// it was otherwise built by whichever worker logged first and a second worker's first line was
// reported as racing with it (CI's TSan stage, tests/sessions, 2026-12-03).
[[maybe_unused]] const spdlog::logger* const kDefaultLoggerBuiltAtLoad = spdlog::default_logger_raw();

const detail::CallScope* scopeOf(const spdlog::details::log_msg& msg) {
    const auto* scope = tCurrentCall;
    return scope && scope->prefixLength <= msg.payload.size() ? scope : nullptr;
}

// Length of the valid UTF-8 sequence starting at s[i], or 0 when it is not one.
std::size_t utf8Length(std::string_view s, std::size_t i) {
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char c = byte(i);
    std::size_t length = 0;
    unsigned min = 0, cp = 0;
    if (c >= 0xc2 && c <= 0xdf) length = 2, min = 0x80, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef) length = 3, min = 0x800, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4) length = 4, min = 0x10000, cp = c & 0x07;
    else return 0;
    if (i + length > s.size()) return 0;
    for (std::size_t k = 1; k < length; ++k) {
        if ((byte(i + k) & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (byte(i + k) & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return length;
}

// `text` as the body of a JSON string: log lines quote peer-supplied text (event types, call ids),
// so JSON output must escape it or one hostile value could forge a log record. Bytes that are not
// UTF-8 become U+FFFD, so every line stays valid JSON.
void appendJsonEscaped(spdlog::memory_buf_t& dest, std::string_view text) {
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        switch (c) {
        case '"': dest.append(std::string_view("\\\"")); continue;
        case '\\': dest.append(std::string_view("\\\\")); continue;
        case '\n': dest.append(std::string_view("\\n")); continue;
        case '\r': dest.append(std::string_view("\\r")); continue;
        case '\t': dest.append(std::string_view("\\t")); continue;
        default: break;
        }
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20) {
            fmt::format_to(std::back_inserter(dest), "\\u{:04x}", static_cast<int>(u));
        } else if (u < 0x80) {
            dest.push_back(c);
        } else if (const auto length = utf8Length(text, i)) {
            dest.append(text.substr(i, length));
            i += length - 1;
        } else {
            dest.append(std::string_view("\\ufffd"));
        }
    }
}

// %* : the message, escaped; for a call line, without the "call=... tenant=... " prefix, which
// the fields carry instead.
class JsonMessage final : public spdlog::custom_flag_formatter {
public:
    void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
        std::string_view payload(msg.payload.data(), msg.payload.size());
        if (const auto* scope = scopeOf(msg)) payload.remove_prefix(scope->prefixLength);
        appendJsonEscaped(dest, payload);
    }
    std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<JsonMessage>(); }
};

// %& : `"call_id":"...","tenant_id":"...",` for a call line (tenant_id null while unknown), else nothing.
class JsonCallFields final : public spdlog::custom_flag_formatter {
public:
    void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
        const auto* scope = scopeOf(msg);
        if (!scope) return;
        dest.append(std::string_view(R"("call_id":")"));
        appendJsonEscaped(dest, scope->callId);
        dest.append(std::string_view(R"(","tenant_id":)"));
        if (scope->tenantId.empty()) {
            dest.append(std::string_view("null,"));
        } else {
            dest.push_back('"');
            appendJsonEscaped(dest, scope->tenantId);
            dest.append(std::string_view("\","));
        }
    }
    std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<JsonCallFields>(); }
};

} // namespace

namespace detail {

void appendPrefix(spdlog::memory_buf_t& out, std::string_view callId, std::string_view tenantId) {
    out.append(std::string_view("call="));
    out.append(callId);
    if (!tenantId.empty()) {
        out.append(std::string_view(" tenant="));
        out.append(tenantId);
    }
    out.push_back(' ');
}

void logCallLine(spdlog::level::level_enum level, const CallScope& scope, std::string_view payload) {
    const ScopedValue<const CallScope*> current(tCurrentCall, &scope);
    spdlog::default_logger_raw()->log(level, spdlog::string_view_t(payload.data(), payload.size()));
}

} // namespace detail

void configure(Format format, spdlog::level::level_enum level, spdlog::sink_ptr sink) {
    std::shared_ptr<spdlog::logger> logger;
    if (sink) {
        logger = std::make_shared<spdlog::logger>("sideband", std::move(sink));
    } else {
        logger = spdlog::get("sideband");
        if (!logger) logger = spdlog::stderr_logger_mt("sideband");
    }
    if (format == Format::Json) {
        auto formatter = std::make_unique<spdlog::pattern_formatter>();
        formatter->add_flag<JsonMessage>('*').add_flag<JsonCallFields>('&').set_pattern(
            R"({"ts":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","thread":%t,%&"msg":"%*"})");
        logger->set_formatter(std::move(formatter));
    } else {
        logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ [%t] %v");
    }
    logger->set_level(level);
    logger->flush_on(spdlog::level::info);
    spdlog::set_default_logger(logger);
}

Format parseFormat(const std::string& name) { return name == "json" ? Format::Json : Format::Human; }

} // namespace sideband::logging
