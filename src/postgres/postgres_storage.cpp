// The PostgreSQL backend. Every operation is one call of a prepared
// statement, most of them server-side functions installed by migration
// 0008, so each costs one network round trip and runs as one transaction.
// Connections come from a pool; serialization failures, deadlocks and lost
// connections are retried (bounded, with jitter). Writes are always keyed
// (the caller's request_id, or one the library makes), so a retry after a
// commit whose acknowledgement was lost returns the original outcome
// instead of counting twice.
#include "postgres/postgres_storage.hpp"

#include "core/connection_pool.hpp"
#include "core/json_writer.hpp"
#include "core/migration_script.hpp"
#include "core/migrations.hpp"
#include "core/period.hpp"
#include "core/sql_support.hpp"
#include "core/validate.hpp"
#include "postgres/pq.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <random>
#include <thread>

namespace kauri_quota {
namespace {

using detail::format_db_date;
using detail::format_db_time;
using detail::parse_db_date;
using detail::parse_db_time;
using detail::pq::failure;
using detail::pq::params;
using detail::pq::rows;

template <class T>
using attempt = std::variant<T, failure>;

// ---------------------------------------------------------------------------
// SQL.

// These return one kauri_quota_outcome value, read with exec_outcome.
constexpr const char* sql_consume =
    "SELECT kauri_quota_consume($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)";
constexpr const char* sql_record = "SELECT kauri_quota_record($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";
constexpr const char* sql_settle = "SELECT kauri_quota_settle($1, $2, $3, $4, $5, $6)";
constexpr const char* sql_load = "SELECT kauri_quota_load($1, $2, $3, $4, false)";
constexpr const char* sql_expire = "SELECT kauri_quota_expire($1, 500)";
constexpr const char* sql_reset = "SELECT kauri_quota_reset($1, $2, $3, $4)";
constexpr const char* sql_prune_request_ids =
    "DELETE FROM kauri_quota_idempotency_keys WHERE ctid = ANY (ARRAY(SELECT ctid FROM kauri_quota_idempotency_keys"
    " WHERE created_at < $1 ORDER BY created_at LIMIT $2))";
constexpr const char* sql_set_subscription =
    "SELECT * FROM kauri_quota_set_subscription($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
constexpr const char* sql_create_user = "SELECT kauri_quota_create_user($1, $2, $3, $4)";
constexpr const char* sql_get_subscription =
    "SELECT email, subscription_tier, subscription_status, subscription_start_date, subscription_end_date,"
    " trial_end_date, created_at::timestamp FROM users WHERE user_id = $1";
constexpr const char* sql_all_tiers =
    "SELECT tier_id, name, name_fr, messages_per_day, messages_per_month, tokens_per_month, price_fcfa,"
    " features::text, display_order, is_visible FROM subscription_tiers ORDER BY display_order, tier_id";
constexpr const char* sql_get_tier =
    "SELECT tier_id, name, name_fr, messages_per_day, messages_per_month, tokens_per_month, price_fcfa,"
    " features::text, display_order, is_visible FROM subscription_tiers WHERE tier_id = $1";
constexpr const char* sql_update_tier =
    "UPDATE subscription_tiers SET"
    " name = CASE WHEN $2::boolean THEN $3 ELSE name END,"
    " name_fr = CASE WHEN $4::boolean THEN $5 ELSE name_fr END,"
    " messages_per_day = CASE WHEN $6::boolean THEN $7::bigint ELSE messages_per_day END,"
    " messages_per_month = CASE WHEN $8::boolean THEN $9::bigint ELSE messages_per_month END,"
    " tokens_per_month = CASE WHEN $10::boolean THEN $11::bigint ELSE tokens_per_month END,"
    " price_fcfa = CASE WHEN $12::boolean THEN $13::bigint ELSE price_fcfa END,"
    " display_order = CASE WHEN $14::boolean THEN $15::integer ELSE display_order END,"
    " is_visible = CASE WHEN $16::boolean THEN $17::boolean ELSE is_visible END,"
    " updated_at = $18"
    " WHERE tier_id = $1"
    " RETURNING tier_id, name, name_fr, messages_per_day, messages_per_month, tokens_per_month, price_fcfa,"
    " features::text, display_order, is_visible";
constexpr const char* sql_get_reservation =
    "SELECT reservation_id, user_id::text, usage_date, messages, estimated_tokens, actual_tokens, state, created_at,"
    " expires_at FROM kauri_quota_reservations WHERE reservation_id = $1";
constexpr const char* sql_append_event =
    "INSERT INTO usage_logs (user_id, event_type, messages_count, tokens_count, quota_tier, request_ip, user_agent,"
    " event_metadata, event_timestamp, usage_date, request_id)"
    " SELECT u.user_id, $2, $3, $4, $5, $6, $7, $8::json, $9, NULL, NULL FROM users u WHERE u.user_id = $1"
    " RETURNING id";
constexpr const char* sql_events =
    "SELECT id, user_id::text, event_type, messages_count, tokens_count, quota_tier, request_ip, user_agent,"
    " event_metadata::text, usage_date, event_timestamp FROM usage_logs"
    " WHERE user_id = $1 AND ($2::text IS NULL OR event_type = $2) ORDER BY id DESC LIMIT $3";
constexpr const char* sql_version = "SELECT COALESCE(MAX(version), 0) FROM kauri_quota_migrations";
constexpr const char* sql_create_migrations_table =
    "CREATE TABLE IF NOT EXISTS kauri_quota_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
    " checksum TEXT NOT NULL, applied_at TIMESTAMP NOT NULL)";

// Columns of the kauri_quota_outcome type, in order.
enum outcome_col : int {
  oc_allowed,
  oc_denied_by,
  oc_replayed,
  oc_reservation_id,
  oc_email,
  oc_sub_tier,
  oc_sub_status,
  oc_start_date,
  oc_end_date,
  oc_trial_end_date,
  oc_created_at,
  oc_tier_id,
  oc_tier_name,
  oc_tier_name_fr,
  oc_per_day,
  oc_per_month,
  oc_tokens_per_month,
  oc_price_fcfa,
  oc_display_order,
  oc_is_visible,
  oc_messages_today,
  oc_tokens_today,
  oc_messages_this_month,
  oc_tokens_this_month,
  oc_day_found,
  oc_res_user,
  oc_res_day,
  oc_res_messages,
  oc_res_estimated,
  oc_res_actual,
  oc_res_state,
  oc_res_created,
  oc_res_expires,
  oc_count
};

/// Runs a statement that returns one kauri_quota_outcome value and gives
/// its fields as the columns of one row. The value travels as one composite
/// column, which costs the server less than expanding it into columns.
std::variant<rows, failure> exec_outcome(detail::pq::connection& c, const char* name, const char* sql,
                                         const params& p) {
  auto r = c.exec(name, sql, p);
  if (std::holds_alternative<failure>(r)) return r;
  const rows& one = std::get<rows>(r);
  std::optional<rows> fields;
  if (one.size() == 1 && one.columns() == 1 && !one.null(0, 0)) fields = rows::from_record(one.text(0, 0));
  if (!fields || fields->columns() != oc_count) {
    failure f;
    f.err = make_error(errc::schema_mismatch,
                       "the server's kauri_quota functions return an unexpected row; run `kauri-quota migrate`");
    return f;
  }
  return std::move(*fields);
}

std::optional<sys_time> opt_time(const rows& r, int row, int col) {
  if (r.null(row, col)) return std::nullopt;
  return parse_db_time(r.text(row, col));
}

std::string text_of(std::int64_t v) { return std::to_string(v); }
std::optional<std::string> text_of(const limit& v) {
  if (!v) return std::nullopt;
  return std::to_string(*v);
}
std::optional<std::string> time_of(const std::optional<sys_time>& t) {
  if (!t) return std::nullopt;
  return format_db_time(*t);
}

tier read_tier(const rows& r, int row) {
  tier t;
  t.id = tier_id{std::string(r.text(row, 0))};
  t.name = std::string(r.text(row, 1));
  t.name_fr = std::string(r.text(row, 2));
  t.messages_per_day = r.opt_i64(row, 3);
  t.messages_per_month = r.opt_i64(row, 4);
  t.tokens_per_month = r.opt_i64(row, 5);
  t.price_fcfa = r.i64(row, 6);
  t.features = detail::parse_features(r.text(row, 7));
  t.display_order = static_cast<std::int32_t>(r.i64(row, 8));
  t.is_visible = r.boolean(row, 9);
  return t;
}

subscription read_subscription_cols(const rows& r, int row, const user_id& user, int first) {
  subscription s;
  s.user = user;
  s.email = r.opt_text(row, first);
  s.tier = tier_id{std::string(r.text(row, first + 1))};
  s.status = parse_subscription_status(r.text(row, first + 2)).value_or(subscription_status::active);
  s.start_date = opt_time(r, row, first + 3);
  s.end_date = opt_time(r, row, first + 4);
  s.trial_end_date = opt_time(r, row, first + 5);
  s.created_at = opt_time(r, row, first + 6);
  return s;
}

usage_snapshot read_snapshot(const rows& r, const user_id& user, local_date day) {
  usage_snapshot s;
  s.sub = read_subscription_cols(r, 0, user, oc_email);
  s.applied.id = tier_id{std::string(r.text(0, oc_tier_id))};
  s.applied.name = std::string(r.text(0, oc_tier_name));
  s.applied.name_fr = std::string(r.text(0, oc_tier_name_fr));
  s.applied.messages_per_day = r.opt_i64(0, oc_per_day);
  s.applied.messages_per_month = r.opt_i64(0, oc_per_month);
  s.applied.tokens_per_month = r.opt_i64(0, oc_tokens_per_month);
  s.applied.price_fcfa = r.i64(0, oc_price_fcfa);
  s.applied.display_order = static_cast<std::int32_t>(r.i64(0, oc_display_order));
  s.applied.is_visible = r.boolean(0, oc_is_visible);
  s.counters.user = user;
  s.counters.usage_date = day;
  s.counters.messages_today = r.i64(0, oc_messages_today);
  s.counters.tokens_today = r.i64(0, oc_tokens_today);
  s.counters.messages_this_month = r.i64(0, oc_messages_this_month);
  s.counters.tokens_this_month = r.i64(0, oc_tokens_this_month);
  return s;
}

reservation read_reservation(const rows& r, int row) {
  reservation x;
  x.id = reservation_id{std::string(r.text(row, 0))};
  x.user = user_id{std::string(r.text(row, 1))};
  x.usage_date = parse_db_date(r.text(row, 2)).value_or(local_date{});
  x.messages = r.i64(row, 3);
  x.estimated_tokens = r.i64(row, 4);
  x.actual_tokens = r.opt_i64(row, 5);
  x.state = detail::parse_reservation_state(r.text(row, 6)).value_or(reservation_state::open);
  x.created_at = opt_time(r, row, 7).value_or(sys_time{});
  x.expires_at = opt_time(r, row, 8).value_or(sys_time{});
  return x;
}

/// Rewrites the message of a KQ-class error into the library's words.
error describe(const failure& f, std::string_view subject) {
  const auto& st = f.sqlstate;
  if (st == "KQ001" || st == "22P02" || st == "23503")
    return make_error(errc::unknown_user, fmt::format("unknown user {}", detail::quote_for_message(subject)));
  if (st == "KQ002") return make_error(errc::unknown_tier, fmt::format("unknown tier ({})", f.err.message));
  if (st == "KQ004")
    return make_error(errc::reservation_not_found,
                      fmt::format("no reservation {}", detail::quote_for_message(subject)));
  if (st == "KQ005")
    return make_error(errc::reservation_closed,
                      f.err.message == "expired"
                          ? fmt::format("reservation {} expired and is settled at its estimate", subject)
                          : fmt::format("reservation {} is already {}", subject, f.err.message));
  if (st == "KQ006")
    return make_error(errc::user_exists, fmt::format("user {} already exists", detail::quote_for_message(subject)));
  if (st == "42P01" || st == "42883" || st == "42703")
    return make_error(errc::schema_mismatch,
                      fmt::format("database schema is not the one this library needs ({}); run `kauri-quota migrate`",
                                  f.err.message));
  return f.err;
}

failure as_failure(error e) {
  failure f;
  f.err = std::move(e);
  return f;
}

// ---------------------------------------------------------------------------

class postgres_storage final : public storage {
 public:
  static result<std::unique_ptr<storage>> open(const postgres_options& opts);

