// Periods driven by a manual clock: day and month rollovers without any
// reset job, IANA time zones (including 23- and 25-hour days) and operations
// for two days interleaved around midnight.
#include "support/fixtures.hpp"

using namespace kauri_quota;
using namespace kauri_quota::testing;
using namespace std::chrono_literals;

TEST_CASE("a new day starts at zero without a reset job while the month keeps counting") {
  service_fixture f;
  const auto u = f.add_user("alice");
  REQUIRE(f.consume_n(u, 5) == 5);
  REQUIRE_FALSE(f.consume(u).allowed);

  f.set_time("2025-11-08T00:00:00Z");
  const auto q = f.quota(u);
  CHECK(q.usage_date == date("2025-11-08"));
  CHECK(q.messages_today == 0);
  CHECK(q.messages_this_month == 5);
  CHECK(q.messages_remaining_today == limit{5});
  CHECK(q.messages_remaining_month == limit{145});
  CHECK(q.can_send_message);
  CHECK(q.daily_resets_at == at("2025-11-09T00:00:00Z"));

  const auto d = f.consume(u);
  CHECK(d.allowed);
  CHECK(d.quota.messages_today == 1);
  CHECK(d.quota.messages_this_month == 6);
  const auto today = f.today_usage(u);
  CHECK(today.usage_date == date("2025-11-08"));
  CHECK(today.messages_today == 1);
  CHECK(today.messages_this_month == 6);
  f.check_audit(u, {date("2025-11-07")});
}

