// The SQLite backend: WAL, busy_timeout, BEGIN IMMEDIATE for every write,
// synchronous FULL by default. Each storage operation is one transaction on
// one pooled connection; SQLiteCpp exceptions are caught here and turned
// into error results.
#include "sqlite/sqlite_storage.hpp"

#include "core/connection_pool.hpp"
#include "core/json_writer.hpp"
#include "core/migration_script.hpp"
#include "core/migrations.hpp"
#include "core/period.hpp"
#include "core/policy.hpp"
#include "core/sql_support.hpp"
#include "core/validate.hpp"

#include <kauri_quota/json.hpp>

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Exception.h>
#include <SQLiteCpp/Statement.h>
#include <fmt/format.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <new>
#include <unordered_map>

namespace kauri_quota {
namespace {

using detail::format_db_date;
using detail::format_db_time;
using detail::parse_db_date;
using detail::parse_db_time;

// ---------------------------------------------------------------------------
// SQL. Every statement is a constant with bound parameters.

constexpr const char* sql_version = "SELECT COALESCE(MAX(version), 0) FROM kauri_quota_migrations";
constexpr const char* sql_has_migrations_table =
    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'kauri_quota_migrations'";
constexpr const char* sql_create_migrations_table =
    "CREATE TABLE IF NOT EXISTS kauri_quota_migrations ("
    " version INTEGER PRIMARY KEY NOT NULL, name TEXT NOT NULL, checksum TEXT NOT NULL,"
    " applied_at DATETIME NOT NULL)";
constexpr const char* sql_list_migrations = "SELECT version, name, applied_at FROM kauri_quota_migrations";
constexpr const char* sql_record_migration =
    "INSERT INTO kauri_quota_migrations (version, name, checksum, applied_at) VALUES (?1, ?2, ?3, ?4)";
constexpr const char* sql_forget_migration = "DELETE FROM kauri_quota_migrations WHERE version = ?1";

constexpr const char* sql_all_tiers =
    "SELECT tier_id, name, name_fr, messages_per_day, messages_per_month, tokens_per_month, price_fcfa, features,"
    " display_order, is_visible FROM subscription_tiers ORDER BY display_order, tier_id";
constexpr const char* sql_get_tier =
    "SELECT tier_id, name, name_fr, messages_per_day, messages_per_month, tokens_per_month, price_fcfa, features,"
    " display_order, is_visible FROM subscription_tiers WHERE tier_id = ?1";
constexpr const char* sql_update_tier =
    "UPDATE subscription_tiers SET"
    " name = CASE WHEN ?2 THEN ?3 ELSE name END,"
    " name_fr = CASE WHEN ?4 THEN ?5 ELSE name_fr END,"
    " messages_per_day = CASE WHEN ?6 THEN ?7 ELSE messages_per_day END,"
    " messages_per_month = CASE WHEN ?8 THEN ?9 ELSE messages_per_month END,"
    " tokens_per_month = CASE WHEN ?10 THEN ?11 ELSE tokens_per_month END,"
    " price_fcfa = CASE WHEN ?12 THEN ?13 ELSE price_fcfa END,"
    " display_order = CASE WHEN ?14 THEN ?15 ELSE display_order END,"
    " is_visible = CASE WHEN ?16 THEN ?17 ELSE is_visible END,"
    " updated_at = ?18"
    " WHERE tier_id = ?1";

constexpr const char* sql_subject =
    "SELECT email, subscription_tier, subscription_status, subscription_start_date, subscription_end_date,"
    " trial_end_date, created_at FROM users WHERE user_id = ?1";
// The whole state a decision needs, in one statement: subscription, its
// tier, the month-to-date totals (latest row of the month) and the day row.
// Only what a decision needs: subscription tier, status and end dates, the
// tier's names and limits, the month-to-date totals (latest row of the
// month) and the day row. It runs on every request, so it reads as few
// columns as it can.
constexpr const char* sql_state =
    "SELECT u.subscription_tier, u.subscription_status, u.subscription_end_date, u.trial_end_date,"
    " t.tier_id, t.name, t.name_fr, t.messages_per_day, t.messages_per_month, t.tokens_per_month,"
    " m.messages_this_month, m.tokens_this_month,"
    // Usually the day is the latest of its month and m is the day row.
    " CASE WHEN m.usage_date = ?4 THEN m.messages_today"
    "  ELSE (SELECT messages_today FROM user_usage WHERE user_id = ?1 AND usage_date = ?4) END,"
    " CASE WHEN m.usage_date = ?4 THEN m.tokens_today"
    "  ELSE (SELECT tokens_today FROM user_usage WHERE user_id = ?1 AND usage_date = ?4) END"
    " FROM users u"
    " LEFT JOIN subscription_tiers t ON t.tier_id = u.subscription_tier"
    " LEFT JOIN user_usage m ON m.id = (SELECT x.id FROM user_usage x WHERE x.user_id = ?1"
    "   AND x.usage_date >= ?2 AND x.usage_date < ?3 ORDER BY x.usage_date DESC LIMIT 1)"
    " WHERE u.user_id = ?1";
constexpr const char* sql_user_exists = "SELECT 1 FROM users WHERE user_id = ?1";
constexpr const char* sql_insert_user =
    "INSERT INTO users (user_id, email, created_at, subscription_tier, subscription_status, subscription_start_date)"
    " VALUES (?1, ?2, ?3, ?4, 'active', ?3)";
constexpr const char* sql_set_subscription =
    "UPDATE users SET subscription_tier = ?2, subscription_status = ?3, subscription_start_date = ?4,"
    " subscription_end_date = ?5, trial_end_date = ?6 WHERE user_id = ?1";

// The latest row of the day's month holds the month-to-date totals.
constexpr const char* sql_month_latest =
    "SELECT usage_date, messages_this_month, tokens_this_month, messages_today, tokens_today FROM user_usage"
    " WHERE user_id = ?1 AND usage_date >= ?2 AND usage_date < ?3 ORDER BY usage_date DESC LIMIT 1";
constexpr const char* sql_day_row =
    "SELECT messages_today, tokens_today FROM user_usage WHERE user_id = ?1 AND usage_date = ?2";
// A new day row starts from the month-to-date totals of the day before it.
constexpr const char* sql_insert_day =
    "INSERT INTO user_usage (user_id, usage_date, messages_today, tokens_today, messages_this_month,"
    " tokens_this_month, created_at, updated_at)"
    " VALUES (?1, ?2, 0, 0,"
    " COALESCE((SELECT messages_this_month FROM user_usage WHERE user_id = ?1 AND usage_date < ?2"
    "           AND usage_date >= ?3 ORDER BY usage_date DESC LIMIT 1), 0),"
    " COALESCE((SELECT tokens_this_month FROM user_usage WHERE user_id = ?1 AND usage_date < ?2"
    "           AND usage_date >= ?3 ORDER BY usage_date DESC LIMIT 1), 0),"
    " ?4, ?4)"
    " ON CONFLICT (user_id, usage_date) DO NOTHING";
// Adds a delta to one day and to the month-to-date totals of that day and
// every later day of the same month (the month-to-date invariant).
constexpr const char* sql_apply_delta =
    "UPDATE user_usage SET"
    " messages_today = messages_today + CASE WHEN usage_date = ?2 THEN ?4 ELSE 0 END,"
    " tokens_today = tokens_today + CASE WHEN usage_date = ?2 THEN ?5 ELSE 0 END,"
    " messages_this_month = messages_this_month + ?4,"
    " tokens_this_month = tokens_this_month + ?5,"
    " updated_at = ?6"
    " WHERE user_id = ?1 AND usage_date >= ?2 AND usage_date < ?3";

constexpr const char* sql_insert_event =
    "INSERT INTO usage_logs (user_id, event_type, messages_count, tokens_count, quota_tier, request_ip, user_agent,"
    " event_metadata, event_timestamp, usage_date, request_id)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
constexpr const char* sql_events =
    "SELECT id, user_id, event_type, messages_count, tokens_count, quota_tier, request_ip, user_agent,"
    " event_metadata, usage_date, event_timestamp FROM usage_logs"
    " WHERE user_id = ?1 AND (?2 IS NULL OR event_type = ?2) ORDER BY id DESC LIMIT ?3";

constexpr const char* sql_get_key =
    "SELECT operation, fingerprint, allowed, denied_by, reservation_id FROM kauri_quota_idempotency_keys"
    " WHERE user_id = ?1 AND request_id = ?2";
constexpr const char* sql_put_key =
    "INSERT INTO kauri_quota_idempotency_keys (user_id, request_id, operation, fingerprint, allowed, denied_by,"
    " reservation_id, usage_date, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

constexpr const char* sql_insert_reservation =
    "INSERT INTO kauri_quota_reservations (reservation_id, user_id, usage_date, messages, estimated_tokens, state,"
    " request_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, 'open', ?6, ?7, ?8)";
constexpr const char* sql_get_reservation =
    "SELECT reservation_id, user_id, usage_date, messages, estimated_tokens, actual_tokens, state, created_at,"
    " expires_at FROM kauri_quota_reservations WHERE reservation_id = ?1";
constexpr const char* sql_close_reservation =
    "UPDATE kauri_quota_reservations SET state = ?2, actual_tokens = ?3, settled_at = ?4 WHERE reservation_id = ?1";
constexpr const char* sql_prune_request_ids =
    "DELETE FROM kauri_quota_idempotency_keys WHERE rowid IN (SELECT rowid FROM kauri_quota_idempotency_keys"
    " WHERE created_at < ?1 ORDER BY created_at LIMIT ?2)";
constexpr const char* sql_expired_reservations =
    "SELECT reservation_id, user_id, usage_date, messages, estimated_tokens, actual_tokens, state, created_at,"
    " expires_at FROM kauri_quota_reservations WHERE state = 'open' AND expires_at <= ?1 ORDER BY expires_at LIMIT 500";

constexpr const char* sql_day_rows_for_reset =
    "SELECT user_id, messages_today, tokens_today FROM user_usage"
    " WHERE usage_date = ?1 AND (?2 IS NULL OR user_id = ?2) AND (messages_today <> 0 OR tokens_today <> 0)";
constexpr const char* sql_month_rows_for_reset =
    "SELECT user_id, usage_date, messages_today, tokens_today FROM user_usage"
    " WHERE usage_date >= ?1 AND usage_date < ?2 AND (?3 IS NULL OR user_id = ?3)"
    " AND (messages_today <> 0 OR tokens_today <> 0 OR messages_this_month <> 0 OR tokens_this_month <> 0)"
    " ORDER BY user_id, usage_date";
constexpr const char* sql_zero_month =
    "UPDATE user_usage SET messages_today = 0, tokens_today = 0, messages_this_month = 0, tokens_this_month = 0,"
    " updated_at = ?4 WHERE usage_date >= ?1 AND usage_date < ?2 AND (?3 IS NULL OR user_id = ?3)";

// ---------------------------------------------------------------------------
// Errors.

errc map_sqlite_code(int code) noexcept {
  switch (code & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_PROTOCOL:  // WAL lock retries exhausted: contention, not a broken disk
      return errc::storage_busy;
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_AUTH:
    case SQLITE_READONLY:
      return errc::storage_unavailable;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return errc::corrupt;
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_NOLFS:
      return errc::io_error;
    case SQLITE_NOMEM:
      return errc::internal;
    default:
      return errc::internal;
  }
}

error from_sqlite(const SQLite::Exception& e) {
  return make_error(map_sqlite_code(e.getErrorCode()), fmt::format("sqlite: {}", e.what()));
}

error user_not_found(const user_id& u) {
  return make_error(errc::unknown_user, fmt::format("unknown user {}", detail::quote_for_message(u.str())));
}

// ---------------------------------------------------------------------------
// Connections.

class connection {
 public:
  connection(const std::string& path, int flags, const sqlite_options& opts)
      : db_(path, flags, static_cast<int>(opts.busy_timeout.count())) {
    db_.exec("PRAGMA foreign_keys = ON");
    switch (opts.synchronous) {
      case sqlite_synchronous::off:
        db_.exec("PRAGMA synchronous = OFF");
        break;
      case sqlite_synchronous::normal:
        db_.exec("PRAGMA synchronous = NORMAL");
        break;
      case sqlite_synchronous::full:
        db_.exec("PRAGMA synchronous = FULL");
        break;
      case sqlite_synchronous::extra:
        db_.exec("PRAGMA synchronous = EXTRA");
        break;
    }
  }

