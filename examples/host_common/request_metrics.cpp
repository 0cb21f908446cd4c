#include "host_common/request_metrics.hpp"

#include <cstdio>

namespace kauri_host {

namespace {

// Methods outside this set (which the HTTP parser refuses anyway) share one
// label value, so a client cannot create series.
std::string_view bounded_method(std::string_view m) {
  for (std::string_view known : {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"}) {
    if (m == known) return known;
  }
  return "OTHER";
}

std::string label_value(std::string_view v) {
  std::string out;
  for (const char c : v) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

}  // namespace

void request_metrics::add_route(std::string_view method, std::string_view route) {
  const std::lock_guard lock(mutex_);
  durations_.try_emplace({std::string(bounded_method(method)), std::string(route)});
}

void request_metrics::record(std::string_view method, std::string_view route, int status, double seconds) {
  const std::string m(bounded_method(method));
  const std::lock_guard lock(mutex_);
  ++requests_[{m, std::string(route), status}];
  histogram& h = durations_[{m, std::string(route)}];
  ++h.count;
  h.sum += seconds;
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    if (seconds <= bounds[i]) ++h.at_most[i];
  }
}

std::string request_metrics::to_prometheus() const {
  const std::lock_guard lock(mutex_);
  std::string out;
  out += "# HELP kauri_http_requests_total HTTP requests answered, by method, route pattern and status.\n";
  out += "# TYPE kauri_http_requests_total counter\n";
  for (const auto& [key, n] : requests_) {
    const auto& [method, route, status] = key;
    out += "kauri_http_requests_total{method=\"" + label_value(method) + "\",route=\"" + label_value(route) +
           "\",status=\"" + std::to_string(status) + "\"} " + std::to_string(n) + "\n";
  }
  out += "# HELP kauri_http_request_duration_seconds Time from the request's headers to its answer.\n";
  out += "# TYPE kauri_http_request_duration_seconds histogram\n";
  for (const auto& [key, h] : durations_) {
    const std::string labels = "method=\"" + label_value(key.first) + "\",route=\"" + label_value(key.second) + "\"";
    for (std::size_t i = 0; i < bounds.size(); ++i) {
      out += "kauri_http_request_duration_seconds_bucket{" + labels + ",le=\"" + number(bounds[i]) + "\"} " +
             std::to_string(h.at_most[i]) + "\n";
    }
    out += "kauri_http_request_duration_seconds_bucket{" + labels + ",le=\"+Inf\"} " + std::to_string(h.count) + "\n";
    out += "kauri_http_request_duration_seconds_sum{" + labels + "} " + number(h.sum) + "\n";
    out += "kauri_http_request_duration_seconds_count{" + labels + "} " + std::to_string(h.count) + "\n";
  }
  return out;
}

}  // namespace kauri_host
