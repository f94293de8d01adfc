// Prometheus metrics: API requests by route, method and status, request latency, and
// gauges supplied by the engine (containers by state). Served on --metrics-addr.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

namespace sockerless::metrics {

class Registry {
 public:
  using StateCounts = std::function<std::map<std::string, std::int64_t>()>;

  void observe_request(const std::string& route, const std::string& method, int status,
                       double seconds);
  void set_container_states(StateCounts fn) { container_states_ = std::move(fn); }
  // The text exposition format, version 0.0.4.
  std::string render() const;

  static constexpr std::array<double, 12> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                      0.05,   0.1,   0.25,   1,     2.5,  10};

 private:
  struct Histogram {
    std::array<std::uint64_t, kBuckets.size()> buckets{};
    std::uint64_t count = 0;
    double sum = 0;
  };
  mutable std::mutex mu_;
  std::map<std::tuple<std::string, std::string, int>, std::uint64_t> requests_;
  std::map<std::string, Histogram> latency_;  // by route
  StateCounts container_states_;
};

}  // namespace sockerless::metrics
