// The migration runner shared by the backends, driven through fake hooks:
// what it runs, in which order, and what it refuses before running anything.
#include "core/migration_runner.hpp"
#include "support/fixtures.hpp"

#include <string>
#include <vector>

using namespace kauri_quota;
using namespace kauri_quota::detail;
using kauri_quota::testing::must;

namespace {

const embedded_migration three[] = {
    {1, "first", "CREATE TABLE a (x INT);", "DROP TABLE a;"},
    {2, "second", "CREATE TABLE b (x INT);", "DROP TABLE b;"},
    {3, "third", "-- kq:commit\nCREATE TABLE c (x INT);", "DROP TABLE c;"},
};

/// Hooks over an in-memory bookkeeping table that log what they are asked.
struct fake_hooks final : migration_hooks {
  std::vector<applied_migration> table;
  std::vector<std::string> log;

  result<bool> prepare() override {
    log.push_back("prepare");
    return false;
  }
  result<int> current_version() override {
    int v = 0;
    for (const auto& a : table) v = std::max(v, a.version);
    return v;
  }
  result<std::vector<applied_migration>> applied() override { return table; }
  result<void> apply(const embedded_migration& m, bool up, const std::vector<script_statement>& statements,
                     const migrate_options&) override {
    log.push_back((up ? "up " : "down ") + std::to_string(m.version) + " (" + std::to_string(statements.size()) + ")");
    if (up)
      table.push_back({m.version, m.name, migration_checksum(m), std::nullopt});
    else
      std::erase_if(table, [&](const applied_migration& a) { return a.version == m.version; });
    return ok();
  }
  result<void> finish(const migrate_report& r) override {
    log.push_back("finish at " + std::to_string(r.to_version));
    return ok();
  }
};

}  // namespace

TEST_CASE("the runner applies pending migrations in order, then finishes") {
  fake_hooks h;
  const auto report = must(run_migrations(three, h, {}));
  CHECK(report.from_version == 0);
  CHECK(report.to_version == 3);
  CHECK(report.applied == std::vector<int>{1, 2, 3});
  CHECK(h.log == std::vector<std::string>{"prepare", "up 1 (1)", "up 2 (1)", "up 3 (1)", "finish at 3"});
}

TEST_CASE("the runner reverts newest first down to the target") {
  fake_hooks h;
  must(run_migrations(three, h, {}));
  h.log.clear();
  migrate_options to1;
  to1.to = 1;
  const auto report = must(run_migrations(three, h, to1));
  CHECK(report.reverted == std::vector<int>{3, 2});
  CHECK(report.to_version == 1);
  CHECK(h.log == std::vector<std::string>{"prepare", "down 3 (1)", "down 2 (1)", "finish at 1"});
}

TEST_CASE("the runner validates the target and the batch size before touching the database") {
  fake_hooks h;
  migrate_options bad_target;
  bad_target.to = 4;
  CHECK(run_migrations(three, h, bad_target).error().is(errc::invalid_argument));
  migrate_options bad_batch;
  bad_batch.batch_size = 0;
  CHECK(run_migrations(three, h, bad_batch).error().is(errc::invalid_argument));
  CHECK(h.log.empty());
}

TEST_CASE("the runner refuses a database newer than the library") {
  fake_hooks h;
  h.table.push_back({4, "from a newer library", "x", std::nullopt});
  const auto r = run_migrations(three, h, {});
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().is(errc::schema_mismatch));
  CHECK(r.error().message.find("newer") != std::string::npos);
}

TEST_CASE("the runner refuses an applied migration whose recorded checksum differs, naming it") {
  fake_hooks h;
  must(run_migrations(three, h, {}));
  h.table[1].checksum = "0123456789abcdef";
  h.log.clear();
  const auto r = run_migrations(three, h, {});
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().is(errc::migration_failed));
  CHECK(r.error().message.find("0002 second") != std::string::npos);
  CHECK(r.error().message.find("immutable once released") != std::string::npos);
  CHECK(h.log == std::vector<std::string>{"prepare"});
}

TEST_CASE("an unknown directive fails the run before any migration is applied") {
  const embedded_migration bad[] = {
      {1, "first", "CREATE TABLE a (x INT);", "DROP TABLE a;"},
      {2, "second", "-- kq:comit\nCREATE TABLE b (x INT);", "DROP TABLE b;"},
  };
  fake_hooks h;
  const auto r = run_migrations(bad, h, {});
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().is(errc::migration_failed));
  CHECK(r.error().message.find("0002 second (up)") != std::string::npos);
  CHECK(r.error().message.find("kq:comit") != std::string::npos);
  CHECK(h.table.empty());
}

TEST_CASE("list_migrations marks applied versions and keeps unknown ones") {
  const std::vector<applied_migration> applied{{2, "second", "", sys_time{std::chrono::seconds{5}}},
                                               {7, "from a newer library", "", std::nullopt}};
  const auto list = list_migrations(three, applied);
  REQUIRE(list.size() == 4);
  CHECK_FALSE(list[0].applied_at.has_value());
  CHECK(list[1].applied_at == sys_time{std::chrono::seconds{5}});
  CHECK(list[3].version == 7);
  CHECK(list[3].name == "from a newer library");
}

TEST_CASE("version_error says which way the schema differs") {
  CHECK_FALSE(version_error(3, 3).has_value());
  CHECK(version_error(2, 3)->message.find("run `kauri-quota migrate`") != std::string::npos);
  CHECK(version_error(4, 3)->message.find("upgrade kauri_quota") != std::string::npos);
}
