// The subscription lifecycle on PostgreSQL, where it differs from SQLite in
// how, not what (the answers are the conformance suite's): a transition the
// hot path finds due is reported by the server function (KQ008), written by
// change_lifecycle and the operation answered on the new state; a user with
// a zone of its own is counted in its own day, never by the fast path into
// the service's; resets take each user's own day; two processes sweeping at
// once write each transition once.
#include "postgres/pq.hpp"
#include "support/fixtures.hpp"
#include "support/postgres_server.hpp"
#include "support/temp_dir.hpp"
#include "support/worker_process.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace kauri_quota;
using namespace kauri_quota::testing;

namespace {

void sql(const service_fixture& f, const std::string& statement) { kq_test::pg_exec(statement, f.db.pg_database); }
std::string query(const service_fixture& f, const std::string& statement) {
  return kq_test::pg_query(statement, f.db.pg_database);
}

/// messages_today of the user's row of `day` ("" when there is none).
std::string messages_on(const service_fixture& f, const std::string& user, const std::string& day) {
  return query(f, "SELECT COALESCE((SELECT messages_today::text FROM user_usage WHERE user_id = '" + user +
                      "' AND usage_date = '" + day + "'), '')");
}

std::string armed_rows(const service_fixture& f, const std::string& user) {
  return query(f, "SELECT count(*) FROM user_usage WHERE user_id = '" + user + "' AND fast_xid IS NOT NULL");
}

lifecycle_request set_zone(const service_fixture& f, const user_id& u, std::optional<std::string> zone) {
  lifecycle_request r;
  r.kind = lifecycle_kind::set_time_zone;
  r.user = u;
  r.now = f.now();
  r.day = f.today();
  r.time_zone = std::move(zone);
  return r;
}

}  // namespace

TEST_CASE("a transition the hot path finds due is written once, then the operation is answered on the new state") {
  test_db_options o;
  o.open.pool_size = 1;
  service_fixture f(make_test_db("postgresql", o), {}, "2025-11-07T12:00:00Z");
  const auto u = f.add_user("lapsing", "pro");
  // A paid period that ended an hour ago, written behind the library.
  sql(f, "UPDATE users SET subscription_end_date = '2025-11-07 11:00:00' WHERE user_id = 'lapsing'");

  const decision first = f.consume(u, 10);
  CHECK(first.allowed);
  // Within the grace period: past_due with the paid tier's limits.
  CHECK(first.quota.subscription_tier == tier_id{"pro"});
  CHECK(query(f, "SELECT subscription_status FROM users WHERE user_id = 'lapsing'") == "past_due");
  CHECK(f.count_events(u, "subscription_past_due") == 1);
  CHECK(f.count_events(u, "message_sent") == 1);

  // Nothing is due any more: one round trip each, no second transition.
  for (int i = 0; i < 3; ++i) {
    const auto before = detail::pq::round_trips();
    CHECK(f.consume(u, 10).allowed);
    CHECK(detail::pq::round_trips() - before == 1);
  }
  CHECK(f.count_events(u, "subscription_past_due") == 1);

  // Past the grace period (72 hours): expired, the default tier's limits,
  // found by a read this time.
  f.set_time("2025-11-10T11:00:01Z");
  const quota_info q = f.quota(u);
  CHECK(q.subscription_tier == tier_id{"free"});
  CHECK(query(f, "SELECT subscription_status FROM users WHERE user_id = 'lapsing'") == "expired");
  CHECK(f.count_events(u, "subscription_expired") == 1);
  f.check_audit(u);
}

TEST_CASE("a user with a zone of its own is never counted into the service's day by the fast path") {
  // 12:00 UTC is already the next day at UTC+14.
  service_fixture f(make_test_db("postgresql"), {}, "2025-11-07T12:00:00Z");
  const auto u = f.add_user("zoned", "pro");
  CHECK(f.consume(u, 10).allowed);
  CHECK(f.consume(u, 10).allowed);
  // The service's day row has a budget the fast path would spend.
  CHECK(armed_rows(f, "zoned") == "1");

  // The zone is set behind the library (so the budget stays armed): the
  // fast path still refuses the row, and the consume counts in the user's
  // own day.
  sql(f, "UPDATE users SET time_zone = 'Pacific/Kiritimati' WHERE user_id = 'zoned'");
  for (int i = 0; i < 5; ++i) {
    const decision d = f.consume(u, 10);
    CHECK(d.allowed);
    CHECK(d.quota.messages_today == i + 1);
  }
  CHECK(messages_on(f, "zoned", "2025-11-07") == "2");
  CHECK(messages_on(f, "zoned", "2025-11-08") == "5");
  // No budget is ever given to a row of a zoned user.
  CHECK(query(f,
              "SELECT count(*) FROM user_usage WHERE user_id = 'zoned' AND usage_date = '2025-11-08' AND "
              "fast_xid IS NOT NULL") == "0");
  const usage_snapshot s = must(f.store().snapshot(u, f.today(), f.now(), tier_id{"free"}, std::chrono::hours{72}));
  CHECK(s.counters.usage_date == date("2025-11-08"));
  CHECK(s.sub.time_zone == std::optional<std::string>("Pacific/Kiritimati"));
  CHECK(s.counters.messages_today == 5);
  CHECK(s.counters.messages_this_month == 7);
}

