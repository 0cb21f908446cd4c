// The repeatable PostgreSQL function set: a 0.1.0 database is upgraded in
// place, a hand edit is detected and repaired, and a rolling upgrade (a
// newer set installed under a running library) keeps every host answering.
#include "postgres/function_set.hpp"
#include "core/migrations.hpp"
#include "core/sql_support.hpp"
#include "postgres/pq.hpp"
#include "support/fixtures.hpp"
#include "support/postgres_server.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <thread>

using namespace kauri_quota;
using namespace kauri_quota::testing;
namespace pg = kauri_quota::detail::postgres;

namespace {

std::string read_fixture(const std::string& name) {
  const std::string path = std::string(KQ_POSTGRES_FIXTURES) + "/" + name;
  std::ifstream in(path, std::ios::binary);
  if (!in) FAIL("cannot read " << path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

const sys_time t0 = sys_time{std::chrono::sys_days{std::chrono::year{2025} / 11 / 7}} + std::chrono::hours{10};
const local_date d0 = local_date{std::chrono::year{2025} / 11 / 7};

consume_request consume_of(const std::string& user, std::optional<std::string> rid, std::int64_t tokens = 100) {
  consume_request r;
  r.user = user_id{user};
  r.now = t0;
  r.day = d0;
  r.tokens = tokens;
  if (rid) r.ctx.id = request_id{*rid};
  return r;
}

std::string count(const std::string& table, const std::string& dbname) {
  return kq_test::pg_query("SELECT count(*) FROM " + table, dbname);
}

/// A database as kauri_quota 0.1.0 left it: migrations 0001-0007, then the
/// frozen 0008 applied and recorded, with a user and some usage written by
/// the 0.1.0 functions themselves.
test_db database_of_0_1_0() {
  test_db_options o;
  o.migrate = false;
  auto db = make_test_db("postgresql", o);
  migrate_options to7;
  to7.to = 7;
  must(db.store->migrate(to7));
  const std::string frozen = read_fixture("0008_quota_functions.up.sql");
  kq_test::pg_exec(frozen, db.pg_database);
  kq_test::pg_exec(
      "INSERT INTO kauri_quota_migrations (version, name, checksum, applied_at) VALUES (8, "
      "'quota_functions', '" +
          detail::checksum_hex(frozen) + "', now())",
      db.pg_database);
  kq_test::pg_exec("SELECT kauri_quota_create_user('alice', NULL, 'free', '2025-11-01 08:00:00')", db.pg_database);
  for (int i = 1; i <= 3; ++i)
    kq_test::pg_exec(
        "SELECT kauri_quota_consume('alice', '2025-11-07', '2025-11-07 09:00:00', 1, 100, false, NULL, "
        "NULL, 'old-" +
            std::to_string(i) + "', NULL, NULL, '0.8', 'free', 'caller', '1000000000000')",
        db.pg_database);
  return db;
}

std::unique_ptr<detail::pq::connection> raw_connection(const test_db& db) {
  auto c =
      detail::pq::connection::open({db.url, std::chrono::milliseconds{5000}, std::chrono::milliseconds{30000}}, "");
  if (!c) FAIL("cannot connect: " << describe(c.error()));
  return std::move(c).value();
}

}  // namespace

TEST_CASE("the shipped migration 0008 is byte for byte the one kauri_quota 0.1.0 released") {
  const auto all = detail::postgres_migrations();
  REQUIRE(all.size() >= 8);
  CHECK(std::string(all[7].name) == "quota_functions");
  CHECK(std::string(all[7].up) == read_fixture("0008_quota_functions.up.sql"));
  CHECK(std::string(all[7].down) == read_fixture("0008_quota_functions.down.sql"));
}

TEST_CASE("the embedded function set defines every function that migration 0008 created") {
  const auto names = pg::function_names(pg::embedded_function_set());
  // 0008's 22, version 4's kauri_quota_transition_due and kauri_quota_user_day,
  // version 5's kauri_quota_reset_users and kauri_quota_reset_next.
  CHECK(names.size() == 26);
  for (const char* n : {"kauri_quota_consume", "kauri_quota_record", "kauri_quota_settle", "kauri_quota_expire",
                        "kauri_quota_reset", "kauri_quota_set_subscription", "kauri_quota_create_user",
                        "kauri_quota_evaluate", "kauri_quota_arm", "kauri_quota_load"}) {
    INFO(n);
    CHECK(std::binary_search(names.begin(), names.end(), std::string(n)));
  }
}

TEST_CASE("a database migrated by 0.1.0 gets the function set, keeps every row and answers as before") {
  auto db = database_of_0_1_0();
  const std::string consume_xmin_before =
      kq_test::pg_query("SELECT xmin::text FROM pg_proc WHERE proname = 'kauri_quota_consume'", db.pg_database);
  const std::string users = count("users", db.pg_database);
  const std::string usage = count("user_usage", db.pg_database);
  const std::string logs = count("usage_logs", db.pg_database);
  const std::string keys = count("kauri_quota_idempotency_keys", db.pg_database);
  REQUIRE(logs != "0");

  auto store = db.open_again();
  CHECK(must(store->schema_version()) == 8);
  CHECK(must(store->server_functions()).state == function_state::missing);
  check_error(store->consume(consume_of("alice", "new-1")), errc::schema_mismatch);

  const auto report = must(store->migrate({}));
  CHECK(report.applied == std::vector<int>{9, 10, 11});
  const auto fs = must(store->server_functions());
  CHECK(fs.state == function_state::current);
  CHECK(fs.installed_version == pg::function_set_version);
  CHECK(kq_test::pg_query("SELECT xmin::text FROM pg_proc WHERE proname = 'kauri_quota_consume'", db.pg_database) !=
        consume_xmin_before);
  CHECK(count("users", db.pg_database) == users);
  CHECK(count("user_usage", db.pg_database) == usage);
  CHECK(count("usage_logs", db.pg_database) == logs);
  CHECK(count("kauri_quota_idempotency_keys", db.pg_database) == keys);

  // The same answers on the rows 0.1.0 wrote: a replay of its request, the
  // free tier's daily limit of 5, reservations, records and resets.
  const auto replay = must(store->consume(consume_of("alice", "old-2")));
  CHECK(replay.replayed);
  CHECK(replay.snapshot.counters.messages_today == 3);
  CHECK(replay.snapshot.counters.tokens_this_month == 300);
  CHECK(must(store->consume(consume_of("alice", "new-1"))).allowed);
  auto reserve = consume_of("alice", "new-2", 400);
  reserve.reserve = true;
  const auto reserved = must(store->consume(reserve));
  REQUIRE(reserved.reservation.has_value());
  const auto denied = must(store->consume(consume_of("alice", "new-3")));
  CHECK_FALSE(denied.allowed);
  CHECK(denied.denied_by == limit_kind::daily);
  settle_request settle;
  settle.id = *reserved.reservation;
  settle.actual_tokens = 250;
  settle.now = t0 + std::chrono::minutes{1};
  settle.day = d0;
  const auto settled = must(store->settle(settle));
  CHECK(settled.res.state == reservation_state::committed);
  CHECK(settled.snapshot.counters.messages_today == 5);
  CHECK(settled.snapshot.counters.tokens_this_month == 300 + 100 + 250);
  record_request rec;
  rec.user = user_id{"alice"};
  rec.now = t0 + std::chrono::minutes{2};
  rec.day = d0;
  rec.tokens = 50;
  rec.messages = 0;
  CHECK(must(store->record(rec)).snapshot.counters.tokens_this_month == 700);
  reset_request reset;
  reset.kind = reset_kind::daily;
  reset.user = user_id{"alice"};
  reset.day = d0;
  reset.now = t0 + std::chrono::minutes{3};
  CHECK(must(store->reset(reset)) == 1);
  CHECK(must(store->consume(consume_of("alice", "new-4"))).allowed);
  check_error(store->consume(consume_of("nobody", "new-5")), errc::unknown_user);
}

TEST_CASE("a server function altered by hand is refused, shown as altered and restored by migrate") {
  auto db = make_test_db("postgresql");
  must(db.store->create_user({user_id{"alice"}, std::nullopt, tier_id{"free"}, t0, std::nullopt}));
  kq_test::pg_exec(
      "CREATE OR REPLACE FUNCTION kauri_quota_reached(used BIGINT, lim BIGINT, threshold DOUBLE PRECISION)"
      " RETURNS BOOLEAN LANGUAGE sql IMMUTABLE AS $f$ SELECT false $f$",
      db.pg_database);
  auto store = db.open_again();
  const auto r = store->consume(consume_of("alice", "a-1"));
  REQUIRE(check_error(r, errc::schema_mismatch));
  CHECK(r.error().message.find("altered") != std::string::npos);
  CHECK(r.error().message.find("kauri-quota migrate") != std::string::npos);
  CHECK(must(store->server_functions()).state == function_state::altered);

  must(store->migrate({}));
  CHECK(must(store->server_functions()).state == function_state::current);
  CHECK(kq_test::pg_query("SELECT pg_get_functiondef('kauri_quota_reached'::regproc)", db.pg_database)
            .find("SELECT false") == std::string::npos);
  CHECK(must(db.open_again()->consume(consume_of("alice", "a-1"))).allowed);
}

TEST_CASE("a dropped server function is refused as missing and reinstalled by migrate") {
  auto db = make_test_db("postgresql");
  kq_test::pg_exec("DROP FUNCTION kauri_quota_expire", db.pg_database);
  auto store = db.open_again();
  const auto fs = must(store->server_functions());
  CHECK(fs.state == function_state::missing);
  CHECK(fs.detail.find("kauri_quota_expire") != std::string::npos);
  check_error(store->tiers(false), errc::schema_mismatch);
  must(store->migrate({}));
  CHECK(must(store->server_functions()).state == function_state::current);
  CHECK(must(db.open_again()->tiers(false)).size() >= 1);
}

TEST_CASE("an older function set is refused as stale and replaced by migrate") {
  auto db = make_test_db("postgresql");
  kq_test::pg_exec("UPDATE kauri_quota_function_set SET version = version - 1, hash = 'older'", db.pg_database);
  auto store = db.open_again();
  CHECK(must(store->server_functions()).state == function_state::stale);
  check_error(store->tiers(false), errc::schema_mismatch);
  must(store->migrate({}));
  const auto fs = must(store->server_functions());
  CHECK(fs.state == function_state::current);
  CHECK(fs.installed_version == pg::function_set_version);
}

TEST_CASE("rolling upgrade: a newer function set installed under running hosts keeps them answering") {
  auto db = make_test_db("postgresql");
  must(db.store->create_user({user_id{"bob"}, std::nullopt, tier_id{"enterprise"}, t0, std::nullopt}));
  auto running = db.open_again();
  CHECK(must(running->consume(consume_of("bob", "warm-up"))).allowed);

  // The next release's set: the same calls (it must stay compatible with
  // this release's) plus a function of its own, at the next version.
  pg::function_set newer = pg::embedded_function_set();
  newer.version = pg::function_set_version + 1;
  newer.files.emplace_back("zz_next.sql",
                           "CREATE OR REPLACE FUNCTION kauri_quota_next_release() RETURNS INTEGER LANGUAGE sql "
                           "IMMUTABLE AS $f$ SELECT 2 $f$;");

  constexpr int n = 200;
  std::atomic<int> allowed{0};
  std::atomic<int> failed{0};
  std::thread host([&] {
    for (int i = 0; i < n; ++i) {
      auto r = running->consume(consume_of("bob", "roll-" + std::to_string(i), 1));
      (r && r.value().allowed ? allowed : failed)++;
    }
  });
  auto conn = raw_connection(db);
  for (int k = 0; k < 3; ++k) {
    auto installed = pg::install_function_set(*conn, newer);
    if (auto* f = std::get_if<detail::pq::failure>(&installed)) FAIL("install failed: " << describe(f->err));
    CHECK(std::get<bool>(installed) == (k == 0));
  }
  host.join();
  CHECK(failed.load() == 0);
  CHECK(allowed.load() == n);

  // The host that was running, and one of this release opened afterwards,
  // work on the newer set; this release's migrate leaves it in place.
  const auto after = must(running->snapshot(user_id{"bob"}, d0, t0, tier_id{"free"}, std::chrono::hours{72}));
  CHECK(after.counters.messages_today == n + 1);
  auto opened_after = db.open_again();
  const auto fs = must(opened_after->server_functions());
  CHECK(fs.state == function_state::newer);
  CHECK(fs.installed_version == pg::function_set_version + 1);
  CHECK(must(opened_after->consume(consume_of("bob", "after-1"))).allowed);
  must(opened_after->migrate({}));
  CHECK(must(opened_after->server_functions()).installed_version == pg::function_set_version + 1);
  CHECK(kq_test::pg_query("SELECT kauri_quota_next_release()", db.pg_database) == "2");
}

TEST_CASE("rolling upgrade: the previous release's calls (function set version 3) keep answering on this set") {
  auto db = make_test_db("postgresql");
  must(db.store->create_user({user_id{"carol"}, std::nullopt, tier_id{"pro"}, t0, std::nullopt}));
  auto q = [&](const std::string& s) { return kq_test::pg_query(s, db.pg_database); };
  const std::string head = "'carol', '2025-11-07', '2025-11-07 10:00:00', 1, ";
  const std::string tail = ", NULL, NULL, '0.8', 'free', 'caller', '1000000000000'";
  // consume with p_shadow (version 3) and without (version 2).
  CHECK(q("SELECT (kauri_quota_consume(" + head + "100, false, NULL, NULL, 'v3-1'" + tail + ", false)).allowed") ==
        "t");
  CHECK(q("SELECT (kauri_quota_consume(" + head + "100, false, NULL, NULL, 'v2-1'" + tail + ")).allowed") == "t");
  // reserve, then settle (6 arguments).
  CHECK(q("SELECT (kauri_quota_consume(" + head + "50, true, 'kq-v3-res', '2025-11-07 10:05:00', 'v3-2'" + tail +
          ", false)).reservation_id") == "kq-v3-res");
  CHECK(q("SELECT (kauri_quota_settle('kq-v3-res', 70, '2025-11-07 10:01:00', '2025-11-07', 'free', "
          "'1000000000000')).res_state") == "committed");
  // record (12 arguments) and load (5).
  CHECK(q("SELECT (kauri_quota_record('carol', '2025-11-07', '2025-11-07 10:02:00', 2, 10, 'v3-3', NULL, NULL, '0.8', "
          "'free', '1000000000000', 'caller')).messages_today") == "5");
  CHECK(q("SELECT (kauri_quota_load('carol', '2025-11-07', '2025-11-07 10:03:00', 'free', false)).messages_today") ==
        "5");

  // A paid period that ended: the version-3 calls know no lifecycle. They
  // decide with 0.1.0's lapsed rule (the default tier's limits), never
  // report the due transition and write none.
  kq_test::pg_exec("UPDATE users SET subscription_end_date = '2025-11-07 09:00:00' WHERE user_id = 'carol'",
                   db.pg_database);
  CHECK(q("SELECT (kauri_quota_load('carol', '2025-11-07', '2025-11-07 10:03:00', 'free', false)).tier_id") == "free");
  // (The default tier allows 5 a day: the sixth message is refused.)
  CHECK(q("SELECT (kauri_quota_consume(" + head + "1, false, NULL, NULL, 'v3-4'" + tail +
          ", false))::text LIKE '(f,daily,%,free,%'") == "t");
  CHECK(q("SELECT subscription_status FROM users WHERE user_id = 'carol'") == "active");
  CHECK(q("SELECT count(*) FROM usage_logs WHERE user_id = 'carol' AND event_type = 'subscription_past_due'") == "0");

  // This release writes the transition first: past_due, with the paid
  // tier's limits during the grace period.
  const auto snap = must(db.store->snapshot(user_id{"carol"}, d0, t0, tier_id{"free"}, std::chrono::hours{72}));
  CHECK(snap.sub.status == subscription_status::past_due);
  CHECK(snap.applied.id == tier_id{"pro"});
  CHECK(snap.counters.messages_today == 5);
  CHECK(q("SELECT count(*) FROM usage_logs WHERE user_id = 'carol' AND event_type = 'subscription_past_due'") == "1");
}
