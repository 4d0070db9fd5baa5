#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace sideband::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

// An in-process registry of counters, gauges and histograms, rendered in the Prometheus text
// exposition format (Poco 1.11 has no Prometheus module). Families are declared once with their
// help text; series are created on first use.
class MetricsRegistry {
public:
    enum class Type { Counter, Gauge, Histogram };
    using GaugeSample = std::pair<Labels, double>;
    using GaugeCollector = std::function<std::vector<GaugeSample>()>;
    // A histogram kept elsewhere (e.g. by an event loop, without the registry's lock) and read at
    // scrape time: per-bound counts, not cumulative, for the bounds it was declared with.
    struct HistogramSample {
        Labels labels;
        std::vector<std::uint64_t> buckets;
        double sum = 0;
        std::uint64_t count = 0;
    };
    using HistogramCollector = std::function<std::vector<HistogramSample>()>;

    void declareCounter(const std::string& name, const std::string& help);
    void declareGauge(const std::string& name, const std::string& help);
    // A gauge whose samples are read at scrape time (e.g. live ledger counts).
    void declareGauge(const std::string& name, const std::string& help, GaugeCollector collector);
    void declareHistogram(const std::string& name, const std::string& help, std::vector<double> bounds);
    void declareHistogram(const std::string& name, const std::string& help, std::vector<double> bounds,
                          HistogramCollector collector);

    void increment(const std::string& name, const Labels& labels = {}, double by = 1.0);
    void set(const std::string& name, const Labels& labels, double value);
    void observe(const std::string& name, double value, const Labels& labels = {});

    // For tests and the admin CLI: 0 when the series does not exist.
    double value(const std::string& name, const Labels& labels = {}) const;
    std::uint64_t observations(const std::string& name, const Labels& labels = {}) const;

    std::string renderPrometheus() const;

private:
    struct Series {
        Labels labels;
        double value = 0;                   // counter / gauge
        std::vector<std::uint64_t> buckets; // histogram, cumulative at render time
        double sum = 0;
        std::uint64_t count = 0;
    };
    struct Family {
        Type type = Type::Counter;
        std::string help;
        std::vector<double> bounds;
        GaugeCollector collector;
        HistogramCollector histogramCollector;
        std::map<std::string, Series> series;
    };

    Family& family(const std::string& name, Type type);
    Series& series(Family& family, const Labels& labels);

    mutable std::mutex mutex_;
    std::map<std::string, Family> families_;
};

} // namespace sideband::metrics
