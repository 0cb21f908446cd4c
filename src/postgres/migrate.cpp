// The migration hooks of the PostgreSQL backend: the runner in
// core/migration_runner.cpp decides what to run; these run it, on one
// connection holding the migration advisory lock, so that two migrators
// (any process, any host) never interleave: the second waits for the first.
#include "core/migration_runner.hpp"
#include "core/migration_script.hpp"
#include "core/migrations.hpp"
#include "core/sql_support.hpp"
#include "postgres/backend.hpp"
#include "postgres/function_set.hpp"
#include "postgres/sql.hpp"

#include <algorithm>
#include <chrono>
#include <thread>

namespace kauri_quota::detail::postgres {
namespace {

using connection = pq::connection;

attempt<std::vector<applied_migration>> read_applied(connection& c) {
  std::vector<applied_migration> out;
  auto e = c.exec("kq_version_exists", sql_has_migrations_table, {});
  if (auto* f = std::get_if<failure>(&e)) return std::move(*f);
  if (!std::get<rows>(e).boolean(0, 0)) return out;
  auto r = c.exec("kq_migrations", sql_list_migrations, {});
  if (auto* f = std::get_if<failure>(&r)) return std::move(*f);
  const rows& rs = std::get<rows>(r);
  for (int i = 0; i < rs.size(); ++i)
    out.push_back(
        {static_cast<int>(rs.i64(i, 0)), std::string(rs.text(i, 1)), std::string(rs.text(i, 2)), opt_time(rs, i, 3)});
  return out;
}

template <class T>
result<T> as_result(attempt<T>&& a) {
  if (auto* f = std::get_if<failure>(&a)) return std::move(f->err);
  return std::move(std::get<T>(a));
}

class hooks final : public migration_hooks {
 public:
  explicit hooks(connection& c) : c_(c) {}

  result<bool> prepare() override {
    // Backfills and index builds may take long on a big table: no
    // statement timeout. One migrator at a time: a second one waits for the
    // first. Then a lock timeout, so that a DDL statement that cannot get
    // its lock quickly fails instead of queueing every writer behind it.
    if (auto set = c_.exec_simple("SET statement_timeout = 0; SET lock_timeout = 0");
        std::holds_alternative<failure>(set))
      return std::get<failure>(set).err;
    BOOST_OUTCOME_TRY(take_migration_lock());
    if (auto set = c_.exec_simple("SET lock_timeout = '10s'"); std::holds_alternative<failure>(set))
      return std::get<failure>(set).err;
    if (auto r = c_.exec_simple(sql_create_migrations_table); std::holds_alternative<failure>(r))
      return std::get<failure>(r).err;
    return as_result(adopt_alembic(c_));
  }
  result<int> current_version() override { return as_result(read_schema_version(c_)); }
  result<std::vector<applied_migration>> applied() override { return as_result(read_applied(c_)); }
  result<void> apply(const embedded_migration& m, bool up, const std::vector<script_statement>& statements,
                     const migrate_options& opts) override;
  /// At the newest version, the repeatable functions are installed after
  /// the migrations (whenever their text, version or catalog differs).
  result<void> finish(const migrate_report& report) override {
    if (report.to_version != static_cast<int>(postgres_migrations().size())) return ok();
    auto r = install_function_set(c_, embedded_function_set());
    if (auto* f = std::get_if<failure>(&r))
      return make_error(f->connection_lost ? errc::storage_unavailable : errc::migration_failed,
                        fmt::format("installing the server functions failed: {}", f->err.message));
    return ok();
  }

 private:
  /// Waits for the migration advisory lock by polling, each try its own
  /// short statement: a migrator blocked inside pg_advisory_lock would hold
  /// a snapshot, which the first migrator's CREATE INDEX CONCURRENTLY waits
  /// for, and the server would end one of them as a deadlock.
  result<void> take_migration_lock() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::hours(24);
    for (auto pause = std::chrono::milliseconds(10);; pause = std::min(pause * 2, std::chrono::milliseconds(200))) {
      auto r = c_.exec_simple("SELECT pg_try_advisory_lock(7419730113)");
      if (auto* f = std::get_if<failure>(&r)) return f->err;
      if (std::get<rows>(r).boolean(0, 0)) return ok();
      if (std::chrono::steady_clock::now() > deadline)
        return make_error(errc::storage_busy, "another migrator has held the migration lock for 24 hours");
      std::this_thread::sleep_for(pause);
    }
  }