  sqlite3* handle() const noexcept { return db_.getHandle(); }
  SQLite::Database& db() noexcept { return db_; }

  /// A cached prepared statement, reset and with its bindings cleared.
  SQLite::Statement& stmt(const char* sql) {
    auto it = cache_.find(sql);
    if (it == cache_.end()) it = cache_.emplace(sql, std::make_unique<SQLite::Statement>(db_, sql)).first;
    SQLite::Statement& s = *it->second;
    s.reset();
    s.clearBindings();
    return s;
  }

  /// A cached statement used through the C API, for the statement that runs
  /// on every request (SQLiteCpp's column objects cost more than the
  /// query's own work there). Reset, bindings cleared.
  sqlite3_stmt* raw(const char* sql) {
    auto it = raw_cache_.find(sql);
    if (it == raw_cache_.end()) {
      sqlite3_stmt* st = nullptr;
      const int rc = sqlite3_prepare_v3(handle(), sql, -1, SQLITE_PREPARE_PERSISTENT, &st, nullptr);
      if (rc != SQLITE_OK) throw SQLite::Exception(handle(), rc);
      it = raw_cache_.emplace(sql, std::unique_ptr<sqlite3_stmt, stmt_finalizer>(st)).first;
    }
    sqlite3_stmt* st = it->second.get();
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
  }

  /// Resets every cached statement so that none holds a read snapshot.
  void reset_all() noexcept {
    for (auto& [sql, s] : cache_) s->tryReset();
    for (auto& [sql, s] : raw_cache_) sqlite3_reset(s.get());
  }

  /// Rolls back whatever transaction is open; never throws.
  void rollback_if_open() noexcept {
    reset_all();
    if (sqlite3_get_autocommit(handle()) == 0) sqlite3_exec(handle(), "ROLLBACK", nullptr, nullptr, nullptr);
  }

  void begin_write() { stmt("BEGIN IMMEDIATE").exec(); }
  void begin_read() { stmt("BEGIN").exec(); }
  void commit() { stmt("COMMIT").exec(); }

 private:
  struct stmt_finalizer {
    void operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }
  };
  SQLite::Database db_;
  // Declared after db_ so that they are finalized before it closes.
  std::unordered_map<const char*, std::unique_ptr<SQLite::Statement>> cache_;
  std::unordered_map<const char*, std::unique_ptr<sqlite3_stmt, stmt_finalizer>> raw_cache_;
};

/// A transaction guard: rolls back in its destructor unless committed.
class txn {
 public:
  txn(connection& c, bool write) : c_(c) { write ? c_.begin_write() : c_.begin_read(); }
  txn(const txn&) = delete;
  txn& operator=(const txn&) = delete;
  ~txn() {
    if (!done_) c_.rollback_if_open();
  }
  void commit() {
    c_.commit();
    done_ = true;
  }