TEST_CASE("setting a user's zone takes the fast path's budgets from its rows") {
  service_fixture f(make_test_db("postgresql"), {}, "2025-11-07T12:00:00Z");
  const auto u = f.add_user("moving", "pro");
  CHECK(f.consume(u, 10).allowed);
  CHECK(armed_rows(f, "moving") == "1");
  const lifecycle_outcome o = must(f.store().change_lifecycle(set_zone(f, u, "Pacific/Kiritimati")));
  CHECK(o.after.time_zone == std::optional<std::string>("Pacific/Kiritimati"));
  CHECK(armed_rows(f, "moving") == "0");
  CHECK(f.count_events(u, "time_zone_changed") == 1);
  CHECK(f.consume(u, 10).allowed);
  CHECK(messages_on(f, "moving", "2025-11-07") == "1");
  CHECK(messages_on(f, "moving", "2025-11-08") == "1");
  CHECK(armed_rows(f, "moving") == "0");
  // Back to the service's zone: the service's day again (its row gets no
  // budget: a later day of the month has a row, which alone carries the
  // month's totals).
  must(f.store().change_lifecycle(set_zone(f, u, std::nullopt)));
  CHECK(f.consume(u, 10).allowed);
  CHECK(messages_on(f, "moving", "2025-11-07") == "2");
  CHECK(armed_rows(f, "moving") == "0");
}

TEST_CASE("a reset of every user zeroes each user's own today") {
  service_fixture f(make_test_db("postgresql"), {}, "2025-11-07T12:00:00Z");
  const auto here = f.add_user("here", "pro");
  const auto ahead = f.add_user("ahead", "pro");
  must(f.store().change_lifecycle(set_zone(f, ahead, "Pacific/Kiritimati")));
  CHECK(f.consume_n(here, 2) == 2);
  CHECK(f.consume_n(ahead, 3) == 3);
  CHECK(must(f.svc.reset_daily_quotas()) == 2);
  CHECK(messages_on(f, "here", "2025-11-07") == "0");
  CHECK(messages_on(f, "ahead", "2025-11-08") == "0");
  CHECK(f.quota(ahead).messages_today == 0);
  CHECK(f.quota(ahead).messages_this_month == 0);
  CHECK(f.consume_n(ahead, 1) == 1);
  CHECK(must(f.svc.reset_monthly_quotas()) == 1);
  CHECK(f.quota(ahead).messages_this_month == 0);
  f.check_audit(here);
  f.check_audit(ahead);
}

