// SQLite migrations: up to the newest version, down to zero and up again,
// adoption of a host's existing users table (batched backfill with
// progress), the spec's index and column names, and refusal to operate on a
// database whose schema is not the expected one.
#include "sqlite/raw_sqlite.hpp"
#include "support/fixtures.hpp"

#include <algorithm>
#include <numeric>
#include <string>
#include <vector>

using namespace kauri_quota;
using namespace kauri_quota::testing;
using namespace std::chrono_literals;

namespace {

test_db unmigrated_sqlite() {
  test_db_options o;
  o.migrate = false;
  return make_test_db("sqlite", o);
}

const std::vector<std::string> spec_indexes{
    "ix_users_subscription_tier", "ix_users_subscription_status", "ix_subscription_tiers_tier_id",
    "ix_user_usage_user_id",      "ix_user_usage_usage_date",     "ix_user_usage_user_date",
    "ix_usage_logs_user_id",      "ix_usage_logs_event_type",     "ix_usage_logs_event_timestamp",
    "ix_usage_logs_user_event",
};

const std::vector<std::string> subscription_columns{
    "subscription_tier", "subscription_status", "subscription_start_date", "subscription_end_date", "trial_end_date"};

/// Creates the host's own users table, as a host application had it before
/// adopting the library, with `n` rows.
void create_host_users(const std::filesystem::path& file, int n) {
  raw_sqlite raw(file);
  raw.exec("CREATE TABLE users (user_id TEXT PRIMARY KEY, email TEXT, created_at TEXT)");
  std::string sql = "BEGIN; ";
  for (int i = 0; i < n; ++i) {
    char id[32];
    std::snprintf(id, sizeof id, "host-%04d", i);
    sql += "INSERT INTO users (user_id, email, created_at) VALUES ('" + std::string(id) + "', '" + id +
           "@example.com', '2024-01-01T00:00:00Z'); ";
  }
  sql += "COMMIT;";
  raw.exec(sql);
}

int newest_version(storage& s) {
  const auto list = must(s.migrations());
  REQUIRE_FALSE(list.empty());
  return list.back().version;
}

}  // namespace

TEST_CASE("migrate on an empty SQLite file applies every migration up to the newest") {
  auto db = unmigrated_sqlite();
  CHECK(must(db.store->schema_version()) == 0);
  const auto before = must(db.store->migrations());
  REQUIRE(before.size() >= 4);
  for (const auto& m : before) {
    INFO("migration " << m.version);
    CHECK_FALSE(m.applied_at.has_value());
  }

  const auto started = std::chrono::system_clock::now();
  const auto report = must(db.store->migrate({}));
  const int newest = before.back().version;
  CHECK(report.from_version == 0);
  CHECK(report.to_version == newest);
  CHECK_FALSE(report.adopted);
  CHECK(report.reverted.empty());
  std::vector<int> all(static_cast<std::size_t>(newest));
  std::iota(all.begin(), all.end(), 1);
  CHECK(report.applied == all);

  CHECK(must(db.store->schema_version()) == newest);
  const auto after = must(db.store->migrations());
  REQUIRE(after.size() == before.size());
  for (std::size_t i = 0; i < after.size(); ++i) {
    const auto& m = after[i];
    INFO("migration " << m.version << " " << m.name);
    CHECK(m.version == static_cast<int>(i) + 1);
    CHECK_FALSE(m.name.empty());
    REQUIRE(m.applied_at.has_value());
    CHECK(*m.applied_at >= std::chrono::floor<std::chrono::seconds>(started) - 5s);
    CHECK(*m.applied_at <= std::chrono::system_clock::now() + 5s);
  }

  raw_sqlite raw(db.file);
  CHECK(raw.integer("SELECT count(*) FROM kauri_quota_migrations") == newest);
  CHECK(raw.integer("SELECT max(version) FROM kauri_quota_migrations") == newest);
  CHECK(raw.integer("SELECT count(*) FROM subscription_tiers") == 4);
}