 private:
  connection& c_;
  bool done_ = false;
};

// ---------------------------------------------------------------------------
// Row decoding.

limit column_limit(const SQLite::Column& c) {
  if (c.isNull()) return std::nullopt;
  return c.getInt64();
}

std::optional<std::string> column_text(const SQLite::Column& c) {
  if (c.isNull()) return std::nullopt;
  return c.getString();
}

std::optional<sys_time> column_time(const SQLite::Column& c) {
  if (c.isNull()) return std::nullopt;
  return parse_db_time(c.getString());
}

/// Reads the tier columns starting at `first`; features only when asked
/// (decisions do not need them, and parsing them costs more than the rest).
tier read_tier(SQLite::Statement& s, int first, bool with_features = true) {
  tier t;
  t.id = tier_id{s.getColumn(first + 0).getString()};
  t.name = s.getColumn(first + 1).getString();
  t.name_fr = s.getColumn(first + 2).getString();
  t.messages_per_day = column_limit(s.getColumn(first + 3));
  t.messages_per_month = column_limit(s.getColumn(first + 4));
  t.tokens_per_month = column_limit(s.getColumn(first + 5));
  t.price_fcfa = s.getColumn(first + 6).getInt64();
  if (with_features) t.features = detail::parse_features(s.getColumn(first + 7).getString());
  t.display_order = s.getColumn(first + 8).getInt();
  t.is_visible = s.getColumn(first + 9).getInt() != 0;
  return t;
}

reservation read_reservation(SQLite::Statement& s) {
  reservation r;
  r.id = reservation_id{s.getColumn(0).getString()};
  r.user = user_id{s.getColumn(1).getString()};
  r.usage_date = parse_db_date(s.getColumn(2).getString()).value_or(local_date{});
  r.messages = s.getColumn(3).getInt64();
  r.estimated_tokens = s.getColumn(4).getInt64();
  r.actual_tokens = column_limit(s.getColumn(5));
  r.state = detail::parse_reservation_state(s.getColumn(6).getString()).value_or(reservation_state::open);
  r.created_at = column_time(s.getColumn(7)).value_or(sys_time{});
  r.expires_at = column_time(s.getColumn(8)).value_or(sys_time{});
  return r;
}

void bind_opt(SQLite::Statement& s, int i, const std::optional<std::string>& v) {
  if (v)
    s.bind(i, *v);
  else
    s.bind(i);
}

void bind_limit(SQLite::Statement& s, int i, const limit& v) {
  if (v)
    s.bind(i, static_cast<std::int64_t>(*v));
  else
    s.bind(i);
}

void bind_i64(SQLite::Statement& s, int i, std::int64_t v) { s.bind(i, static_cast<std::int64_t>(v)); }

// ---------------------------------------------------------------------------
// Migration runner support.

bool column_exists(connection& c, const std::string& table, const std::string& column) {
  SQLite::Statement s(c.db(), "SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2");
  s.bind(1, table);
  s.bind(2, column);
  return s.executeStep();
}

// ---------------------------------------------------------------------------
// The storage.

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

  result<usage_snapshot> snapshot(const user_id& user, local_date day, sys_time now,
                                  const tier_id& default_tier) override;
  result<consume_outcome> consume(const consume_request& req) override;
  result<record_outcome> record(const record_request& req) override;
  result<settle_outcome> settle(const settle_request& req) override;
  result<reservation> get_reservation(const reservation_id& id) override;
  result<std::int64_t> expire_reservations(sys_time now) override;
  result<std::int64_t> prune_request_ids(sys_time before) override;
  result<std::int64_t> reset(const reset_request& req) override;

  result<std::int64_t> append_event(const usage_event& event) override;
  result<std::vector<usage_event>> events(const event_query& query) override;

 private:
  explicit sqlite_storage(sqlite_options opts) : opts_(std::move(opts)) {}

  result<std::unique_ptr<connection>> new_connection() const;

  /// Runs `f(connection&)` and turns every exception into an error.
  template <class F>
  auto run(F&& f) -> decltype(f(std::declval<connection&>())) {
    try {
      auto c = pool_->acquire([&] { return new_connection(); });
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
        int v = read_version(c);
        if (auto e = version_error(v)) return *e;
        ready_.store(true, std::memory_order_release);
      }
      return f(c);
    });
  }

  static int read_version(connection& c);
  std::optional<error> version_error(int v) const;

  // Operations used inside transactions ------------------------------------
  /// Subscription, applied tier and counters of `day` in one statement.
  result<usage_snapshot> load_state(connection& c, const user_id& user, local_date day, sys_time now,
                                    const tier_id& default_tier, bool* day_row_exists = nullptr);
  void read_subscription(SQLite::Statement& s, subscription& sub);
  result<void> apply_default_tier(connection& c, usage_snapshot& snap, bool tier_found, sys_time now,
                                  const tier_id& default_tier);
  /// Counters of `day`; month totals from the latest row of its month.
  usage load_counters(connection& c, const user_id& user, local_date day, bool* day_row_exists = nullptr);
  /// Adds a delta to `day` and the month-to-date totals from `day` on.
  /// Pass day_row_exists = true only when the row is known to exist.
  void apply_delta(connection& c, const user_id& user, local_date day, std::int64_t messages, std::int64_t tokens,
                   sys_time now, bool day_row_exists = false);
  std::int64_t insert_event(connection& c, const usage_event& e, const std::optional<request_id>& rid);
  void audit_warnings(connection& c, const usage_snapshot& before, const usage& after, double threshold, sys_time now,
                      local_date day);

  struct stored_key {
    std::string operation, fingerprint;
    bool allowed = false;
    limit_kind denied_by = limit_kind::none;
    std::optional<reservation_id> reservation;
  };
  std::optional<stored_key> find_key(connection& c, const user_id& u, const request_id& r);
  void put_key(connection& c, const user_id& u, const request_id& r, const stored_key& k, local_date day, sys_time now);

  result<void> apply_migration(connection& c, const detail::embedded_migration& m, bool up,
                               const migrate_options& opts);

  sqlite_options opts_;
  std::string path_;
  int flags_ = 0;
  std::unique_ptr<detail::connection_pool<connection>> pool_;
  std::atomic<bool> ready_{false};
};

result<std::unique_ptr<connection>> sqlite_storage::new_connection() const {
  try {
    return std::make_unique<connection>(path_, flags_, opts_);
  } catch (const SQLite::Exception& e) {
    return from_sqlite(e);
  }
}

result<std::unique_ptr<storage>> sqlite_storage::open(const sqlite_options& opts) {
  if (opts.path.empty()) return make_error(errc::invalid_argument, "SQLite path is empty");
  if (opts.path.find('\0') != std::string::npos)
    return make_error(errc::invalid_argument, "SQLite path contains a NUL byte");
  if (opts.busy_timeout.count() < 0 || opts.busy_timeout > std::chrono::hours(1))
    return make_error(errc::invalid_argument, "busy_timeout must be between 0 and 1 hour");
  if (opts.pool_size < 1 || opts.pool_size > 256)
    return make_error(errc::invalid_argument, "pool_size must be between 1 and 256");
  std::unique_ptr<sqlite_storage> s(new sqlite_storage(opts));
  s->flags_ = SQLite::OPEN_READWRITE | SQLite::OPEN_NOMUTEX;
  if (opts.create) s->flags_ |= SQLite::OPEN_CREATE;
  const bool memory = opts.path == ":memory:";
  if (!memory && !opts.create) {
    std::error_code ec;
    if (!std::filesystem::exists(opts.path, ec))
      return make_error(errc::storage_unavailable,
                        fmt::format("database file not found: {}", detail::quote_for_message(opts.path)));
  }
  s->path_ = opts.path;
  s->pool_ = std::make_unique<detail::connection_pool<connection>>(memory ? 1 : opts.pool_size);
  try {
    auto c = std::make_unique<connection>(s->path_, s->flags_, opts);
    if (!memory) {
      SQLite::Statement wal(c->db(), "PRAGMA journal_mode = WAL");
      wal.executeStep();
      std::string mode = wal.getColumn(0).getString();
      if (mode != "wal")
        return make_error(errc::storage_unavailable,
                          fmt::format("cannot enable WAL on {} (journal_mode is {})", opts.path, mode));
    }
    // Fail now, not on first use, if the file is not a database.
    c->db().exec("SELECT count(*) FROM sqlite_master");
    s->pool_->adopt(std::move(c));
  } catch (const SQLite::Exception& e) {
    return make_error(
        map_sqlite_code(e.getErrorCode()) == errc::internal ? errc::storage_unavailable
                                                            : map_sqlite_code(e.getErrorCode()),
        fmt::format("cannot open SQLite database {}: {}", detail::quote_for_message(opts.path), e.what()));
  } catch (const std::exception& e) {
    return make_error(errc::storage_unavailable, fmt::format("cannot open SQLite database: {}", e.what()));
  }
  if (opts.auto_migrate) {
    auto r = s->migrate({});
    if (!r) return r.error();
  }
  return std::unique_ptr<storage>(std::move(s));
}

