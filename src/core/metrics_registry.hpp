// The counters behind quota_service::metrics(): relaxed atomics, so that
// counting never makes one call wait for another.
#pragma once

#include <kauri_quota/metrics.hpp>
#include <kauri_quota/types.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>

namespace kauri_quota::detail {

class metrics_registry {
 public:
  /// One metered call returned after `took`; `failure` is its error, if any.
  void observe(metered_call c, std::chrono::steady_clock::duration took, const error* failure) noexcept;
  /// A try_consume / reserve answer.
  void decided(const decision& d) noexcept;
  metrics_snapshot snapshot() const noexcept;

 private:
  using counter = std::atomic<std::uint64_t>;
  struct call_cells {
    counter calls{0};
    counter failed{0};
    counter nanoseconds{0};
    std::array<counter, latency_bounds.size()> within{};  ///< per bucket, not cumulative
  };
  std::array<call_cells, metered_call_count> calls_{};
  counter allowed_{0};
  counter denied_daily_{0};
  counter denied_monthly_{0};
  counter denied_tokens_{0};
  counter replayed_{0};
  counter shadow_daily_{0};
  counter shadow_monthly_{0};
  counter shadow_tokens_{0};
  counter cached_{0};
  std::array<counter, static_cast<std::size_t>(last_errc) + 1> errors_{};
};

}  // namespace kauri_quota::detail
