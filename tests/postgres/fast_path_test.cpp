// The consume fast path of the PostgreSQL backend: an admitted request gives
// the day row a budget, and the consumes that budget covers are decided and
// written by one statement. These tests show that the budget is given and
// spent, and that every change it does not cover turns it off. That the
// answers, counters and audit rows are those of the SQLite backend (which
// has no fast path) on a random mix of every operation is
// tests/differential/random_mix_test.cpp.
#include "differential/mix.hpp"
#include "support/fixtures.hpp"
#include "support/postgres_server.hpp"

#include <doctest/doctest.h>
#include <sqlite3.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

using namespace kauri_quota;
using namespace kauri_quota::testing;

namespace {

using mix::budget;

void sql(const service_fixture& f, const std::string& statement) { mix::pg_exec(f, statement); }

}  // namespace

TEST_CASE("an admitted consume gives the day row a budget that the next consumes spend") {
  service_fixture f(make_test_db("postgresql"));
  const auto u = f.add_user("fp");  // free: 5 a day, 100000 tokens a month; warnings at 80%
  const auto day = f.today();

  CHECK(f.consume(u, 10).allowed);
  // Two more messages stay below the daily warning (4 of 5); tokens stay
  // below 80000.
  CHECK(budget(f, "fp", day) == "0.8|2|79989");
  CHECK(f.consume(u, 10).allowed);
  CHECK(budget(f, "fp", day) == "0.8|1|79979");
  CHECK(f.consume(u, 10).allowed);
  CHECK(budget(f, "fp", day) == "0.8|0|79969");
  // The 4th message crosses the warning threshold: the general path warns,
  // then gives the row what is left before the limit.
  CHECK(f.count_events(u, "quota_warning") == 0);
  const auto fourth = f.consume(u, 10);
  CHECK(fourth.allowed);
  CHECK(fourth.quota.warning_threshold_reached);
  CHECK(f.count_events(u, "quota_warning") == 1);
  CHECK(budget(f, "fp", day) == "0.8|1|79959");
  CHECK(f.consume(u, 10).allowed);
  const auto sixth = f.consume(u, 10);
  CHECK_FALSE(sixth.allowed);
  CHECK(sixth.denied_by == limit_kind::daily);
  CHECK(f.quota(u).messages_today == 5);
  CHECK(f.count_events(u, "message_sent") == 5);
  CHECK(f.count_events(u, "quota_exceeded") == 1);
  f.check_audit(u);
}

TEST_CASE("the consumes a budget covers are answered without the general path") {
  service_fixture f(make_test_db("postgresql"));
  const auto u = f.add_user("only-fast", "pro");
  CHECK(f.consume(u, 5).allowed);  // the general path gives the row its budget
  // Make the general path fail: it reads the state through kauri_quota_state.
  const std::string db = f.db.pg_database;
  const std::string original = kq_test::pg_query("SELECT pg_get_functiondef('kauri_quota_state'::regproc)", db);
  sql(f,
      "CREATE OR REPLACE FUNCTION kauri_quota_state(p_user users.user_id%TYPE, p_day DATE) "
      "RETURNS SETOF kauri_quota_outcome LANGUAGE plpgsql STABLE AS $f$ BEGIN "
      "RAISE EXCEPTION 'general path taken'; END $f$");
  for (int i = 0; i < 5; ++i) CHECK(f.consume(u, 5).allowed);
  // A request the budget does not cover (another warning threshold) needs
  // the general path, and fails.
  service_options half;
  half.warning_threshold = 0.5;
  auto other = f.make_service(f.clock, half);
  CHECK_FALSE(other.try_consume(u, 5).has_value());
  sql(f, original);
  CHECK(f.quota(u).messages_today == 6);
  CHECK(f.quota(u).tokens_today == 30);
  f.check_audit(u);
}