// ---------------------------------------------------------------------------
// Schema and migrations.

int sqlite_storage::read_version(connection& c) {
  auto& has = c.stmt(sql_has_migrations_table);
  bool exists = has.executeStep();
  has.reset();
  if (!exists) return 0;
  auto& v = c.stmt(sql_version);
  v.executeStep();
  int version = v.getColumn(0).getInt();
  v.reset();
  return version;
}

std::optional<error> sqlite_storage::version_error(int v) const {
  const int head = static_cast<int>(detail::sqlite_migrations().size());
  if (v == head) return std::nullopt;
  if (v > head)
    return make_error(errc::schema_mismatch,
                      fmt::format("database schema is at version {}, newer than this library knows ({}); "
                                  "upgrade kauri_quota",
                                  v, head));
  return make_error(errc::schema_mismatch,
                    fmt::format("database schema is at version {} but version {} is needed; run `kauri-quota "
                                "migrate` (or storage::migrate) first",
                                v, head));
}

result<int> sqlite_storage::schema_version() {
  return run([&](connection& c) -> result<int> { return read_version(c); });
}

result<std::vector<migration_info>> sqlite_storage::migrations() {
  return run([&](connection& c) -> result<std::vector<migration_info>> {
    std::vector<migration_info> out;
    for (const auto& m : detail::sqlite_migrations()) out.push_back({m.version, m.name, std::nullopt});
    auto& has = c.stmt(sql_has_migrations_table);
    bool exists = has.executeStep();
    has.reset();
    if (!exists) return out;
    auto& s = c.stmt(sql_list_migrations);
    while (s.executeStep()) {
      int v = s.getColumn(0).getInt();
      auto it = std::find_if(out.begin(), out.end(), [&](const migration_info& m) { return m.version == v; });
      if (it == out.end()) {
        out.push_back({v, s.getColumn(1).getString(), column_time(s.getColumn(2))});
      } else {
        it->applied_at = column_time(s.getColumn(2));
      }
    }
    std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.version < b.version; });
    return out;
  });
}

result<void> sqlite_storage::apply_migration(connection& c, const detail::embedded_migration& m, bool up,
                                             const migrate_options& opts) {
  const auto statements = detail::split_script(up ? m.up : m.down);
  const std::string checksum = detail::checksum_hex(m.up);
  const sys_time now = std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
  try {
    auto tx = std::make_unique<txn>(c, true);
    // Another process may have moved the schema while we waited for the lock.
    const int current = read_version(c);
    if (up ? current >= m.version : current < m.version) {
      tx->commit();
      return ok();
    }
    for (const auto& st : statements) {
      if (st.directive.rfind("backfill ", 0) == 0) {
        // "backfill TABLE CONDITION": run the statement in batches, each in
        // its own short transaction, so writers are never blocked for long.
        std::string spec = st.directive.substr(9);
        auto sp = spec.find(' ');
        std::string table = spec.substr(0, sp);
        std::string condition = sp == std::string::npos ? "1" : spec.substr(sp + 1);
        tx->commit();
        std::int64_t total = 0;
        {
          SQLite::Statement count(c.db(), fmt::format("SELECT count(*) FROM {} WHERE {}", table, condition));
          count.executeStep();
          total = count.getColumn(0).getInt64();
        }
        std::int64_t done = 0;
        SQLite::Statement batch(c.db(), st.text);
        if (opts.progress) opts.progress({m.version, "backfill " + table, 0, total});
        for (;;) {
          txn btx(c, true);
          batch.reset();
          batch.bind(":batch", static_cast<std::int64_t>(std::max<std::int64_t>(1, opts.batch_size)));
          int changed = batch.exec();
          btx.commit();
          if (changed == 0) break;
          done += changed;
          if (opts.progress) opts.progress({m.version, "backfill " + table, std::min(done, total), total});
        }
        tx = std::make_unique<txn>(c, true);
        continue;
      }
      if (up) {
        std::string table;
        std::string column;
        if (detail::parse_add_column(st.text, table, column) && column_exists(c, table, column)) continue;
      }
      c.db().exec(st.text);
    }
    if (up) {
      c.db().exec(sql_create_migrations_table);
      SQLite::Statement rec(c.db(), sql_record_migration);
      rec.bind(1, m.version);
      rec.bind(2, m.name);
      rec.bind(3, checksum);
      rec.bind(4, format_db_time(now));
      rec.exec();
    } else {
      SQLite::Statement del(c.db(), sql_forget_migration);
      del.bind(1, m.version);
      del.exec();
    }
    tx->commit();
    return ok();
  } catch (const SQLite::Exception& e) {
    c.rollback_if_open();
    return make_error(
        map_sqlite_code(e.getErrorCode()) == errc::storage_busy ? errc::storage_busy : errc::migration_failed,
        fmt::format("migration {:04d} {} ({}) failed: {}", m.version, m.name, up ? "up" : "down", e.what()));
  }
}

result<migrate_report> sqlite_storage::migrate(const migrate_options& opts) {
  return run([&](connection& c) -> result<migrate_report> {
    const auto all = detail::sqlite_migrations();
    const int head = static_cast<int>(all.size());
    const int target = opts.to.value_or(head);
    if (target < 0 || target > head)
      return make_error(errc::invalid_argument, fmt::format("migration target must be between 0 and {}", head));
    if (opts.batch_size < 1 || opts.batch_size > 1'000'000)
      return make_error(errc::invalid_argument, "batch_size must be between 1 and 1000000");
    c.db().exec(sql_create_migrations_table);
    migrate_report report;
    report.from_version = read_version(c);
    if (report.from_version > head) return *version_error(report.from_version);
    for (int v = report.from_version + 1; v <= target; ++v) {
      auto r = apply_migration(c, all[static_cast<std::size_t>(v - 1)], true, opts);
      if (!r) return r.error();
      report.applied.push_back(v);
    }
    for (int v = report.from_version; v > target; --v) {
      auto r = apply_migration(c, all[static_cast<std::size_t>(v - 1)], false, opts);
      if (!r) return r.error();
      report.reverted.push_back(v);
    }
    report.to_version = read_version(c);
    ready_.store(report.to_version == head, std::memory_order_release);
    return report;
  });
}

// ---------------------------------------------------------------------------
// Tiers.

result<std::vector<tier>> sqlite_storage::tiers(bool visible_only) {
  return run_ready([&](connection& c) -> result<std::vector<tier>> {
    std::vector<tier> out;
    auto& s = c.stmt(sql_all_tiers);
    while (s.executeStep()) {
      tier t = read_tier(s, 0);
      if (!visible_only || t.is_visible) out.push_back(std::move(t));
    }
    return out;
  });
}

result<tier> sqlite_storage::get_tier(const tier_id& id) {
  return run_ready([&](connection& c) -> result<tier> {
    auto& s = c.stmt(sql_get_tier);
    s.bind(1, id.str());
    if (!s.executeStep())
      return make_error(errc::unknown_tier, fmt::format("unknown tier {}", detail::quote_for_message(id.str())));
    tier t = read_tier(s, 0);
    s.reset();
    return t;
  });
}

