// The consume fast path of the PostgreSQL backend: an admitted request gives
// the day row a budget, and the consumes that budget covers are decided and
// written by one statement. These tests show that the budget is given and
// spent, that every change it does not cover turns it off, and that the
// answers, counters and audit rows are those of the SQLite backend (which
// has no fast path) on a random mix of every operation.
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

/// "threshold|messages|tokens" of the budget of `user`'s row for `day`, or
/// "none" when it has none or the row was updated since (xmin).
std::string budget(const service_fixture& f, const std::string& user, local_date day) {
  return kq_test::pg_query(
      "SELECT CASE WHEN fast_threshold IS NULL OR xmin <> fast_xid THEN 'none' ELSE concat_ws('|', fast_threshold, "
      "fast_messages, fast_tokens) END FROM user_usage WHERE user_id = '" +
          user + "' AND usage_date = '" + show(day) + "'",
      f.db.pg_database);
}

/// Runs SQL on a SQLite test database's file directly.
void sqlite_exec(const service_fixture& f, const std::string& statement) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(f.db.file.c_str(), &db) == SQLITE_OK);
  char* message = nullptr;
  const int rc = sqlite3_exec(db, statement.c_str(), nullptr, nullptr, &message);
  INFO((message != nullptr ? message : ""));
  sqlite3_free(message);
  sqlite3_close(db);
  REQUIRE(rc == SQLITE_OK);
}

/// A JSON value written with its object members sorted, to compare values
/// that differ only in spacing and member order. Reservation ids are random
/// on each backend, so they are left out.
std::string canonical(const json_value& v) {
  switch (v.type) {
    case json_value::kind::null:
      return "null";
    case json_value::kind::boolean:
      return v.boolean ? "true" : "false";
    case json_value::kind::number:
      return std::to_string(std::stod(v.text));
    case json_value::kind::string:
      return "\"" + v.text + "\"";
    case json_value::kind::array: {
      std::string out = "[";
      for (const auto& item : v.items) out += canonical(item) + ",";
      return out + "]";
    }
    case json_value::kind::object: {
      std::map<std::string, std::string> members;
      for (const auto& [key, value] : v.members)
        if (key != "reservation_id") members[key] = canonical(value);
      std::string out = "{";
      for (const auto& [key, value] : members) out += "\"" + key + "\":" + value + ",";
      return out + "}";
    }
  }
  return "";
}

void sql(const service_fixture& f, const std::string& statement) {
  (void)kq_test::pg_query(statement, f.db.pg_database);
}

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
    CHECK_FALSE(f.consume(u).allowed);
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

