// The migration hooks of the PostgreSQL backend.
#include "core/migration_script.hpp"
#include "core/migrations.hpp"
#include "core/sql_support.hpp"
#include "postgres/backend.hpp"
#include "postgres/sql.hpp"

#include <algorithm>

namespace kauri_quota::detail::postgres {

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

}  // namespace kauri_quota::detail::postgres