result<tier> sqlite_storage::update_tier(const tier_update& u, sys_time now) {
  return run_ready([&](connection& c) -> result<tier> {
    txn tx(c, true);
    auto& s = c.stmt(sql_update_tier);
    s.bind(1, u.id.str());
    s.bind(2, u.name.has_value());
    bind_opt(s, 3, u.name);
    s.bind(4, u.name_fr.has_value());
    bind_opt(s, 5, u.name_fr);
    s.bind(6, u.messages_per_day.has_value());
    bind_limit(s, 7, u.messages_per_day.value_or(std::nullopt));
    s.bind(8, u.messages_per_month.has_value());
    bind_limit(s, 9, u.messages_per_month.value_or(std::nullopt));
    s.bind(10, u.tokens_per_month.has_value());
    bind_limit(s, 11, u.tokens_per_month.value_or(std::nullopt));
    s.bind(12, u.price_fcfa.has_value());
    bind_i64(s, 13, u.price_fcfa.value_or(0));
    s.bind(14, u.display_order.has_value());
    s.bind(15, u.display_order.value_or(0));
    s.bind(16, u.is_visible.has_value());
    s.bind(17, u.is_visible.value_or(false) ? 1 : 0);
    s.bind(18, format_db_time(now));
    if (s.exec() == 0)
      return make_error(errc::unknown_tier, fmt::format("unknown tier {}", detail::quote_for_message(u.id.str())));
    auto& g = c.stmt(sql_get_tier);
    g.bind(1, u.id.str());
    g.executeStep();
    tier t = read_tier(g, 0);
    g.reset();
    tx.commit();
    return t;
  });
}

// ---------------------------------------------------------------------------
// Users and subscriptions.

void sqlite_storage::read_subscription(SQLite::Statement& s, subscription& sub) {
  sub.email = column_text(s.getColumn(0));
  sub.tier = tier_id{s.getColumn(1).getString()};
  sub.status = parse_subscription_status(s.getColumn(2).getString()).value_or(subscription_status::active);
  sub.start_date = column_time(s.getColumn(3));
  sub.end_date = column_time(s.getColumn(4));
  sub.trial_end_date = column_time(s.getColumn(5));
  sub.created_at = column_time(s.getColumn(6));
}

result<void> sqlite_storage::apply_default_tier(connection& c, usage_snapshot& snap, bool tier_found, sys_time now,
                                                const tier_id& default_tier) {
  if (tier_found && !detail::subscription_lapsed(snap.sub, now)) return ok();
  auto& d = c.stmt(sql_get_tier);
  d.bind(1, default_tier.str());
  if (!d.executeStep())
    return make_error(errc::unknown_tier, fmt::format("default tier {} is not in subscription_tiers",
                                                      detail::quote_for_message(default_tier.str())));
  snap.applied = read_tier(d, 0, false);
  d.reset();
  return ok();
}

namespace {

std::string_view column_view(sqlite3_stmt* st, int i) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st, i));
  return p ? std::string_view(p, static_cast<std::size_t>(sqlite3_column_bytes(st, i))) : std::string_view{};
}

limit column_limit(sqlite3_stmt* st, int i) {
  if (sqlite3_column_type(st, i) == SQLITE_NULL) return std::nullopt;
  return sqlite3_column_int64(st, i);
}

std::optional<sys_time> column_time(sqlite3_stmt* st, int i) {
  if (sqlite3_column_type(st, i) == SQLITE_NULL) return std::nullopt;
  return parse_db_time(column_view(st, i));
}

/// Steps a raw statement: true on a row, false when done; throws like
/// SQLiteCpp on an error so that run() maps it.
bool step(sqlite3* db, sqlite3_stmt* st) {
  const int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  throw SQLite::Exception(db, rc);
}

}  // namespace

result<usage_snapshot> sqlite_storage::load_state(connection& c, const user_id& user, local_date day, sys_time now,
                                                  const tier_id& default_tier, bool* day_row_exists) {
  usage_snapshot snap;
  const local_date first = detail::first_of_month(day);
  const std::string month_start = format_db_date(first);
  const std::string month_end = format_db_date(first + std::chrono::months{1});
  const std::string day_s = format_db_date(day);
  sqlite3_stmt* st = c.raw(sql_state);
  sqlite3_bind_text(st, 1, user.str().data(), static_cast<int>(user.str().size()), SQLITE_STATIC);
  sqlite3_bind_text(st, 2, month_start.data(), static_cast<int>(month_start.size()), SQLITE_STATIC);
  sqlite3_bind_text(st, 3, month_end.data(), static_cast<int>(month_end.size()), SQLITE_STATIC);
  sqlite3_bind_text(st, 4, day_s.data(), static_cast<int>(day_s.size()), SQLITE_STATIC);
  if (!step(c.handle(), st)) {
    sqlite3_reset(st);
    return user_not_found(user);
  }
  snap.sub.user = user;
  snap.sub.tier = tier_id{std::string(column_view(st, 0))};
  snap.sub.status = parse_subscription_status(column_view(st, 1)).value_or(subscription_status::active);
  snap.sub.end_date = column_time(st, 2);
  snap.sub.trial_end_date = column_time(st, 3);
  const bool tier_found = sqlite3_column_type(st, 4) != SQLITE_NULL;
  if (tier_found) {
    snap.applied.id = tier_id{std::string(column_view(st, 4))};
    snap.applied.name = std::string(column_view(st, 5));
    snap.applied.name_fr = std::string(column_view(st, 6));
    snap.applied.messages_per_day = column_limit(st, 7);
    snap.applied.messages_per_month = column_limit(st, 8);
    snap.applied.tokens_per_month = column_limit(st, 9);
  }
  snap.counters.user = user;
  snap.counters.usage_date = day;
  snap.counters.messages_this_month = sqlite3_column_int64(st, 10);
  snap.counters.tokens_this_month = sqlite3_column_int64(st, 11);
  const bool day_found = sqlite3_column_type(st, 12) != SQLITE_NULL;
  snap.counters.messages_today = sqlite3_column_int64(st, 12);
  snap.counters.tokens_today = sqlite3_column_int64(st, 13);
  if (day_row_exists) *day_row_exists = day_found;
  sqlite3_reset(st);
  BOOST_OUTCOME_TRY(apply_default_tier(c, snap, tier_found, now, default_tier));
  return snap;
}

result<subscription> sqlite_storage::create_user(const new_user& nu) {
  return run_ready([&](connection& c) -> result<subscription> {
    txn tx(c, true);
    auto& e = c.stmt(sql_user_exists);
    e.bind(1, nu.user.str());
    if (e.executeStep())
      return make_error(errc::user_exists,
                        fmt::format("user {} already exists", detail::quote_for_message(nu.user.str())));
    e.reset();
    auto& t = c.stmt(sql_get_tier);
    t.bind(1, nu.tier.str());
    if (!t.executeStep())
      return make_error(errc::unknown_tier, fmt::format("unknown tier {}", detail::quote_for_message(nu.tier.str())));
    t.reset();
    auto& ins = c.stmt(sql_insert_user);
    ins.bind(1, nu.user.str());
    bind_opt(ins, 2, nu.email);
    ins.bind(3, format_db_time(nu.now));
    ins.bind(4, nu.tier.str());
    try {
      ins.exec();
    } catch (const SQLite::Exception& ex) {
      if (ex.getErrorCode() == SQLITE_CONSTRAINT)
        return make_error(errc::invalid_argument,
                          fmt::format("the users table refused the new row ({}); create users in the host "
                                      "application and call assign_default_subscription",
                                      ex.what()));
      throw;
    }
    usage_event ev;
    ev.user = nu.user;
    ev.event_type = "subscription_assigned";
    ev.quota_tier = nu.tier.str();
    ev.event_timestamp = nu.now;
    detail::json_writer meta;
    meta.begin_object().field("tier", nu.tier.str()).field("status", "active").end_object();
    ev.event_metadata = meta.take();
    insert_event(c, ev, std::nullopt);
    tx.commit();
    subscription sub;
    sub.user = nu.user;
    sub.email = nu.email;
    sub.tier = nu.tier;
    sub.status = subscription_status::active;
    sub.start_date = nu.now;
    sub.created_at = nu.now;
    return sub;
  });
}