TEST_CASE("counters changed with SQL void the budget") {
  service_fixture f(make_test_db("postgresql"));
  SUBCASE("raised past the limit") {
    const auto u = f.add_user("raised");  // free: 5 a day
    CHECK(f.consume(u).allowed);
    CHECK(budget(f, "raised", f.today()) == "0.8|2|79999");
    sql(f,
        "UPDATE user_usage SET messages_today = messages_today + 4, messages_this_month = messages_this_month + 4 "
        "WHERE user_id = 'raised'");
    CHECK(budget(f, "raised", f.today()) == "none");
    const auto d = f.consume(u);
    CHECK_FALSE(d.allowed);
    CHECK(d.denied_by == limit_kind::daily);
    CHECK(f.quota(u).messages_today == 5);
  }
  SUBCASE("lowered below the warning threshold") {
    f.set_limits("pro", {}, {}, 100);
    const auto u = f.add_user("lowered", "pro");
    CHECK(f.consume(u, 85).allowed);  // past 80 tokens: warned
    CHECK(f.count_events(u, "quota_warning") == 1);
    sql(f, "UPDATE user_usage SET tokens_today = 70, tokens_this_month = 70 WHERE user_id = 'lowered'");
    CHECK(f.consume(u, 14).allowed);  // 70 -> 84 crosses 80 again: warned again
    CHECK(f.count_events(u, "quota_warning") == 2);
  }
  SUBCASE("a later day's row added with SQL") {
    const auto u = f.add_user("imported", "pro");
    for (int i = 0; i < 2; ++i) CHECK(f.consume(u, 3).allowed);
    sql(f,
        "INSERT INTO user_usage (user_id, usage_date, messages_today, tokens_today, messages_this_month, "
        "tokens_this_month, created_at, updated_at) VALUES ('imported', '2025-11-08', 0, 0, 2, 6, now(), now())");
    CHECK(budget(f, "imported", f.today()) == "none");
    CHECK(f.consume(u, 3).allowed);  // reaches the later row's month totals too
    CHECK(f.usage_on(u, next_day(f.today())).messages_this_month == 3);
    CHECK(f.usage_on(u, next_day(f.today())).tokens_this_month == 9);
  }
}

TEST_CASE("the token budget stops one token short of the month's token limit") {
  service_fixture f(make_test_db("postgresql"));
  f.set_limits("pro", {}, {}, 100);
  const auto u = f.add_user("tok", "pro");
  const auto day = f.today();
  CHECK(f.consume(u, 85).allowed);  // crosses 80 tokens: warned, then a budget of 100 - 1 - 85
  CHECK(budget(f, "tok", day) == "0.8|999999999999|14");
  CHECK(f.consume(u, 14).allowed);  // fast: 99 tokens
  CHECK(budget(f, "tok", day) == "0.8|999999999998|0");
  CHECK(f.consume(u, 1).allowed);  // general path: the month reaches its limit
  const auto d = f.consume(u, 0);  // a month at its token limit refuses every request
  CHECK_FALSE(d.allowed);
  CHECK(d.denied_by == limit_kind::tokens);
  CHECK(f.quota(u).tokens_this_month == 100);
  f.check_audit(u);
}

