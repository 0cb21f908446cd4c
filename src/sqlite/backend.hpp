// The SQLite storage class (internal), shared by the files of this folder:
// connection.* (connections, statements, transactions), rows.* (decoding),
// state.cpp (the row-level reads and writes the operations are made of),
// migrate.cpp (the migration hooks), sqlite_storage.cpp (the operations) and
// change_counter.cpp (the change feed of the denial cache).
//
// WAL, busy_timeout, BEGIN IMMEDIATE for every write, synchronous FULL by
// default. Each storage operation is one transaction on one pooled
// connection; SQLiteCpp exceptions are caught by run() and turned into
// error results. Safe to use from many threads: each call holds its own
// connection.
#pragma once

#include "core/batcher.hpp"
#include "core/connection_pool.hpp"
#include "core/migration_runner.hpp"
#include "core/migrations.hpp"
#include "sqlite/connection.hpp"

#include <kauri_quota/storage.hpp>

#include <fmt/format.h>

#include <atomic>
#include <functional>
#include <memory>
#include <new>
#include <optional>
#include <string>

namespace kauri_quota::detail::sqlite {

/// The version recorded in kauri_quota_migrations (0 without the table).
int read_schema_version(connection& c);

class sqlite_storage final : public storage {
 public:
  static result<std::unique_ptr<storage>> open(const sqlite_options& opts);

  std::string_view backend() const noexcept override { return "sqlite"; }

  result<int> schema_version() override;
  result<std::vector<migration_info>> migrations() override;
  result<migrate_report> migrate(const migrate_options& opts) override;

  result<std::vector<tier>> tiers(bool visible_only) override;
  result<tier> get_tier(const tier_id& id) override;
  result<tier> update_tier(const tier_update& update, sys_time now) override;

  result<subscription> create_user(const new_user& user) override;
  result<subscription> get_subscription(const user_id& user) override;
  result<subscription> set_subscription(const subscription_change& change) override;

  result<lifecycle_outcome> change_lifecycle(const lifecycle_request& req) override;
  result<payment> get_payment(const std::string& provider, const std::string& transaction_id) override;
  result<std::vector<payment>> payments(const user_id& user) override;
  result<std::vector<user_id>> due_subscriptions(sys_time now, std::chrono::seconds grace_period,
                                                 const std::optional<user_id>& after, std::int64_t limit) override;
  result<std::vector<day_usage>> usage_days(const user_id& user, local_date from, local_date to) override;

  result<usage_snapshot> snapshot(const user_id& user, local_date day, sys_time now, const tier_id& default_tier,
                                  std::chrono::seconds grace_period) override;
  result<consume_outcome> consume(const consume_request& req) override;
  result<record_outcome> record(const record_request& req) override;
  result<settle_outcome> settle(const settle_request& req) override;
  result<reservation> get_reservation(const reservation_id& id) override;
  result<std::int64_t> expire_reservations(sys_time now) override;
  result<std::int64_t> prune_request_ids(sys_time before) override;
  result<prune_report> prune_usage(const prune_request& req) override;
  result<std::int64_t> reset(const reset_request& req) override;

  result<std::int64_t> append_event(const usage_event& event) override;
  result<std::vector<usage_event>> events(const event_query& query) override;

  batch_stats write_batches() const override { return batch_ ? batch_->stats() : batch_stats{}; }

  /// The change counter feed (change_counter.cpp).
  std::unique_ptr<change_feed> watch_changes(change_handler on_change) override;
  /// The value of kauri_quota_change_counter (migration 0010).
  result<std::int64_t> read_change_counter();

 private:
  explicit sqlite_storage(sqlite_options opts) : opts_(std::move(opts)) {}

  result<std::unique_ptr<connection>> new_connection() const;

  /// Runs `f(connection&)` and turns every exception into an error.
  template <class F>
  auto run(F&& f) -> decltype(f(std::declval<connection&>())) {
    try {
      // A free connection is awaited no longer than a lock would be.
      auto c = pool_->acquire([&] { return new_connection(); }, opts_.busy_timeout);
      if (!c) return c.error();
      try {
        return f(*c.value());
      } catch (...) {
        c.value()->rollback_if_open();
        throw;
      }
    } catch (const SQLite::Exception& e) {
      return from_sqlite(e);
    } catch (const std::bad_alloc&) {
      return make_error(errc::internal, "out of memory");
    } catch (const std::exception& e) {
      return make_error(errc::internal, fmt::format("unexpected failure: {}", e.what()));
    } catch (...) {
      return make_error(errc::internal, "unexpected failure");
    }
  }

  /// Like run(), after checking that the schema is the one this library
  /// knows (schema_mismatch otherwise).
  template <class F>
  auto run_ready(F&& f) -> decltype(f(std::declval<connection&>())) {
    return run([&](connection& c) -> decltype(f(c)) {
      if (ready_.load(std::memory_order_acquire) == false) {
        const int v = read_schema_version(c);
        if (auto e = version_error(v, static_cast<int>(sqlite_migrations().size()))) return *e;
        ready_.store(true, std::memory_order_release);
      }
      return f(c);
    });
  }

  // Writes and group commit -------------------------------------------------