  connection& c_;
};

result<void> hooks::apply(const embedded_migration& m, bool up, const std::vector<script_statement>& statements,
                          const migrate_options& opts) {
  connection& c = c_;
  // Turns a failure into a migration error, after rolling back.
  auto failed = [&](const std::variant<rows, failure>& r) -> std::optional<error> {
    const auto* f = std::get_if<failure>(&r);
    if (!f) return std::nullopt;
    (void)c.exec_simple("ROLLBACK");
    return make_error(
        f->connection_lost ? errc::storage_unavailable : errc::migration_failed,
        fmt::format("migration {:04d} {} ({}) failed: {}", m.version, m.name, up ? "up" : "down", f->err.message));
  };
  const sys_time now = std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
  if (auto e = failed(c.exec_simple("BEGIN"))) return *e;
  for (const auto& st : statements) {
    if (const auto* b = std::get_if<backfill_directive>(&st.directive)) {
      const std::string& table = b->table;
      const std::string condition = b->condition.empty() ? "TRUE" : b->condition;
      if (auto e = failed(c.exec_simple("COMMIT"))) return *e;
      auto count = c.exec_simple(fmt::format("SELECT count(*) FROM {} WHERE {}", table, condition));
      if (auto e = failed(count)) return *e;
      const std::int64_t total = std::get<rows>(count).i64(0, 0);
      std::int64_t done = 0;
      if (opts.progress) opts.progress({m.version, "backfill " + table, 0, total});
      for (;;) {
        auto r = c.exec_params(st.text, {std::to_string(opts.batch_size)});
        if (auto e = failed(r)) return *e;
        const std::int64_t changed = std::get<rows>(r).affected();
        if (changed == 0) break;
        done += changed;
        if (opts.progress) opts.progress({m.version, "backfill " + table, std::min(done, total), total});
      }
      if (auto e = failed(c.exec_simple("BEGIN"))) return *e;
      continue;
    }
    if (const auto* b = std::get_if<batches_by_id_directive>(&st.directive)) {
      const std::string& table = b->table;
      if (auto e = failed(c.exec_simple("COMMIT"))) return *e;
      auto range = c.exec_simple(fmt::format("SELECT COALESCE(min(id), 0), COALESCE(max(id), 0) FROM {}", table));
      if (auto e = failed(range)) return *e;
      const std::int64_t lo = std::get<rows>(range).i64(0, 0);
      const std::int64_t hi = std::get<rows>(range).i64(0, 1);
      const std::int64_t total = hi >= lo ? hi - lo + 1 : 0;
      for (std::int64_t from = lo - 1; from < hi; from += opts.batch_size) {
        const std::int64_t to = std::min(hi, from + opts.batch_size);
        auto r = c.exec_params(st.text, {std::to_string(from), std::to_string(to)});
        if (auto e = failed(r)) return *e;
        if (opts.progress) opts.progress({m.version, "backfill " + table, to - lo + 1, total});
      }
      if (auto e = failed(c.exec_simple("BEGIN"))) return *e;
      continue;
    }
    if (std::holds_alternative<commit_directive>(st.directive)) {
      if (auto e = failed(c.exec_simple("COMMIT"))) return *e;
      if (auto e = failed(c.exec_simple("BEGIN"))) return *e;
    } else if (std::holds_alternative<no_transaction_directive>(st.directive)) {
      if (auto e = failed(c.exec_simple("COMMIT"))) return *e;
      if (auto e = failed(c.exec_simple(st.text))) return *e;
      if (auto e = failed(c.exec_simple("BEGIN"))) return *e;
      continue;
    }
    if (auto e = failed(c.exec_simple(st.text))) return *e;
  }
  if (up) {
    if (auto e = failed(c.exec_params(
            "INSERT INTO kauri_quota_migrations (version, name, checksum, applied_at)"
            " VALUES ($1, $2, $3, $4)",
            {std::to_string(m.version), std::string(m.name), migration_checksum(m), format_db_time(now)})))
      return *e;
  } else {
    if (auto e =
            failed(c.exec_params("DELETE FROM kauri_quota_migrations WHERE version = $1", {std::to_string(m.version)})))
      return *e;
  }
  if (auto e = failed(c.exec_simple("COMMIT"))) return *e;
  return ok();
}

}  // namespace

attempt<int> read_schema_version(connection& c) {
  auto r = c.exec("kq_version_exists", sql_has_migrations_table, {});
  if (auto* f = std::get_if<failure>(&r)) return std::move(*f);
  if (!std::get<rows>(r).boolean(0, 0)) return 0;
  auto v = c.exec("kq_version", sql_version, {});
  if (auto* f = std::get_if<failure>(&v)) return std::move(*f);
  return static_cast<int>(std::get<rows>(v).i64(0, 0));
}

result<function_set_info> postgres_storage::server_functions() {
  return run<function_set_info>(true, [&](connection& c) { return read_function_state(c, embedded_function_set()); });
}

result<int> postgres_storage::schema_version() {
  return run<int>(true, [&](connection& c) { return read_schema_version(c); });
}

result<std::vector<migration_info>> postgres_storage::migrations() {
  return run<std::vector<migration_info>>(true, [&](connection& c) -> attempt<std::vector<migration_info>> {
    auto applied = read_applied(c);
    if (auto* f = std::get_if<failure>(&applied)) return std::move(*f);
    return list_migrations(postgres_migrations(), std::get<std::vector<applied_migration>>(applied));
  });
}

result<migrate_report> postgres_storage::migrate(const migrate_options& opts) {
  return exception_barrier([&]() -> result<migrate_report> {
    const auto all = postgres_migrations();
    BOOST_OUTCOME_TRY(migration_target(opts, static_cast<int>(all.size())));
    auto c = acquire();
    if (!c) return c.error();
    connection& conn = *c.value();
    conn.set_wait_limit(std::chrono::hours(24));
    struct restore {
      connection& c;
      const postgres_options& o;
      ~restore() {
        c.set_wait_limit(std::nullopt);
        (void)c.exec_simple("SELECT pg_advisory_unlock(7419730113)");
        (void)c.exec_simple(fmt::format("SET statement_timeout = {}; SET lock_timeout = {}",
                                        o.statement_timeout.count(), o.statement_timeout.count()));
      }
    } restorer{conn, opts_};
    hooks h(conn);
    BOOST_OUTCOME_TRY(report, run_migrations(all, h, opts));
    ready_.store(report.to_version == static_cast<int>(all.size()), std::memory_order_release);
    return report;
  });
}

}  // namespace kauri_quota::detail::postgres
