#pragma once

#include <spdlog/spdlog.h>

#include <iterator>
#include <string>
#include <string_view>

namespace sideband::logging {

enum class Format { Human, Json };

// Configures the default spdlog logger once per process: one line per event, on stderr (or on
// `sink`, for tests).
//   human: 2026-11-23 13:51:10.123 info  [4242] call=rtc_1 tenant=acme accepted (2 tools), ...
//   json:  {"ts":"2026-11-23T13:51:10.123+0000","level":"info","thread":4242,"call_id":"rtc_1",
//           "tenant_id":"acme","msg":"accepted (2 tools), ..."}
// Every string in a JSON line is escaped: log lines quote peer-supplied text.
void configure(Format format, spdlog::level::level_enum level, spdlog::sink_ptr sink = nullptr);
Format parseFormat(const std::string& name);

namespace detail {
// The call a line is being logged for, visible to the formatter while that one line is written
// (the logger is synchronous: formatting happens on the logging thread, inside logger->log()).
struct CallScope {
    std::string_view callId;
    std::string_view tenantId; // empty: not known (yet)
    std::size_t prefixLength;  // "call=... tenant=... " at the start of the payload
};
void logCallLine(spdlog::level::level_enum level, const CallScope& scope, std::string_view payload);
void appendPrefix(spdlog::memory_buf_t& out, std::string_view callId, std::string_view tenantId);
} // namespace detail

// Log lines about one call. Every line starts `call=ID tenant=ID ` in the text (`tenant=` left out
// while the tenant is not known), so human logs read and grep as before; the JSON format instead
// carries the ids as "call_id" and "tenant_id" fields (null while unknown) and the message alone
// in "msg". Nothing is parsed back out of the text: the ids travel beside it.
//
//     logging::forCall(record.callId, record.tenantId).info("rejected: {} (SIP {})", reason, status);
class CallLog {
public:
    CallLog(std::string_view callId, std::string_view tenantId) : callId_(callId), tenantId_(tenantId) {}

    template <typename... Args>
    void log(spdlog::level::level_enum level, spdlog::format_string_t<Args...> format, Args&&... args) const {
        auto* logger = spdlog::default_logger_raw();
        if (!logger || !logger->should_log(level)) return;
        spdlog::memory_buf_t line;
        detail::appendPrefix(line, callId_, tenantId_);
        const auto prefix = line.size();
        try {
            fmt::format_to(std::back_inserter(line), format, std::forward<Args>(args)...);
        } catch (const std::exception& e) {
            line.resize(prefix);
            fmt::format_to(std::back_inserter(line), "(log line not formatted: {})", e.what());
        }
        detail::logCallLine(level, {callId_, tenantId_, prefix}, std::string_view(line.data(), line.size()));
    }

    template <typename... Args> void trace(spdlog::format_string_t<Args...> f, Args&&... a) const {
        log(spdlog::level::trace, f, std::forward<Args>(a)...);
    }
    template <typename... Args> void debug(spdlog::format_string_t<Args...> f, Args&&... a) const {
        log(spdlog::level::debug, f, std::forward<Args>(a)...);
    }
    template <typename... Args> void info(spdlog::format_string_t<Args...> f, Args&&... a) const {
        log(spdlog::level::info, f, std::forward<Args>(a)...);
    }
    template <typename... Args> void warn(spdlog::format_string_t<Args...> f, Args&&... a) const {
        log(spdlog::level::warn, f, std::forward<Args>(a)...);
    }
    template <typename... Args> void error(spdlog::format_string_t<Args...> f, Args&&... a) const {
        log(spdlog::level::err, f, std::forward<Args>(a)...);
    }

private:
    std::string_view callId_;
    std::string_view tenantId_;
};

// The ids are referenced, not copied: use the result within the statement (or while both live).
inline CallLog forCall(std::string_view callId, std::string_view tenantId = {}) { return {callId, tenantId}; }

} // namespace sideband::logging