  std::string_view backend() const noexcept override { return "postgresql"; }

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
  using connection = detail::pq::connection;
  explicit postgres_storage(postgres_options opts) : opts_(std::move(opts)) {}

  result<detail::connection_pool<connection>::lease> acquire();

  /// Runs `f(connection&)`, retrying serialization failures, deadlocks and
  /// lost connections. After a lost connection whose request may have
  /// reached the server, it retries only when `safe_to_repeat` (the call is
  /// keyed or read-only); otherwise the outcome is unknown and reported.
  template <class T, class F>
  result<T> run(bool safe_to_repeat, F&& f);
  template <class T, class F>
  result<T> run_ready(bool safe_to_repeat, F&& f);

  static attempt<int> read_version(connection& c);
  std::optional<error> version_error(int v) const;
  result<void> apply_migration(connection& c, const detail::embedded_migration& m, bool up,
                               const migrate_options& opts);
  attempt<bool> adopt_alembic(connection& c);
  void backoff(int attempt_no);

  postgres_options opts_;
  detail::pq::connect_options conn_opts_;
  std::string password_;
  std::unique_ptr<detail::connection_pool<connection>> pool_;
  std::atomic<bool> ready_{false};
};

result<std::unique_ptr<storage>> postgres_storage::open(const postgres_options& opts) {
  if (opts.conninfo.empty()) return make_error(errc::invalid_argument, "PostgreSQL connection string is empty");
  if (opts.pool_size < 1 || opts.pool_size > 256)
    return make_error(errc::invalid_argument, "pool_size must be between 1 and 256");
  if (opts.connect_timeout < std::chrono::milliseconds{1} || opts.connect_timeout > std::chrono::hours{1})
    return make_error(errc::invalid_argument, "connect_timeout must be between 1 ms and 1 hour");
  if (opts.statement_timeout < std::chrono::milliseconds{1} || opts.statement_timeout > std::chrono::hours{1})
    return make_error(errc::invalid_argument, "statement_timeout must be between 1 ms and 1 hour");
  if (opts.max_retries < 0 || opts.max_retries > 100)
    return make_error(errc::invalid_argument, "max_retries must be between 0 and 100");
  // Parse first, so that a malformed string is invalid_argument (not a
  // connection failure) and so that the password is known for scrubbing.
  char* err = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(opts.conninfo.c_str(), &err);
  if (!parsed) {
    std::string msg = err ? err : "malformed";
    PQfreemem(err);
    while (!msg.empty() && msg.back() == '\n') msg.pop_back();
    // libpq's message quotes the part it could not parse, which may be the
    // password itself: a string that holds one is not described further.
    if (detail::pq::may_hold_password(opts.conninfo))
      return make_error(errc::invalid_argument,
                        "malformed PostgreSQL connection string (not shown: it holds a password); check its quoting "
                        "and percent-encoding");
    return make_error(errc::invalid_argument, fmt::format("malformed PostgreSQL connection string {}: {}",
                                                          detail::quote_for_message(redact_url(opts.conninfo)), msg));
  }
  std::string password;
  for (auto* o = parsed; o->keyword; ++o)
    if (std::string_view(o->keyword) == "password" && o->val) password = o->val;
  PQconninfoFree(parsed);
  std::unique_ptr<postgres_storage> s(new postgres_storage(opts));
  s->password_ = password;
  s->conn_opts_ = {opts.conninfo, opts.connect_timeout, opts.statement_timeout};
  // Connect once now so that a wrong address fails at open.
  auto c = connection::open(s->conn_opts_, password);
  if (!c) return c.error();
  // A connection in a transaction or broken is not reused: the next
  // acquire reconnects.
  s->pool_ = std::make_unique<detail::connection_pool<connection>>(
      opts.pool_size, [](const connection& x) { return !x.broken() && PQtransactionStatus(x.raw()) == PQTRANS_IDLE; });
  s->pool_->adopt(std::move(c).value());
  if (opts.auto_migrate) {
    auto r = s->migrate({});
    if (!r) return r.error();
  }
  return std::unique_ptr<storage>(std::move(s));
}

result<detail::connection_pool<detail::pq::connection>::lease> postgres_storage::acquire() {
  return pool_->acquire([&] { return connection::open(conn_opts_, password_); });
}

void postgres_storage::backoff(int attempt_no) {
  thread_local std::mt19937 gen{std::random_device{}()};
  const int base = std::min(1000, 10 << std::min(attempt_no, 6));
  std::uniform_int_distribution<int> jitter(base / 2, base + base / 2);
  std::this_thread::sleep_for(std::chrono::milliseconds(jitter(gen)));
}

template <class T, class F>
result<T> postgres_storage::run(bool safe_to_repeat, F&& f) {
  for (int attempt_no = 0;; ++attempt_no) {
    auto c = acquire();
    if (!c) {
      if (attempt_no >= opts_.max_retries) return c.error();
      backoff(attempt_no);
      continue;
    }
    attempt<T> r = f(*c.value());
    if (auto* v = std::get_if<T>(&r)) return std::move(*v);
    failure& fl = std::get<failure>(r);
    const bool conflict = fl.sqlstate == "40001" || fl.sqlstate == "40P01";
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
result<T> postgres_storage::run_ready(bool safe_to_repeat, F&& f) {
  if (!ready_.load(std::memory_order_acquire)) {
    auto v = run<int>(true, [&](connection& c) { return read_version(c); });
    if (!v) return v.error();
    if (auto e = version_error(v.value())) return *e;
    ready_.store(true, std::memory_order_release);
  }
  return run<T>(safe_to_repeat, std::forward<F>(f));
}

// ---------------------------------------------------------------------------
// Schema and migrations.

attempt<int> postgres_storage::read_version(connection& c) {
  auto r = c.exec("kq_version_exists", "SELECT to_regclass('kauri_quota_migrations') IS NOT NULL", {});
  if (auto* f = std::get_if<failure>(&r)) return std::move(*f);
  if (!std::get<rows>(r).boolean(0, 0)) return 0;
  auto v = c.exec("kq_version", sql_version, {});
  if (auto* f = std::get_if<failure>(&v)) return std::move(*f);
  return static_cast<int>(std::get<rows>(v).i64(0, 0));
}

std::optional<error> postgres_storage::version_error(int v) const {
  const int head = static_cast<int>(detail::postgres_migrations().size());
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

result<int> postgres_storage::schema_version() {
  return run<int>(true, [&](connection& c) { return read_version(c); });
}

result<std::vector<migration_info>> postgres_storage::migrations() {
  return run<std::vector<migration_info>>(true, [&](connection& c) -> attempt<std::vector<migration_info>> {
    std::vector<migration_info> out;
    for (const auto& m : detail::postgres_migrations()) out.push_back({m.version, m.name, std::nullopt});
    auto e = c.exec("kq_version_exists", "SELECT to_regclass('kauri_quota_migrations') IS NOT NULL", {});
    if (auto* f = std::get_if<failure>(&e)) return std::move(*f);
    if (!std::get<rows>(e).boolean(0, 0)) return out;
    auto r = c.exec("kq_migrations", "SELECT version, name, applied_at FROM kauri_quota_migrations", {});
    if (auto* f = std::get_if<failure>(&r)) return std::move(*f);
    const rows& rs = std::get<rows>(r);
    for (int i = 0; i < rs.size(); ++i) {
      const int v = static_cast<int>(rs.i64(i, 0));
      auto it = std::find_if(out.begin(), out.end(), [&](const migration_info& m) { return m.version == v; });
      if (it == out.end())
        out.push_back({v, std::string(rs.text(i, 1)), opt_time(rs, i, 2)});
      else
        it->applied_at = opt_time(rs, i, 2);
    }
    std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.version < b.version; });
    return out;
  });
}

// Runs `sql` and turns a failure into a migration error.
#define KQ_MIGRATION_EXEC(conn, call)                                                                             \
  do {                                                                                                            \
    auto&& kq_r_ = (call);                                                                                        \
    if (auto* kq_f_ = std::get_if<failure>(&kq_r_)) {                                                             \
      (void)(conn).exec_simple("ROLLBACK");                                                                       \
      return make_error(kq_f_->connection_lost ? errc::storage_unavailable : errc::migration_failed,              \
                        fmt::format("migration {:04d} {} ({}) failed: {}", m.version, m.name, up ? "up" : "down", \
                                    kq_f_->err.message));                                                         \
    }                                                                                                             \
  } while (0)

result<void> postgres_storage::apply_migration(connection& c, const detail::embedded_migration& m, bool up,
                                               const migrate_options& opts) {
  const auto statements = detail::split_script(up ? m.up : m.down);
  const sys_time now = std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
  KQ_MIGRATION_EXEC(c, c.exec_simple("BEGIN"));
  for (const auto& st : statements) {
    const auto& d = st.directive;
    if (d.rfind("backfill ", 0) == 0) {
      const std::string spec = d.substr(9);
      const auto sp = spec.find(' ');
      const std::string table = spec.substr(0, sp);
      const std::string condition = sp == std::string::npos ? "TRUE" : spec.substr(sp + 1);
      KQ_MIGRATION_EXEC(c, c.exec_simple("COMMIT"));
      auto count = c.exec_simple(fmt::format("SELECT count(*) FROM {} WHERE {}", table, condition));
      KQ_MIGRATION_EXEC(c, count);
      const std::int64_t total = std::get<rows>(count).i64(0, 0);
      std::int64_t done = 0;
      if (opts.progress) opts.progress({m.version, "backfill " + table, 0, total});
      for (;;) {
        auto r = c.exec_params(st.text, {std::to_string(opts.batch_size)});
        KQ_MIGRATION_EXEC(c, r);
        const std::int64_t changed = std::get<rows>(r).affected();
        if (changed == 0) break;
        done += changed;
        if (opts.progress) opts.progress({m.version, "backfill " + table, std::min(done, total), total});
      }
      KQ_MIGRATION_EXEC(c, c.exec_simple("BEGIN"));
      continue;
    }
    if (d.rfind("batches-by-id ", 0) == 0) {
      const std::string table = d.substr(14);
      KQ_MIGRATION_EXEC(c, c.exec_simple("COMMIT"));
      auto range = c.exec_simple(fmt::format("SELECT COALESCE(min(id), 0), COALESCE(max(id), 0) FROM {}", table));
      KQ_MIGRATION_EXEC(c, range);
      const std::int64_t lo = std::get<rows>(range).i64(0, 0);
      const std::int64_t hi = std::get<rows>(range).i64(0, 1);
      const std::int64_t total = hi >= lo ? hi - lo + 1 : 0;
      for (std::int64_t from = lo - 1; from < hi; from += opts.batch_size) {
        const std::int64_t to = std::min(hi, from + opts.batch_size);
        auto r = c.exec_params(st.text, {std::to_string(from), std::to_string(to)});
        KQ_MIGRATION_EXEC(c, r);
        if (opts.progress) opts.progress({m.version, "backfill " + table, to - lo + 1, total});
      }
      KQ_MIGRATION_EXEC(c, c.exec_simple("BEGIN"));
      continue;
    }
    if (d == "commit") {
      KQ_MIGRATION_EXEC(c, c.exec_simple("COMMIT"));
      KQ_MIGRATION_EXEC(c, c.exec_simple("BEGIN"));
    } else if (d == "no-transaction") {
      KQ_MIGRATION_EXEC(c, c.exec_simple("COMMIT"));
      KQ_MIGRATION_EXEC(c, c.exec_simple(st.text));
      KQ_MIGRATION_EXEC(c, c.exec_simple("BEGIN"));
      continue;
    }
    KQ_MIGRATION_EXEC(c, c.exec_simple(st.text));
  }
  if (up) {
    KQ_MIGRATION_EXEC(c, c.exec_params("INSERT INTO kauri_quota_migrations (version, name, checksum, applied_at)"
                                       " VALUES ($1, $2, $3, $4)",
                                       {std::to_string(m.version), std::string(m.name), detail::checksum_hex(m.up),
                                        format_db_time(now)}));
  } else {
    KQ_MIGRATION_EXEC(
        c, c.exec_params("DELETE FROM kauri_quota_migrations WHERE version = $1", {std::to_string(m.version)}));
  }
  KQ_MIGRATION_EXEC(c, c.exec_simple("COMMIT"));
  return ok();
}
#undef KQ_MIGRATION_EXEC

attempt<bool> postgres_storage::adopt_alembic(connection& c) {
  // A database created by the original system's Alembic migrations: record
  // 0001-0004 as applied without touching its rows.
  auto r = c.exec_simple(
      "SELECT to_regclass('alembic_version') IS NOT NULL,"
      " (SELECT count(*) FROM kauri_quota_migrations)");
  if (auto* f = std::get_if<failure>(&r)) return std::move(*f);
  if (!std::get<rows>(r).boolean(0, 0) || std::get<rows>(r).i64(0, 1) != 0) return false;
  auto v = c.exec_simple("SELECT version_num FROM alembic_version");
  if (auto* f = std::get_if<failure>(&v)) return std::move(*f);
  const rows& vr = std::get<rows>(v);
  const std::string head = vr.size() == 1 ? std::string(vr.text(0, 0)) : std::string();
  if (head != "64df4342ae35") {
    return as_failure(
        make_error(errc::schema_mismatch,
                   fmt::format("this database was created by Alembic and is at revision {}, not 64df4342ae35; "
                               "bring it to 64df4342ae35 with Alembic before adopting it",
                               detail::quote_for_message(head))));
  }
  auto t = c.exec_simple(
      "SELECT count(*) FROM unnest(ARRAY['users','subscription_tiers','user_usage','usage_logs']) AS t(name)"
      " WHERE to_regclass(t.name) IS NOT NULL");
  if (auto* f = std::get_if<failure>(&t)) return std::move(*f);
  if (std::get<rows>(t).i64(0, 0) != 4)
    return as_failure(make_error(errc::schema_mismatch,
                                 "alembic_version is at 64df4342ae35 but the four tables of the original schema "
                                 "are not all present"));
  const std::string now =
      format_db_time(std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now()));
  for (const auto& m : detail::postgres_migrations()) {
    if (m.version > 4) break;
    auto ins = c.exec_params(
        "INSERT INTO kauri_quota_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (version) DO NOTHING",
        {std::to_string(m.version), std::string(m.name) + " (adopted from Alembic)", detail::checksum_hex(m.up), now});
    if (auto* f = std::get_if<failure>(&ins)) return std::move(*f);
  }
  return true;
}

result<migrate_report> postgres_storage::migrate(const migrate_options& opts) {
  const auto all = detail::postgres_migrations();
  const int head = static_cast<int>(all.size());
  const int target = opts.to.value_or(head);
  if (target < 0 || target > head)
    return make_error(errc::invalid_argument, fmt::format("migration target must be between 0 and {}", head));
  if (opts.batch_size < 1 || opts.batch_size > 1'000'000)
    return make_error(errc::invalid_argument, "batch_size must be between 1 and 1000000");
  auto c = acquire();
  if (!c) return c.error();
  connection& conn = *c.value();
  // Backfills and index builds may take long on a big table: no statement
  // timeout. One migrator at a time, across processes and machines: a
  // second one waits for the first. Then a lock timeout, so that a DDL
  // statement that cannot get its lock quickly fails instead of queueing
  // every writer behind it.
  conn.set_wait_limit(std::chrono::hours(24));
  struct restore {
    connection& c;
    const postgres_options& o;
    ~restore() {
      c.set_wait_limit(std::nullopt);
      (void)c.exec_simple("SELECT pg_advisory_unlock(7419730113)");
      (void)c.exec_simple(fmt::format("SET statement_timeout = {}; SET lock_timeout = {}", o.statement_timeout.count(),
                                      o.statement_timeout.count()));
    }
  } restorer{conn, opts_};
  if (auto set = conn.exec_simple("SET statement_timeout = 0; SET lock_timeout = 0; "
                                  "SELECT pg_advisory_lock(7419730113); SET lock_timeout = '10s'");
      std::holds_alternative<failure>(set))
    return std::get<failure>(set).err;
  if (auto r = conn.exec_simple(sql_create_migrations_table); std::holds_alternative<failure>(r))
    return std::get<failure>(r).err;
  migrate_report report;
  auto adopted = adopt_alembic(conn);
  if (auto* f = std::get_if<failure>(&adopted)) return f->err;
  report.adopted = std::get<bool>(adopted);
  auto v = read_version(conn);
  if (auto* f = std::get_if<failure>(&v)) return f->err;
  report.from_version = std::get<int>(v);
  if (report.from_version > head) return *version_error(report.from_version);
  for (int ver = report.from_version + 1; ver <= target; ++ver) {
    auto r = apply_migration(conn, all[static_cast<std::size_t>(ver - 1)], true, opts);
    if (!r) return r.error();
    report.applied.push_back(ver);
  }
  for (int ver = report.from_version; ver > target; --ver) {
    auto r = apply_migration(conn, all[static_cast<std::size_t>(ver - 1)], false, opts);
    if (!r) return r.error();
    report.reverted.push_back(ver);
  }
  auto after = read_version(conn);
  if (auto* f = std::get_if<failure>(&after)) return f->err;
  report.to_version = std::get<int>(after);
  ready_.store(report.to_version == head, std::memory_order_release);
  return report;
}

// ---------------------------------------------------------------------------
// Tiers.

result<std::vector<tier>> postgres_storage::tiers(bool visible_only) {
  return run_ready<std::vector<tier>>(true, [&](connection& c) -> attempt<std::vector<tier>> {
    auto r = c.exec("kq_all_tiers", sql_all_tiers, {});
    if (auto* f = std::get_if<failure>(&r)) return std::move(*f);
    const rows& rs = std::get<rows>(r);
    std::vector<tier> out;
    for (int i = 0; i < rs.size(); ++i) {
      tier t = read_tier(rs, i);
      if (!visible_only || t.is_visible) out.push_back(std::move(t));
    }
    return out;
  });
}

result<tier> postgres_storage::get_tier(const tier_id& id) {
  return run_ready<tier>(true, [&](connection& c) -> attempt<tier> {
    auto r = c.exec("kq_get_tier", sql_get_tier, {id.str()});
    if (auto* f = std::get_if<failure>(&r)) return std::move(*f);
    const rows& rs = std::get<rows>(r);
    if (rs.size() == 0)
      return as_failure(
          make_error(errc::unknown_tier, fmt::format("unknown tier {}", detail::quote_for_message(id.str()))));
    return read_tier(rs, 0);
  });
}

result<tier> postgres_storage::update_tier(const tier_update& u, sys_time now) {
  auto flag = [](bool b) { return std::optional<std::string>(b ? "true" : "false"); };
  params p{u.id.str(),
           flag(u.name.has_value()),
           u.name,
           flag(u.name_fr.has_value()),
           u.name_fr,
           flag(u.messages_per_day.has_value()),
           text_of(u.messages_per_day.value_or(std::nullopt)),
           flag(u.messages_per_month.has_value()),
           text_of(u.messages_per_month.value_or(std::nullopt)),
           flag(u.tokens_per_month.has_value()),
           text_of(u.tokens_per_month.value_or(std::nullopt)),
           flag(u.price_fcfa.has_value()),
           text_of(u.price_fcfa.value_or(0)),
           flag(u.display_order.has_value()),
           text_of(u.display_order.value_or(0)),
           flag(u.is_visible.has_value()),
           flag(u.is_visible.value_or(false)),
           format_db_time(now)};
  // Setting the same values again is harmless, so a retry is safe.
  return run_ready<tier>(true, [&](connection& c) -> attempt<tier> {
    auto r = c.exec("kq_update_tier", sql_update_tier, p);
    if (auto* f = std::get_if<failure>(&r)) return std::move(*f);
    const rows& rs = std::get<rows>(r);
    if (rs.size() == 0)
      return as_failure(
          make_error(errc::unknown_tier, fmt::format("unknown tier {}", detail::quote_for_message(u.id.str()))));
    return read_tier(rs, 0);
  });
}

// ---------------------------------------------------------------------------
// Users and subscriptions.

result<subscription> postgres_storage::create_user(const new_user& nu) {
  return run_ready<subscription>(false, [&](connection& c) -> attempt<subscription> {
    auto r =
        c.exec("kq_create_user", sql_create_user, {nu.user.str(), nu.email, nu.tier.str(), format_db_time(nu.now)});
    if (auto* f = std::get_if<failure>(&r)) {
      if (f->sqlstate == "KQ002")
        f->err =
            make_error(errc::unknown_tier, fmt::format("unknown tier {}", detail::quote_for_message(nu.tier.str())));
      else if (f->sqlstate == "23502")
        f->err = make_error(errc::invalid_argument,
                            fmt::format("the users table refused the new row ({}); create users in the host "
                                        "application and call assign_default_subscription",
                                        f->err.message));
      else if (f->sqlstate == "22P02")
        f->err = make_error(errc::invalid_argument,
                            fmt::format("user id {} is not valid for this database's users.user_id column",
                                        detail::quote_for_message(nu.user.str())));
      else
        f->err = describe(*f, nu.user.str());
      return std::move(*f);
    }
    subscription s;
    s.user = nu.user;
    s.email = nu.email;
    s.tier = nu.tier;
    s.status = subscription_status::active;
    s.start_date = nu.now;
    s.created_at = nu.now;
    return s;
  });
}

result<subscription> postgres_storage::get_subscription(const user_id& user) {
  return run_ready<subscription>(true, [&](connection& c) -> attempt<subscription> {
    auto r = c.exec("kq_get_subscription", sql_get_subscription, {user.str()});
    if (auto* f = std::get_if<failure>(&r)) {
      f->err = describe(*f, user.str());
      return std::move(*f);
    }
    const rows& rs = std::get<rows>(r);
    if (rs.size() == 0)
      return as_failure(
          make_error(errc::unknown_user, fmt::format("unknown user {}", detail::quote_for_message(user.str()))));
    return read_subscription_cols(rs, 0, user, 0);
  });
}

result<subscription> postgres_storage::set_subscription(const subscription_change& ch) {
  const auto status = ch.status.value_or(subscription_status::active);
  params p{ch.user.str(),
           ch.tier.str(),
           std::string(to_string(status)),
           format_db_time(ch.now),
           time_of(ch.end_date),
           time_of(ch.trial_end_date),
           ch.event_type,
           ch.ctx.ip,
           ch.ctx.user_agent,
           ch.ctx.id ? std::optional<std::string>(ch.ctx.id->str()) : std::nullopt};
  return run_ready<subscription>(false, [&](connection& c) -> attempt<subscription> {
    auto r = c.exec("kq_set_subscription", sql_set_subscription, p);
    if (auto* f = std::get_if<failure>(&r)) {
      f->err =
          f->sqlstate == "KQ002"
              ? make_error(errc::unknown_tier, fmt::format("unknown tier {}", detail::quote_for_message(ch.tier.str())))
              : describe(*f, ch.user.str());
      return std::move(*f);
    }
    return read_subscription_cols(std::get<rows>(r), 0, ch.user, oc_email);
  });
}

// ---------------------------------------------------------------------------
// Usage.

result<usage_snapshot> postgres_storage::snapshot(const user_id& user, local_date day, sys_time now,
                                                  const tier_id& default_tier) {
  params p{user.str(), format_db_date(day), format_db_time(now), default_tier.str()};
  return run_ready<usage_snapshot>(true, [&](connection& c) -> attempt<usage_snapshot> {
    auto r = exec_outcome(c, "kq_load", sql_load, p);
    if (auto* f = std::get_if<failure>(&r)) {
      f->err = describe(*f, user.str());
      return std::move(*f);
    }
    return read_snapshot(std::get<rows>(r), user, day);
  });
}

result<consume_outcome> postgres_storage::consume(const consume_request& req) {
  // Every write is keyed: the library makes a key when the caller gave
  // none, so that a retry after a lost acknowledgement is recognised.
  const std::string key = req.ctx.id ? req.ctx.id->str() : "kq-auto-" + detail::new_reservation_id().substr(2);
  const std::optional<std::string> res_id =
      req.reserve ? std::optional<std::string>(detail::new_reservation_id()) : std::nullopt;
  params p{req.user.str(),
           format_db_date(req.day),
           format_db_time(req.now),
           text_of(req.messages),
           text_of(req.tokens),
           std::string(req.reserve ? "true" : "false"),
           res_id,
           req.reserve ? std::optional<std::string>(format_db_time(req.now + req.reservation_ttl)) : std::nullopt,
           key,
           req.ctx.ip,
           req.ctx.user_agent,
           fmt::format("{}", req.warning_threshold),
           req.default_tier.str(),
           std::string(req.ctx.id ? "caller" : "auto"),
           text_of(detail::max_count)};
  return run_ready<consume_outcome>(true, [&](connection& c) -> attempt<consume_outcome> {
    auto r = exec_outcome(c, "kq_consume", sql_consume, p);
    if (auto* f = std::get_if<failure>(&r)) {
      f->err = describe(*f, req.user.str());
      if (f->sqlstate == "KQ003") f->err = detail::mismatch_error(request_id{key}, f->err.message);
      if (f->connection_lost && f->sent && !req.ctx.id) p[13] = "auto-retry";
      return std::move(*f);
    }
    const rows& rs = std::get<rows>(r);
    consume_outcome o;
    o.allowed = rs.boolean(0, oc_allowed);
    o.denied_by = detail::parse_limit_kind(rs.text(0, oc_denied_by));
    // A replay of the library's own key is the answer to this very call.
    o.replayed = rs.boolean(0, oc_replayed) && req.ctx.id.has_value();
    if (!rs.null(0, oc_reservation_id)) o.reservation = reservation_id{std::string(rs.text(0, oc_reservation_id))};
    o.snapshot = read_snapshot(rs, req.user, req.day);
    return o;
  });
}

result<record_outcome> postgres_storage::record(const record_request& req) {
  const std::string key = req.ctx.id ? req.ctx.id->str() : "kq-auto-" + detail::new_reservation_id().substr(2);
  params p{req.user.str(),
           format_db_date(req.day),
           format_db_time(req.now),
           text_of(req.messages),
           text_of(req.tokens),
           key,
           req.ctx.ip,
           req.ctx.user_agent,
           fmt::format("{}", req.warning_threshold),
           req.default_tier.str(),
           text_of(detail::max_count),
           std::string(req.ctx.id ? "caller" : "auto")};
  return run_ready<record_outcome>(true, [&](connection& c) -> attempt<record_outcome> {
    auto r = exec_outcome(c, "kq_record", sql_record, p);
    if (auto* f = std::get_if<failure>(&r)) {
      f->err = describe(*f, req.user.str());
      if (f->sqlstate == "KQ003") f->err = detail::mismatch_error(request_id{key}, f->err.message);
      if (f->connection_lost && f->sent && !req.ctx.id) p.back() = "auto-retry";
      return std::move(*f);
    }
    const rows& rs = std::get<rows>(r);
    record_outcome o;
    o.replayed = rs.boolean(0, oc_replayed) && req.ctx.id.has_value();
    o.snapshot = read_snapshot(rs, req.user, req.day);
    return o;
  });
}

result<settle_outcome> postgres_storage::settle(const settle_request& req) {
  params p{req.id.str(),
           req.actual_tokens ? std::optional<std::string>(text_of(*req.actual_tokens)) : std::nullopt,
           format_db_time(req.now),
           format_db_date(req.day),
           req.default_tier.str(),
           text_of(detail::max_count)};
  const std::string_view target = req.actual_tokens ? "committed" : "released";
  bool in_doubt = false;
  auto r = run_ready<settle_outcome>(true, [&](connection& c) -> attempt<settle_outcome> {
    auto x = exec_outcome(c, "kq_settle", sql_settle, p);
    if (auto* f = std::get_if<failure>(&x)) {
      if (f->connection_lost && f->sent) in_doubt = true;
      if (f->sqlstate == "KQ005" && in_doubt && f->err.message == target) {
        // Our earlier attempt was applied; its acknowledgement was lost.
        auto g = c.exec("kq_get_reservation", sql_get_reservation, {req.id.str()});
        if (auto* gf = std::get_if<failure>(&g)) return std::move(*gf);
        settle_outcome o;
        o.res = read_reservation(std::get<rows>(g), 0);
        auto s =
            exec_outcome(c, "kq_load", sql_load,
                         {o.res.user.str(), format_db_date(req.day), format_db_time(req.now), req.default_tier.str()});
        if (auto* sf = std::get_if<failure>(&s)) return std::move(*sf);
        o.snapshot = read_snapshot(std::get<rows>(s), o.res.user, req.day);
        return o;
      }
      f->err = describe(*f, req.id.str());
      return std::move(*f);
    }
    const rows& rs = std::get<rows>(x);
    settle_outcome o;
    o.res.id = req.id;
    o.res.user = user_id{std::string(rs.text(0, oc_res_user))};
    o.res.usage_date = parse_db_date(rs.text(0, oc_res_day)).value_or(local_date{});
    o.res.messages = rs.i64(0, oc_res_messages);
    o.res.estimated_tokens = rs.i64(0, oc_res_estimated);
    o.res.actual_tokens = rs.opt_i64(0, oc_res_actual);
    o.res.state = detail::parse_reservation_state(rs.text(0, oc_res_state)).value_or(reservation_state::open);
    o.res.created_at = opt_time(rs, 0, oc_res_created).value_or(sys_time{});
    o.res.expires_at = opt_time(rs, 0, oc_res_expires).value_or(sys_time{});
    o.snapshot = read_snapshot(rs, o.res.user, req.day);
    return o;
  });
  return r;
}

result<reservation> postgres_storage::get_reservation(const reservation_id& id) {
  return run_ready<reservation>(true, [&](connection& c) -> attempt<reservation> {
    auto r = c.exec("kq_get_reservation", sql_get_reservation, {id.str()});
    if (auto* f = std::get_if<failure>(&r)) return std::move(*f);
    const rows& rs = std::get<rows>(r);
    if (rs.size() == 0)
      return as_failure(make_error(errc::reservation_not_found,
                                   fmt::format("no reservation {}", detail::quote_for_message(id.str()))));
    return read_reservation(rs, 0);
  });
}

result<std::int64_t> postgres_storage::expire_reservations(sys_time now) {
  std::int64_t total = 0;
  for (;;) {
    auto n = run_ready<std::int64_t>(true, [&](connection& c) -> attempt<std::int64_t> {
      auto r = c.exec("kq_expire", sql_expire, {format_db_time(now)});
      if (auto* f = std::get_if<failure>(&r)) return std::move(*f);
      return std::get<rows>(r).i64(0, 0);
    });
    if (!n) return n.error();
    total += n.value();
    if (n.value() < 500) return total;
  }
}

result<std::int64_t> postgres_storage::prune_request_ids(sys_time before) {
  std::int64_t total = 0;
  for (;;) {
    // One short transaction per batch; deleting is safe to repeat.
    auto n = run_ready<std::int64_t>(true, [&](connection& c) -> attempt<std::int64_t> {
      auto r = c.exec("kq_prune_request_ids", sql_prune_request_ids,
                      {format_db_time(before), std::to_string(detail::prune_request_ids_batch)});
      if (auto* f = std::get_if<failure>(&r)) return std::move(*f);
      return std::get<rows>(r).affected();
    });
    if (!n) return n.error();
    total += n.value();
    if (n.value() < detail::prune_request_ids_batch) return total;
  }
}

result<std::int64_t> postgres_storage::reset(const reset_request& req) {
  params p{std::string(req.kind == reset_kind::daily ? "true" : "false"),
           req.user ? std::optional<std::string>(req.user->str()) : std::nullopt, format_db_date(req.day),
           format_db_time(req.now)};
  return run_ready<std::int64_t>(false, [&](connection& c) -> attempt<std::int64_t> {
    auto r = c.exec("kq_reset", sql_reset, p);
    if (auto* f = std::get_if<failure>(&r)) {
      f->err = describe(*f, req.user ? req.user->str() : std::string());
      return std::move(*f);
    }
    return std::get<rows>(r).i64(0, 0);
  });
}

// ---------------------------------------------------------------------------
// Audit.

result<std::int64_t> postgres_storage::append_event(const usage_event& e) {
  params p{e.user.str(), e.event_type, text_of(e.messages_count), text_of(e.tokens_count),          e.quota_tier,
           e.request_ip, e.user_agent, e.event_metadata,          format_db_time(e.event_timestamp)};
  return run_ready<std::int64_t>(false, [&](connection& c) -> attempt<std::int64_t> {
    auto r = c.exec("kq_append_event", sql_append_event, p);
    if (auto* f = std::get_if<failure>(&r)) {
      f->err = f->sqlstate == "22P02" && e.event_metadata
                   ? make_error(errc::invalid_argument, "event_metadata is not valid JSON")
                   : describe(*f, e.user.str());
      return std::move(*f);
    }
    const rows& rs = std::get<rows>(r);
    if (rs.size() == 0)
      return as_failure(
          make_error(errc::unknown_user, fmt::format("unknown user {}", detail::quote_for_message(e.user.str()))));
    return rs.i64(0, 0);
  });
}

result<std::vector<usage_event>> postgres_storage::events(const event_query& q) {
  params p{q.user.str(), q.event_type, text_of(q.limit)};
  return run_ready<std::vector<usage_event>>(true, [&](connection& c) -> attempt<std::vector<usage_event>> {
    auto r = c.exec("kq_events", sql_events, p);
    if (auto* f = std::get_if<failure>(&r)) {
      f->err = describe(*f, q.user.str());
      return std::move(*f);
    }
    const rows& rs = std::get<rows>(r);
    std::vector<usage_event> out;
    out.reserve(static_cast<std::size_t>(rs.size()));
    for (int i = 0; i < rs.size(); ++i) {
      usage_event e;
      e.id = rs.i64(i, 0);
      e.user = user_id{std::string(rs.text(i, 1))};
      e.event_type = std::string(rs.text(i, 2));
      e.messages_count = rs.i64(i, 3);
      e.tokens_count = rs.i64(i, 4);
      e.quota_tier = rs.opt_text(i, 5);
      e.request_ip = rs.opt_text(i, 6);
      e.user_agent = rs.opt_text(i, 7);
      e.event_metadata = rs.opt_text(i, 8);
      if (!rs.null(i, 9)) e.usage_date = parse_db_date(rs.text(i, 9));
      e.event_timestamp = opt_time(rs, i, 10).value_or(sys_time{});
      out.push_back(std::move(e));
    }
    return out;
  });
}

}  // namespace

namespace detail {
result<std::unique_ptr<storage>> open_postgres_storage(const postgres_options& opts) {
  try {
    return postgres_storage::open(opts);
  } catch (const std::exception& e) {
    return make_error(errc::internal, fmt::format("unexpected failure opening PostgreSQL: {}", e.what()));
  }
}
}  // namespace detail

}  // namespace kauri_quota
