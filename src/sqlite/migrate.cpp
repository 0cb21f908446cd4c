// The migration hooks of the SQLite backend.
#include "core/migration_script.hpp"
#include "core/migrations.hpp"
#include "core/sql_support.hpp"
#include "sqlite/backend.hpp"
#include "sqlite/rows.hpp"
#include "sqlite/sql.hpp"

#include <algorithm>

namespace kauri_quota::detail::sqlite {
namespace {

bool column_exists(connection& c, const std::string& table, const std::string& column) {
  SQLite::Statement s(c.db(), "SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2");
  s.bind(1, table);
  s.bind(2, column);
  return s.executeStep();
}

}  // namespace

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

}  // namespace kauri_quota::detail::sqlite
