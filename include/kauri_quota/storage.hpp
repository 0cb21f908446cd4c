// The storage interface: operation-level, one atomic transaction per call.
//
// A storage owns its connections and is safe to use from many threads at
// once; the backends also stay exact when many processes (SQLite: on one
// host; PostgreSQL: anywhere) share one database. Most hosts use it only
// through quota_service; tests and tools may call it directly. To open one,
// see open.hpp (included below for the hosts that took it from here).
//
// Errors. Every call is one transaction, and an error result means that
// nothing was changed, with one exception: a lost acknowledgement. When
// storage_unavailable follows a connection lost after the request was sent,
// or io_error follows a failed sync, the outcome is unknown: the change may
// or may not be durable. Retry with the same request_id (request_context::
// id): a retry of a request that landed returns its first outcome
// (replayed) instead of counting it twice.
//
// Besides the codes each call lists, any call may fail with the storage
// errors: storage_unavailable (cannot reach or open the database, or the
// connection was lost), storage_busy (a lock wait exceeded the busy
// timeout), conflict (serialization retries exhausted), io_error, corrupt,
// schema_mismatch (the schema is not the one this library expects) and
// internal (a bug).
#pragma once

#include <kauri_quota/open.hpp>
#include <kauri_quota/result.hpp>
#include <kauri_quota/storage_requests.hpp>
#include <kauri_quota/types.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kauri_quota {

/// One embedded migration. Versions 1-4 are the original system's four
/// migrations; later ones are the library's additions.
struct migration_info {
  int version = 0;
  std::string name;
  std::optional<sys_time> applied_at;  ///< empty when not applied
};

/// Progress of a long migration step (the backfill of an existing users
/// table), reported after every batch.
struct migration_progress {
  int version = 0;
  std::string step;
  std::int64_t done = 0;
  std::int64_t total = 0;
};

struct migrate_options {
  /// Target version; empty means the newest. A lower version than the
  /// current one rolls migrations back, newest first.
  std::optional<int> to;
  /// Rows updated per transaction by backfills.
  std::int64_t batch_size = 1000;
  /// Called after each batch of a backfill; may be empty.
  std::function<void(const migration_progress&)> progress;
};

/// What migrate() did.
struct migrate_report {
  int from_version = 0;
  int to_version = 0;
  std::vector<int> applied;   ///< versions applied, in order
  std::vector<int> reverted;  ///< versions rolled back, in order
  bool adopted = false;       ///< an original (Alembic) database was recognised
};

/// How the server-side functions of a database (PostgreSQL) compare with
/// the set this library embeds. SQLite has none: `none`.
enum class function_state {
  none,     ///< the backend has no server-side functions
  current,  ///< the set this library embeds, unaltered
  stale,    ///< an older set, or this version with other text: `migrate` reinstalls it
  newer,    ///< a newer library installed a newer set; this library keeps working on it
  missing,  ///< never installed as a set, or some of its functions are gone
  altered,  ///< a function was changed by hand since the set was installed
};

constexpr std::string_view to_string(function_state s) noexcept {
  switch (s) {
    case function_state::none:
      return "none";
    case function_state::current:
      return "current";
    case function_state::stale:
      return "stale";
    case function_state::newer:
      return "newer";
    case function_state::missing:
      return "missing";
    case function_state::altered:
      return "altered";
  }
  return "none";
}

/// What storage::server_functions() found.
struct function_set_info {
  function_state state = function_state::none;
  int library_version = 0;               ///< the version of the set this library embeds
  std::optional<int> installed_version;  ///< empty when none is recorded
  std::string detail;                    ///< what differs, in a sentence (empty when current)
};

/// What group commit did since the storage was opened (see batch_options).
struct batch_stats {
  std::uint64_t batches = 0;   ///< shared transactions (SQLite) or batched round trips (PostgreSQL)
  std::uint64_t requests = 0;  ///< the writes they carried
  std::uint64_t largest = 0;   ///< the most writes one of them carried
};

/// Receives what a change_feed announces: a user whose subscription or
/// counters changed in a way that may turn a denial into an admission, or
/// nullopt for "anything may have changed" (a tier, a bulk reset, changes
/// the feed may have missed). Called from any thread; must not block.
using change_handler = std::function<void(const std::optional<user_id>& changed)>;

