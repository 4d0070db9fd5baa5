#include "metrics/MetricsRegistry.h"

#include <gtest/gtest.h>

using sideband::metrics::MetricsRegistry;

TEST(MetricsRegistry, RendersCountersWithEscapedLabels) {
    MetricsRegistry r;
    r.declareCounter("x_total", "Things.");
    r.increment("x_total", {{"tenant", "a\"b"}});
    EXPECT_EQ(r.renderPrometheus(), "# HELP x_total Things.\n# TYPE x_total counter\nx_total{tenant=\"a\\\"b\"} 1\n");
}

TEST(MetricsRegistry, RendersCumulativeHistogramBuckets) {
    MetricsRegistry r;
    r.declareHistogram("h_seconds", "Time.", {0.1, 1});
    r.observe("h_seconds", 0.05);
    r.observe("h_seconds", 0.5);
    r.observe("h_seconds", 5);
    EXPECT_EQ(r.renderPrometheus(), "# HELP h_seconds Time.\n# TYPE h_seconds histogram\n"
                                    "h_seconds_bucket{le=\"0.1\"} 1\n"
                                    "h_seconds_bucket{le=\"1\"} 2\n"
                                    "h_seconds_bucket{le=\"+Inf\"} 3\n"
                                    "h_seconds_sum 5.55\nh_seconds_count 3\n");
}

TEST(MetricsRegistry, ReadsLiveGaugesAtScrapeTime) {
    MetricsRegistry r;
    int live = 3;
    r.declareGauge("g", "Live.", [&] { return std::vector<MetricsRegistry::GaugeSample>{{{}, double(live)}}; });
    live = 4;
    EXPECT_EQ(r.value("g"), 4);
}

TEST(MetricsRegistry, RefusesUndeclaredMetrics) {
    MetricsRegistry r;
    EXPECT_THROW(r.increment("nope"), std::logic_error);
}

TEST(MetricsRegistry, RendersAHistogramKeptElsewhereAtScrapeTime) {
    MetricsRegistry r;
    std::uint64_t fast = 3;
    r.declareHistogram("loop_seconds", "Loop time.", {0.001, 0.01}, [&] {
        return std::vector<MetricsRegistry::HistogramSample>{{{{"loop", "io-0"}}, {fast, 1}, 0.5, fast + 2}};
    });
    fast = 4;
    EXPECT_EQ(r.renderPrometheus(), "# HELP loop_seconds Loop time.\n# TYPE loop_seconds histogram\n"
                                    "loop_seconds_bucket{loop=\"io-0\",le=\"0.001\"} 4\n"
                                    "loop_seconds_bucket{loop=\"io-0\",le=\"0.01\"} 5\n"
                                    "loop_seconds_bucket{loop=\"io-0\",le=\"+Inf\"} 6\n"
                                    "loop_seconds_sum{loop=\"io-0\"} 0.5\n"
                                    "loop_seconds_count{loop=\"io-0\"} 6\n");
    EXPECT_EQ(r.observations("loop_seconds", {{"loop", "io-0"}}), 6u);
}
