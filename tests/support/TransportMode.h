#pragma once

#include <gtest/gtest.h>

#include <ostream>
#include <string>

namespace sideband::testing {

// The suites that run once over HTTPS and once over plain HTTP take this as their parameter.
struct TransportMode {
    std::string name;
    bool tls;
};

inline void PrintTo(const TransportMode& mode, std::ostream* out) {
    *out << mode.name;
}

inline auto bothTransports() {
    return ::testing::Values(TransportMode{"https", true}, TransportMode{"http", false});
}

inline std::string transportName(const ::testing::TestParamInfo<TransportMode>& info) {
    return info.param.name;
}

} // namespace sideband::testing
