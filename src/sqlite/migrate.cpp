// The migration hooks of the SQLite backend: the runner in
// core/migration_runner.cpp decides what to run; these run it. Each
// migration is one BEGIN IMMEDIATE transaction, which is also what keeps
// two migrators from interleaving: the second waits for the write lock and
// then finds the version already moved.
#include "core/migration_runner.hpp"
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

bool has_migrations_table(connection& c) {
  auto& has = c.stmt(sql_has_migrations_table);
  const bool exists = has.executeStep();
  has.reset();
  return exists;
}

std::vector<applied_migration> read_applied(connection& c) {
  std::vector<applied_migration> out;
  if (!has_migrations_table(c)) return out;
  auto& s = c.stmt(sql_list_migrations);
  while (s.executeStep())
    out.push_back(
        {s.getColumn(0).getInt(), s.getColumn(1).getString(), s.getColumn(2).getString(), column_time(s.getColumn(3))});
  return out;
}

class hooks final : public migration_hooks {
 public:
  explicit hooks(connection& c) : c_(c) {}

  result<bool> prepare() override {
    c_.db().exec(sql_create_migrations_table);
    return false;
  }
  result<int> current_version() override { return read_schema_version(c_); }
  result<std::vector<applied_migration>> applied() override { return read_applied(c_); }
  result<void> apply(const embedded_migration& m, bool up, const std::vector<script_statement>& statements,
                     const migrate_options& opts) override;

 private:
  /// "backfill TABLE CONDITION": the statement in batches, each in its own
  /// short transaction, so writers are never blocked for long. Called with
  /// no transaction open.
  void backfill(const embedded_migration& m, const backfill_directive& b, const std::string& text,
                const migrate_options& opts);

  connection& c_;
};

void hooks::backfill(const embedded_migration& m, const backfill_directive& b, const std::string& text,
                     const migrate_options& opts) {
  std::int64_t total = 0;
  {
    SQLite::Statement count(
        c_.db(), fmt::format("SELECT count(*) FROM {} WHERE {}", b.table, b.condition.empty() ? "1" : b.condition));
    count.executeStep();
    total = count.getColumn(0).getInt64();
  }
  std::int64_t done = 0;
  SQLite::Statement batch(c_.db(), text);
  if (opts.progress) opts.progress({m.version, "backfill " + b.table, 0, total});
  for (;;) {
    txn btx(c_, true);
    batch.reset();
    batch.bind(":batch", static_cast<std::int64_t>(std::max<std::int64_t>(1, opts.batch_size)));
    const int changed = batch.exec();
    btx.commit();
    if (changed == 0) break;
    done += changed;
    if (opts.progress) opts.progress({m.version, "backfill " + b.table, std::min(done, total), total});
  }
}

result<void> hooks::apply(const embedded_migration& m, bool up, const std::vector<script_statement>& statements,
                          const migrate_options& opts) {
  const sys_time now = std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
  try {
    auto tx = std::make_unique<txn>(c_, true);
    // Another process may have moved the schema while we waited for the lock.
    const int current = read_schema_version(c_);
    if (up ? current >= m.version : current < m.version) {
      tx->commit();
      return ok();
    }
    for (const auto& st : statements) {
      if (const auto* b = std::get_if<backfill_directive>(&st.directive)) {
        tx->commit();
        backfill(m, *b, st.text, opts);
        tx = std::make_unique<txn>(c_, true);
        continue;
      }
      if (std::holds_alternative<batches_by_id_directive>(st.directive))
        return make_error(errc::migration_failed,
                          fmt::format("migration {:04d} {} ({}) uses `-- kq:batches-by-id`, which the SQLite runner "
                                      "does not support (use backfill)",
                                      m.version, m.name, up ? "up" : "down"));
      if (std::holds_alternative<commit_directive>(st.directive)) {
        tx->commit();
        tx = std::make_unique<txn>(c_, true);
      }
      if (std::holds_alternative<no_transaction_directive>(st.directive)) {
        tx->commit();
        c_.db().exec(st.text);
        tx = std::make_unique<txn>(c_, true);
        continue;
      }
      if (up) {
        std::string table;
        std::string column;
        if (parse_add_column(st.text, table, column) && column_exists(c_, table, column)) continue;
      }
      c_.db().exec(st.text);
    }
    if (up) {
      c_.db().exec(sql_create_migrations_table);
      SQLite::Statement rec(c_.db(), sql_record_migration);
      rec.bind(1, m.version);
      rec.bind(2, m.name);
      rec.bind(3, migration_checksum(m));
      rec.bind(4, format_db_time(now));
      rec.exec();
    } else {
      SQLite::Statement del(c_.db(), sql_forget_migration);
      del.bind(1, m.version);
      del.exec();
    }
    tx->commit();
    return ok();
  } catch (const SQLite::Exception& e) {
    c_.rollback_if_open();
    return make_error(
        map_sqlite_code(e.getErrorCode()) == errc::storage_busy ? errc::storage_busy : errc::migration_failed,
        fmt::format("migration {:04d} {} ({}) failed: {}", m.version, m.name, up ? "up" : "down", e.what()));
  }
}

}  // namespace

int read_schema_version(connection& c) {
  if (!has_migrations_table(c)) return 0;
  auto& v = c.stmt(sql_version);
  v.executeStep();
  const int version = v.getColumn(0).getInt();
  v.reset();
  return version;
}

result<int> sqlite_storage::schema_version() {
  return run([&](connection& c) -> result<int> { return read_schema_version(c); });
}

result<std::vector<migration_info>> sqlite_storage::migrations() {
  return run([&](connection& c) -> result<std::vector<migration_info>> {
    return list_migrations(sqlite_migrations(), read_applied(c));
  });
}

result<migrate_report> sqlite_storage::migrate(const migrate_options& opts) {
  return run([&](connection& c) -> result<migrate_report> {
    hooks h(c);
    BOOST_OUTCOME_TRY(report, run_migrations(sqlite_migrations(), h, opts));
    ready_.store(report.to_version == static_cast<int>(sqlite_migrations().size()), std::memory_order_release);
    return report;
  });
}

}  // namespace kauri_quota::detail::sqlite
