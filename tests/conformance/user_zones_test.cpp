// Each user's own midnight on every backend: a user with an IANA zone of
// its own counts days and months there (Douala, Paris, New York, Apia,
// around DST too), resets at its own local midnight, and its usage history
// is zero-filled with month totals that match the day rows.
#include "support/fixtures.hpp"

#include <string>
#include <vector>

using namespace kauri_quota;
using namespace kauri_quota::testing;
using namespace std::chrono_literals;

namespace {

local_date day(const char* ymd) { return date(ymd); }

struct zone_case {
  const char* zone;
  const char* midnight;       ///< local midnight of 8 November, UTC
  const char* next_midnight;  ///< local midnight of 9 November, UTC
};

}  // namespace

TEST_CASE("users in Douala, Paris, New York and Apia each reset at their own local midnight") {
  const std::vector<zone_case> cases{
      {"Africa/Douala", "2025-11-07T23:00:00Z", "2025-11-08T23:00:00Z"},
      {"Europe/Paris", "2025-11-07T23:00:00Z", "2025-11-08T23:00:00Z"},
      {"America/New_York", "2025-11-08T05:00:00Z", "2025-11-09T05:00:00Z"},
      {"Pacific/Apia", "2025-11-07T11:00:00Z", "2025-11-08T11:00:00Z"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.zone);
    service_fixture f({}, c.midnight);
    f.clock->set(at(c.midnight) - 1us);  // the last microsecond of 7 November there
    const auto u = f.add_user("zoned");
    const auto bystander = f.add_user("service-zone");
    CHECK(must(f.svc.set_user_time_zone(u, std::string{c.zone})).time_zone == c.zone);
    REQUIRE(f.consume_n(u, 6) == 5);
    REQUIRE(f.consume_n(bystander, 5) == 5);
    auto q = f.quota(u);
    CHECK(q.usage_date == day("2025-11-07"));
    CHECK(q.daily_resets_at == at(c.midnight));

    f.set_time(c.midnight);
    q = f.quota(u);
    CHECK(q.usage_date == day("2025-11-08"));
    CHECK(q.messages_today == 0);
    CHECK(q.messages_this_month == 5);
    CHECK(q.daily_resets_at == at(c.next_midnight));
    CHECK(q.monthly_resets_at > at(c.next_midnight));
    CHECK(f.consume(u).allowed);
    f.check_audit(u);
    f.check_audit(bystander);
  }
}

TEST_CASE("a user's day around DST: Paris in March has 23 hours, New York in November 25") {
  service_fixture paris({}, "2025-03-29T23:30:00Z");  // 30 March 00:30 in Paris
  const auto p = paris.add_user("paris");
  must(paris.svc.set_user_time_zone(p, std::string{"Europe/Paris"}));
  auto q = paris.quota(p);
  CHECK(q.usage_date == day("2025-03-30"));
  CHECK(q.daily_resets_at == at("2025-03-30T22:00:00Z"));
  REQUIRE(paris.consume_n(p, 6) == 5);
  paris.clock->set(at("2025-03-30T22:00:00Z") - 1us);
  CHECK_FALSE(paris.consume(p).allowed);
  paris.set_time("2025-03-30T22:00:00Z");
  CHECK(paris.consume(p).allowed);
  CHECK(paris.quota(p).usage_date == day("2025-03-31"));
  paris.check_audit(p);

  service_fixture ny({}, "2025-11-02T04:00:00Z");  // midnight of 2 November in New York (EDT)
  const auto n = ny.add_user("new-york");
  must(ny.svc.set_user_time_zone(n, std::string{"America/New_York"}));
  q = ny.quota(n);
  CHECK(q.usage_date == day("2025-11-02"));
  CHECK(q.daily_resets_at == at("2025-11-03T05:00:00Z"));  // 25 hours later (EST)
  REQUIRE(ny.consume_n(n, 6) == 5);
  ny.clock->set(at("2025-11-03T05:00:00Z") - 1us);
  CHECK_FALSE(ny.consume(n).allowed);
  ny.set_time("2025-11-03T05:00:00Z");
  CHECK(ny.consume(n).allowed);
  ny.check_audit(n);
}

TEST_CASE("a reservation keeps its own day; a reset zeroes each user's own today") {
  service_fixture f({}, "2025-11-07T12:00:00Z");  // 8 November 01:00 in Apia
  const auto apia = f.add_user("apia");
  const auto utc = f.add_user("utc");
  must(f.svc.set_user_time_zone(apia, std::string{"Pacific/Apia"}));
  const auto r = must(f.svc.reserve(apia, 10));
  REQUIRE(r.allowed);
  CHECK(must(f.svc.get_reservation(*r.reservation)).usage_date == day("2025-11-08"));
  REQUIRE(f.consume_n(apia, 2) == 2);
  REQUIRE(f.consume_n(utc, 2) == 2);
  CHECK(f.quota(apia).messages_today == 3);
  CHECK(must(f.svc.reset_daily_quotas()) == 2);
  CHECK(f.quota(apia).messages_today == 0);
  CHECK(f.quota(utc).messages_today == 0);
  must(f.svc.release(*r.reservation));
  CHECK(f.quota(apia).messages_today == 0);
  f.check_audit(apia);
  f.check_audit(utc);
}

