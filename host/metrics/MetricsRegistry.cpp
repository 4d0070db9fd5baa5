#include "metrics/MetricsRegistry.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>

namespace sideband::metrics {
namespace {

std::string escapeLabelValue(const std::string& value) {
    std::string out;
    out.reserve(value.size());
    for (char c : value) {
        if (c == '\\' || c == '"') out.push_back('\\');
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out.push_back(c);
    }
    return out;
}

std::string renderLabels(const Labels& labels, const std::string& extraName = {},
                         const std::string& extraValue = {}) {
    if (labels.empty() && extraName.empty()) return {};
    std::string out = "{";
    bool first = true;
    for (const auto& [name, value] : labels) {
        if (!first) out += ',';
        out += name + "=\"" + escapeLabelValue(value) + '"';
        first = false;
    }
    if (!extraName.empty()) {
        if (!first) out += ',';
        out += extraName + "=\"" + extraValue + '"';
    }
    return out + "}";
}

std::string formatNumber(double value) {
    if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
    return fmt::format("{}", value); // shortest form that reads back exactly
}

const char* typeName(MetricsRegistry::Type type) {
    switch (type) {
    case MetricsRegistry::Type::Counter: return "counter";
    case MetricsRegistry::Type::Gauge: return "gauge";
    case MetricsRegistry::Type::Histogram: return "histogram";
    }
    return "untyped";
}

// One histogram series: cumulative buckets (a missing per-bound count reads as 0), +Inf, sum, count.
void renderHistogram(std::ostream& out, const std::string& name, const std::vector<double>& bounds,
                     const Labels& labels, const std::vector<std::uint64_t>& buckets, double sum, std::uint64_t count) {
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < bounds.size(); ++i) {
        cumulative += i < buckets.size() ? buckets[i] : 0;
        out << name << "_bucket" << renderLabels(labels, "le", formatNumber(bounds[i])) << ' ' << cumulative << '\n';
    }
    const auto key = renderLabels(labels);
    out << name << "_bucket" << renderLabels(labels, "le", "+Inf") << ' ' << count << '\n';
    out << name << "_sum" << key << ' ' << formatNumber(sum) << '\n';
    out << name << "_count" << key << ' ' << count << '\n';
}

} // namespace

void MetricsRegistry::declareCounter(const std::string& name, const std::string& help) {
    std::lock_guard lock(mutex_);
    auto& f = families_[name];
    f.type = Type::Counter;
    f.help = help;
}

void MetricsRegistry::declareGauge(const std::string& name, const std::string& help) {
    declareGauge(name, help, nullptr);
}

void MetricsRegistry::declareGauge(const std::string& name, const std::string& help, GaugeCollector collector) {
    std::lock_guard lock(mutex_);
    auto& f = families_[name];
    f.type = Type::Gauge;
    f.help = help;
    f.collector = std::move(collector);
}

void MetricsRegistry::declareHistogram(const std::string& name, const std::string& help, std::vector<double> bounds) {
    declareHistogram(name, help, std::move(bounds), nullptr);
}

void MetricsRegistry::declareHistogram(const std::string& name, const std::string& help, std::vector<double> bounds,
                                       HistogramCollector collector) {
    std::sort(bounds.begin(), bounds.end());
    std::lock_guard lock(mutex_);
    auto& f = families_[name];
    f.type = Type::Histogram;
    f.help = help;
    f.bounds = std::move(bounds);
    f.histogramCollector = std::move(collector);
}

MetricsRegistry::Family& MetricsRegistry::family(const std::string& name, Type type) {
    auto it = families_.find(name);
    if (it == families_.end()) throw std::logic_error("metric not declared: " + name);
    if (it->second.type != type) throw std::logic_error("metric used with the wrong type: " + name);
    return it->second;
}

MetricsRegistry::Series& MetricsRegistry::series(Family& family, const Labels& labels) {
    auto& s = family.series[renderLabels(labels)];
    if (s.labels.empty() && !labels.empty()) s.labels = labels;
    if (family.type == Type::Histogram && s.buckets.empty()) s.buckets.assign(family.bounds.size(), 0);
    return s;
}

void MetricsRegistry::increment(const std::string& name, const Labels& labels, double by) {
    std::lock_guard lock(mutex_);
    series(family(name, Type::Counter), labels).value += by;
}

void MetricsRegistry::set(const std::string& name, const Labels& labels, double value) {
    std::lock_guard lock(mutex_);
    series(family(name, Type::Gauge), labels).value = value;
}

void MetricsRegistry::observe(const std::string& name, double value, const Labels& labels) {
    std::lock_guard lock(mutex_);
    auto& f = family(name, Type::Histogram);
    auto& s = series(f, labels);
    for (std::size_t i = 0; i < f.bounds.size(); ++i) {
        if (value <= f.bounds[i]) {
            ++s.buckets[i];
            break;
        }
    }
    s.sum += value;
    ++s.count;
}

double MetricsRegistry::value(const std::string& name, const Labels& labels) const {
    std::lock_guard lock(mutex_);
    auto f = families_.find(name);
    if (f == families_.end()) return 0;
    if (f->second.collector) {
        for (const auto& [sampleLabels, sampleValue] : f->second.collector())
            if (sampleLabels == labels) return sampleValue;
        return 0;
    }
    auto s = f->second.series.find(renderLabels(labels));
    return s == f->second.series.end() ? 0 : s->second.value;
}

std::uint64_t MetricsRegistry::observations(const std::string& name, const Labels& labels) const {
    std::lock_guard lock(mutex_);
    auto f = families_.find(name);
    if (f == families_.end()) return 0;
    if (f->second.histogramCollector) {
        for (const auto& sample : f->second.histogramCollector())
            if (sample.labels == labels) return sample.count;
        return 0;
    }
    auto s = f->second.series.find(renderLabels(labels));
    return s == f->second.series.end() ? 0 : s->second.count;
}

std::string MetricsRegistry::renderPrometheus() const {
    std::lock_guard lock(mutex_);
    std::ostringstream out;
    for (const auto& [name, f] : families_) {
        out << "# HELP " << name << ' ' << f.help << '\n';
        out << "# TYPE " << name << ' ' << typeName(f.type) << '\n';
        if (f.collector) {
            for (const auto& [labels, value] : f.collector())
                out << name << renderLabels(labels) << ' ' << formatNumber(value) << '\n';
            continue;
        }
        if (f.histogramCollector) {
            for (const auto& sample : f.histogramCollector())
                renderHistogram(out, name, f.bounds, sample.labels, sample.buckets, sample.sum, sample.count);
            continue;
        }
        for (const auto& [key, s] : f.series) {
            if (f.type != Type::Histogram) {
                out << name << key << ' ' << formatNumber(s.value) << '\n';
                continue;
            }
            renderHistogram(out, name, f.bounds, s.labels, s.buckets, s.sum, s.count);
        }
    }
    return out.str();
}

} // namespace sideband::metrics
