// Group commit (internal), used by both backends: concurrent callers queue
// their writes, and one of them, the leader, runs the queued writes of
// several callers together (in one transaction, or one batched call) while
// the others wait for it to finish their part.
//
// The leader is simply the caller at the front of the queue when a batch
// slot is free, so a lone caller leads its own batch of one at once and
// pays only a mutex. While a batch runs, newcomers queue; when it ends, the
// caller then at the front leads them all (up to max_size) in the next one.
// So batches grow with the load by themselves, without anyone waiting on a
// timer; max_wait adds an optional, bounded wait for company (see
// batch_options).
//
// Thread-safe. The items live on their callers' stacks: a caller returns
// from submit() only after its item was run by whoever led its batch.
#pragma once

#include <kauri_quota/open.hpp>
#include <kauri_quota/result.hpp>
#include <kauri_quota/storage.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

namespace kauri_quota::detail {

/// invalid_argument for batch options out of range (see batch_options).
inline result<void> validate_batch_options(const batch_options& b) {
  if (b.max_size < 1 || b.max_size > 1024)
    return make_error(errc::invalid_argument, "batch.max_size must be between 1 and 1024");
  if (b.max_wait.count() < 0 || b.max_wait > std::chrono::milliseconds{10})
    return make_error(errc::invalid_argument, "batch.max_wait must be between 0 and 10 ms");
  return kauri_quota::ok();
}

/// The answer to a write that waited for a batch slot until its deadline.
inline error batch_wait_error(int slots) {
  return make_error(errc::storage_busy, "no database connection became free in time for this write (the " +
                                            std::to_string(slots) +
                                            " in use were running other callers' writes); raise the timeout" +
                                            (slots > 1 ? " or pool_size" : ""));
}

template <class Item>
class batcher {
 public:
  /// At most `max_in_flight` batches run at once (1 for SQLite's single
  /// writer, the pool size for PostgreSQL), each of at most
  /// opts.max_size items.
  batcher(const batch_options& opts, int max_in_flight)
      : max_size_(static_cast<std::size_t>(std::max(opts.max_size, 1))),
        max_wait_(opts.max_wait),
        max_in_flight_(std::max(max_in_flight, 1)) {}
  batcher(const batcher&) = delete;
  batcher& operator=(const batcher&) = delete;

  using clock_type = std::chrono::steady_clock;

  /// Queues `item` and returns true once it has been run: either by this
  /// thread, which then leads a batch and calls
  /// run_batch(const std::vector<Item*>&) with the items of that batch (its
  /// own first), or by another thread's batch. run_batch must complete
  /// every item it is given and must not throw. Returns false, without
  /// running the item, when no batch took it by `deadline` (every batch
  /// slot stayed busy): a wait in the queue is bounded like a wait for a
  /// pooled connection.
  template <class RunBatch>
  bool submit(Item& item, RunBatch&& run_batch, clock_type::time_point deadline = clock_type::time_point::max()) {
    node self{&item, deadline};
    std::unique_lock lock(mutex_);
    queue_.push_back(&self);
    // A leader waiting for company is at the front: tell it someone came.
    if (queue_.front() != &self) queue_.front()->cv.notify_one();
    for (;;) {
      if (self.done) return true;
      if (!self.taken && deadline != clock_type::time_point::max() && clock_type::now() >= deadline) {
        queue_.erase(std::find(queue_.begin(), queue_.end(), &self));
        if (!queue_.empty()) queue_.front()->cv.notify_one();
        return false;
      }
      if (!self.taken && queue_.front() == &self && in_flight_ < max_in_flight_) break;
      if (self.taken || deadline == clock_type::time_point::max())
        self.cv.wait(lock);
      else
        self.cv.wait_until(lock, deadline);
    }

    ++in_flight_;
    // Company is expected when the previous batch had several callers: they
    // were all woken by its end and are on their way back. Wait (at most
    // max_wait) until as many have queued as that batch held.
    const std::size_t expected = std::min(last_size_, max_size_);
    if (max_wait_.count() > 0 && queue_.size() < expected) {
      const auto until = clock_type::now() + max_wait_;
      self.cv.wait_until(lock, until, [&] { return queue_.size() >= expected; });
    }
    // Everyone queued, in order, up to max_size; but not a caller whose
    // deadline has passed: it is about to give up on its own, and taking it
    // would make it wait for this batch too.
    std::vector<node*> nodes;
    const auto now = clock_type::now();
    for (auto it = queue_.begin(); it != queue_.end() && nodes.size() < max_size_;) {
      if (*it != &self && (*it)->deadline <= now) {
        ++it;
        continue;
      }
      (*it)->taken = true;
      nodes.push_back(*it);
      it = queue_.erase(it);
    }
    const std::size_t n = nodes.size();
    last_size_ = n;
    ++stats_.batches;
    stats_.requests += n;
    stats_.largest = std::max<std::uint64_t>(stats_.largest, n);
    // Another batch may start on the rest while this one runs.
    if (!queue_.empty() && in_flight_ < max_in_flight_) queue_.front()->cv.notify_one();
    lock.unlock();

    std::vector<Item*> items;
    items.reserve(n);
    for (node* p : nodes) items.push_back(p->item);
    run_batch(items);

    lock.lock();
    --in_flight_;
    for (node* p : nodes) {
      if (p == &self) continue;
      p->done = true;
      p->cv.notify_one();
    }
    if (!queue_.empty()) queue_.front()->cv.notify_one();
    return true;
  }

  /// The batches formed so far.
  batch_stats stats() const {
    std::lock_guard lock(mutex_);
    return stats_;
  }

 private:
  struct node {
    node(Item* i, clock_type::time_point d) : item(i), deadline(d) {}
    Item* item;
    clock_type::time_point deadline;
    bool taken = false;  ///< in a batch: it will be run, whatever the deadline
    bool done = false;
    std::condition_variable cv;
  };

  const std::size_t max_size_;
  const std::chrono::microseconds max_wait_;
  const int max_in_flight_;
  mutable std::mutex mutex_;
  std::deque<node*> queue_;
  batch_stats stats_;
  int in_flight_ = 0;
  std::size_t last_size_ = 1;
};

}  // namespace kauri_quota::detail