TEST_CASE("migrating an up-to-date SQLite database again changes nothing") {
  auto db = make_test_db("sqlite");
  const int newest = newest_version(*db.store);
  const auto report = must(db.store->migrate({}));
  CHECK(report.from_version == newest);
  CHECK(report.to_version == newest);
  CHECK(report.applied.empty());
  CHECK(report.reverted.empty());
  CHECK(must(db.store->schema_version()) == newest);
}

TEST_CASE("auto_migrate on open brings an empty SQLite file to the newest version") {
  temp_dir dir;
  open_options o;
  o.auto_migrate = true;
  const auto url = "sqlite:" + (dir.path() / "auto.db").string();
  auto store = must(open_storage(url, o));
  const int newest = newest_version(*store);
  CHECK(newest >= 4);
  CHECK(must(store->schema_version()) == newest);
  CHECK(must(store->tiers(true)).size() == 4);
}

TEST_CASE("migrate to 0 removes every library table and index, and migrating up again works") {
  service_fixture f(make_test_db("sqlite"));
  const auto u = f.add_user("alice");
  REQUIRE(f.consume(u, 10).allowed);
  const int newest = newest_version(f.store());

  migrate_options down;
  down.to = 0;
  const auto report = must(f.store().migrate(down));
  CHECK(report.from_version == newest);
  CHECK(report.to_version == 0);
  std::vector<int> all_down(static_cast<std::size_t>(newest));
  std::iota(all_down.rbegin(), all_down.rend(), 1);
  CHECK(report.reverted == all_down);
  CHECK(report.applied.empty());
  CHECK(must(f.store().schema_version()) == 0);
  for (const auto& m : must(f.store().migrations())) CHECK_FALSE(m.applied_at.has_value());

  {
    raw_sqlite raw(f.db.file);
    const auto tables = raw.names("table");
    INFO("tables left: " << [&] {
      std::string s;
      for (const auto& t : tables) s += t + " ";
      return s;
    }());
    for (const auto& t : tables) {
      const bool allowed = t == "users" || t == "kauri_quota_migrations" || t.starts_with("sqlite_");
      CHECK_MESSAGE(allowed, "table " << t << " is still there at version 0");
    }
    if (tables.contains("users")) {
      for (const auto& c : subscription_columns) CHECK_FALSE(raw.columns("users").contains(c));
    }
    if (tables.contains("kauri_quota_migrations")) {
      CHECK(raw.integer("SELECT count(*) FROM kauri_quota_migrations") == 0);
    }
    const auto indexes = raw.names("index");
    for (const auto& ix : spec_indexes) CHECK_FALSE(indexes.contains(ix));
  }

  const auto up = must(f.store().migrate({}));
  CHECK(up.from_version == 0);
  CHECK(up.to_version == newest);
  CHECK(must(f.store().schema_version()) == newest);
  CHECK(must(f.svc.get_all_tiers()).size() == 4);
  const auto again = f.add_user("bob");
  CHECK(f.consume(again).allowed);
  CHECK(f.quota(again).messages_today == 1);
}

TEST_CASE("migrate to an intermediate version and back up again") {
  auto db = make_test_db("sqlite");
  const int newest = newest_version(*db.store);
  migrate_options to2;
  to2.to = 2;
  const auto report = must(db.store->migrate(to2));
  CHECK(report.to_version == 2);
  CHECK(must(db.store->schema_version()) == 2);
  {
    raw_sqlite raw(db.file);
    const auto tables = raw.names("table");
    CHECK(tables.contains("users"));
    CHECK(tables.contains("subscription_tiers"));
    CHECK_FALSE(tables.contains("user_usage"));
    CHECK_FALSE(tables.contains("usage_logs"));
  }
  CHECK(must(db.store->migrate({})).to_version == newest);
  CHECK(must(db.store->schema_version()) == newest);
}

TEST_CASE("migrate to a version that does not exist fails and changes nothing") {
  auto db = make_test_db("sqlite");
  const int newest = newest_version(*db.store);
  migrate_options beyond;
  beyond.to = newest + 1;
  CHECK_FALSE(db.store->migrate(beyond).has_value());
  migrate_options negative;
  negative.to = -1;
  CHECK_FALSE(db.store->migrate(negative).has_value());
  CHECK(must(db.store->schema_version()) == newest);
}