result<subscription> sqlite_storage::get_subscription(const user_id& user) {
  return run_ready([&](connection& c) -> result<subscription> {
    auto& s = c.stmt(sql_subject);
    s.bind(1, user.str());
    if (!s.executeStep()) return user_not_found(user);
    subscription sub;
    sub.user = user;
    read_subscription(s, sub);
    s.reset();
    return sub;
  });
}

result<subscription> sqlite_storage::set_subscription(const subscription_change& ch) {
  return run_ready([&](connection& c) -> result<subscription> {
    txn tx(c, true);
    auto& s = c.stmt(sql_subject);
    s.bind(1, ch.user.str());
    if (!s.executeStep()) return user_not_found(ch.user);
    subscription before;
    before.user = ch.user;
    read_subscription(s, before);
    s.reset();
    auto& t = c.stmt(sql_get_tier);
    t.bind(1, ch.tier.str());
    if (!t.executeStep())
      return make_error(errc::unknown_tier, fmt::format("unknown tier {}", detail::quote_for_message(ch.tier.str())));
    t.reset();
    const auto status = ch.status.value_or(subscription_status::active);
    auto& u = c.stmt(sql_set_subscription);
    u.bind(1, ch.user.str());
    u.bind(2, ch.tier.str());
    u.bind(3, to_string(status));
    u.bind(4, format_db_time(ch.now));
    bind_opt(u, 5, ch.end_date ? std::optional<std::string>(format_db_time(*ch.end_date)) : std::nullopt);
    bind_opt(u, 6, ch.trial_end_date ? std::optional<std::string>(format_db_time(*ch.trial_end_date)) : std::nullopt);
    u.exec();
    usage_event ev;
    ev.user = ch.user;
    ev.event_type = ch.event_type;
    ev.quota_tier = ch.tier.str();
    ev.request_ip = ch.ctx.ip;
    ev.user_agent = ch.ctx.user_agent;
    ev.event_timestamp = ch.now;
    detail::json_writer meta;
    meta.begin_object()
        .field("from_tier", before.tier.str())
        .field("to_tier", ch.tier.str())
        .field("from_status", to_string(before.status))
        .field("to_status", to_string(status))
        .end_object();
    ev.event_metadata = meta.take();
    insert_event(c, ev, ch.ctx.id);
    tx.commit();
    return before;
  });
}

// ---------------------------------------------------------------------------
// Usage.

usage sqlite_storage::load_counters(connection& c, const user_id& user, local_date day, bool* day_row_exists) {
  usage u;
  u.user = user;
  u.usage_date = day;
  const local_date first = detail::first_of_month(day);
  const std::string day_s = format_db_date(day);
  auto& m = c.stmt(sql_month_latest);
  m.bind(1, user.str());
  m.bind(2, format_db_date(first));
  m.bind(3, format_db_date(first + std::chrono::months{1}));
  bool found_day = false;
  bool need_day_query = true;
  if (m.executeStep()) {
    u.messages_this_month = m.getColumn(1).getInt64();
    u.tokens_this_month = m.getColumn(2).getInt64();
    if (m.getColumn(0).getString() == day_s) {
      // The usual case: today is the latest day of the month.
      u.messages_today = m.getColumn(3).getInt64();
      u.tokens_today = m.getColumn(4).getInt64();
      found_day = true;
      need_day_query = false;
    }
  } else {
    need_day_query = false;  // no row at all this month
  }
  m.reset();
  if (need_day_query) {
    auto& d = c.stmt(sql_day_row);
    d.bind(1, user.str());
    d.bind(2, day_s);
    if (d.executeStep()) {
      u.messages_today = d.getColumn(0).getInt64();
      u.tokens_today = d.getColumn(1).getInt64();
      found_day = true;
    }
    d.reset();
  }
  if (day_row_exists) *day_row_exists = found_day;
  return u;
}

void sqlite_storage::apply_delta(connection& c, const user_id& user, local_date day, std::int64_t messages,
                                 std::int64_t tokens, sys_time now, bool day_row_exists) {
  const std::string day_s = format_db_date(day);
  const std::string month_start = format_db_date(detail::first_of_month(day));
  const std::string month_end = format_db_date(detail::first_of_month(day) + std::chrono::months{1});
  const std::string now_s = format_db_time(now);
  if (!day_row_exists) {
    auto& ins = c.stmt(sql_insert_day);
    ins.bind(1, user.str());
    ins.bind(2, day_s);
    ins.bind(3, month_start);
    ins.bind(4, now_s);
    ins.exec();
  }
  if (messages == 0 && tokens == 0) return;
  auto& up = c.stmt(sql_apply_delta);
  up.bind(1, user.str());
  up.bind(2, day_s);
  up.bind(3, month_end);
  bind_i64(up, 4, messages);
  bind_i64(up, 5, tokens);
  up.bind(6, now_s);
  up.exec();
}

std::int64_t sqlite_storage::insert_event(connection& c, const usage_event& e, const std::optional<request_id>& rid) {
  auto& s = c.stmt(sql_insert_event);
  s.bind(1, e.user.str());
  s.bind(2, e.event_type);
  bind_i64(s, 3, e.messages_count);
  bind_i64(s, 4, e.tokens_count);
  bind_opt(s, 5, e.quota_tier);
  bind_opt(s, 6, e.request_ip);
  bind_opt(s, 7, e.user_agent);
  bind_opt(s, 8, e.event_metadata);
  s.bind(9, format_db_time(e.event_timestamp));
  bind_opt(s, 10, e.usage_date ? std::optional<std::string>(format_db_date(*e.usage_date)) : std::nullopt);
  bind_opt(s, 11, rid ? std::optional<std::string>(rid->str()) : std::nullopt);
  s.exec();
  return sqlite3_last_insert_rowid(c.handle());
}

void sqlite_storage::audit_warnings(connection& c, const usage_snapshot& before, const usage& after, double threshold,
                                    sys_time now, local_date day) {
  for (limit_kind k : detail::warnings_crossed(before.applied, before.counters, after, threshold)) {
    usage_event ev;
    ev.user = before.sub.user;
    ev.event_type = "quota_warning";
    ev.quota_tier = before.applied.id.str();
    ev.usage_date = day;
    ev.event_timestamp = now;
    ev.event_metadata = detail::limit_metadata(k, before.applied, after, threshold);
    insert_event(c, ev, std::nullopt);
  }
}

std::optional<sqlite_storage::stored_key> sqlite_storage::find_key(connection& c, const user_id& u,
                                                                   const request_id& r) {
  auto& s = c.stmt(sql_get_key);
  s.bind(1, u.str());
  s.bind(2, r.str());
  if (!s.executeStep()) return std::nullopt;
  stored_key k;
  k.operation = s.getColumn(0).getString();
  k.fingerprint = s.getColumn(1).getString();
  k.allowed = s.getColumn(2).getInt() != 0;
  k.denied_by = detail::parse_limit_kind(column_text(s.getColumn(3)).value_or("none"));
  if (!s.getColumn(4).isNull()) k.reservation = reservation_id{s.getColumn(4).getString()};
  s.reset();
  return k;
}

void sqlite_storage::put_key(connection& c, const user_id& u, const request_id& r, const stored_key& k, local_date day,
                             sys_time now) {
  auto& s = c.stmt(sql_put_key);
  s.bind(1, u.str());
  s.bind(2, r.str());
  s.bind(3, k.operation);
  s.bind(4, k.fingerprint);
  s.bind(5, k.allowed ? 1 : 0);
  if (k.denied_by == limit_kind::none)
    s.bind(6);
  else
    s.bind(6, to_string(k.denied_by));
  bind_opt(s, 7, k.reservation ? std::optional<std::string>(k.reservation->str()) : std::nullopt);
  s.bind(8, format_db_date(day));
  s.bind(9, format_db_time(now));
  s.exec();
}

