#pragma once
// Shared by the libFuzzer targets in tests/fuzz: silence logging, carve fields from the input,
// and fail loudly (abort: libFuzzer keeps the input) when a property does not hold.

#include <spdlog/spdlog.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace sideband::fuzz {

inline void quietLogging() {
    spdlog::set_level(spdlog::level::off);
}

// Property check that survives NDEBUG (RelWithDebInfo/Release builds).
[[noreturn]] inline void propertyFailed(const char* what, const char* file, int line) {
    std::fprintf(stderr, "fuzz property violated at %s:%d: %s\n", file, line, what);
    std::abort();
}
#define FUZZ_CHECK(cond)                                                                                               \
    do {                                                                                                               \
        if (!(cond)) ::sideband::fuzz::propertyFailed(#cond, __FILE__, __LINE__);                                      \
    } while (0)

// Splits the input into fields on '\n': next() returns the text up to the next newline (or the
// rest), rest() everything not yet consumed.
class Carver {
public:
    Carver(const std::uint8_t* data, std::size_t size) : input_(reinterpret_cast<const char*>(data), size) {}
    std::string next() {
        const auto nl = input_.find('\n');
        std::string field(input_.substr(0, nl));
        input_.remove_prefix(nl == std::string_view::npos ? input_.size() : nl + 1);
        return field;
    }
    std::string rest() {
        std::string r(input_);
        input_ = {};
        return r;
    }
    bool empty() const { return input_.empty(); }

private:
    std::string_view input_;
};

} // namespace sideband::fuzz