TEST_CASE("migrating a host's users table keeps all 2500 rows, puts them on free/active, and reports progress") {
  auto db = unmigrated_sqlite();
  create_host_users(db.file, 2500);

  std::vector<migration_progress> calls;
  migrate_options o;
  o.batch_size = 1000;
  o.progress = [&](const migration_progress& p) { calls.push_back(p); };
  const auto report = must(db.store->migrate(o));
  CHECK(report.from_version == 0);
  CHECK_FALSE(report.adopted);

  // Strictly increasing done counts, at most one batch apart (an initial
  // 0/total report is allowed), ending at total.
  REQUIRE_FALSE(calls.empty());
  std::int64_t previous = -1;
  int batches = 0;
  for (const auto& p : calls) {
    INFO("progress: version " << p.version << " step '" << p.step << "' " << p.done << "/" << p.total);
    CHECK(p.version == 1);
    CHECK_FALSE(p.step.empty());
    CHECK(p.total == 2500);
    CHECK(p.done > previous);
    CHECK(p.done - std::max<std::int64_t>(previous, 0) <= 1000);
    if (p.done > 0) ++batches;
    previous = p.done;
  }
  CHECK(batches >= 3);
  CHECK(calls.back().done == 2500);

  raw_sqlite raw(db.file);
  CHECK(raw.integer("SELECT count(*) FROM users") == 2500);
  CHECK(raw.integer("SELECT count(*) FROM users WHERE subscription_tier = 'free' AND subscription_status = 'active' "
                    "AND subscription_start_date IS NOT NULL") == 2500);
  CHECK(raw.text("SELECT email FROM users WHERE user_id = 'host-1234'") ==
        std::optional<std::string>{"host-1234@example.com"});
  CHECK(raw.text("SELECT created_at FROM users WHERE user_id = 'host-0000'") ==
        std::optional<std::string>{"2024-01-01T00:00:00Z"});

  const auto tier_col = raw.rows(
      "SELECT \"notnull\", dflt_value FROM pragma_table_info('users') "
      "WHERE name = 'subscription_tier'");
  REQUIRE(tier_col.size() == 1);
  CHECK(tier_col[0][0] == std::optional<std::string>{"1"});
  REQUIRE(tier_col[0][1].has_value());
  CHECK(tier_col[0][1]->find("free") != std::string::npos);
  const auto status_col = raw.rows(
      "SELECT \"notnull\", dflt_value FROM pragma_table_info('users') "
      "WHERE name = 'subscription_status'");
  REQUIRE(status_col.size() == 1);
  CHECK(status_col[0][0] == std::optional<std::string>{"1"});
  REQUIRE(status_col[0][1].has_value());
  CHECK(status_col[0][1]->find("active") != std::string::npos);
}

TEST_CASE("users of a host's table are usable through the library after migration") {
  auto db = unmigrated_sqlite();
  create_host_users(db.file, 20);
  must(db.store->migrate({}));
  {
    // The host keeps inserting users without knowing the subscription columns.
    raw_sqlite raw(db.file);
    raw.exec(
        "INSERT INTO users (user_id, email, created_at) VALUES ('late-host-user', 'late@example.com', "
        "'2025-11-07T09:00:00Z')");
  }
  service_fixture f(std::move(db));
  const auto sub = must(f.svc.get_subscription(user_id{"host-0007"}));
  CHECK(sub.tier == tier_id{"free"});
  CHECK(sub.status == subscription_status::active);
  CHECK(sub.start_date.has_value());
  CHECK(sub.email == std::optional<std::string>{"host-0007@example.com"});
  CHECK(f.consume(user_id{"host-0007"}).allowed);

  const auto late = must(f.svc.get_subscription(user_id{"late-host-user"}));
  CHECK(late.tier == tier_id{"free"});
  CHECK(late.status == subscription_status::active);
  REQUIRE(f.consume_n(user_id{"late-host-user"}, 6) == 5);
  f.check_audit(user_id{"late-host-user"});
}