/// The database's own announcements of changes made by any program (see
/// storage::watch_changes). Destroying it stops the announcements: the
/// handler is not called after the destructor returns.
class change_feed {
 public:
  virtual ~change_feed() = default;
  change_feed() = default;
  change_feed(const change_feed&) = delete;
  change_feed& operator=(const change_feed&) = delete;

  /// Called before an answer is taken from memory: delivers what is pending
  /// and says whether the feed can be trusted now. SQLite: reads the change
  /// counter (one cheap read) and, when it moved, calls the handler with
  /// nullopt before returning, so that every change committed before the
  /// call is seen. PostgreSQL: notifications arrive on their own; false
  /// while the listening connection is lost. False means "do not answer
  /// from memory, and do not remember this answer".
  virtual bool sync() = 0;
};

/// Abstract storage. Every call is one transaction: it happens entirely or
/// not at all, and an error result means nothing was changed, except for a
/// lost acknowledgement (see the top of this header: retry with the same
/// request_id). Arguments are trusted: quota_service validates them first.
class storage {
 public:
  virtual ~storage() = default;
  storage() = default;
  storage(const storage&) = delete;
  storage& operator=(const storage&) = delete;

  /// "sqlite" or "postgresql".
  virtual std::string_view backend() const noexcept = 0;

  // Schema.
  /// The applied schema version (0 for an empty database).
  virtual result<int> schema_version() = 0;
  /// Every embedded migration, with when it was applied.
  virtual result<std::vector<migration_info>> migrations() = 0;
  /// Applies (or rolls back to opts.to) the migrations. invalid_argument for
  /// a target outside 0 to the newest version or a batch_size outside
  /// 1-1000000;
  /// schema_mismatch when the database is newer than this library;
  /// migration_failed when a step failed (that step was rolled back; the
  /// steps before it stay applied).
  virtual result<migrate_report> migrate(const migrate_options& opts) = 0;
  /// The state of the server-side functions. Operations refuse to run
  /// (schema_mismatch) when they are stale by version, missing or altered;
  /// migrate() reinstalls them. The default is for backends without any.
  virtual result<function_set_info> server_functions() { return function_set_info{}; }

  /// Starts announcing to `on_change` the changes that can turn a denial
  /// into an admission, whoever makes them (this storage, another process,
  /// hand SQL): the subscription columns of a user, a tier, a reset or
  /// refund, a deleted usage row. Used by quota_service's denial cache.
  /// Empty when the backend cannot announce them (the default); then the
  /// cache's TTL is the only bound on a change made elsewhere. SQLite
  /// checks a change counter on sync(); PostgreSQL keeps one dedicated
  /// LISTEN connection (outside the pool) read by a background thread,
  /// which reconnects with backoff after a loss and then reports nullopt.
  /// The feed must not outlive this storage.
  virtual std::unique_ptr<change_feed> watch_changes(change_handler on_change) {
    (void)on_change;
    return nullptr;
  }

  /// How the writes were grouped so far (consume, reserve, record, commit
  /// and release; see batch_options). Thread-safe. Zeros when batching is
  /// off.
  virtual batch_stats write_batches() const { return {}; }

  // Tiers.
  /// All tiers, or the visible ones, by display order.
  virtual result<std::vector<tier>> tiers(bool visible_only) = 0;
  /// unknown_tier when `id` is not in subscription_tiers.
  virtual result<tier> get_tier(const tier_id& id) = 0;
  /// Applies the fields that are set and returns the tier after the change;
  /// unknown_tier when it does not exist.
  virtual result<tier> update_tier(const tier_update& update, sys_time now) = 0;

  // Users and subscriptions.
  /// user_exists when the user is there already; unknown_tier when its tier
  /// is not in subscription_tiers.
  virtual result<subscription> create_user(const new_user& user) = 0;
  /// unknown_user when the user does not exist.
  virtual result<subscription> get_subscription(const user_id& user) = 0;
  /// Changes tier/status; returns the subscription before the change.
  /// unknown_user, or unknown_tier when the new tier does not exist.
  virtual result<subscription> set_subscription(const subscription_change& change) = 0;

