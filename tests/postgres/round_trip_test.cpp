// One round trip per operation: once a connection has prepared its
// statements, consume, reserve, commit, release, record and quota reads
// each reach the server exactly once.
#include "postgres/pq.hpp"
#include "support/fixtures.hpp"
#include "support/postgres_server.hpp"

#include <doctest/doctest.h>
#include <libpq-fe.h>

#include <cstdio>
#include <optional>
#include <thread>

using namespace kauri_quota;
using namespace kauri_quota::testing;

TEST_CASE("each quota operation costs one round trip on PostgreSQL") {
  test_db_options o;
  o.open.pool_size = 1;
  service_fixture f(make_test_db("postgresql", o));
  const auto u = f.add_user("rt", "enterprise");
  // Warm up: the first use of each statement on the connection prepares it.
  (void)f.consume(u, 1);
  auto r0 = must(f.svc.reserve(u, 1));
  must(f.svc.commit(*r0.reservation, 1));
  r0 = must(f.svc.reserve(u, 1));
  must(f.svc.release(*r0.reservation));
  must(f.svc.increment_usage(u, 1, 1));
  must(f.svc.get_user_quota_info(u));

  auto measure = [&](auto&& op) {
    const auto before = detail::pq::round_trips();
    op();
    return detail::pq::round_trips() - before;
  };
  for (int i = 0; i < 20; ++i) {
    CHECK(measure([&] { CHECK(must(f.svc.try_consume(u, 5)).allowed); }) == 1);
    CHECK(measure([&] { CHECK(must(f.svc.try_consume(u, 5, with_request_id("rt-" + std::to_string(i)))).allowed); }) ==
          1);
    decision d;
    CHECK(measure([&] { d = must(f.svc.reserve(u, 10)); }) == 1);
    CHECK(measure([&] { must(f.svc.commit(*d.reservation, 7)); }) == 1);
    CHECK(measure([&] { d = must(f.svc.reserve(u, 10)); }) == 1);
    CHECK(measure([&] { must(f.svc.release(*d.reservation)); }) == 1);
    CHECK(measure([&] { must(f.svc.increment_usage(u, 1, 3)); }) == 1);
    CHECK(measure([&] { must(f.svc.get_user_quota_info(u)); }) == 1);
    CHECK(measure([&] { must(f.svc.can_send_message(u)); }) == 1);
  }
}

TEST_CASE("a retried library key is answered from the audit row and counts once") {
  service_fixture f(make_test_db("postgresql"));
  const auto u = f.add_user("retry");
  const std::string db = f.db.pg_database;
  // What the library sends for a call without a request_id, then what it
  // resends after losing the acknowledgement of that call.
  auto call = [&](const char* mode) {
    return kq_test::pg_query(
        std::string("SELECT allowed::text || '/' || replayed::text FROM kauri_quota_consume('retry', "
                    "'2025-11-07', '2025-11-07 10:00:00', 1, 3, false, NULL, NULL, 'kq-auto-1', "
                    "NULL, NULL, 0.8, 'free', '") +
            mode + "', 1000000000000)",
        db);
  };
  CHECK(call("auto") == "true/false");
  CHECK(call("auto-retry") == "true/true");
  CHECK(f.quota(u).messages_today == 1);
  // A key that never landed is applied on retry.
  CHECK(kq_test::pg_query(
            "SELECT replayed::text FROM kauri_quota_consume('retry', '2025-11-07', '2025-11-07 "
            "10:00:00', 1, 3, false, NULL, NULL, 'kq-auto-2', NULL, NULL, 0.8, 'free', 'auto-retry', 1000000000000)",
            db) == "false");
  CHECK(f.quota(u).messages_today == 2);
  // Library keys are not stored as idempotency keys.
  CHECK(kq_test::pg_query("SELECT count(*) FROM kauri_quota_idempotency_keys", db) == "0");
  f.check_audit(u);
}

TEST_CASE("a deadlock (40P01) is retried and the operation counts once") {
  test_db_options o;
  o.open.pool_size = 1;
  service_fixture f(make_test_db("postgresql", o));
  const auto u = f.add_user("deadlocked", "enterprise");
  (void)f.consume(u, 1);  // the day row exists and the statements are prepared
  // A second session locks the day row, then the user's advisory lock,
  // while a consume holds the advisory lock and waits for the row.
  const std::string ci = kq_test::pg_server_conninfo() + " dbname=" + f.db.pg_database;
  PGconn* other = PQconnectdb(ci.c_str());
  REQUIRE(PQstatus(other) == CONNECTION_OK);
  PQclear(PQexec(other, "SET deadlock_timeout = '5s'"));  // the consume, waiting first, detects the cycle
  PQclear(PQexec(other, "BEGIN"));
  PGresult* locked = PQexec(other, "SELECT 1 FROM user_usage WHERE user_id = 'deadlocked' FOR UPDATE");
  REQUIRE(PQresultStatus(locked) == PGRES_TUPLES_OK);
  PQclear(locked);
  const auto before = detail::pq::round_trips();
  std::optional<result<decision>> outcome;
  std::thread consumer([&] { outcome.emplace(f.svc.try_consume(u, 1, with_request_id("dl-1"))); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the consume now waits for the row
  PGresult* cycle = PQexec(other, "SELECT pg_advisory_xact_lock(hashtextextended('deadlocked', 7419730114))");
  const auto cycle_status = PQresultStatus(cycle);
  PQclear(cycle);
  PQclear(PQexec(other, "ROLLBACK"));
  consumer.join();
  PQfinish(other);
  CHECK(cycle_status == PGRES_TUPLES_OK);  // the other session won; the consume was the victim
  REQUIRE(outcome.has_value());
  REQUIRE(outcome->has_value());
  CHECK(outcome->value().allowed);
  CHECK(detail::pq::round_trips() - before >= 2);  // it was sent again
  CHECK(f.quota(u).messages_today == 2);
  f.check_audit(u);
}

TEST_CASE("a reset of every user commits by chunks of 500 users, so its locks never fill the lock table") {
  service_fixture f(make_test_db("postgresql"));
  // 2001 users with usage today: five chunks, hence five transactions.
  for (int i = 0; i <= 2000; ++i) {
    char id[16];
    (void)std::snprintf(id, sizeof id, "c%05d", i);
    f.add_user(id);
  }
  kq_test::pg_exec(
      "INSERT INTO user_usage (user_id, usage_date, messages_today, messages_this_month)"
      " SELECT user_id, '" +
          show(f.today()) + "', 1, 1 FROM users",
      f.db.pg_database);
  CHECK(must(f.svc.reset_daily_quotas()) == 2001);
  CHECK(kq_test::pg_query("SELECT count(*) FROM user_usage WHERE messages_today <> 0", f.db.pg_database) == "0");
  CHECK(kq_test::pg_query("SELECT count(*) FROM usage_logs WHERE event_type = 'daily_reset'", f.db.pg_database) ==
        "2001");
  CHECK(kq_test::pg_query("SELECT count(DISTINCT xmin::text) FROM usage_logs WHERE event_type = 'daily_reset'",
                          f.db.pg_database) == "5");
}