result<usage_snapshot> sqlite_storage::snapshot(const user_id& user, local_date day, sys_time now,
                                                const tier_id& default_tier) {
  // One statement reads a consistent snapshot; the default tier is read
  // separately only when the subscription lapsed.
  return run_ready(
      [&](connection& c) -> result<usage_snapshot> { return load_state(c, user, day, now, default_tier); });
}

result<consume_outcome> sqlite_storage::consume(const consume_request& req) {
  return run_ready([&](connection& c) -> result<consume_outcome> {
    txn tx(c, true);
    const std::string op = req.reserve ? "reserve" : "consume";
    const std::string fp = detail::fingerprint(op, req.messages, req.tokens);
    consume_outcome out;
    if (req.ctx.id) {
      if (auto k = find_key(c, req.user, *req.ctx.id)) {
        if (k->operation != op || k->fingerprint != fp) return detail::mismatch_error(*req.ctx.id, k->operation);
        BOOST_OUTCOME_TRY(snap, load_state(c, req.user, req.day, req.now, req.default_tier));
        tx.commit();
        out.allowed = k->allowed;
        out.denied_by = k->denied_by;
        out.reservation = k->reservation;
        out.snapshot = std::move(snap);
        out.replayed = true;
        return out;
      }
    }
    bool day_row = false;
    BOOST_OUTCOME_TRY(snap, load_state(c, req.user, req.day, req.now, req.default_tier, &day_row));
    const limit_kind kind = detail::evaluate(snap.applied, snap.counters, req.messages, req.tokens);
    usage_event ev;
    ev.user = req.user;
    ev.quota_tier = snap.applied.id.str();
    ev.request_ip = req.ctx.ip;
    ev.user_agent = req.ctx.user_agent;
    ev.usage_date = req.day;
    ev.event_timestamp = req.now;
    usage after = snap.counters;
    if (kind == limit_kind::none) {
      BOOST_OUTCOME_TRY(mt, detail::checked_add("messages_this_month", after.messages_this_month, req.messages));
      BOOST_OUTCOME_TRY(tt, detail::checked_add("tokens_this_month", after.tokens_this_month, req.tokens));
      after.messages_this_month = mt;
      after.tokens_this_month = tt;
      after.messages_today += req.messages;
      after.tokens_today += req.tokens;
      apply_delta(c, req.user, req.day, req.messages, req.tokens, req.now, day_row);
      ev.event_type = req.reserve ? "reservation_created" : "message_sent";
      ev.messages_count = req.messages;
      ev.tokens_count = req.tokens;
      if (req.reserve) {
        out.reservation = reservation_id{detail::new_reservation_id()};
        auto& r = c.stmt(sql_insert_reservation);
        r.bind(1, out.reservation->str());
        r.bind(2, req.user.str());
        r.bind(3, format_db_date(req.day));
        bind_i64(r, 4, req.messages);
        bind_i64(r, 5, req.tokens);
        bind_opt(r, 6, req.ctx.id ? std::optional<std::string>(req.ctx.id->str()) : std::nullopt);
        r.bind(7, format_db_time(req.now));
        r.bind(8, format_db_time(req.now + req.reservation_ttl));
        r.exec();
        detail::json_writer meta;
        meta.begin_object()
            .field("reservation_id", out.reservation->str())
            .field("expires_at", kauri_quota::format_time(req.now + req.reservation_ttl))
            .end_object();
        ev.event_metadata = meta.take();
      }
      insert_event(c, ev, req.ctx.id);
      audit_warnings(c, snap, after, req.warning_threshold, req.now, req.day);
      out.allowed = true;
    } else {
      ev.event_type = "quota_exceeded";
      ev.event_metadata = detail::denial_metadata(kind, snap.applied, snap.counters, req.messages, req.tokens);
      insert_event(c, ev, req.ctx.id);
      out.allowed = false;
      out.denied_by = kind;
    }
    if (req.ctx.id)
      put_key(c, req.user, *req.ctx.id, {op, fp, out.allowed, out.denied_by, out.reservation}, req.day, req.now);
    tx.commit();
    snap.counters = after;
    out.snapshot = std::move(snap);
    return out;
  });
}

result<record_outcome> sqlite_storage::record(const record_request& req) {
  return run_ready([&](connection& c) -> result<record_outcome> {
    txn tx(c, true);
    const std::string fp = detail::fingerprint("record", req.messages, req.tokens);
    record_outcome out;
    if (req.ctx.id) {
      if (auto k = find_key(c, req.user, *req.ctx.id)) {
        if (k->operation != "record" || k->fingerprint != fp) return detail::mismatch_error(*req.ctx.id, k->operation);
        BOOST_OUTCOME_TRY(snap, load_state(c, req.user, req.day, req.now, req.default_tier));
        tx.commit();
        out.snapshot = std::move(snap);
        out.replayed = true;
        return out;
      }
    }
    bool day_row = false;
    BOOST_OUTCOME_TRY(snap, load_state(c, req.user, req.day, req.now, req.default_tier, &day_row));
    usage after = snap.counters;
    BOOST_OUTCOME_TRY(mt, detail::checked_add("messages_this_month", after.messages_this_month, req.messages));
    BOOST_OUTCOME_TRY(tt, detail::checked_add("tokens_this_month", after.tokens_this_month, req.tokens));
    after.messages_this_month = mt;
    after.tokens_this_month = tt;
    after.messages_today += req.messages;
    after.tokens_today += req.tokens;
    apply_delta(c, req.user, req.day, req.messages, req.tokens, req.now, day_row);
    usage_event ev;
    ev.user = req.user;
    ev.event_type = "usage_recorded";
    ev.messages_count = req.messages;
    ev.tokens_count = req.tokens;
    ev.quota_tier = snap.applied.id.str();
    ev.request_ip = req.ctx.ip;
    ev.user_agent = req.ctx.user_agent;
    ev.usage_date = req.day;
    ev.event_timestamp = req.now;
    insert_event(c, ev, req.ctx.id);
    audit_warnings(c, snap, after, req.warning_threshold, req.now, req.day);
    if (req.ctx.id)
      put_key(c, req.user, *req.ctx.id, {"record", fp, true, limit_kind::none, std::nullopt}, req.day, req.now);
    tx.commit();
    snap.counters = after;
    out.snapshot = std::move(snap);
    return out;
  });
}

result<reservation> sqlite_storage::get_reservation(const reservation_id& id) {
  return run_ready([&](connection& c) -> result<reservation> {
    auto& s = c.stmt(sql_get_reservation);
    s.bind(1, id.str());
    if (!s.executeStep())
      return make_error(errc::reservation_not_found,
                        fmt::format("no reservation {}", detail::quote_for_message(id.str())));
    reservation r = read_reservation(s);
    s.reset();
    return r;
  });
}