TEST_CASE("migrate down to 0 keeps a host's users table and its rows, removing only the subscription columns") {
  auto db = unmigrated_sqlite();
  create_host_users(db.file, 2500);
  must(db.store->migrate({}));

  migrate_options down;
  down.to = 0;
  must(db.store->migrate(down));
  CHECK(must(db.store->schema_version()) == 0);
  {
    raw_sqlite raw(db.file);
    REQUIRE(raw.names("table").contains("users"));
    CHECK(raw.columns("users") == std::set<std::string>{"user_id", "email", "created_at"});
    CHECK(raw.integer("SELECT count(*) FROM users") == 2500);
    CHECK(raw.text("SELECT email FROM users WHERE user_id = 'host-2499'") ==
          std::optional<std::string>{"host-2499@example.com"});
    const auto indexes = raw.names("index");
    CHECK_FALSE(indexes.contains("ix_users_subscription_tier"));
    CHECK_FALSE(indexes.contains("ix_users_subscription_status"));
  }

  must(db.store->migrate({}));
  raw_sqlite raw(db.file);
  CHECK(raw.integer("SELECT count(*) FROM users WHERE subscription_tier = 'free'") == 2500);
}

TEST_CASE("the SQLite schema has the spec's index names, a unique (user_id, usage_date) and event_metadata") {
  auto db = make_test_db("sqlite");
  raw_sqlite raw(db.file);
  const auto indexes = raw.names("index");
  for (const auto& ix : spec_indexes) CHECK_MESSAGE(indexes.contains(ix), "missing index " << ix);

  const auto unique = raw.rows(
      "SELECT \"unique\" FROM pragma_index_list('user_usage') "
      "WHERE name = 'ix_user_usage_user_date'");
  REQUIRE(unique.size() == 1);
  CHECK(unique[0][0] == std::optional<std::string>{"1"});
  const auto cols = raw.rows("SELECT name FROM pragma_index_info('ix_user_usage_user_date') ORDER BY seqno");
  REQUIRE(cols.size() == 2);
  CHECK(cols[0][0] == std::optional<std::string>{"user_id"});
  CHECK(cols[1][0] == std::optional<std::string>{"usage_date"});

  const auto log_columns = raw.columns("usage_logs");
  for (const char* c : {"id", "user_id", "event_type", "messages_count", "tokens_count", "quota_tier", "request_ip",
                        "user_agent", "event_metadata", "event_timestamp"}) {
    CHECK_MESSAGE(log_columns.contains(c), "usage_logs has no column " << c);
  }
  CHECK_FALSE(log_columns.contains("metadata"));

  const auto usage_columns = raw.columns("user_usage");
  for (const char* c : {"id", "user_id", "usage_date", "messages_today", "messages_this_month", "tokens_this_month",
                        "created_at", "updated_at"}) {
    CHECK_MESSAGE(usage_columns.contains(c), "user_usage has no column " << c);
  }
  const auto user_columns = raw.columns("users");
  for (const auto& c : subscription_columns) CHECK_MESSAGE(user_columns.contains(c), "users has no column " << c);
  const auto tier_columns = raw.columns("subscription_tiers");
  for (const char* c : {"tier_id", "name", "name_fr", "messages_per_day", "messages_per_month", "tokens_per_month",
                        "price_fcfa", "features", "display_order", "is_visible", "created_at", "updated_at"}) {
    CHECK_MESSAGE(tier_columns.contains(c), "subscription_tiers has no column " << c);
  }
}

TEST_CASE("user_usage rows are deleted with their user (ON DELETE CASCADE)") {
  auto db = make_test_db("sqlite");
  raw_sqlite raw(db.file);
  const auto fks = raw.rows("SELECT \"table\", on_delete FROM pragma_foreign_key_list('user_usage')");
  REQUIRE(fks.size() == 1);
  CHECK(fks[0][0] == std::optional<std::string>{"users"});
  CHECK(fks[0][1] == std::optional<std::string>{"CASCADE"});
}

