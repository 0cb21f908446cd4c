// One round trip per operation: once a connection has prepared its
// statements, consume, reserve, commit, release, record and quota reads
// each reach the server exactly once.
#include "postgres/pq.hpp"
#include "support/fixtures.hpp"

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