  /// One caller's write waiting in the batcher. run() executes it inside
  /// the open write transaction and keeps its result, saying whether it
  /// succeeded (an error result or an exception means: undo its changes);
  /// fail() replaces the result with an error when the shared transaction
  /// does not commit after all.
  struct write_item {
    std::function<bool(connection&)> run;
    std::function<void(const error&)> fail;
  };

  /// Runs `op(connection&)` (which returns result<T>) in a write
  /// transaction: its own when batching is off, else the group commit's.
  /// Commits when op succeeds, rolls its changes back when it fails.
  template <class T, class Op>
  result<T> write(Op&& op) {
    if (!batch_)
      return run_ready([&](connection& c) -> result<T> {
        txn tx(c, true);
        result<T> r = op(c);
        if (r) tx.commit();
        return r;
      });
    std::optional<result<T>> out;
    write_item item{[&](connection& c) {
                      out.emplace(op(c));
                      return out->has_value();
                    },
                    [&](const error& e) { out.emplace(e); }};
    // A caller waits for a batch no longer than it would for a connection.
    if (!batch_->submit(
            item, [this](const std::vector<write_item*>& items) { run_write_batch(items); },
            std::chrono::steady_clock::now() + opts_.busy_timeout))
      return batch_wait_error(1);
    return std::move(*out);
  }

  /// The leader's work: the items in one BEGIN IMMEDIATE transaction, each
  /// inside its own SAVEPOINT (a lone item without one), then one COMMIT.
  void run_write_batch(const std::vector<write_item*>& items) noexcept;

  result<consume_outcome> consume_in(connection& c, const consume_request& req);
  result<record_outcome> record_in(connection& c, const record_request& req);
  result<settle_outcome> settle_in(connection& c, const settle_request& req);

  // Operations used inside transactions ------------------------------------
  /// Subscription, applied tier and counters of `day` in one statement.
  result<usage_snapshot> load_state(connection& c, const user_id& user, local_date day, sys_time now,
                                    const tier_id& default_tier, bool* day_row_exists = nullptr);
  result<void> apply_default_tier(connection& c, usage_snapshot& snap, bool tier_found, sys_time now,
                                  const tier_id& default_tier);
  /// Counters of `day`; month totals from the latest row of its month.
  usage load_counters(connection& c, const user_id& user, local_date day, bool* day_row_exists = nullptr);
  /// Adds a delta to `day` and the month-to-date totals from `day` on.
  /// Pass day_row_exists = true only when the row is known to exist.
  void apply_delta(connection& c, const user_id& user, local_date day, std::int64_t messages, std::int64_t tokens,
                   sys_time now, bool day_row_exists = false);
  /// Counts a request: `before` plus (messages, tokens), written with
  /// apply_delta; invalid_argument, before any write, when a month counter
  /// would pass 10^12.
  result<usage> count_usage(connection& c, const user_id& user, local_date day, const usage& before,
                            std::int64_t messages, std::int64_t tokens, sys_time now, bool day_row_exists);
  std::int64_t insert_event(connection& c, const usage_event& e, const std::optional<request_id>& rid);
  /// Resets the users whose ids lie in [from, upto], in the caller's write
  /// transaction; returns the users reset.
  std::int64_t reset_users(connection& c, const reset_request& req, const std::string& from, const std::string& upto);
  void audit_warnings(connection& c, const usage_snapshot& before, const usage& after, double threshold, sys_time now,
                      local_date day);

  // Lifecycle (lifecycle.cpp) -----------------------------------------------
  result<subscription> load_subscription(connection& c, const user_id& user);
  /// The day of `now` in the user's own zone, else `service_day`.
  static local_date user_day(const subscription& s, sys_time now, local_date service_day);
  std::optional<payment> find_payment(connection& c, const std::string& provider, const std::string& transaction_id);
  /// Zeroes the month of `day` of the users whose ids lie in [from, upto]
  /// and whose zone is `tz`, audited as one monthly_reset row per day row;
  /// returns those users, in id order.
  std::vector<std::string> zero_month(connection& c, const std::string& from, const std::string& upto,
                                      const std::optional<std::string>& tz, local_date day, sys_time now);
  /// One lifecycle change inside the caller's write transaction.
  result<lifecycle_outcome> lifecycle_in(connection& c, const lifecycle_request& req);
  /// Writes the transitions due for `user` at `now` inside the caller's
  /// write transaction, and returns the user's day (its own zone's, else
  /// `day`). unknown_user.
  result<local_date> settle_due(connection& c, const user_id& user, sys_time now, local_date day,
                                const tier_id& default_tier, std::chrono::seconds grace_period,
                                const request_context& ctx);

  struct stored_key {
    std::string operation, fingerprint;
    bool allowed = false;
    limit_kind denied_by = limit_kind::none;
    std::optional<reservation_id> reservation;
  };
  std::optional<stored_key> find_key(connection& c, const user_id& u, const request_id& r);
  void put_key(connection& c, const user_id& u, const request_id& r, const stored_key& k, local_date day, sys_time now);

  sqlite_options opts_;
  std::string path_;
  int flags_ = 0;
  std::unique_ptr<detail::connection_pool<connection>> pool_;
  /// Group commit of the writes; empty when batch_options::enabled is off.
  std::unique_ptr<detail::batcher<write_item>> batch_;
  std::atomic<bool> ready_{false};
};

}  // namespace kauri_quota::detail::sqlite