TEST_CASE("the seeded tiers store their features as a JSON object of booleans") {
  auto db = make_test_db("sqlite");
  raw_sqlite raw(db.file);
  const auto rows = raw.rows("SELECT tier_id, features FROM subscription_tiers ORDER BY display_order");
  REQUIRE(rows.size() == 4);
  for (const auto& r : rows) {
    INFO("tier " << r[0].value_or("?"));
    REQUIRE(r[1].has_value());
    const auto doc = parse_json(*r[1]);
    REQUIRE(doc.type == json_value::kind::object);
    for (const auto& [name, flag] : doc.members) CHECK(flag.type == json_value::kind::boolean);
  }
  CHECK(raw.text("SELECT messages_per_day FROM subscription_tiers WHERE tier_id = 'enterprise'") == std::nullopt);
  CHECK(raw.text("SELECT messages_per_day FROM subscription_tiers WHERE tier_id = 'free'") ==
        std::optional<std::string>{"5"});
}

TEST_CASE("operating on an unmigrated SQLite database is schema_mismatch") {
  auto db = unmigrated_sqlite();
  check_error(db.store->tiers(true), errc::schema_mismatch);
  new_user nu;
  nu.user = user_id{"alice"};
  nu.now = at("2025-11-07T10:00:00Z");
  check_error(db.store->create_user(nu), errc::schema_mismatch);

  service_options o;
  o.time_source = std::make_shared<manual_clock>(at("2025-11-07T10:00:00Z"));
  auto svc = quota_service::create(db.store, o);
  if (svc) {
    check_error(svc.value().create_user(user_id{"alice"}), errc::schema_mismatch);
    check_error(svc.value().try_consume(user_id{"alice"}), errc::schema_mismatch);
    check_error(svc.value().get_all_tiers(), errc::schema_mismatch);
  } else {
    check_error(svc, errc::schema_mismatch);
  }
}

TEST_CASE("quota operations on a partly migrated SQLite database are schema_mismatch") {
  auto db = unmigrated_sqlite();
  migrate_options to2;
  to2.to = 2;
  must(db.store->migrate(to2));
  {
    raw_sqlite raw(db.file);
    raw.exec("INSERT INTO users (user_id, email, created_at) VALUES ('alice', NULL, '2025-11-07T09:00:00Z')");
  }
  consume_request req;
  req.user = user_id{"alice"};
  req.now = at("2025-11-07T10:00:00Z");
  req.day = date("2025-11-07");
  check_error(db.store->consume(req), errc::schema_mismatch);
  check_error(db.store->snapshot(req.user, req.day, req.now, tier_id{"free"}, req.grace_period), errc::schema_mismatch);
}

TEST_CASE("a SQLite database migrated by a newer library version is schema_mismatch") {
  auto db = make_test_db("sqlite");
  const int newest = newest_version(*db.store);
  {
    raw_sqlite raw(db.file);
    const auto cols = raw.columns("kauri_quota_migrations");
    REQUIRE(cols.contains("version"));
    std::string names = "version";
    std::string values = std::to_string(newest + 1);
    if (cols.contains("name")) {
      names += ", name";
      values += ", 'from_a_newer_library'";
    }
    if (cols.contains("checksum")) {
      names += ", checksum";
      values += ", 'unknown'";
    }
    if (cols.contains("applied_at")) {
      names += ", applied_at";
      values += ", '2030-01-01T00:00:00Z'";
    }
    raw.exec("INSERT INTO kauri_quota_migrations (" + names + ") VALUES (" + values + ")");
  }
  auto reopened = db.open_again();
  new_user nu;
  nu.user = user_id{"alice"};
  nu.now = at("2025-11-07T10:00:00Z");
  check_error(reopened->create_user(nu), errc::schema_mismatch);
  CHECK_FALSE(reopened->migrate({}).has_value());
}

TEST_CASE("migrate refuses a SQLite database whose applied migration was edited, naming it") {
  auto db = make_test_db("sqlite");
  {
    raw_sqlite raw(db.file);
    raw.exec("UPDATE kauri_quota_migrations SET checksum = 'edited' WHERE version = 3");
  }
  auto reopened = db.open_again();
  const auto r = reopened->migrate({});
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().is(errc::migration_failed));
  CHECK(r.error().message.find("migration 0003") != std::string::npos);
  CHECK(r.error().message.find("immutable once released") != std::string::npos);
  // Rolling back is refused too: the recorded history is not trusted.
  migrate_options to0;
  to0.to = 0;
  CHECK(reopened->migrate(to0).error().is(errc::migration_failed));
  CHECK(must(reopened->schema_version()) == newest_version(*reopened));
}
