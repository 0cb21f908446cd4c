// The storage interface: operation-level, one atomic transaction per call.
//
// A storage owns its connections and is safe to use from many threads at
// once; the backends also stay exact when many processes (SQLite: on one
// host; PostgreSQL: anywhere) share one database. Most hosts use it only
// through quota_service; tests and tools may call it directly.
#pragma once

#include <kauri_quota/result.hpp>
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

/// Counters and applicable tier of one user at one instant.
struct usage_snapshot {
  subscription sub;  ///< the fields limits depend on: user, tier, status, end and trial end dates
  tier applied;      ///< the tier whose limits apply (the default tier when the subscription lapsed); features are not
                     ///< loaded
  usage counters;
};

/// A check-and-increment (consume) or a reservation (reserve == true).
struct consume_request {
  user_id user;
  sys_time now{};
  local_date day{};           ///< day of `now` in the quota time zone
  std::int64_t messages = 1;  ///< >= 1
  std::int64_t tokens = 0;    ///< tokens counted now (for reserve: the estimate)
  request_context ctx;
  bool reserve = false;
  std::chrono::seconds reservation_ttl{300};
  double warning_threshold = 0.8;
  tier_id default_tier{"free"};
};

struct consume_outcome {
  bool allowed = false;
  limit_kind denied_by = limit_kind::none;
  usage_snapshot snapshot;  ///< state after the decision
  std::optional<reservation_id> reservation;
  bool replayed = false;
};

/// An unconditional after-the-fact record (increment_usage).
struct record_request {
  user_id user;
  sys_time now{};
  local_date day{};
  std::int64_t messages = 0;
  std::int64_t tokens = 0;
  request_context ctx;
  double warning_threshold = 0.8;
  tier_id default_tier{"free"};
};

struct record_outcome {
  usage_snapshot snapshot;
  bool replayed = false;
};

/// Settles a reservation: commit (actual_tokens set) or release (empty).
struct settle_request {
  reservation_id id;  ///< globally unique
  std::optional<std::int64_t> actual_tokens;
  sys_time now{};
  local_date day{};  ///< today, for the returned snapshot
  tier_id default_tier{"free"};
};

struct settle_outcome {
  reservation res;
  usage_snapshot snapshot;
};

enum class reset_kind { daily, monthly };

struct reset_request {
  reset_kind kind = reset_kind::daily;
  std::optional<user_id> user;  ///< empty: every user
  sys_time now{};
  local_date day{};
};

struct new_user {
  user_id user;
  std::optional<std::string> email;
  tier_id tier{"free"};
  sys_time now{};
};

struct subscription_change {
  user_id user;
  tier_id tier;
  std::optional<subscription_status> status;  ///< empty: active
  std::optional<sys_time> end_date;
  std::optional<sys_time> trial_end_date;
  sys_time now{};
  std::string event_type{"subscription_changed"};
  request_context ctx;
};

/// Abstract storage. Every call is one transaction: it happens entirely or
/// not at all, and an error result means nothing was changed.
class storage {
 public:
  virtual ~storage() = default;
  storage() = default;
  storage(const storage&) = delete;
  storage& operator=(const storage&) = delete;

  /// "sqlite" or "postgresql".
  virtual std::string_view backend() const noexcept = 0;

  // Schema.
  virtual result<int> schema_version() = 0;
  virtual result<std::vector<migration_info>> migrations() = 0;
  virtual result<migrate_report> migrate(const migrate_options& opts) = 0;
  /// The state of the server-side functions. Operations refuse to run
  /// (schema_mismatch) when they are stale by version, missing or altered;
  /// migrate() reinstalls them. The default is for backends without any.
  virtual result<function_set_info> server_functions() { return function_set_info{}; }

  // Tiers.
  virtual result<std::vector<tier>> tiers(bool visible_only) = 0;
  virtual result<tier> get_tier(const tier_id& id) = 0;
  virtual result<tier> update_tier(const tier_update& update, sys_time now) = 0;

  // Users and subscriptions.
  virtual result<subscription> create_user(const new_user& user) = 0;
  virtual result<subscription> get_subscription(const user_id& user) = 0;
  /// Changes tier/status; returns the subscription before the change.
  virtual result<subscription> set_subscription(const subscription_change& change) = 0;

  // Usage.
  virtual result<usage_snapshot> snapshot(const user_id& user, local_date day, sys_time now,
                                          const tier_id& default_tier) = 0;
  virtual result<consume_outcome> consume(const consume_request& req) = 0;
  virtual result<record_outcome> record(const record_request& req) = 0;
  virtual result<settle_outcome> settle(const settle_request& req) = 0;
  virtual result<reservation> get_reservation(const reservation_id& id) = 0;
  /// Marks open reservations past their TTL as expired (settled at their
  /// estimate) and audits each; returns how many.
  virtual result<std::int64_t> expire_reservations(sys_time now) = 0;
  /// Deletes the stored request_ids (idempotency keys) created before
  /// `before`, in short batches; returns how many.
  virtual result<std::int64_t> prune_request_ids(sys_time before) = 0;
  /// Administrative reset; returns the number of users touched.
  virtual result<std::int64_t> reset(const reset_request& req) = 0;

  // Audit.
  virtual result<std::int64_t> append_event(const usage_event& event) = 0;
  virtual result<std::vector<usage_event>> events(const event_query& query) = 0;
};

/// SQLite synchronous setting (PRAGMA synchronous).
enum class sqlite_synchronous { off, normal, full, extra };

struct sqlite_options {
  /// A file path, or ":memory:" for a private in-memory database.
  std::string path;
  /// FULL by default: acknowledged usage survives a power loss.
  sqlite_synchronous synchronous = sqlite_synchronous::full;
  /// How long a writer waits for another process's lock.
  std::chrono::milliseconds busy_timeout{10000};
  /// Create the file when it does not exist (else storage_unavailable).
  bool create = true;
  /// Apply pending migrations when opening.
  bool auto_migrate = false;
  /// Connections kept for concurrent readers (writers serialise anyway).
  int pool_size = 4;
};

/// Opens an SQLite database. Never throws.
result<std::unique_ptr<storage>> open_sqlite(const sqlite_options& opts);

struct postgres_options {
  /// A libpq URI (postgresql://...) or keyword string (host=... dbname=...).
  std::string conninfo;
  int pool_size = 8;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds statement_timeout{5000};
  int max_retries = 5;
  bool auto_migrate = false;
};

/// Opens a PostgreSQL database (when the library was built with it).
result<std::unique_ptr<storage>> open_postgres(const postgres_options& opts);

/// Common options for open_storage.
struct open_options {
  bool auto_migrate = false;
  /// SQLite: create the file when it does not exist (else storage_unavailable).
  bool create = true;
  sqlite_synchronous synchronous = sqlite_synchronous::full;
  int pool_size = 0;  ///< 0: the backend's default
};

/// Opens `sqlite:PATH`, `sqlite::memory:`, `postgresql://...`,
/// `postgres://...` or a libpq keyword string (`host=... dbname=...`).
result<std::unique_ptr<storage>> open_storage(std::string_view url, const open_options& opts = {});

/// The URL with any password replaced by "***", safe to log.
std::string redact_url(std::string_view url);

}  // namespace kauri_quota
