// The gate's periodic job: settle the reservations that nobody committed or
// released within their TTL (a crashed gate's, for instance), forget the
// request_ids past their TTL and write the subscription transitions that
// fell due (a trial's end, past_due, expiry, a scheduled change), so that a
// deployment needs no cron job. The transitions are also written at a
// user's next operation; the sweep only makes the status and its audit row
// appear without one, and several sweepers write each exactly once.
//
// One thread; stop() (or the destructor) wakes it and joins it at once,
// even in the middle of an interval.
#pragma once

#include <kauri_quota/quota_service.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace kauri_gate {

class sweeper {
 public:
  /// `log` receives one line per run that settled or pruned something, or
  /// failed. The first run happens after one interval.
  sweeper(kauri_quota::quota_service& service, std::chrono::milliseconds interval,
          std::function<void(const std::string&)> log);
  ~sweeper();
  sweeper(const sweeper&) = delete;
  sweeper& operator=(const sweeper&) = delete;

  void stop();

  /// Totals since start, for /metrics.
  std::int64_t expired_total() const;
  std::int64_t pruned_total() const;
  std::int64_t transitions_total() const;
  std::int64_t failed_runs() const;

 private:
  void run();
  void sweep_once();

  kauri_quota::quota_service& service_;
  const std::chrono::milliseconds interval_;
  std::function<void(const std::string&)> log_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::int64_t expired_ = 0;
  std::int64_t pruned_ = 0;
  std::int64_t transitions_ = 0;
  std::int64_t failed_ = 0;
  std::thread thread_;
};

}  // namespace kauri_gate
