// Batched calls on PostgreSQL: writes of concurrent callers that queue for
// a connection travel together, in one pipeline on one connection, each
// its own transaction, so that each caller gets its own answer and a
// request that fails fails alone; after a lost connection each caller
// retries by the usual rules and counts once.
#include "postgres/pq.hpp"
#include "support/fixtures.hpp"
#include "support/postgres_server.hpp"
#include "support/write_lock.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using namespace kauri_quota;
using namespace kauri_quota::testing;

namespace {

/// Ends the library's server sessions on `dbname` that are waiting for a
/// lock (their calls are in flight): what a lost connection looks like.
/// The library's sessions on `dbname`, for diagnostics.
std::string sessions(const std::string& dbname) {
  std::string out;
  for (const auto& row : kq_test::pg_rows("SELECT state, wait_event_type, wait_event, left(query, 50) FROM "
                                          "pg_stat_activity WHERE application_name = 'kauri_quota' AND datname = '" +
                                              dbname + "'",
                                          "postgres")) {
    out += "\n ";
    for (const auto& c : row) out += " | " + c.value_or("NULL");
  }
  return out;
}

/// Ends the library's server sessions on `dbname` that are waiting for a
/// lock (their calls are in flight): what a lost connection looks like.
int terminate_waiting_sessions(const std::string& dbname) {
  return std::stoi(kq_test::pg_query("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '" +
                                     dbname + "' AND application_name = 'kauri_quota' AND wait_event_type = 'Lock'"));
}

}  // namespace

TEST_CASE("writes that queue for the one connection travel together in one round trip") {
  test_db_options o;
  o.open.pool_size = 1;
  service_fixture f(make_test_db("postgresql", o));
  std::vector<user_id> users;
  for (int i = 0; i < 9; ++i) users.push_back(f.add_user("trip-" + std::to_string(i), "pro"));
  must(f.svc.try_consume(users[0], 1));  // prepares the statement on the connection
  std::uint64_t trips = 0;
  std::uint64_t trips_before = 0;
  std::vector<std::function<void()>> others;
  for (std::size_t i = 1; i < users.size(); ++i)
    others.emplace_back([&, i] { CHECK(must(f.svc.try_consume(users[i], 3)).allowed); });
  queue_behind_held_lock(
      f.db, [&] { CHECK(must(f.svc.try_consume(users[0], 3)).allowed); }, others,
      [&] { trips_before = detail::pq::round_trips(); });
  trips = detail::pq::round_trips() - trips_before;
  // The first call was sent before; the eight behind it in one round trip.
  CHECK(trips == 1);
  CHECK(f.store().write_batches().largest == 8);
  for (const auto& u : users) {
    CHECK(f.quota(u).tokens_today == (u == users[0] ? 4 : 3));
    f.check_audit(u);
  }
}

TEST_CASE("a batch whose connection is lost is retried by each caller, and each request counts once") {
  test_db_options o;
  o.open.pool_size = 1;
  service_fixture f(make_test_db("postgresql", o));
  const auto settled = f.add_user("lost-settle", "pro");
  std::vector<user_id> users;
  for (int i = 0; i < 6; ++i) users.push_back(f.add_user("lost-" + std::to_string(i), "pro"));
  const auto to_commit = must(f.svc.reserve(settled, 40));
  std::vector<std::optional<result<decision>>> got(users.size());
  std::optional<result<reservation>> committed;
  // Half without a request_id: the library's own key makes their retry
  // safe too.
  auto call = [&](std::size_t i) {
    got[i].emplace(i % 2 == 0 ? f.svc.try_consume(users[i], 5)
                              : f.svc.try_consume(users[i], 5, with_request_id("lost-" + std::to_string(i))));
  };
  std::vector<std::function<void()>> others;
  for (std::size_t i = 1; i < users.size(); ++i) others.emplace_back([&, i] { call(i); });
  others.emplace_back([&] { committed.emplace(f.svc.commit(*to_commit.reservation, 33)); });
  queue_behind_held_lock(
      f.db, [&] { call(0); }, others,
      [&] {
        // The lone first call's session, then the batch's: both were
        // sent and are waiting for the lock when they are ended.
        INFO("sessions before the first end:" << sessions(f.db.pg_database));
        CHECK(terminate_waiting_sessions(f.db.pg_database) == 1);
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
        INFO("sessions before the second end:" << sessions(f.db.pg_database));
        CHECK(terminate_waiting_sessions(f.db.pg_database) == 1);
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      });
  CHECK(f.store().write_batches().largest >= 2);
  for (std::size_t i = 0; i < users.size(); ++i) {
    INFO("caller " << i);
    REQUIRE(got[i]->has_value());
    CHECK(got[i]->value().allowed);
    CHECK(f.quota(users[i]).messages_today == 1);
    CHECK(f.quota(users[i]).tokens_today == 5);
    CHECK(f.count_events(users[i], "message_sent") == 1);
    f.check_audit(users[i]);
  }
  REQUIRE(committed->has_value());
  CHECK(committed->value().state == reservation_state::committed);
  CHECK(f.quota(settled).tokens_today == 33);
  CHECK(f.count_events(settled, "reservation_committed") == 1);
  f.check_audit(settled);
}
