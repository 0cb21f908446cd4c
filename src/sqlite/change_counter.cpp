// The change feed of the SQLite backend: the one-row counter that the
// triggers of migration 0010 bump on every change that can turn a denial
// into an admission, whoever commits it.
//
// Exact: sync() reads the counter in the caller's thread before an answer
// is taken from memory, so a change committed before that read is always
// seen. The read is one prepared single-row SELECT on a pooled connection
// (microseconds, no write lock).
#include "sqlite/backend.hpp"

#include <atomic>
#include <limits>

namespace kauri_quota::detail::sqlite {
namespace {

constexpr const char* sql_change_counter = "SELECT value FROM kauri_quota_change_counter WHERE id = 1";

class counter_feed final : public change_feed {
 public:
  /// Reads the counter once: what is cached from now on was decided at or
  /// after this value.
  counter_feed(sqlite_storage& store, change_handler on_change) : store_(store), on_change_(std::move(on_change)) {
    if (auto v = store_.read_change_counter()) seen_.store(v.value(), std::memory_order_release);
  }

  bool sync() override {
    auto v = store_.read_change_counter();
    if (!v) return false;
    if (v.value() != seen_.load(std::memory_order_acquire)) {
      // Drop first, publish after: a thread that finds the new value
      // already seen knows that everything cached before it is gone. Two
      // threads racing here both drop; a stale value stored by the slower
      // one only costs one more drop later.
      on_change_(std::nullopt);
      seen_.store(v.value(), std::memory_order_release);
    }
    return true;
  }

 private:
  sqlite_storage& store_;
  change_handler on_change_;
  /// The counter as of the last drop; when the first read failed, no value
  /// the counter takes, so that the first sync drops.
  std::atomic<std::int64_t> seen_{std::numeric_limits<std::int64_t>::min()};
};

}  // namespace

result<std::int64_t> sqlite_storage::read_change_counter() {
  return run_ready([&](connection& c) -> result<std::int64_t> {
    sqlite3_stmt* st = c.raw(sql_change_counter);
    if (!step(c.handle(), st)) {
      sqlite3_reset(st);
      return make_error(errc::schema_mismatch, "kauri_quota_change_counter has no row; run `kauri-quota migrate`");
    }
    const std::int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return v;
  });
}

std::unique_ptr<change_feed> sqlite_storage::watch_changes(change_handler on_change) {
  return std::make_unique<counter_feed>(*this, std::move(on_change));
}

}  // namespace kauri_quota::detail::sqlite
