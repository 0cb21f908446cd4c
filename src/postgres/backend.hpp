// The PostgreSQL storage class (internal), shared by the files of this
// folder: connection.cpp (open, the pool, retries), rows.* (decoding),
// errors in describe(), migrate.cpp and adopt_alembic.cpp (the migration
// hooks), postgres_storage.cpp (the operations) and listener.cpp (the change
// feed of the denial cache).
//
// Every operation is one call of a prepared statement, most of them
// server-side functions installed by the migrations, so each costs one
// network round trip and runs as one transaction. Connections come from a
// pool; serialization failures, deadlocks and lost connections are retried
// (bounded, with jitter). Writes are always keyed (the caller's request_id,
// or one the library makes), so a retry after a commit whose
// acknowledgement was lost returns the original outcome instead of
// counting twice. Safe to use from many threads.
#pragma once

#include "core/batcher.hpp"
#include "core/connection_pool.hpp"
#include "core/migration_runner.hpp"
#include "core/migrations.hpp"
#include "postgres/pq.hpp"
#include "postgres/rows.hpp"

#include <kauri_quota/storage.hpp>

#include <fmt/format.h>

#include <atomic>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace kauri_quota::detail::postgres {

template <class T>
using attempt = std::variant<T, failure>;

/// Rewrites the message of a KQ-class error into the library's words;
/// `subject` is the user or reservation the call was about.
error describe(const failure& f, std::string_view subject);
failure as_failure(error e);

/// Runs `f()` and turns every exception into an internal error: the one
/// exception barrier of this backend.
template <class F>
auto exception_barrier(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const std::bad_alloc&) {
    return make_error(errc::internal, "out of memory");
  } catch (const std::exception& e) {
    return make_error(errc::internal, fmt::format("unexpected failure: {}", e.what()));
  } catch (...) {
    return make_error(errc::internal, "unexpected failure");
  }
}

/// The version recorded in kauri_quota_migrations (0 without the table).
attempt<int> read_schema_version(pq::connection& c);
/// schema_mismatch for function states a library must not run on
/// (function_set.cpp).
std::optional<error> function_state_error(const function_set_info& info);

/// Records 0001-0004 as applied on a database created by the original
/// system's Alembic migrations; true when it did (adopt_alembic.cpp).
attempt<bool> adopt_alembic(pq::connection& c);

class postgres_storage final : public storage {
 public:
  static result<std::unique_ptr<storage>> open(const postgres_options& opts);

  std::string_view backend() const noexcept override { return "postgresql"; }

  result<int> schema_version() override;
  result<std::vector<migration_info>> migrations() override;
  result<migrate_report> migrate(const migrate_options& opts) override;
  result<function_set_info> server_functions() override;

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

  /// The LISTEN connection and its thread (listener.cpp).
  std::unique_ptr<change_feed> watch_changes(change_handler on_change) override;

 private:
  using connection = pq::connection;
  explicit postgres_storage(postgres_options opts) : opts_(std::move(opts)) {}

  result<connection_pool<connection>::lease> acquire();

  /// Runs `f(connection&)`, retrying serialization failures, deadlocks and
  /// lost connections. After a lost connection whose request may have
  /// reached the server, it retries only when `safe_to_repeat` (the call is
  /// keyed or read-only); otherwise the outcome is unknown and reported.
  /// Every operation goes through run() (migrate() through
  /// exception_barrier), so no exception leaves the storage.
  /// `previous`, when not null, is the failure of a first attempt already
  /// made (a batched one): it counts as attempt 0, retried by the same
  /// rules (it is moved from).
  template <class T, class F>
  result<T> run(bool safe_to_repeat, F&& f, failure* previous = nullptr);
  template <class T, class F>
  result<T> run_attempts(bool safe_to_repeat, F& f, failure* previous);
  template <class T, class F>
  result<T> run_ready(bool safe_to_repeat, F&& f, failure* previous = nullptr);

  void backoff(int attempt_no);

  /// What the hot path needs to write a transition it found due.
  struct due_request {
    sys_time now{};
    local_date day{};
    tier_id default_tier;
    std::chrono::seconds grace_period{0};
  };
  /// Runs op(due_user), an operation whose server function reports a due
  /// lifecycle transition as KQ008 (op stores the user from its DETAIL in
  /// due_user, see note_due) and changes nothing then: writes the
  /// transition (change_lifecycle, apply_due) and runs op once more. A
  /// transition falls due once per boundary, so the usual call stays one
  /// round trip. `known_due` is the user of a KQ008 an earlier attempt
  /// already met: the transition is written first, without running op to
  /// meet it again.
  template <class T, class Op>
  result<T> with_due_retry(const due_request& due, Op&& op, std::optional<std::string> known_due = {});

  // Batched calls ------------------------------------------------------------

  /// One caller's write waiting in the batcher: the statement to run and,
  /// once its batch ran, the answer (empty when the batch could not run it:
  /// then the caller runs it the usual way).
  struct batch_item {
    const char* name;
    const char* sql;
    const params* values;
    std::optional<std::variant<outcome_row, failure>> answer;
  };
  /// The first attempt of a write through the batcher: concurrent callers'
  /// statements travel together, in one pipeline on one connection (each
  /// its own implicit transaction, so one failing fails alone). Empty when
  /// batching is off or the batch could not run it.
  std::optional<std::variant<outcome_row, failure>> batched(const char* name, const char* sql, const params& p);
  /// A keyed write: its first attempt through the batcher, then, unless
  /// that settled it, the usual path (retries, a due transition). `answer`
  /// turns a statement's result into the call's (it may use the connection,
  /// which is null for the batched attempt, to recover an in-doubt retry).
  template <class T, class Answer>
  result<T> write(const due_request& due, const char* name, const char* sql, params& p, Answer& answer);
  /// The leader's work: one connection, one round trip for the batch.
  void run_batch(const std::vector<batch_item*>& items) noexcept;
  /// True when a first attempt's failure is the call's final answer: the
  /// server refused it for a reason a retry would not change. A lost
  /// connection, a serialization failure or deadlock, and a due transition
  /// (KQ008) go on to the usual path, which retries them by its rules.
  static bool final_failure(const failure& f) noexcept;

