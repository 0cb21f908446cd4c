// One round trip per operation: once a connection has prepared its
// statements, consume, reserve, commit, release, record and quota reads
// each reach the server exactly once.
#include "postgres/pq.hpp"
#include "support/fixtures.hpp"
#include "support/postgres_server.hpp"

#include <doctest/doctest.h>

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
    CHECK(measure([&] { CHECK(must(f.svc.try_consume(u, 5, with_request_id("rt-" + std::to_string(i)))).allowed); }) == 1);
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
    return kq_test::pg_query(std::string("SELECT allowed::text || '/' || replayed::text FROM kauri_quota_consume('retry', "
                                         "'2025-11-07', '2025-11-07 10:00:00', 1, 3, false, NULL, NULL, 'kq-auto-1', "
                                         "NULL, NULL, 0.8, 'free', '") +
                                 mode + "', 1000000000000)",
                             db);
  };
  CHECK(call("auto") == "true/false");
  CHECK(call("auto-retry") == "true/true");
  CHECK(f.quota(u).messages_today == 1);
  // A key that never landed is applied on retry.
  CHECK(kq_test::pg_query("SELECT replayed::text FROM kauri_quota_consume('retry', '2025-11-07', '2025-11-07 "
                          "10:00:00', 1, 3, false, NULL, NULL, 'kq-auto-2', NULL, NULL, 0.8, 'free', 'auto-retry', 1000000000000)",
                          db) == "false");
  CHECK(f.quota(u).messages_today == 2);
  // Library keys are not stored as idempotency keys.
  CHECK(kq_test::pg_query("SELECT count(*) FROM kauri_quota_idempotency_keys", db) == "0");
  f.check_audit(u);
}
