// The source of time for quota periods. Inject a manual_clock in tests to
// drive day and month rollovers deterministically.
#pragma once

#include <kauri_quota/types.hpp>

#include <atomic>
#include <memory>

namespace kauri_quota {

/// A source of the current UTC instant. Implementations must be thread-safe.
class clock {
 public:
  virtual ~clock() = default;
  virtual sys_time now() const = 0;
};

/// The system clock (std::chrono::system_clock, truncated to microseconds).
std::shared_ptr<const clock> system_clock();

/// A clock that stands still until told to move; thread-safe. It may be
/// set backwards, as a real clock stepped by NTP can be.
class manual_clock final : public clock {
 public:
  explicit manual_clock(sys_time start) : us_(start.time_since_epoch().count()) {}
  sys_time now() const override { return sys_time{std::chrono::microseconds{us_.load()}}; }
  void set(sys_time t) { us_.store(t.time_since_epoch().count()); }
  void advance(std::chrono::microseconds d) { us_.fetch_add(d.count()); }

 private:
  std::atomic<std::int64_t> us_;
};

}  // namespace kauri_quota