  postgres_options opts_;
  pq::connect_options conn_opts_;
  std::string password_;
  std::unique_ptr<connection_pool<connection>> pool_;
  /// Batched calls of the writes; empty when batch_options::enabled is off.
  std::unique_ptr<batcher<batch_item>> batch_;
  std::atomic<bool> ready_{false};
};

/// A serialization failure or a deadlock: retried, since the server
/// changed nothing.
inline bool serialization_conflict(const failure& f) { return f.sqlstate == "40001" || f.sqlstate == "40P01"; }

/// Stores the user of a KQ008 failure (a due transition) in `due_user`.
inline void note_due(const failure& f, std::optional<std::string>& due_user) {
  if (f.sqlstate == "KQ008" && !f.detail.empty()) due_user = f.detail;
}

template <class T, class Op>
result<T> postgres_storage::with_due_retry(const due_request& due, Op&& op, std::optional<std::string> known_due) {
  std::optional<std::string> due_user = std::move(known_due);
  if (!due_user) {
    result<T> r = op(due_user);
    if (r || !due_user) return r;
  }
  lifecycle_request lr;
  lr.kind = lifecycle_kind::apply_due;
  lr.user = user_id{*due_user};
  lr.now = due.now;
  lr.day = due.day;
  lr.default_tier = due.default_tier;
  lr.grace_period = due.grace_period;
  auto applied = change_lifecycle(lr);
  if (!applied) return applied.error();
  due_user.reset();
  return op(due_user);
}

template <class T, class Answer>
result<T> postgres_storage::write(const due_request& due, const char* name, const char* sql, params& p,
                                  Answer& answer) {
  // A lost connection or a conflict of the batched attempt is the usual
  // path's attempt 0; a due transition (KQ008) it met is written, and the
  // call run once more.
  std::optional<failure> previous;
  std::optional<std::string> first_due;
  if (auto first = batched(name, sql, p)) {
    attempt<T> a = answer(*first, first_due, nullptr);
    if (auto* v = std::get_if<T>(&a)) return std::move(*v);
    failure& f = std::get<failure>(a);
    if (final_failure(f)) return std::move(f.err);
    if (!first_due) previous = std::move(f);
  }
  failure* pending = previous ? &*previous : nullptr;
  return with_due_retry<T>(
      due,
      [&](std::optional<std::string>& due_user) {
        return run_ready<T>(
            true,
            [&](connection& c) -> attempt<T> {
              auto r = exec_outcome(c, name, sql, p);
              return answer(r, due_user, &c);
            },
            std::exchange(pending, nullptr));
      },
      std::move(first_due));
}

template <class T, class F>
result<T> postgres_storage::run(bool safe_to_repeat, F&& f, failure* previous) {
  return exception_barrier([&]() -> result<T> { return run_attempts<T>(safe_to_repeat, f, previous); });
}

template <class T, class F>
result<T> postgres_storage::run_attempts(bool safe_to_repeat, F& f, failure* previous) {
  for (int attempt_no = 0;; ++attempt_no) {
    std::optional<attempt<T>> r;
    if (previous) {
      r.emplace(std::move(*previous));
      previous = nullptr;
    } else {
      auto c = acquire();
      if (!c) {
        // A pool that stayed exhausted for the whole wait is answered at
        // once: retrying would multiply the bound the wait just enforced.
        if (c.error().is(errc::storage_busy) || attempt_no >= opts_.max_retries) return c.error();
        backoff(attempt_no);
        continue;
      }
      r.emplace(f(*c.value()));
    }
    if (auto* v = std::get_if<T>(&*r)) return std::move(*v);
    failure& fl = std::get<failure>(*r);
    const bool conflict = serialization_conflict(fl);
    const bool retryable = conflict || (fl.connection_lost && (!fl.sent || safe_to_repeat));
    if (!retryable) {
      if (fl.connection_lost && fl.sent)
        return make_error(errc::storage_unavailable,
                          fmt::format("{}; the operation may or may not have been applied", fl.err.message));
      return std::move(fl.err);
    }
    if (attempt_no >= opts_.max_retries) {
      if (conflict)
        return make_error(errc::conflict, fmt::format("gave up after {} retries: {}", attempt_no, fl.err.message));
      return std::move(fl.err);
    }
    backoff(attempt_no);
  }
}

template <class T, class F>
result<T> postgres_storage::run_ready(bool safe_to_repeat, F&& f, failure* previous) {
  if (!ready_.load(std::memory_order_acquire)) {
    auto v = run<int>(true, [&](connection& c) { return read_schema_version(c); });
    if (!v) return v.error();
    if (auto e = version_error(v.value(), static_cast<int>(postgres_migrations().size()))) return *e;
    // Once per storage: the server functions must be ones this library
    // can call (function_set.hpp).
    auto fs = server_functions();
    if (!fs) return fs.error();
    if (auto e = function_state_error(fs.value())) return *e;
    ready_.store(true, std::memory_order_release);
  }
  return run<T>(safe_to_repeat, std::forward<F>(f), previous);
}

}  // namespace kauri_quota::detail::postgres
