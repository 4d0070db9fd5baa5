#pragma once

#include <chrono>
#include <thread>

namespace sideband::testing {

// Polls an asynchronous effect until it holds or the timeout passes; returns the last answer.
// Generous by default: a loaded CI machine is slow, and a passing test returns at once.
template <typename Predicate>
bool eventually(Predicate predicate, std::chrono::milliseconds timeout = std::chrono::milliseconds(10000)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (predicate()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return predicate();
}

} // namespace sideband::testing