TEST_CASE("two processes sweeping at once write each transition once") {
  service_fixture f(make_test_db("postgresql"), {}, "2025-11-07T12:00:00Z");
  constexpr int lapsed = 20, expired = 10, trials = 10;
  auto add = [&](const std::string& id, const char* tier, const char* status, const char* end, const char* trial) {
    f.add_user(id, tier);
    sql(f, std::string("UPDATE users SET subscription_status = '") + status + "', subscription_end_date = " + end +
               ", trial_end_date = " + trial + " WHERE user_id = '" + id + "'");
  };
  for (int i = 0; i < lapsed; ++i) add("lapsed-" + std::to_string(i), "pro", "active", "'2025-11-07 11:00:00'", "NULL");
  for (int i = 0; i < expired; ++i) add("old-" + std::to_string(i), "max", "active", "'2025-11-01 11:00:00'", "NULL");
  for (int i = 0; i < trials; ++i)
    add("trial-" + std::to_string(i), "pro", "trialing", "NULL", "'2025-11-07 11:30:00'");
  // Not due: a running period, a past_due user within its grace period.
  add("running", "pro", "active", "'2025-12-07 11:00:00'", "NULL");
  add("grace", "pro", "past_due", "'2025-11-06 11:00:00'", "NULL");

  const auto due = must(f.store().due_subscriptions(f.now(), std::chrono::hours{72}, std::nullopt, 1000));
  CHECK(due.size() == lapsed + expired + trials);

  temp_dir out_dir;
  std::vector<worker_run> runs;
  for (int p = 0; p < 2; ++p)
    runs.push_back(spawn_worker(f.db.url, user_id{"running"}, 2, 1, f.now(), out_dir.path(), p, "sweep"));
  std::int64_t written = 0;
  for (auto& run : runs) {
    const auto r = wait_worker(run);
    INFO("stdout:\n" << r.stdout_text << "stderr:\n" << r.stderr_text);
    REQUIRE(r.exit_status == 0);
    CHECK(r.errors == 0);
    written += r.allowed;
  }
  CHECK(written == lapsed + expired + trials);
  CHECK(query(f, "SELECT count(*) FROM usage_logs WHERE event_type = 'subscription_past_due'") ==
        std::to_string(lapsed));
  CHECK(query(f, "SELECT count(*) FROM usage_logs WHERE event_type = 'subscription_expired'") ==
        std::to_string(expired));
  CHECK(query(f, "SELECT count(*) FROM usage_logs WHERE event_type = 'trial_ended'") == std::to_string(trials));
  CHECK(query(f, "SELECT count(*) FROM users WHERE subscription_status = 'past_due'") == std::to_string(lapsed + 1));
  CHECK(must(f.store().due_subscriptions(f.now(), std::chrono::hours{72}, std::nullopt, 1000)).empty());
}

TEST_CASE("the sweep's candidates come from an index scan, page by page in user order") {
  service_fixture f(make_test_db("postgresql"), {}, "2025-11-07T12:00:00Z");
  for (int i = 0; i < 5; ++i) {
    const std::string id = "u" + std::to_string(i);
    f.add_user(id, "pro");
    sql(f, "UPDATE users SET subscription_end_date = '2025-11-07 11:00:00' WHERE user_id = '" + id + "'");
  }
  const auto first = must(f.store().due_subscriptions(f.now(), std::chrono::hours{72}, std::nullopt, 2));
  REQUIRE(first.size() == 2);
  CHECK(first[0] == user_id{"u0"});
  CHECK(first[1] == user_id{"u1"});
  const auto rest = must(f.store().due_subscriptions(f.now(), std::chrono::hours{72}, first.back(), 10));
  REQUIRE(rest.size() == 3);
  CHECK(rest[0] == user_id{"u2"});
  // On a large table the query reads the two partial indexes only.
  sql(f,
      "INSERT INTO users (user_id, created_at, subscription_tier, subscription_status, subscription_start_date) "
      "SELECT 'bulk-' || g, '2025-11-01', 'free', 'active', '2025-11-01' FROM generate_series(1, 20000) g");
  sql(f, "ANALYZE users");
  std::string plan;
  for (const auto& row : kq_test::pg_rows(
           "EXPLAIN SELECT user_id::text FROM users WHERE (subscription_end_date <= '2025-11-07 12:00:00' OR "
           "(subscription_status = 'trialing' AND trial_end_date <= '2025-11-07 12:00:00')) AND "
           "kauri_quota_transition_due(subscription_status, trial_end_date, subscription_end_date, scheduled_tier, "
           "'2025-11-07 12:00:00', 259200) ORDER BY user_id LIMIT 10",
           f.db.pg_database))
    plan += row.at(0).value_or("") + "\n";
  INFO(plan);
  CHECK(plan.find("ix_users_lifecycle_due") != std::string::npos);
  CHECK(plan.find("ix_users_trial_due") != std::string::npos);
  CHECK(plan.find("Seq Scan") == std::string::npos);
}

TEST_CASE("a user created with a zone of its own counts in its own day from its first message") {
  service_fixture f(make_test_db("postgresql"), {}, "2025-11-07T12:00:00Z");
  new_user nu{user_id{"born-zoned"}, std::nullopt, tier_id{"pro"}, f.now(), std::string("Pacific/Kiritimati")};
  CHECK(must(f.store().create_user(nu)).time_zone == std::optional<std::string>("Pacific/Kiritimati"));
  CHECK(must(f.store().get_subscription(nu.user)).time_zone == std::optional<std::string>("Pacific/Kiritimati"));
  CHECK(f.consume(nu.user, 10).allowed);
  CHECK(messages_on(f, "born-zoned", "2025-11-08") == "1");
  CHECK(messages_on(f, "born-zoned", "2025-11-07").empty());
}
