#include "sweeper.hpp"

namespace kauri_gate {

sweeper::sweeper(kauri_quota::quota_service& service, std::chrono::milliseconds interval,
                 std::function<void(const std::string&)> log)
    : service_(service), interval_(interval), log_(std::move(log)), thread_([this] { run(); }) {}

sweeper::~sweeper() { stop(); }

void sweeper::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void sweeper::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    if (wake_.wait_for(lock, interval_, [this] { return stopping_; })) return;
    lock.unlock();
    sweep_once();
    lock.lock();
  }
}

void sweeper::sweep_once() {
  auto expired = service_.expire_reservations();
  auto pruned = service_.prune_request_ids();
  auto moved = service_.sweep_subscriptions();
  std::lock_guard lock(mutex_);
  if (expired) expired_ += expired.value();
  if (pruned) pruned_ += pruned.value();
  if (moved) transitions_ += moved.value();
  if (!expired || !pruned || !moved) ++failed_;
  if (!log_) return;
  if (!expired) log_("sweep: expire_reservations failed: " + expired.error().message);
  if (!pruned) log_("sweep: prune_request_ids failed: " + pruned.error().message);
  if (!moved) log_("sweep: sweep_subscriptions failed: " + moved.error().message);
  if (moved && moved.value() > 0) log_("sweep: wrote " + std::to_string(moved.value()) + " subscription transition(s)");
  if ((expired && expired.value() > 0) || (pruned && pruned.value() > 0))
    log_("sweep: settled " + std::to_string(expired ? expired.value() : 0) + " expired reservation(s), forgot " +
         std::to_string(pruned ? pruned.value() : 0) + " request id(s)");
}

std::int64_t sweeper::expired_total() const {
  std::lock_guard lock(mutex_);
  return expired_;
}
std::int64_t sweeper::pruned_total() const {
  std::lock_guard lock(mutex_);
  return pruned_;
}
std::int64_t sweeper::transitions_total() const {
  std::lock_guard lock(mutex_);
  return transitions_;
}
std::int64_t sweeper::failed_runs() const {
  std::lock_guard lock(mutex_);
  return failed_;
}

}  // namespace kauri_gate