TEST_CASE("the last microsecond of a day still counts in that day") {
  service_fixture f({}, "2025-11-07T23:59:59Z");
  const auto u = f.add_user("alice");
  f.advance(999'999us);
  CHECK(f.today() == date("2025-11-07"));
  REQUIRE(f.consume(u).allowed);
  CHECK(f.usage_on(u, date("2025-11-07")).messages_today == 1);
  f.advance(1us);
  CHECK(f.today() == date("2025-11-08"));
  CHECK(f.quota(u).messages_today == 0);
  f.check_audit(u, {date("2025-11-07")});
}

TEST_CASE("a new month starts the monthly counters at zero on the 1st") {
  service_fixture f({}, "2025-11-30T23:00:00Z");
  const auto u = f.add_user("alice");
  REQUIRE(f.consume_n(u, 2, 10) == 2);
  CHECK(f.quota(u).messages_this_month == 2);

  f.set_time("2025-12-01T00:00:01Z");
  auto q = f.quota(u);
  CHECK(q.usage_date == date("2025-12-01"));
  CHECK(q.messages_today == 0);
  CHECK(q.messages_this_month == 0);
  CHECK(q.tokens_this_month == 0);
  CHECK(q.messages_remaining_month == limit{150});
  CHECK(q.monthly_resets_at == at("2026-01-01T00:00:00Z"));

  REQUIRE(f.consume(u, 5).allowed);
  q = f.quota(u);
  CHECK(q.messages_this_month == 1);
  CHECK(q.tokens_this_month == 5);
  f.check_audit(u, {date("2025-11-30")});
}

TEST_CASE("a monthly limit reached in one month does not carry into the next") {
  service_fixture f({}, "2025-11-30T12:00:00Z");
  f.set_limits("free", std::nullopt, limit{3}, std::nullopt);
  const auto u = f.add_user("alice");
  REQUIRE(f.consume_n(u, 3) == 3);
  REQUIRE_FALSE(f.consume(u).allowed);
  f.set_time("2025-12-01T00:00:00Z");
  CHECK(f.consume(u).allowed);
  CHECK(f.quota(u).messages_this_month == 1);
  f.check_audit(u, {date("2025-11-30")});
}

TEST_CASE("a new year starts new day and month periods") {
  service_fixture f({}, "2025-12-31T23:59:00Z");
  const auto u = f.add_user("alice");
  REQUIRE(f.consume_n(u, 5) == 5);
  f.set_time("2026-01-01T00:00:30Z");
  const auto q = f.quota(u);
  CHECK(q.usage_date == date("2026-01-01"));
  CHECK(q.messages_today == 0);
  CHECK(q.messages_this_month == 0);
  CHECK(q.can_send_message);
  f.check_audit(u, {date("2025-12-31")});
}

TEST_CASE("in Africa/Douala (UTC+1) 23:30Z is already the next local day") {
  service_fixture f(in_zone("Africa/Douala"), "2025-11-07T22:30:00Z");
  const auto u = f.add_user("douala");
  CHECK(f.today() == date("2025-11-07"));
  REQUIRE(f.consume(u).allowed);
  auto q = f.quota(u);
  CHECK(q.usage_date == date("2025-11-07"));
  CHECK(q.messages_today == 1);
  CHECK(q.daily_resets_at == at("2025-11-07T23:00:00Z"));
  CHECK(q.monthly_resets_at == at("2025-11-30T23:00:00Z"));

  f.set_time("2025-11-07T23:30:00Z");
  CHECK(f.today() == date("2025-11-08"));
  q = f.quota(u);
  CHECK(q.usage_date == date("2025-11-08"));
  CHECK(q.messages_today == 0);
  CHECK(q.messages_this_month == 1);
  CHECK(q.daily_resets_at == at("2025-11-08T23:00:00Z"));

  REQUIRE(f.consume(u).allowed);
  q = f.quota(u);
  CHECK(q.messages_today == 1);
  CHECK(q.messages_this_month == 2);
  CHECK(f.usage_on(u, date("2025-11-07")).messages_today == 1);
  f.check_audit(u, {date("2025-11-07"), date("2025-11-08")});
}

TEST_CASE("in Africa/Douala the month changes at 23:00Z on the last day of the month") {
  service_fixture f(in_zone("Africa/Douala"), "2025-11-30T22:30:00Z");
  const auto u = f.add_user("douala");
  REQUIRE(f.consume_n(u, 3) == 3);
  f.set_time("2025-11-30T23:30:00Z");
  const auto q = f.quota(u);
  CHECK(q.usage_date == date("2025-12-01"));
  CHECK(q.messages_this_month == 0);
  CHECK(q.monthly_resets_at == at("2025-12-31T23:00:00Z"));
  f.check_audit(u, {date("2025-11-30")});
}

TEST_CASE("in Europe/Paris the 23-hour day of 2025-03-30 counts messages before and after the DST shift together") {
  service_fixture f(in_zone("Europe/Paris"), "2025-03-29T22:59:59Z");
  const auto u = f.add_user("paris", "pro");
  REQUIRE(f.consume(u).allowed);  // 23:59:59 CET on the 29th
  CHECK(f.quota(u).usage_date == date("2025-03-29"));
  CHECK(f.quota(u).daily_resets_at == at("2025-03-29T23:00:00Z"));

  for (const char* instant : {"2025-03-29T23:00:00Z",     // 00:00 CET on the 30th
                              "2025-03-30T00:59:59Z",     // 01:59:59 CET, just before the shift
                              "2025-03-30T01:00:00Z",     // 03:00 CEST, just after it
                              "2025-03-30T21:59:59Z"}) {  // 23:59:59 CEST
    f.set_time(instant);
    INFO("at " << instant);
    CHECK(f.today() == date("2025-03-30"));
    REQUIRE(f.consume(u).allowed);
    CHECK(f.quota(u).daily_resets_at == at("2025-03-30T22:00:00Z"));
  }
  CHECK(f.quota(u).messages_today == 4);

  f.set_time("2025-03-30T22:00:00Z");  // 00:00 CEST on the 31st
  const auto q = f.quota(u);
  CHECK(q.usage_date == date("2025-03-31"));
  CHECK(q.messages_today == 0);
  CHECK(q.messages_this_month == 5);
  CHECK(q.daily_resets_at == at("2025-03-31T22:00:00Z"));
  CHECK(f.usage_on(u, date("2025-03-30")).messages_today == 4);
  CHECK(f.usage_on(u, date("2025-03-29")).messages_today == 1);
  f.check_audit(u, {date("2025-03-29"), date("2025-03-30")});
}

TEST_CASE("in Europe/Paris the 25-hour day of 2025-10-26 counts messages before and after the DST shift together") {
  service_fixture f(in_zone("Europe/Paris"), "2025-10-25T21:59:59Z");
  const auto u = f.add_user("paris", "pro");
  REQUIRE(f.consume(u).allowed);  // 23:59:59 CEST on the 25th
  CHECK(f.quota(u).usage_date == date("2025-10-25"));
  CHECK(f.quota(u).daily_resets_at == at("2025-10-25T22:00:00Z"));

  for (const char* instant : {"2025-10-25T22:00:00Z",     // 00:00 CEST on the 26th
                              "2025-10-26T00:30:00Z",     // 02:30 CEST, first pass
                              "2025-10-26T01:30:00Z",     // 02:30 CET, second pass
                              "2025-10-26T22:59:59Z"}) {  // 23:59:59 CET
    f.set_time(instant);
    INFO("at " << instant);
    CHECK(f.today() == date("2025-10-26"));
    REQUIRE(f.consume(u).allowed);
    CHECK(f.quota(u).daily_resets_at == at("2025-10-26T23:00:00Z"));
  }
  CHECK(f.quota(u).messages_today == 4);

  f.set_time("2025-10-26T23:00:00Z");  // 00:00 CET on the 27th
  const auto q = f.quota(u);
  CHECK(q.usage_date == date("2025-10-27"));
  CHECK(q.messages_today == 0);
  CHECK(q.messages_this_month == 5);
  CHECK(q.daily_resets_at == at("2025-10-27T23:00:00Z"));
  CHECK(f.usage_on(u, date("2025-10-26")).messages_today == 4);
  f.check_audit(u, {date("2025-10-25"), date("2025-10-26")});
}

TEST_CASE("a denial's resets_at and retry_after use the local midnight of the quota time zone") {
  service_fixture f(in_zone("Africa/Douala"), "2025-11-07T20:00:00Z");
  const auto u = f.add_user("douala");
  REQUIRE(f.consume_n(u, 5) == 5);
  const auto d = f.consume(u);
  REQUIRE_FALSE(d.allowed);
  CHECK(d.resets_at == at("2025-11-07T23:00:00Z"));
  CHECK(d.retry_after == 3h);
  f.check_audit(u);
}

TEST_CASE("day_of maps instants to local days in the configured zone") {
  service_fixture utc;
  CHECK(utc.svc.day_of(at("2025-11-07T23:59:59Z")) == date("2025-11-07"));
  service_fixture douala(in_zone("Africa/Douala"));
  CHECK(douala.svc.day_of(at("2025-11-07T23:00:00Z")) == date("2025-11-08"));
  CHECK(douala.svc.day_of(at("2025-11-07T22:59:59Z")) == date("2025-11-07"));
  service_fixture paris(in_zone("Europe/Paris"));
  CHECK(paris.svc.day_of(at("2025-07-01T21:59:59Z")) == date("2025-07-01"));
  CHECK(paris.svc.day_of(at("2025-07-01T22:00:00Z")) == date("2025-07-02"));
}

namespace {

struct day_totals {
  std::int64_t messages = 0;
  std::int64_t tokens = 0;
};

}  // namespace

TEST_CASE("operations for two days interleaved around midnight keep each day and the month-to-date totals exact") {
  service_fixture f({}, "2025-11-06T12:00:00Z");
  const auto u = f.add_user("night-owl", "pro");
  REQUIRE(f.consume(u, 7).allowed);  // an earlier day of the month

  // `late` still lives in day D, `early` already in day D+1, on the same storage.
  f.set_time("2025-11-07T23:59:59Z");
  auto& late = f.svc;
  auto early_clock = std::make_shared<manual_clock>(at("2025-11-08T00:00:01Z"));
  auto early = f.make_service(early_clock);

  day_totals d, d1;
  for (int i = 0; i < 12; ++i) {
    INFO("step " << i);
    const bool on_late = (i % 2 == 0);
    auto& svc = on_late ? late : early;
    auto& totals = on_late ? d : d1;
    if (i % 3 == 2) {
      must(svc.increment_usage(u, 2, 11));
      totals.messages += 2;
      totals.tokens += 11;
    } else {
      const auto dec = must(svc.try_consume(u, 5 + i));
      REQUIRE(dec.allowed);
      totals.messages += 1;
      totals.tokens += 5 + i;
    }
  }

  const auto day_d = must(late.get_or_create_usage(u));
  CHECK(day_d.usage_date == date("2025-11-07"));
  CHECK(day_d.messages_today == d.messages);
  CHECK(day_d.tokens_today == d.tokens);

  const auto day_d1 = must(early.get_or_create_usage(u));
  CHECK(day_d1.usage_date == date("2025-11-08"));
  CHECK(day_d1.messages_today == d1.messages);
  CHECK(day_d1.tokens_today == d1.tokens);
  CHECK(day_d1.messages_this_month == 1 + d.messages + d1.messages);
  CHECK(day_d1.tokens_this_month == 7 + d.tokens + d1.tokens);

  const auto q = must(early.get_user_quota_info(u));
  CHECK(q.messages_today == d1.messages);
  CHECK(q.messages_this_month == 1 + d.messages + d1.messages);
  CHECK(q.tokens_this_month == 7 + d.tokens + d1.tokens);

  // The month-to-date total of the latest day is the sum of the month's days.
  const auto nov6 = f.usage_on(u, date("2025-11-06"));
  const auto nov7 = f.usage_on(u, date("2025-11-07"));
  const auto nov8 = f.usage_on(u, date("2025-11-08"));
  CHECK(nov6.messages_today == 1);
  CHECK(day_d1.messages_this_month == nov6.messages_today + nov7.messages_today + nov8.messages_today);
  CHECK(day_d1.tokens_this_month == nov6.tokens_today + nov7.tokens_today + nov8.tokens_today);

  // And each day's counters are what its audit rows add up to.
  const auto audit = audit_by_day(f.events(u));
  REQUIRE(audit.contains(date("2025-11-07")));
  REQUIRE(audit.contains(date("2025-11-08")));
  CHECK(audit.at(date("2025-11-07")).messages == d.messages);
  CHECK(audit.at(date("2025-11-07")).tokens == d.tokens);
  CHECK(audit.at(date("2025-11-08")).messages == d1.messages);
  CHECK(audit.at(date("2025-11-08")).tokens == d1.tokens);
  f.check_audit(u, {date("2025-11-06"), date("2025-11-07"), date("2025-11-08")});
}

TEST_CASE("operations interleaved around the midnight that ends a month keep both months separate") {
  service_fixture f({}, "2025-11-30T23:59:59Z");
  const auto u = f.add_user("night-owl", "pro");
  auto& late = f.svc;
  auto early_clock = std::make_shared<manual_clock>(at("2025-12-01T00:00:01Z"));
  auto early = f.make_service(early_clock);

  REQUIRE(must(late.try_consume(u, 10)).allowed);
  REQUIRE(must(early.try_consume(u, 20)).allowed);
  REQUIRE(must(late.try_consume(u, 30)).allowed);
  must(early.increment_usage(u, 1, 40));
  REQUIRE(must(late.try_consume(u, 50)).allowed);

  const auto nov = must(late.get_or_create_usage(u));
  CHECK(nov.usage_date == date("2025-11-30"));
  CHECK(nov.messages_today == 3);
  CHECK(nov.tokens_today == 90);
  CHECK(nov.messages_this_month == 3);
  CHECK(nov.tokens_this_month == 90);

  const auto dec = must(early.get_or_create_usage(u));
  CHECK(dec.usage_date == date("2025-12-01"));
  CHECK(dec.messages_today == 2);
  CHECK(dec.tokens_today == 60);
  CHECK(dec.messages_this_month == 2);
  CHECK(dec.tokens_this_month == 60);
  f.check_audit(u, {date("2025-11-30"), date("2025-12-01")});
}

TEST_CASE("a clock stepped backwards into the previous day counts into that day") {
  service_fixture f({}, "2025-11-08T00:00:05Z");
  const auto u = f.add_user("alice", "pro");
  REQUIRE(f.consume(u).allowed);
  f.set_time("2025-11-07T23:59:58Z");
  REQUIRE(f.consume(u).allowed);
  CHECK(f.usage_on(u, date("2025-11-07")).messages_today == 1);
  CHECK(f.usage_on(u, date("2025-11-08")).messages_today == 1);
  f.set_time("2025-11-08T00:00:06Z");
  CHECK(f.quota(u).messages_this_month == 2);
  f.check_audit(u, {date("2025-11-07"), date("2025-11-08")});
}

TEST_CASE("the month-to-date totals stay the sum of the month's days after a daily reset") {
  service_fixture f;
  const auto u = f.add_user("alice", "pro");
  REQUIRE(f.consume_n(u, 3, 10) == 3);
  f.advance(24h);
  REQUIRE(f.consume_n(u, 2, 10) == 2);
  must(f.svc.reset_daily_quotas(u));
  CHECK(f.quota(u).messages_today == 0);
  f.check_month_to_date(u, date("2025-11-08"));
  REQUIRE(f.consume(u, 10).allowed);
  f.check_month_to_date(u, date("2025-11-08"));
  f.check_audit(u, {date("2025-11-07")});
}

TEST_CASE("the month-to-date totals of later days include a commit settled into an earlier day") {
  service_fixture f({}, "2025-11-07T23:59:50Z");
  const auto u = f.add_user("alice", "pro");
  const auto d = must(f.svc.reserve(u, 100));
  REQUIRE(d.reservation.has_value());
  f.set_time("2025-11-08T00:00:10Z");
  REQUIRE(f.consume(u, 5).allowed);  // the later day's row exists before the commit
  must(f.svc.commit(*d.reservation, 250));
  const auto today = f.today_usage(u);
  CHECK(today.tokens_today == 5);
  CHECK(today.tokens_this_month == 255);
  CHECK(today.messages_this_month == 2);
  f.check_month_to_date(u, date("2025-11-08"));
  f.check_audit(u, {date("2025-11-07")});
}

TEST_CASE("the month-to-date totals of later days drop a release refunded into an earlier day") {
  service_fixture f({}, "2025-11-07T23:59:50Z");
  const auto u = f.add_user("alice", "pro");
  const auto d = must(f.svc.reserve(u, 100));
  REQUIRE(d.reservation.has_value());
  f.set_time("2025-11-08T00:00:10Z");
  REQUIRE(f.consume(u, 5).allowed);
  must(f.svc.release(*d.reservation));
  const auto today = f.today_usage(u);
  CHECK(today.messages_this_month == 1);
  CHECK(today.tokens_this_month == 5);
  f.check_month_to_date(u, date("2025-11-08"));
  f.check_audit(u, {date("2025-11-07")});
}

TEST_CASE("the month-to-date totals of later days include usage recorded by a clock stepped back a day") {
  service_fixture f({}, "2025-11-09T08:00:00Z");
  const auto u = f.add_user("alice", "pro");
  REQUIRE(f.consume(u, 1).allowed);
  f.set_time("2025-11-08T08:00:00Z");
  must(f.svc.increment_usage(u, 4, 40));
  f.set_time("2025-11-09T09:00:00Z");
  const auto q = f.quota(u);
  CHECK(q.messages_today == 1);
  CHECK(q.messages_this_month == 5);
  CHECK(q.tokens_this_month == 41);
  f.check_month_to_date(u, date("2025-11-09"));
  f.check_audit(u, {date("2025-11-08")});
}