TEST_CASE("a monthly reset zeroes the whole of each user's own month, also when it lags the service's") {
  service_fixture f({}, "2025-11-05T15:00:00Z");
  const auto ny = f.add_user("new-york");
  must(f.svc.set_user_time_zone(ny, std::string{"America/New_York"}));
  REQUIRE(f.consume_n(ny, 2, 10) == 2);      // 5 November in New York
  f.clock->set(at("2025-12-01T02:00:00Z"));  // 1 December in UTC, 30 November 21:00 in New York
  REQUIRE(f.consume_n(ny, 1, 5) == 1);
  CHECK(f.quota(ny).messages_this_month == 3);
  CHECK(must(f.svc.reset_monthly_quotas()) == 1);
  const auto q = f.quota(ny);
  CHECK(q.usage_date == day("2025-11-30"));
  CHECK(q.messages_this_month == 0);
  CHECK(q.tokens_this_month == 0);
  for (const auto& d : must(f.svc.get_usage_history(ny, day("2025-11-01"), day("2025-11-30")))) {
    CHECK(d.messages == 0);
  }
  f.check_audit(ny);
}

TEST_CASE("a user's zone is validated, and clearing it goes back to the service's") {
  service_fixture f({}, "2025-11-07T23:30:00Z");
  const auto u = f.add_user("zone-change");
  check_error(f.svc.set_user_time_zone(u, std::string{"Mars/Base"}), errc::invalid_argument);
  check_error(f.svc.set_user_time_zone(u, std::string{""}), errc::invalid_argument);
  check_error(f.svc.set_user_time_zone(user_id{"nobody"}, std::string{"Europe/Paris"}), errc::unknown_user);
  must(f.svc.set_user_time_zone(u, std::string{"Europe/Paris"}));
  CHECK(f.quota(u).usage_date == day("2025-11-08"));
  const auto cleared = must(f.svc.set_user_time_zone(u, std::nullopt));
  CHECK_FALSE(cleared.time_zone.has_value());
  CHECK(f.quota(u).usage_date == day("2025-11-07"));
  CHECK(f.count_events(u, "time_zone_changed") == 2);
}

TEST_CASE("usage history is zero-filled per day, and month totals match the day rows") {
  service_fixture f({}, "2025-10-30T09:00:00Z");
  const auto u = f.add_user("history");
  REQUIRE(f.consume_n(u, 2, 10) == 2);  // 30 October
  f.set_time("2025-11-02T09:00:00Z");
  REQUIRE(f.consume_n(u, 3, 5) == 3);  // 2 November
  f.set_time("2025-11-04T09:00:00Z");
  must(f.svc.increment_usage(u, 1, 100));  // 4 November

  const auto days = must(f.svc.get_usage_history(u, day("2025-10-29"), day("2025-11-05")));
  REQUIRE(days.size() == 8);
  CHECK(days[0] == day_usage{day("2025-10-29"), 0, 0});
  CHECK(days[1] == day_usage{day("2025-10-30"), 2, 20});
  CHECK(days[2] == day_usage{day("2025-10-31"), 0, 0});
  CHECK(days[4] == day_usage{day("2025-11-02"), 3, 15});
  CHECK(days[6] == day_usage{day("2025-11-04"), 1, 100});
  CHECK(days[7] == day_usage{day("2025-11-05"), 0, 0});

  const auto months = must(f.svc.get_monthly_usage(u, day("2025-09-15"), day("2025-11-04")));
  REQUIRE(months.size() == 3);
  CHECK(months[0] == month_usage{day("2025-09-01"), 0, 0});
  CHECK(months[1] == month_usage{day("2025-10-01"), 2, 20});
  CHECK(months[2] == month_usage{day("2025-11-01"), 4, 115});
  CHECK(f.quota(u).messages_this_month == months[2].messages);
  CHECK(f.quota(u).tokens_this_month == months[2].tokens);

  CHECK(must(f.svc.get_usage_history(u, day("2025-01-01"), day("2026-02-04"))).size() == 400);
  check_error(f.svc.get_usage_history(u, day("2025-01-01"), day("2026-02-05")), errc::invalid_argument);
  check_error(f.svc.get_usage_history(u, day("2025-11-05"), day("2025-11-04")), errc::invalid_argument);
  check_error(f.svc.get_usage_history(user_id{"nobody"}, day("2025-11-01"), day("2025-11-04")), errc::unknown_user);
  CHECK(must(f.svc.get_monthly_usage(u, day("2016-01-31"), day("2025-12-01"))).size() == 120);
  check_error(f.svc.get_monthly_usage(u, day("2015-12-31"), day("2025-12-01")), errc::invalid_argument);
}
