// HTTP request metrics of a host program, for its /metrics endpoint next to
// the library's own (kauri_quota::to_prometheus). Labels are bounded: the
// route PATTERN (never a path with an id in it), the method and the status.
// Thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>

namespace kauri_host {

class request_metrics {
 public:
  /// Upper bounds, in seconds, of the latency histogram's buckets.
  static constexpr std::array<double, 14> bounds{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                 0.1,    0.25,  0.5,    1.0,   2.5,  5.0,   10.0};

  /// Creates the series of a route at zero, so that they exist before the
  /// first request (Prometheus "avoid missing metrics").
  void add_route(std::string_view method, std::string_view route);
  void record(std::string_view method, std::string_view route, int status, double seconds);

  /// kauri_http_requests_total{method,route,status} and the histogram
  /// kauri_http_request_duration_seconds{method,route}, text format 0.0.4.
  std::string to_prometheus() const;

 private:
  struct histogram {
    std::array<std::uint64_t, bounds.size()> at_most{};
    std::uint64_t count = 0;
    double sum = 0;
  };
  mutable std::mutex mutex_;
  std::map<std::tuple<std::string, std::string, int>, std::uint64_t> requests_;
  std::map<std::pair<std::string, std::string>, histogram> durations_;
};

}  // namespace kauri_host