  // Subscription lifecycle.
  /// One lifecycle change (see lifecycle_request), decided by the shared
  /// rules on the locked current state. unknown_user; unknown_tier;
  /// invalid_argument for a payment that does not match its tier's price,
  /// the currency or its pending order; subscription_conflict when the
  /// state does not allow it; payment_not_found for fail_payment of an
  /// unknown payment.
  virtual result<lifecycle_outcome> change_lifecycle(const lifecycle_request& req) = 0;
  /// The payment with that key; payment_not_found.
  virtual result<payment> get_payment(const std::string& provider, const std::string& transaction_id) = 0;
  /// The user's payments, newest first (empty for an unknown user).
  virtual result<std::vector<payment>> payments(const user_id& user) = 0;
  /// Users that may have a transition due at `now` (for the sweep, which
  /// then calls change_lifecycle(apply_due) on each), at most `limit`, in
  /// user order after `after`.
  virtual result<std::vector<user_id>> due_subscriptions(sys_time now, std::chrono::seconds grace_period,
                                                         const std::optional<user_id>& after, std::int64_t limit) = 0;
  /// The user's stored day rows from `from` to `to` inclusive, in order
  /// (days without a row are absent).
  virtual result<std::vector<day_usage>> usage_days(const user_id& user, local_date from, local_date to) = 0;

  // Usage.
  /// Days: `day` (and consume_request::day, record_request::day) is the day
  /// in the service's zone; for a user with a time zone of its own the
  /// backend uses the user's day of `now` instead, and the snapshot's
  /// counters.usage_date and sub.time_zone say which. A transition due at
  /// `now` (lifecycle) is written first, by reads too, with its audit row.
  ///
  /// The user's counters at `day` and the tier that applies. unknown_user;
  /// unknown_tier when the default tier must apply (lapsed subscription or
  /// missing tier) and is not in subscription_tiers.
  virtual result<usage_snapshot> snapshot(const user_id& user, local_date day, sys_time now,
                                          const tier_id& default_tier, std::chrono::seconds grace_period) = 0;
  /// Check-and-increment, or a reservation. A denial is a value (allowed
  /// false). unknown_user; unknown_tier as for snapshot;
  /// idempotency_mismatch when req.ctx.id was used by a different request.
  virtual result<consume_outcome> consume(const consume_request& req) = 0;
  /// Unconditional record. unknown_user; unknown_tier as for snapshot;
  /// idempotency_mismatch as for consume; invalid_argument when a month
  /// counter would pass 10^12.
  virtual result<record_outcome> record(const record_request& req) = 0;
  /// Commits or releases a reservation. reservation_not_found;
  /// reservation_closed when it is already committed, released or expired.
  virtual result<settle_outcome> settle(const settle_request& req) = 0;
  /// The reservation as stored (an open one may be past its TTL);
  /// reservation_not_found.
  virtual result<reservation> get_reservation(const reservation_id& id) = 0;
  /// Marks open reservations past their TTL as expired (settled at their
  /// estimate) and audits each; returns how many.
  virtual result<std::int64_t> expire_reservations(sys_time now) = 0;
  /// Deletes the stored request_ids (idempotency keys) created before
  /// `before`, in short batches; returns how many.
  virtual result<std::int64_t> prune_request_ids(sys_time before) = 0;
  /// Retention: deletes the user_usage rows with usage_date before
  /// req.before and the usage_logs rows of those days (usage_date before
  /// it, or no usage_date and event_timestamp before req.before_start), in
  /// batches of req.batch_size, each its own short transaction; returns
  /// how many of each. Not one transaction: an error leaves the batches
  /// already committed deleted, and a second call finishes the work.
  virtual result<prune_report> prune_usage(const prune_request& req) = 0;
  /// Administrative reset; returns the number of users touched.
  /// unknown_user when req.user is set and does not exist.
  virtual result<std::int64_t> reset(const reset_request& req) = 0;

  // Audit.
  /// Appends a row and returns its id; unknown_user.
  virtual result<std::int64_t> append_event(const usage_event& event) = 0;
  /// The user's events, newest first (empty for an unknown user).
  virtual result<std::vector<usage_event>> events(const event_query& query) = 0;
};

}  // namespace kauri_quota
