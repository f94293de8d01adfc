#include "metrics/metrics.h"

#include <fmt/format.h>

namespace sockerless::metrics {
namespace {

std::string label_value(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

void Registry::observe_request(const std::string& route, const std::string& method, int status,
                               double seconds) {
  std::lock_guard lock(mu_);
  ++requests_[{route, method, status}];
  auto& h = latency_[route];
  for (std::size_t i = 0; i < kBuckets.size(); ++i)
    if (seconds <= kBuckets[i]) ++h.buckets[i];
  ++h.count;
  h.sum += seconds;
}

std::string Registry::render() const {
  std::string out;
  std::map<std::string, std::int64_t> states;
  if (container_states_) states = container_states_();
  std::lock_guard lock(mu_);
  out += "# HELP sockerless_http_requests_total Docker API requests served.\n";
  out += "# TYPE sockerless_http_requests_total counter\n";
  for (const auto& [key, n] : requests_) {
    const auto& [route, method, status] = key;
    out += fmt::format(
        "sockerless_http_requests_total{{route=\"{}\",method=\"{}\",status=\"{}\"}} {}\n",
        label_value(route), label_value(method), status, n);
  }
  out += "# HELP sockerless_http_request_duration_seconds Time to answer Docker API requests.\n";
  out += "# TYPE sockerless_http_request_duration_seconds histogram\n";
  for (const auto& [route, h] : latency_) {
    std::string r = label_value(route);
    for (std::size_t i = 0; i < kBuckets.size(); ++i)
      out += fmt::format(
          "sockerless_http_request_duration_seconds_bucket{{route=\"{}\",le=\"{}\"}} {}\n", r,
          kBuckets[i], h.buckets[i]);
    out += fmt::format(
        "sockerless_http_request_duration_seconds_bucket{{route=\"{}\",le=\"+Inf\"}} {}\n", r,
        h.count);
    out +=
        fmt::format("sockerless_http_request_duration_seconds_sum{{route=\"{}\"}} {}\n", r, h.sum);
    out += fmt::format("sockerless_http_request_duration_seconds_count{{route=\"{}\"}} {}\n", r,
                       h.count);
  }
  out += "# HELP sockerless_containers Containers by state.\n";
  out += "# TYPE sockerless_containers gauge\n";
  for (const auto& [state, n] : states)
    out += fmt::format("sockerless_containers{{state=\"{}\"}} {}\n", label_value(state), n);
  return out;
}

}  // namespace sockerless::metrics