TEST_CASE("on a random mix of every operation, PostgreSQL answers as SQLite does") {
  // Small limits and large token counts put requests on every boundary;
  // clock jumps (forward and back) create out-of-order days. Each step runs
  // on both backends, and their answers must be equal.
  service_fixture pg(make_test_db("postgresql"));
  service_fixture lite(make_test_db("sqlite"));
  std::vector<service_fixture*> both{&pg, &lite};
  const std::vector<std::string> users{"r0", "r1", "r2"};
  for (auto* f : both) {
    for (const auto& u : users) f->add_user(u, u == "r2" ? "pro" : "free");
  }
  // A second service on each backend warns at another threshold.
  service_options half;
  half.warning_threshold = 0.5;
  auto pg_half = pg.make_service(pg.clock, half);
  auto lite_half = lite.make_service(lite.clock, half);
  std::map<std::string, bool> plain;  // user -> active, no end date: what the fast path serves
  for (const auto& u : users) plain[u] = true;
  std::mt19937_64 rng(20261128);
  auto pick = [&](std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
  };
  auto small_limit = [&](std::int64_t lo, std::int64_t hi) -> limit {
    if (pick(0, 4) == 0) return std::nullopt;
    return pick(lo, hi);
  };
  std::vector<std::pair<reservation_id, reservation_id>> open;  // pg, sqlite
  int next_key = 0;
  std::vector<std::string> keys;
  int fast = 0;  // consumes that spent a budget

  constexpr int steps = 2400;
  for (int step = 0; step < steps; ++step) {
    CAPTURE(step);
    const user_id u{users[static_cast<std::size_t>(pick(0, 2))]};
    const auto op = pick(0, 99);
    if (op < 55) {
      const auto tokens = pick(0, 3) == 0 ? pick(0, 400) : pick(0, 40);
      request_context ctx;
      if (pick(0, 9) == 0) {
        if (!keys.empty() && pick(0, 1) == 0) {
          ctx.id = request_id{keys[static_cast<std::size_t>(pick(0, static_cast<std::int64_t>(keys.size()) - 1))]};
        } else {
          keys.push_back("k" + std::to_string(next_key++));
          ctx.id = request_id{keys.back()};
        }
      }
      const bool at_half = pick(0, 4) == 0;
      // Every other consume of the 0.8 service, whether the fast path's
      // conditions held (a query costs a connection).
      if (!at_half && !ctx.id && plain[u.str()] && step % 2 == 0) {
        const auto before = budget(pg, u.str(), pg.today());
        if (before != "none" && before.rfind("0.8|", 0) == 0) {
          const auto bar = before.find('|', 4);
          if (std::stoll(before.substr(4, bar - 4)) >= 1 && std::stoll(before.substr(bar + 1)) >= tokens) ++fast;
        }
      }
      auto a = (at_half ? pg_half : pg.svc).try_consume(u, tokens, ctx);
      auto b = (at_half ? lite_half : lite.svc).try_consume(u, tokens, ctx);
      REQUIRE(a.has_value() == b.has_value());
      if (a) {
        CHECK(a.value().allowed == b.value().allowed);
        CHECK(a.value().denied_by == b.value().denied_by);
        CHECK(a.value().replayed == b.value().replayed);
        CHECK(a.value().quota == b.value().quota);
      } else {
        CHECK(a.error().code == b.error().code);
      }
    } else if (op < 65) {
      const auto est = pick(0, 60);
      auto a = must(pg.svc.reserve(u, est));
      auto b = must(lite.svc.reserve(u, est));
      CHECK(a.allowed == b.allowed);
      CHECK(a.quota == b.quota);
      if (a.allowed && b.allowed) open.emplace_back(*a.reservation, *b.reservation);
    } else if (op < 72 && !open.empty()) {
      const auto i = static_cast<std::size_t>(pick(0, static_cast<std::int64_t>(open.size()) - 1));
      const auto [ra, rb] = open[i];
      open.erase(open.begin() + static_cast<std::ptrdiff_t>(i));
      if (pick(0, 1) == 0) {
        const auto actual = pick(0, 90);
        auto a = pg.svc.commit(ra, actual);
        auto b = lite.svc.commit(rb, actual);
        REQUIRE(a.has_value() == b.has_value());
      } else {
        auto a = pg.svc.release(ra);
        auto b = lite.svc.release(rb);
        REQUIRE(a.has_value() == b.has_value());
      }
    } else if (op < 80) {
      const auto m = pick(0, 2);
      const auto t = pick(0, 50);
      auto a = must(pg.svc.increment_usage(u, m, t));
      auto b = must(lite.svc.increment_usage(u, m, t));
      CHECK(a == b);
    } else if (op < 85) {
      // Free: limits within a few requests; pro: long runs between them.
      const bool free = pick(0, 1) == 0;
      const auto per_day = free ? small_limit(0, 12) : small_limit(20, 200);
      const auto per_month = free ? small_limit(0, 40) : small_limit(100, 1000);
      const auto tokens = free ? small_limit(0, 900) : small_limit(500, 20000);
      for (auto* f : both) f->set_limits(free ? "free" : "pro", per_day, per_month, tokens);
    } else if (op < 88) {
      const tier_id t{pick(0, 1) == 0 ? "free" : "pro"};
      auto a = must(pg.svc.upgrade_subscription(u, t));
      auto b = must(lite.svc.upgrade_subscription(u, t));
      CHECK(a.success == b.success);
      if (a.success) plain[u.str()] = true;
    } else if (op < 89) {
      // A subscription changed behind the library: any status, end and
      // trial dates in the past, the future or none.
      static const std::array<const char*, 5> statuses{"active", "trialing", "past_due", "canceled", "expired"};
      const char* status = statuses[static_cast<std::size_t>(pick(0, 4))];
      auto when = [&](std::int64_t choice) -> std::string {
        if (choice == 0) return "NULL";
        const auto t = pg.now() + std::chrono::hours{choice == 1 ? -pick(1, 48) : pick(1, 48)};
        std::string text = show(t);  // YYYY-MM-DDTHH:MM:SS.ffffffZ
        text[10] = ' ';
        text.pop_back();
        return "'" + text + "'";
      };
      const std::string end = pick(0, 2) == 0 ? when(pick(1, 2)) : "NULL";
      const std::string trial = when(pick(0, 2));
      const std::string statement = std::string("UPDATE users SET subscription_status = '") + status +
                                    "', subscription_end_date = " + end + ", trial_end_date = " + trial +
                                    " WHERE user_id = '" + u.str() + "'";
      sql(pg, statement);
      sqlite_exec(lite, statement);
      plain[u.str()] = std::string(status) == "active" && end == "NULL";
    } else if (op < 90) {
      const bool daily = pick(0, 1) == 0;
      const std::optional<user_id> who = pick(0, 1) == 0 ? std::optional<user_id>{u} : std::nullopt;
      auto a = daily ? pg.svc.reset_daily_quotas(who) : pg.svc.reset_monthly_quotas(who);
      auto b = daily ? lite.svc.reset_daily_quotas(who) : lite.svc.reset_monthly_quotas(who);
      CHECK(must(a) == must(b));
    } else if (op < 97) {
      const auto minutes = pick(1, 600);
      for (auto* f : both) f->advance(std::chrono::minutes{minutes});
    } else {
      // Another machine's clock, a day behind or ahead.
      const auto hours = pick(0, 1) == 0 ? -pick(20, 30) : pick(20, 30);
      for (auto* f : both) f->advance(std::chrono::hours{hours});
    }
    if (step % 100 == 99) {
      for (const auto& name : users) {
        const user_id who{name};
        CHECK(must(pg.svc.get_user_quota_info(who)) == must(lite.svc.get_user_quota_info(who)));
      }
    }
  }
  for (const auto& name : users) {
    const user_id who{name};
    const auto a = pg.events(who);
    const auto b = lite.events(who);
    REQUIRE(a.size() == b.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
      CAPTURE(i);
      CHECK(a[i].event_type == b[i].event_type);
      CHECK(a[i].messages_count == b[i].messages_count);
      CHECK(a[i].tokens_count == b[i].tokens_count);
      CHECK(a[i].usage_date == b[i].usage_date);
      CHECK(a[i].quota_tier == b[i].quota_tier);
      CHECK(a[i].event_metadata.has_value() == b[i].event_metadata.has_value());
      if (a[i].event_metadata && b[i].event_metadata)
        CHECK(canonical(parse_json(*a[i].event_metadata)) == canonical(parse_json(*b[i].event_metadata)));
    }
    pg.check_audit(who);
  }
  // The fast path took part.
  MESSAGE(fast << " of the consumes watched met the fast path's conditions");
  CHECK(fast >= 40);
}
