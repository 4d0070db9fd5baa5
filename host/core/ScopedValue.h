#pragma once

#include <utility>

namespace sideband {

// Gives a variable a value for the length of a scope and puts the old one back however the scope is
// left. For state a callback may re-enter (a pump inside a pump, a log line inside a log line): each
// level restores what the level outside it set, so nesting unwinds in order.
template <typename T> class ScopedValue {
public:
    ScopedValue(T& target, T value) : target_(target), previous_(std::exchange(target, std::move(value))) {}
    ~ScopedValue() { target_ = std::move(previous_); }
    ScopedValue(const ScopedValue&) = delete;
    ScopedValue& operator=(const ScopedValue&) = delete;

private:
    T& target_;
    T previous_;
};

} // namespace sideband
