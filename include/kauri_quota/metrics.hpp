// Monitoring: what a quota_service has answered and how long its calls
// took, for a Prometheus scrape or any other metrics system.
//
// A quota_service counts from its creation; quota_service::metrics() reads
// the counters at any time from any thread, without locking the calls being
// counted. to_prometheus() renders them in the Prometheus text format, for
// the host's /metrics endpoint.
#pragma once

#include <kauri_quota/result.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace kauri_quota {

/// The calls a quota_service times: the ones a chat request makes.
enum class metered_call : std::uint8_t {
  consume,     ///< try_consume
  reserve,     ///< reserve
  commit,      ///< commit
  release,     ///< release
  record,      ///< increment_usage
  quota_read,  ///< get_user_quota_info, and get_usage_stats and can_send_message through it
};
inline constexpr std::size_t metered_call_count = 6;
static_assert(metered_call_count == static_cast<std::size_t>(metered_call::quota_read) + 1,
              "metered_call_count sizes the per-call arrays: it must be one more than the last metered_call");

/// The short stable name of a call, e.g. "consume".
const char* to_string(metered_call c) noexcept;

/// Upper bounds, in seconds, of the latency histogram's buckets (the last
/// bucket, +Inf, is every call).
inline constexpr std::array<double, 14> latency_bounds{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                       0.025,  0.05,    0.1,    0.25,  0.5,    1.0,   2.5};

/// The counters of one metered call.
struct call_metrics {
  std::uint64_t calls = 0;   ///< calls that returned, answered or failed
  std::uint64_t failed = 0;  ///< of which returned an error
  double seconds = 0;        ///< time spent in them (steady clock)
  /// at_most[i]: calls that took at most latency_bounds[i] (cumulative).
  std::array<std::uint64_t, latency_bounds.size()> at_most{};
};

/// What a quota_service has counted. A denial is an answer, not a failure.
struct metrics_snapshot {
  std::uint64_t allowed = 0;         ///< try_consume / reserve answers that admitted the request
  std::uint64_t denied_daily = 0;    ///< ... that refused it on the daily message limit
  std::uint64_t denied_monthly = 0;  ///< ... on the monthly message limit
  std::uint64_t denied_tokens = 0;   ///< ... on the monthly token limit
  std::uint64_t replayed = 0;        ///< answers to a retried request_id (counted above too)
  /// Requests admitted in shadow mode that the limit would have refused, by
  /// limit (counted here only, not in allowed: allowed + shadow_denied_* is
  /// every admission).
  std::uint64_t shadow_denied_daily = 0;
  std::uint64_t shadow_denied_monthly = 0;
  std::uint64_t shadow_denied_tokens = 0;
  /// Denials answered from the denial cache, unaudited (counted in denied_*
  /// too).
  std::uint64_t cached_denials = 0;
  std::array<call_metrics, metered_call_count> calls{};  ///< indexed by metered_call
  /// errors[e]: metered calls that failed with errc e (index: its value).
  std::array<std::uint64_t, static_cast<std::size_t>(last_errc) + 1> errors{};

  const call_metrics& of(metered_call c) const noexcept { return calls[static_cast<std::size_t>(c)]; }
  std::uint64_t failures(errc e) const noexcept { return errors[static_cast<std::size_t>(e)]; }
};

/// `m` in the Prometheus text exposition format (version 0.0.4): the
/// counters kauri_quota_decisions_total{result, limit} (result "allowed",
/// "denied" or "shadow_denied"),
/// kauri_quota_replayed_total, kauri_quota_cached_denials_total, kauri_quota_failed_calls_total{call} and
/// kauri_quota_errors_total{code}, and the histogram
/// kauri_quota_call_duration_seconds{call}.
std::string to_prometheus(const metrics_snapshot& m);

}  // namespace kauri_quota
