#include "core/ScopedValue.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace sideband {
namespace {

TEST(ScopedValue, HoldsTheValueInsideTheScopeAndPutsTheOldOneBackAfter) {
    std::string inbox = "outer";
    {
        const ScopedValue<std::string> reading(inbox, "inner");
        EXPECT_EQ(inbox, "inner");
    }
    EXPECT_EQ(inbox, "outer");
}

TEST(ScopedValue, NestedScopesUnwindInOrderLikeADepthCounter) {
    int depth = 0;
    {
        const ScopedValue<int> outer(depth, depth + 1);
        {
            const ScopedValue<int> inner(depth, depth + 1);
            EXPECT_EQ(depth, 2);
        }
        EXPECT_EQ(depth, 1);
    }
    EXPECT_EQ(depth, 0);
}

TEST(ScopedValue, AnExceptionLeavingTheScopeStillRestores) {
    bool receiving = false;
    EXPECT_THROW(
        {
            const ScopedValue<bool> inside(receiving, true);
            throw std::runtime_error("a callback failed");
        },
        std::runtime_error);
    EXPECT_FALSE(receiving);
}

} // namespace
} // namespace sideband
