// A bounded pool of database connections shared by threads (internal),
// used by both backends. A caller leases a connection for one operation;
// the lease gives it back, or closes it when it may not be reused.
#pragma once

#include <kauri_quota/result.hpp>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace kauri_quota::detail {

template <class Conn>
class connection_pool {
 public:
  /// At most `max_size` connections open at once; `reusable` (optional)
  /// says whether a returned connection may serve again.
  explicit connection_pool(int max_size, std::function<bool(const Conn&)> reusable = {})
      : max_size_(max_size), reusable_(std::move(reusable)) {}
  connection_pool(const connection_pool&) = delete;
  connection_pool& operator=(const connection_pool&) = delete;

  class lease {
   public:
    lease(connection_pool& p, std::unique_ptr<Conn> c) : p_(&p), c_(std::move(c)) {}
    lease(lease&& o) noexcept : p_(o.p_), c_(std::move(o.c_)) {}
    lease(const lease&) = delete;
    lease& operator=(const lease&) = delete;
    lease& operator=(lease&&) = delete;
    ~lease() {
      if (c_) p_->give_back(std::move(c_));
    }
    Conn& operator*() const noexcept { return *c_; }
    Conn* operator->() const noexcept { return c_.get(); }

   private:
    connection_pool* p_;
    std::unique_ptr<Conn> c_;
  };

  using clock_type = std::chrono::steady_clock;

  /// An idle connection, else a new one from `make()` (which returns
  /// result<std::unique_ptr<Conn>>) while fewer than max_size are open;
  /// otherwise waits for one to come back, until `deadline`: then
  /// storage_busy, so that a caller's wait for a connection is bounded like
  /// its other waits. (Opening a connection with `make` is bounded by the
  /// backend's own connect timeout, not by `deadline`.)
  template <class Make>
  result<lease> acquire(Make&& make, clock_type::time_point deadline) {
    std::unique_lock lock(mutex_);
    const auto ready = [&] { return !idle_.empty() || open_ < max_size_; };
    if (deadline == clock_type::time_point::max()) {
      cv_.wait(lock, ready);
    } else if (!cv_.wait_until(lock, deadline, ready)) {
      return make_error(errc::storage_busy, "no database connection became free in time (all " +
                                                std::to_string(max_size_) +
                                                " are in use); raise pool_size or the timeout");
    }
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      return lease(*this, std::move(c));
    }
    ++open_;
    lock.unlock();
    result<std::unique_ptr<Conn>> made = make();
    if (!made) {
      lock.lock();
      --open_;
      cv_.notify_one();
      return made.error();
    }
    return lease(*this, std::move(made).value());
  }

  /// As above, waiting at most `timeout` for a connection to come back.
  template <class Make>
  result<lease> acquire(Make&& make, std::chrono::milliseconds timeout) {
    return acquire(std::forward<Make>(make), clock_type::now() + timeout);
  }

  /// As above, without a deadline: waits as long as every connection is
  /// leased. Kept for callers that bound the wait themselves.
  template <class Make>
  result<lease> acquire(Make&& make) {
    return acquire(std::forward<Make>(make), clock_type::time_point::max());
  }

  /// Adds a connection opened outside acquire() (the first one, at open).
  void adopt(std::unique_ptr<Conn> c) {
    std::lock_guard lock(mutex_);
    ++open_;
    idle_.push_back(std::move(c));
  }

 private:
  void give_back(std::unique_ptr<Conn> c) {
    {
      std::lock_guard lock(mutex_);
      if (reusable_ && !reusable_(*c)) {
        --open_;  // closed when `c` goes; the next acquire opens another
      } else {
        idle_.push_back(std::move(c));
      }
    }
    cv_.notify_one();
  }

  const int max_size_;
  std::function<bool(const Conn&)> reusable_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Conn>> idle_;
  int open_ = 0;
};

}  // namespace kauri_quota::detail