TEST_CASE("a budget is not used once the tier's limits or the subscription changed behind the library") {
  service_fixture f(make_test_db("postgresql"));
  const auto u = f.add_user("behind", "pro");  // 100 a day
  for (int i = 0; i < 6; ++i) CHECK(f.consume(u).allowed);
  CHECK(budget(f, "behind", f.today()).starts_with("0.8|"));

  SUBCASE("a tier edited with SQL") {
    sql(f, "UPDATE subscription_tiers SET messages_per_day = 8 WHERE tier_id = 'pro'");
    CHECK(f.consume(u).allowed);  // 7 of 8: past the warning threshold
    CHECK(f.count_events(u, "quota_warning") == 1);
    CHECK(f.consume(u).allowed);
    CHECK_FALSE(f.consume(u).allowed);
  }
  SUBCASE("a subscription canceled with SQL") {
    sql(f, "UPDATE users SET subscription_status = 'canceled' WHERE user_id = 'behind'");
    const auto d = f.consume(u);  // the free tier applies: 6 of 5 already
    CHECK_FALSE(d.allowed);
    CHECK(d.quota.subscription_tier == tier_id{"free"});
  }
  SUBCASE("a subscription that ended") {
    sql(f, "UPDATE users SET subscription_end_date = '2025-11-07 09:00:00' WHERE user_id = 'behind'");
    // The general path finds the transition due and has it written first:
    // past_due keeps the tier's limits for the grace period.
    CHECK(f.consume(u).allowed);
    CHECK(f.count_events(u, "subscription_past_due") == 1);
    // Its grace period over: expired, the free tier's 5 a day (7 of 5).
    sql(f, "UPDATE users SET subscription_end_date = '2025-11-01 09:00:00' WHERE user_id = 'behind'");
    CHECK_FALSE(f.consume(u).allowed);
    CHECK(f.count_events(u, "subscription_expired") == 1);
  }
  SUBCASE("the user moved to another tier with the same limits") {
    sql(f,
        "UPDATE subscription_tiers SET messages_per_day = 100, messages_per_month = 3000, tokens_per_month = "
        "3000000 WHERE tier_id = 'max'");
    CHECK(must(f.svc.upgrade_subscription(u, tier_id{"max"})).success);
    CHECK(budget(f, "behind", f.today()) == "0.8|73|2399999");
    CHECK(f.consume(u).allowed);  // the budget still holds
    CHECK(budget(f, "behind", f.today()) == "0.8|72|2399999");
    CHECK(f.quota(u).messages_today == 7);
  }
  f.check_audit(u);
}

TEST_CASE("a later day's row takes the budget away from the earlier days of its month") {
  service_fixture f(make_test_db("postgresql"));
  const auto u = f.add_user("skew", "pro");
  const auto d1 = f.today();
  for (int i = 0; i < 3; ++i) CHECK(f.consume(u, 2).allowed);
  CHECK(budget(f, "skew", d1).starts_with("0.8|"));
  // Another machine's clock is already on the next day.
  f.set_time("2025-11-08T00:30:00Z");
  CHECK(f.consume(u, 2).allowed);
  CHECK(budget(f, "skew", d1) == "none");
  // Back on the first day: its consumes reach the next day's month totals.
  f.set_time("2025-11-07T23:59:00Z");
  for (int i = 0; i < 3; ++i) CHECK(f.consume(u, 2).allowed);
  CHECK(f.usage_on(u, d1).messages_today == 6);
  CHECK(f.usage_on(u, next_day(d1)).messages_this_month == 7);
  CHECK(f.usage_on(u, next_day(d1)).tokens_this_month == 14);
  f.check_month_to_date(u, next_day(d1));
  f.check_audit(u, {d1, next_day(d1)});
}

TEST_CASE("a service with another warning threshold warns at its own threshold") {
  service_fixture f(make_test_db("postgresql"));
  f.set_limits("pro", 10, {}, {});
  const auto u = f.add_user("thresholds", "pro");
  for (int i = 0; i < 3; ++i) CHECK(f.consume(u).allowed);  // armed for 0.8
  service_options half;
  half.warning_threshold = 0.5;
  auto other = f.make_service(f.clock, half);
  CHECK(must(other.try_consume(u)).allowed);  // 4 of 10
  CHECK(f.count_events(u, "quota_warning") == 0);
  CHECK(must(other.try_consume(u)).allowed);  // 5 of 10: half
  CHECK(f.count_events(u, "quota_warning") == 1);
  CHECK(f.consume(u).allowed);  // 6: the 0.8 service re-arms below 8
  CHECK(f.consume(u).allowed);
  CHECK(f.count_events(u, "quota_warning") == 1);
  CHECK(f.consume(u).allowed);  // 8 of 10: its own warning
  CHECK(f.count_events(u, "quota_warning") == 2);
  f.check_audit(u);
}