result<settle_outcome> sqlite_storage::settle(const settle_request& req) {
  return run_ready([&](connection& c) -> result<settle_outcome> {
    txn tx(c, true);
    auto& s = c.stmt(sql_get_reservation);
    s.bind(1, req.id.str());
    if (!s.executeStep())
      return make_error(errc::reservation_not_found,
                        fmt::format("no reservation {}", detail::quote_for_message(req.id.str())));
    reservation r = read_reservation(s);
    s.reset();
    BOOST_OUTCOME_TRY(detail::check_settleable(r, req.now));
    // Refunds never take a day below zero (an administrative reset may have
    // zeroed it meanwhile); the audit row carries what was really moved.
    const usage day_usage = load_counters(c, r.user, r.usage_date);
    std::int64_t dm = 0;
    std::int64_t dt = 0;
    usage_event ev;
    ev.user = r.user;
    ev.usage_date = r.usage_date;
    ev.event_timestamp = req.now;
    if (req.actual_tokens) {
      dt = *req.actual_tokens - r.estimated_tokens;
      if (dt < 0) dt = std::max(dt, -day_usage.tokens_today);
      BOOST_OUTCOME_TRY(
          detail::checked_add("tokens_this_month", day_usage.tokens_this_month, std::max<std::int64_t>(dt, 0)));
      r.state = reservation_state::committed;
      r.actual_tokens = req.actual_tokens;
      ev.event_type = "reservation_committed";
    } else {
      dm = -std::min(r.messages, day_usage.messages_today);
      dt = -std::min(r.estimated_tokens, day_usage.tokens_today);
      r.state = reservation_state::released;
      ev.event_type = "reservation_released";
    }
    apply_delta(c, r.user, r.usage_date, dm, dt, req.now);
    auto& u = c.stmt(sql_close_reservation);
    u.bind(1, r.id.str());
    u.bind(2, to_string(r.state));
    bind_limit(u, 3, r.actual_tokens);
    u.bind(4, format_db_time(req.now));
    u.exec();
    ev.messages_count = dm;
    ev.tokens_count = dt;
    ev.event_metadata = detail::reservation_metadata(r);
    BOOST_OUTCOME_TRY(snap, load_state(c, r.user, req.day, req.now, req.default_tier));
    ev.quota_tier = snap.applied.id.str();
    insert_event(c, ev, std::nullopt);
    tx.commit();
    return settle_outcome{std::move(r), std::move(snap)};
  });
}

result<std::int64_t> sqlite_storage::expire_reservations(sys_time now) {
  return run_ready([&](connection& c) -> result<std::int64_t> {
    std::int64_t total = 0;
    for (;;) {
      txn tx(c, true);
      std::vector<reservation> batch;
      auto& s = c.stmt(sql_expired_reservations);
      s.bind(1, format_db_time(now));
      while (s.executeStep()) batch.push_back(read_reservation(s));
      s.reset();
      for (auto& r : batch) {
        r.state = reservation_state::expired;
        r.actual_tokens = r.estimated_tokens;
        auto& u = c.stmt(sql_close_reservation);
        u.bind(1, r.id.str());
        u.bind(2, to_string(r.state));
        bind_limit(u, 3, r.actual_tokens);
        u.bind(4, format_db_time(now));
        u.exec();
        usage_event ev;
        ev.user = r.user;
        ev.event_type = "reservation_expired";
        ev.usage_date = r.usage_date;
        ev.event_timestamp = now;
        ev.event_metadata = detail::reservation_metadata(r);
        insert_event(c, ev, std::nullopt);
      }
      tx.commit();
      total += static_cast<std::int64_t>(batch.size());
      if (batch.size() < 500) break;
    }
    return total;
  });
}

result<std::int64_t> sqlite_storage::prune_request_ids(sys_time before) {
  // Counted outside the attempt: batches already committed stay counted
  // when a later one is retried.
  std::int64_t total = 0;
  return run_ready([&](connection& c) -> result<std::int64_t> {
    for (;;) {
      // Short write transactions, so that no request waits long behind it.
      txn tx(c, true);
      auto& s = c.stmt(sql_prune_request_ids);
      s.bind(1, format_db_time(before));
      s.bind(2, detail::prune_request_ids_batch);
      const int n = s.exec();
      s.reset();
      tx.commit();
      total += n;
      if (n < detail::prune_request_ids_batch) break;
    }
    return total;
  });
}

result<std::int64_t> sqlite_storage::reset(const reset_request& req) {
  return run_ready([&](connection& c) -> result<std::int64_t> {
    txn tx(c, true);
    const std::optional<std::string> only = req.user ? std::optional<std::string>(req.user->str()) : std::nullopt;
    if (req.user) {
      auto& e = c.stmt(sql_user_exists);
      e.bind(1, req.user->str());
      if (!e.executeStep()) return user_not_found(*req.user);
      e.reset();
    }
    struct row {
      std::string user;
      local_date day;
      std::int64_t messages, tokens;
    };
    std::vector<row> rows;
    if (req.kind == reset_kind::daily) {
      auto& s = c.stmt(sql_day_rows_for_reset);
      s.bind(1, format_db_date(req.day));
      bind_opt(s, 2, only);
      while (s.executeStep())
        rows.push_back({s.getColumn(0).getString(), req.day, s.getColumn(1).getInt64(), s.getColumn(2).getInt64()});
      s.reset();
      for (const auto& r : rows) apply_delta(c, user_id{r.user}, r.day, -r.messages, -r.tokens, req.now);
    } else {
      const local_date first = detail::first_of_month(req.day);
      auto& s = c.stmt(sql_month_rows_for_reset);
      s.bind(1, format_db_date(first));
      s.bind(2, format_db_date(first + std::chrono::months{1}));
      bind_opt(s, 3, only);
      while (s.executeStep())
        rows.push_back({s.getColumn(0).getString(), parse_db_date(s.getColumn(1).getString()).value_or(req.day),
                        s.getColumn(2).getInt64(), s.getColumn(3).getInt64()});
      s.reset();
      auto& z = c.stmt(sql_zero_month);
      z.bind(1, format_db_date(first));
      z.bind(2, format_db_date(first + std::chrono::months{1}));
      bind_opt(z, 3, only);
      z.bind(4, format_db_time(req.now));
      z.exec();
    }
    std::vector<std::string> touched;
    for (const auto& r : rows) {
      usage_event ev;
      ev.user = user_id{r.user};
      ev.event_type = req.kind == reset_kind::daily ? "daily_reset" : "monthly_reset";
      ev.messages_count = -r.messages;
      ev.tokens_count = -r.tokens;
      ev.usage_date = r.day;
      ev.event_timestamp = req.now;
      insert_event(c, ev, std::nullopt);
      if (touched.empty() || touched.back() != r.user) touched.push_back(r.user);
    }
    tx.commit();
    std::sort(touched.begin(), touched.end());
    touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
    return static_cast<std::int64_t>(touched.size());
  });
}

// ---------------------------------------------------------------------------
// Audit.

result<std::int64_t> sqlite_storage::append_event(const usage_event& event) {
  return run_ready([&](connection& c) -> result<std::int64_t> {
    txn tx(c, true);
    auto& e = c.stmt(sql_user_exists);
    e.bind(1, event.user.str());
    if (!e.executeStep()) return user_not_found(event.user);
    e.reset();
    std::int64_t id = insert_event(c, event, std::nullopt);
    tx.commit();
    return id;
  });
}

result<std::vector<usage_event>> sqlite_storage::events(const event_query& q) {
  return run_ready([&](connection& c) -> result<std::vector<usage_event>> {
    std::vector<usage_event> out;
    auto& s = c.stmt(sql_events);
    s.bind(1, q.user.str());
    bind_opt(s, 2, q.event_type);
    bind_i64(s, 3, q.limit);
    while (s.executeStep()) {
      usage_event e;
      e.id = s.getColumn(0).getInt64();
      e.user = user_id{s.getColumn(1).getString()};
      e.event_type = s.getColumn(2).getString();
      e.messages_count = s.getColumn(3).getInt64();
      e.tokens_count = s.getColumn(4).getInt64();
      e.quota_tier = column_text(s.getColumn(5));
      e.request_ip = column_text(s.getColumn(6));
      e.user_agent = column_text(s.getColumn(7));
      e.event_metadata = column_text(s.getColumn(8));
      if (!s.getColumn(9).isNull()) e.usage_date = parse_db_date(s.getColumn(9).getString());
      e.event_timestamp = column_time(s.getColumn(10)).value_or(sys_time{});
      out.push_back(std::move(e));
    }
    return out;
  });
}

}  // namespace

namespace detail {
result<std::unique_ptr<storage>> open_sqlite_storage(const sqlite_options& opts) { return sqlite_storage::open(opts); }
}  // namespace detail

}  // namespace kauri_quota
