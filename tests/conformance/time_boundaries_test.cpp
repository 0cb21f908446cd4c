// Period boundaries driven by a manual clock: the exact instant at which a
// day or a month ends (to the microsecond) in UTC and in IANA zones with odd
// offsets, 23-, 23.5- and 25-hour days, a local midnight that does not exist,
// a local day that is skipped and one that comes back, month and year ends,
// leap days, clocks stepped backwards, and the reset instants and
// retry_after of denials around all of these.
//
// Every expected instant below is written in UTC and was worked out from
// the IANA rules of the zone (the local time is given in the comment), not
// computed with the library, so that a period bug cannot cancel out.
#include "support/fixtures.hpp"

#include <chrono>
#include <cstdint>
#include <source_location>
#include <string>
#include <vector>

using namespace kauri_quota;
using namespace kauri_quota::testing;
using namespace std::chrono_literals;

namespace {

/// The last instant before `t`.
sys_time just_before(sys_time t) { return t - 1us; }

/// What a quota_info must say: the day the counts land on, that day's
/// messages, the month-to-date messages and both reset instants.
struct expected_quota {
  local_date day{};
  std::int64_t today = 0;
  std::int64_t month = 0;
  sys_time daily_reset{};
  sys_time monthly_reset{};
};

void check_quota(const quota_info& q, const expected_quota& e,
                 std::source_location loc = std::source_location::current()) {
  const auto file = loc.file_name();
  const auto line = static_cast<int>(loc.line());
  if (q.usage_date != e.day) {
    ADD_FAIL_CHECK_AT(file, line, "usage_date is " << show(q.usage_date) << ", expected " << show(e.day));
  }
  if (q.messages_today != e.today) {
    ADD_FAIL_CHECK_AT(
        file, line,
        "messages_today on " << show(q.usage_date) << " is " << q.messages_today << ", expected " << e.today);
  }
  if (q.messages_this_month != e.month) {
    ADD_FAIL_CHECK_AT(
        file, line,
        "messages_this_month on " << show(q.usage_date) << " is " << q.messages_this_month << ", expected " << e.month);
  }
  if (q.daily_resets_at != e.daily_reset) {
    ADD_FAIL_CHECK_AT(file, line,
                      "daily_resets_at of " << show(q.usage_date) << " is " << show(q.daily_resets_at) << ", expected "
                                            << show(e.daily_reset));
  }
  if (q.monthly_resets_at != e.monthly_reset) {
    ADD_FAIL_CHECK_AT(file, line,
                      "monthly_resets_at of " << show(q.usage_date) << " is " << show(q.monthly_resets_at)
                                              << ", expected " << show(e.monthly_reset));
  }
}

/// The decision admitted the message and counted it on `day`.
void check_allowed(const decision& d, local_date day, std::source_location loc = std::source_location::current()) {
  const auto file = loc.file_name();
  const auto line = static_cast<int>(loc.line());
  if (!d.allowed) {
    ADD_FAIL_CHECK_AT(file, line,
                      "expected the message to be allowed on " << show(day) << " but it was denied by "
                                                               << name_of(d.denied_by) << " limit");
  }
  if (d.quota.usage_date != day) {
    ADD_FAIL_CHECK_AT(file, line,
                      "the message was counted on " << show(d.quota.usage_date) << ", expected " << show(day));
  }
  if (d.retry_after != 0s) {
    ADD_FAIL_CHECK_AT(file, line, "an allowed decision has retry_after " << d.retry_after.count() << "s");
  }
}

/// The decision is a denial by `kind`, resetting at `resets_at`, with
/// retry_after exactly `retry_after`.
void check_denied(const decision& d, limit_kind kind, sys_time resets_at, std::chrono::seconds retry_after,
                  std::source_location loc = std::source_location::current()) {
  const auto file = loc.file_name();
  const auto line = static_cast<int>(loc.line());
  if (d.allowed) {
    ADD_FAIL_CHECK_AT(file, line,
                      "expected a denial by the " << name_of(kind) << " limit but the message was allowed"
                                                  << " on " << show(d.quota.usage_date));
    return;
  }
  if (d.denied_by != kind) {
    ADD_FAIL_CHECK_AT(file, line, "denied by the " << name_of(d.denied_by) << " limit, expected " << name_of(kind));
  }
  if (d.resets_at != resets_at) {
    ADD_FAIL_CHECK_AT(file, line, "resets_at is " << show(d.resets_at) << ", expected " << show(resets_at));
  }
  if (d.retry_after != retry_after) {
    ADD_FAIL_CHECK_AT(file, line,
                      "retry_after is " << d.retry_after.count() << "s, expected " << retry_after.count() << "s");
  }
  // The HTTP 429 body a host returns says the same.
  const auto body = parse_json(denial_payload_json(d));
  if (body["limit"].is_null() || body["limit"].as_string() != name_of(kind)) {
    ADD_FAIL_CHECK_AT(file, line, "the denial payload names the wrong limit: " << denial_payload_json(d));
  }
  if (body["resets_at"].as_string() != show(resets_at)) {
    ADD_FAIL_CHECK_AT(
        file, line,
        "the denial payload's resets_at is " << body["resets_at"].as_string() << ", expected " << show(resets_at));
  }
  if (body["retry_after_seconds"].as_int() != retry_after.count()) {
    ADD_FAIL_CHECK_AT(file, line,
                      "the denial payload's retry_after_seconds is " << body["retry_after_seconds"].as_int()
                                                                     << ", expected " << retry_after.count());
  }
}

/// messages_today of `user` on `day`, read through the storage.
void check_day(service_fixture& f, const user_id& user, local_date day, std::int64_t messages,
               std::source_location loc = std::source_location::current()) {
  const auto got = f.usage_on(user, day).messages_today;
  if (got != messages) {
    ADD_FAIL_CHECK_AT(loc.file_name(), static_cast<int>(loc.line()),
                      "messages_today on " << show(day) << " is " << got << ", expected " << messages);
  }
}

/// One consume at a given instant of a zone_days_case, and what it must
/// decide. The day it lands on is the first of the case's days that ends
/// after it.
struct probe {
  const char* utc;          ///< "YYYY-MM-DDTHH:MM:SSZ"
  bool microsecond_before;  ///< the probe is 1 µs before `utc`
  const char* local;        ///< what a wall clock in the zone shows then
  bool allowed;
  std::chrono::seconds retry_after{};  ///< of the daily denial, when not allowed
};

/// A local day of the quota time zone.
struct local_day {
  const char* day;   ///< "YYYY-MM-DD"
  const char* ends;  ///< the UTC instant of the next local midnight
};

/// Consecutive local days of one zone, in one month, under a daily limit,
/// probed in time order.
struct zone_days_case {
  const char* name;
  const char* zone;
  const char* start;  ///< the clock when the user is created
  const char* user;
  std::int64_t per_day;
  std::vector<local_day> days;
  const char* month_ends;  ///< the UTC instant of the next month's first local midnight
  std::vector<probe> probes;
};

/// Runs the probes in order. After each one the decision and the quota
/// info must say what the table does, with the counts the table's
/// allowed probes add up to; at the end every day's counters, the
/// month-to-date counter and the audit log must agree with them.
void run_zone_days(const zone_days_case& c) {
  service_fixture f(in_zone(c.zone), c.start);
  f.set_limits("free", c.per_day, 100, std::nullopt);
  const auto u = f.add_user(c.user);
  std::vector<std::int64_t> counted(c.days.size(), 0);
  std::int64_t month = 0;
  for (const auto& p : c.probes) {
    INFO("probe at " << p.utc << (p.microsecond_before ? " - 1us" : "") << " (" << p.local << ")");
    const sys_time t = p.microsecond_before ? just_before(at(p.utc)) : at(p.utc);
    std::size_t i = 0;
    while (i < c.days.size() && at(c.days[i].ends) <= t) ++i;
    REQUIRE_MESSAGE(i < c.days.size(), "the probe is after the last day of the table");
    const local_date day = date(c.days[i].day);
    const sys_time day_ends = at(c.days[i].ends);
    f.clock->set(t);
    const decision d = f.consume(u);
    if (p.allowed) {
      check_allowed(d, day);
      ++counted[i];
      ++month;
    } else {
      check_denied(d, limit_kind::daily, day_ends, p.retry_after);
    }
    check_quota(
        f.quota(u),
        {.day = day, .today = counted[i], .month = month, .daily_reset = day_ends, .monthly_reset = at(c.month_ends)});
  }
  std::vector<local_date> days;
  for (std::size_t i = 0; i < c.days.size(); ++i) {
    days.push_back(date(c.days[i].day));
    check_day(f, u, days.back(), counted[i]);
  }
  f.check_month_to_date(u, days.back());
  f.check_audit(u, days);
}

}  // namespace

// --- UTC ------------------------------------------------------------------------

TEST_CASE("time: a UTC day resets exactly at midnight") {
  service_fixture f({}, "2025-11-07T12:00:00Z");
  f.set_limits("free", 3, 100, std::nullopt);
  const auto u = f.add_user("utc");

  f.clock->set(just_before(at("2025-11-08T00:00:00Z")));  // 23:59:59.999999
  check_allowed(f.consume(u), date("2025-11-07"));
  check_quota(f.quota(u), {.day = date("2025-11-07"),
                           .today = 1,
                           .month = 1,
                           .daily_reset = at("2025-11-08T00:00:00Z"),
                           .monthly_reset = at("2025-12-01T00:00:00Z")});

  f.set_time("2025-11-08T00:00:00Z");
  check_quota(f.quota(u), {.day = date("2025-11-08"),
                           .today = 0,
                           .month = 1,
                           .daily_reset = at("2025-11-09T00:00:00Z"),
                           .monthly_reset = at("2025-12-01T00:00:00Z")});
  check_allowed(f.consume(u), date("2025-11-08"));
  check_quota(f.quota(u), {.day = date("2025-11-08"),
                           .today = 1,
                           .month = 2,
                           .daily_reset = at("2025-11-09T00:00:00Z"),
                           .monthly_reset = at("2025-12-01T00:00:00Z")});

  check_day(f, u, date("2025-11-07"), 1);
  check_day(f, u, date("2025-11-08"), 1);
  f.check_month_to_date(u, date("2025-11-08"));
  f.check_audit(u, {date("2025-11-07"), date("2025-11-08")});
}

TEST_CASE("time: a UTC daily limit resets exactly once, at midnight") {
  service_fixture f({}, "2025-11-07T10:00:00Z");
  f.set_limits("free", 2, 100, std::nullopt);
  const auto u = f.add_user("utc");

  REQUIRE(f.consume_n(u, 2) == 2);
  check_denied(f.consume(u), limit_kind::daily, at("2025-11-08T00:00:00Z"), 14h);

  f.clock->set(just_before(at("2025-11-08T00:00:00Z")));
  check_denied(f.consume(u), limit_kind::daily, at("2025-11-08T00:00:00Z"), 1s);
  check_quota(f.quota(u), {.day = date("2025-11-07"),
                           .today = 2,
                           .month = 2,
                           .daily_reset = at("2025-11-08T00:00:00Z"),
                           .monthly_reset = at("2025-12-01T00:00:00Z")});

  f.set_time("2025-11-08T00:00:00Z");
  check_allowed(f.consume(u), date("2025-11-08"));
  check_allowed(f.consume(u), date("2025-11-08"));
  // The new day got exactly one fresh allowance, not a second one.
  check_denied(f.consume(u), limit_kind::daily, at("2025-11-09T00:00:00Z"), 24h);
  f.set_time("2025-11-08T12:00:00Z");
  check_denied(f.consume(u), limit_kind::daily, at("2025-11-09T00:00:00Z"), 12h);
  f.clock->set(just_before(at("2025-11-09T00:00:00Z")));
  check_denied(f.consume(u), limit_kind::daily, at("2025-11-09T00:00:00Z"), 1s);
  check_quota(f.quota(u), {.day = date("2025-11-08"),
                           .today = 2,
                           .month = 4,
                           .daily_reset = at("2025-11-09T00:00:00Z"),
                           .monthly_reset = at("2025-12-01T00:00:00Z")});

  check_day(f, u, date("2025-11-07"), 2);
  check_day(f, u, date("2025-11-08"), 2);
  CHECK(f.count_events(u, "quota_exceeded") == 5);
  f.check_month_to_date(u, date("2025-11-08"));
  f.check_audit(u, {date("2025-11-07"), date("2025-11-08")});
}

TEST_CASE("time: a UTC monthly limit resets exactly once, at the first midnight of the month") {
  service_fixture f({}, "2025-11-29T12:00:00Z");
  f.set_limits("free", std::nullopt, 3, std::nullopt);
  const auto u = f.add_user("utc");

  REQUIRE(f.consume_n(u, 2) == 2);
  f.set_time("2025-11-30T08:00:00Z");
  check_allowed(f.consume(u), date("2025-11-30"));
  check_denied(f.consume(u), limit_kind::monthly, at("2025-12-01T00:00:00Z"), 16h);

  f.clock->set(just_before(at("2025-12-01T00:00:00Z")));
  check_denied(f.consume(u), limit_kind::monthly, at("2025-12-01T00:00:00Z"), 1s);
  check_quota(f.quota(u), {.day = date("2025-11-30"),
                           .today = 1,
                           .month = 3,
                           .daily_reset = at("2025-12-01T00:00:00Z"),
                           .monthly_reset = at("2025-12-01T00:00:00Z")});

  f.set_time("2025-12-01T00:00:00Z");
  REQUIRE(f.consume_n(u, 3) == 3);
  // December (31 days) resets on January 1st, not earlier.
  check_denied(f.consume(u), limit_kind::monthly, at("2026-01-01T00:00:00Z"), 31 * 24h);
  check_quota(f.quota(u), {.day = date("2025-12-01"),
                           .today = 3,
                           .month = 3,
                           .daily_reset = at("2025-12-02T00:00:00Z"),
                           .monthly_reset = at("2026-01-01T00:00:00Z")});

  check_day(f, u, date("2025-11-29"), 2);
  check_day(f, u, date("2025-11-30"), 1);
  check_day(f, u, date("2025-12-01"), 3);
  f.check_month_to_date(u, date("2025-11-30"));
  f.check_month_to_date(u, date("2025-12-01"));
  f.check_audit(u, {date("2025-11-29"), date("2025-11-30"), date("2025-12-01")});
}

TEST_CASE("time: retry_after rounds the time left before the reset up to whole seconds") {
  service_fixture f({}, "2025-11-07T10:00:00Z");
  f.set_limits("free", 1, 100, std::nullopt);
  const auto u = f.add_user("utc");
  check_allowed(f.consume(u), date("2025-11-07"));

  f.clock->set(at("2025-11-07T23:59:58Z") + 500'000us);  // 1.5 s before midnight
  check_denied(f.consume(u), limit_kind::daily, at("2025-11-08T00:00:00Z"), 2s);
  f.clock->set(at("2025-11-07T23:59:59Z"));  // exactly 1 s before
  check_denied(f.consume(u), limit_kind::daily, at("2025-11-08T00:00:00Z"), 1s);
  f.clock->set(at("2025-11-07T23:59:59Z") + 1us);  // less than 1 s before
  check_denied(f.consume(u), limit_kind::daily, at("2025-11-08T00:00:00Z"), 1s);
  check_quota(f.quota(u), {.day = date("2025-11-07"),
                           .today = 1,
                           .month = 1,
                           .daily_reset = at("2025-11-08T00:00:00Z"),
                           .monthly_reset = at("2025-12-01T00:00:00Z")});

  f.set_time("2025-11-08T00:00:00Z");
  check_allowed(f.consume(u), date("2025-11-08"));
  check_day(f, u, date("2025-11-07"), 1);
  check_day(f, u, date("2025-11-08"), 1);
  f.check_month_to_date(u, date("2025-11-08"));
  f.check_audit(u, {date("2025-11-07"), date("2025-11-08")});
}

TEST_CASE("time: increment_usage and reserve at the last microsecond of a day count in that day") {
  service_fixture f({}, "2025-11-07T12:00:00Z");
  const auto u = f.add_user("utc", "pro");

  f.clock->set(just_before(at("2025-11-08T00:00:00Z")));
  const auto rec = must(f.svc.increment_usage(u, 2, 20));
  CHECK(rec.usage_date == date("2025-11-07"));
  const auto r = must(f.svc.reserve(u, 30));
  check_allowed(r, date("2025-11-07"));
  REQUIRE(r.reservation.has_value());

  f.advance(1us);  // midnight: the commit settles into the reservation's day
  const auto settled = must(f.svc.commit(*r.reservation, 50));
  CHECK(settled.usage_date == date("2025-11-07"));
  check_allowed(f.consume(u, 5), date("2025-11-08"));

  const auto q = f.quota(u);
  check_quota(q, {.day = date("2025-11-08"),
                  .today = 1,
                  .month = 4,
                  .daily_reset = at("2025-11-09T00:00:00Z"),
                  .monthly_reset = at("2025-12-01T00:00:00Z")});
  CHECK(q.tokens_today == 5);
  CHECK(q.tokens_this_month == 75);
  const auto nov7 = f.usage_on(u, date("2025-11-07"));
  CHECK(nov7.messages_today == 3);
  CHECK(nov7.tokens_today == 70);
  check_day(f, u, date("2025-11-08"), 1);
  f.check_month_to_date(u, date("2025-11-08"));
  f.check_audit(u, {date("2025-11-07"), date("2025-11-08")});
}

TEST_CASE(
    "time: a reservation made at the last microsecond of a month and committed after it settles into that month") {
  service_fixture f({}, "2025-11-30T12:00:00Z");
  const auto u = f.add_user("utc", "pro");
  check_allowed(f.consume(u, 5), date("2025-11-30"));

  f.clock->set(just_before(at("2025-12-01T00:00:00Z")));
  const auto r = must(f.svc.reserve(u, 100));
  check_allowed(r, date("2025-11-30"));
  REQUIRE(r.reservation.has_value());

  f.advance(1us);                                      // December 1st
  check_allowed(f.consume(u, 7), date("2025-12-01"));  // December's row exists before the commit
  const auto settled = must(f.svc.commit(*r.reservation, 250));
  CHECK(settled.usage_date == date("2025-11-30"));
  CHECK(settled.state == reservation_state::committed);

  auto q = f.quota(u);
  check_quota(q, {.day = date("2025-12-01"),
                  .today = 1,
                  .month = 1,
                  .daily_reset = at("2025-12-02T00:00:00Z"),
                  .monthly_reset = at("2026-01-01T00:00:00Z")});
  CHECK(q.tokens_this_month == 7);
  const auto nov30 = f.usage_on(u, date("2025-11-30"));
  CHECK(nov30.messages_today == 2);
  CHECK(nov30.tokens_today == 255);
  CHECK(nov30.messages_this_month == 2);
  CHECK(nov30.tokens_this_month == 255);
  check_day(f, u, date("2025-12-01"), 1);
  f.check_month_to_date(u, date("2025-11-30"));
  f.check_month_to_date(u, date("2025-12-01"));
  f.check_audit(u, {date("2025-11-30"), date("2025-12-01")});
}

TEST_CASE("time: a reservation that expires after midnight is settled at its estimate in the day it was made") {
  service_options opts;
  opts.reservation_ttl = 300s;
  service_fixture f(opts, "2025-11-07T23:58:00Z");
  const auto u = f.add_user("utc", "pro");

  const auto r = must(f.svc.reserve(u, 40));
  check_allowed(r, date("2025-11-07"));
  REQUIRE(r.reservation.has_value());
  CHECK(must(f.svc.get_reservation(*r.reservation)).expires_at == at("2025-11-08T00:03:00Z"));

  f.clock->set(just_before(at("2025-11-08T00:03:00Z")));
  CHECK(must(f.svc.expire_reservations()) == 0);
  f.set_time("2025-11-08T00:03:00Z");
  CHECK(must(f.svc.expire_reservations()) == 1);
  const auto expired = must(f.svc.get_reservation(*r.reservation));
  CHECK(expired.state == reservation_state::expired);
  CHECK(expired.usage_date == date("2025-11-07"));

  check_allowed(f.consume(u, 2), date("2025-11-08"));
  const auto q = f.quota(u);
  check_quota(q, {.day = date("2025-11-08"),
                  .today = 1,
                  .month = 2,
                  .daily_reset = at("2025-11-09T00:00:00Z"),
                  .monthly_reset = at("2025-12-01T00:00:00Z")});
  CHECK(q.tokens_this_month == 42);
  const auto nov7 = f.usage_on(u, date("2025-11-07"));
  CHECK(nov7.messages_today == 1);
  CHECK(nov7.tokens_today == 40);
  f.check_month_to_date(u, date("2025-11-08"));
  f.check_audit(u, {date("2025-11-07"), date("2025-11-08")});
}

// --- Local midnights in zones with odd offsets --------------------------------------

TEST_CASE("time: a local day in a zone with an odd UTC offset starts at its local midnight, to the microsecond") {
  const std::vector<zone_days_case> cases{
      {"Africa/Douala (+01:00): the 8th starts at 23:00 UTC",
       "Africa/Douala",
       "2025-11-07T12:00:00Z",
       "douala",
       1,
       {{"2025-11-07", "2025-11-07T23:00:00Z"}, {"2025-11-08", "2025-11-08T23:00:00Z"}},
       "2025-11-30T23:00:00Z",
       {{"2025-11-07T23:00:00Z", true, "23:59:59.999999 WAT on the 7th", true},
        {"2025-11-07T23:00:00Z", true, "23:59:59.999999 WAT on the 7th", false, 1s},
        {"2025-11-07T23:00:00Z", false, "00:00 WAT on the 8th", true}}},
      {"Asia/Kolkata (+05:30): the 8th starts at 18:30 UTC and UTC midnight is no boundary",
       "Asia/Kolkata",
       "2025-11-07T12:00:00Z",
       "kolkata",
       1,
       {{"2025-11-07", "2025-11-07T18:30:00Z"}, {"2025-11-08", "2025-11-08T18:30:00Z"}},
       "2025-11-30T18:30:00Z",
       {{"2025-11-07T18:30:00Z", true, "23:59:59.999999 IST on the 7th", true},
        {"2025-11-07T18:30:00Z", true, "23:59:59.999999 IST on the 7th", false, 1s},
        {"2025-11-07T18:30:00Z", false, "00:00 IST on the 8th", true},
        {"2025-11-08T00:00:00Z", false, "05:30 IST, still the 8th", false, 18h + 30min}}},
      {"America/St_Johns (-03:30) in winter: the 8th starts at 03:30 UTC",
       "America/St_Johns",
       "2025-11-07T12:00:00Z",
       "st-johns",
       1,
       {{"2025-11-07", "2025-11-08T03:30:00Z"}, {"2025-11-08", "2025-11-09T03:30:00Z"}},
       "2025-12-01T03:30:00Z",
       {{"2025-11-08T03:30:00Z", true, "23:59:59.999999 NST on the 7th", true},
        {"2025-11-08T03:30:00Z", true, "23:59:59.999999 NST on the 7th", false, 1s},
        {"2025-11-08T03:30:00Z", false, "00:00 NST on the 8th", true},
        {"2025-11-09T00:00:00Z", false, "20:30 NST, still the 8th", false, 3h + 30min}}},
      {"America/St_Johns (-02:30) in summer: the 15th starts at 02:30 UTC",
       "America/St_Johns",
       "2025-07-14T12:00:00Z",
       "st-johns",
       1,
       {{"2025-07-14", "2025-07-15T02:30:00Z"}, {"2025-07-15", "2025-07-16T02:30:00Z"}},
       "2025-08-01T02:30:00Z",
       {{"2025-07-15T02:30:00Z", true, "23:59:59.999999 NDT on the 14th", true},
        {"2025-07-15T02:30:00Z", true, "23:59:59.999999 NDT on the 14th", false, 1s},
        {"2025-07-15T02:30:00Z", false, "00:00 NDT on the 15th", true}}},
      {"Pacific/Chatham (+13:45) in summer: the 16th starts at 10:15 UTC",
       "Pacific/Chatham",
       "2025-01-14T12:00:00Z",
       "chatham",
       1,
       {{"2025-01-15", "2025-01-15T10:15:00Z"}, {"2025-01-16", "2025-01-16T10:15:00Z"}},
       "2025-01-31T10:15:00Z",
       {{"2025-01-15T10:15:00Z", true, "23:59:59.999999 +1345 on the 15th", true},
        {"2025-01-15T10:15:00Z", true, "23:59:59.999999 +1345 on the 15th", false, 1s},
        {"2025-01-15T10:15:00Z", false, "00:00 +1345 on the 16th", true}}},
      {"Pacific/Chatham (+12:45) in winter: the 16th starts at 11:15 UTC",
       "Pacific/Chatham",
       "2025-07-14T12:00:00Z",
       "chatham",
       1,
       {{"2025-07-15", "2025-07-15T11:15:00Z"}, {"2025-07-16", "2025-07-16T11:15:00Z"}},
       "2025-07-31T11:15:00Z",
       {{"2025-07-15T11:15:00Z", true, "23:59:59.999999 +1245 on the 15th", true},
        {"2025-07-15T11:15:00Z", true, "23:59:59.999999 +1245 on the 15th", false, 1s},
        {"2025-07-15T11:15:00Z", false, "00:00 +1245 on the 16th", true}}},
  };
  for (const auto& c : cases) {
    SUBCASE(c.name) { run_zone_days(c); }
  }
}

// --- Month ends in zones with odd offsets ---------------------------------------------

TEST_CASE("time: an Asia/Kolkata month ends at 18:30 UTC on its last day") {
  service_fixture f(in_zone("Asia/Kolkata"), "2025-11-30T12:00:00Z");  // 17:30 IST
  f.set_limits("free", std::nullopt, 2, std::nullopt);
  const auto u = f.add_user("kolkata");

  REQUIRE(f.consume_n(u, 2) == 2);
  check_denied(f.consume(u), limit_kind::monthly, at("2025-11-30T18:30:00Z"), 6h + 30min);
  f.clock->set(just_before(at("2025-11-30T18:30:00Z")));
  check_denied(f.consume(u), limit_kind::monthly, at("2025-11-30T18:30:00Z"), 1s);
  check_quota(f.quota(u), {.day = date("2025-11-30"),
                           .today = 2,
                           .month = 2,
                           .daily_reset = at("2025-11-30T18:30:00Z"),
                           .monthly_reset = at("2025-11-30T18:30:00Z")});

  f.advance(1us);  // 00:00 IST on December 1st
  check_allowed(f.consume(u), date("2025-12-01"));
  check_quota(f.quota(u), {.day = date("2025-12-01"),
                           .today = 1,
                           .month = 1,
                           .daily_reset = at("2025-12-01T18:30:00Z"),
                           .monthly_reset = at("2025-12-31T18:30:00Z")});

  check_day(f, u, date("2025-11-30"), 2);
  check_day(f, u, date("2025-12-01"), 1);
  f.check_month_to_date(u, date("2025-11-30"));
  f.check_month_to_date(u, date("2025-12-01"));
  f.check_audit(u, {date("2025-11-30"), date("2025-12-01")});
}

TEST_CASE("time: in Pacific/Chatham the year changes at 10:15 UTC on December 31st") {
  service_fixture f(in_zone("Pacific/Chatham"), "2025-12-30T12:00:00Z");
  f.set_limits("free", std::nullopt, 2, std::nullopt);
  const auto u = f.add_user("chatham");

  f.clock->set(just_before(at("2025-12-31T10:15:00Z")));  // 23:59:59.999999 +1345 on Dec 31
  REQUIRE(f.consume_n(u, 2) == 2);
  check_denied(f.consume(u), limit_kind::monthly, at("2025-12-31T10:15:00Z"), 1s);
  check_quota(f.quota(u), {.day = date("2025-12-31"),
                           .today = 2,
                           .month = 2,
                           .daily_reset = at("2025-12-31T10:15:00Z"),
                           .monthly_reset = at("2025-12-31T10:15:00Z")});

  f.advance(1us);  // 00:00 +1345 on 2026-01-01, while UTC is still in 2025
  check_allowed(f.consume(u), date("2026-01-01"));
  check_quota(f.quota(u), {.day = date("2026-01-01"),
                           .today = 1,
                           .month = 1,
                           .daily_reset = at("2026-01-01T10:15:00Z"),
                           .monthly_reset = at("2026-01-31T10:15:00Z")});

  check_day(f, u, date("2025-12-31"), 2);
  check_day(f, u, date("2026-01-01"), 1);
  f.check_month_to_date(u, date("2025-12-31"));
  f.check_month_to_date(u, date("2026-01-01"));
  f.check_audit(u, {date("2025-12-31"), date("2026-01-01")});
}

// --- DST days -------------------------------------------------------------------------

TEST_CASE("time: a DST day of 23, 23.5 or 25 hours holds every local hour it has and resets once, at its end") {
  // Each row: the eve, the DST day and the day after, a limit of 2 a day;
  // one message just before the DST day begins, one on each side of the
  // transition, a denial until the DST day's end (also 24 hours after it
  // began, when it lasts 25), and the first message of the next day. The
  // 23-hour rows also check that 24 hours after the DST day began brings
  // no second reset. Like every instant in this file, the rows' instants
  // were worked out from the zone's IANA rules, not computed with the
  // library.
  const std::vector<zone_days_case> cases{
      {"the 23-hour Europe/Paris day 2025-03-30 holds 01:59 and 03:00 local",
       "Europe/Paris",
       "2025-03-29T12:00:00Z",
       "paris",
       2,
       // 2025-03-30 runs from 2025-03-29T23:00Z (00:00 CET) to
       // 2025-03-30T22:00Z (00:00 CEST on the 31st); 02:00-03:00 local
       // does not exist.
       {{"2025-03-29", "2025-03-29T23:00:00Z"},
        {"2025-03-30", "2025-03-30T22:00:00Z"},
        {"2025-03-31", "2025-03-31T22:00:00Z"}},
       "2025-03-31T22:00:00Z",
       {{"2025-03-29T23:00:00Z", true, "23:59:59.999999 CET on the 29th", true},
        {"2025-03-30T00:59:00Z", false, "01:59 CET", true},
        {"2025-03-30T01:00:00Z", false, "03:00 CEST", true},
        {"2025-03-30T01:00:00Z", false, "03:00 CEST", false, 21h},
        {"2025-03-30T22:00:00Z", true, "23:59:59.999999 CEST", false, 1s},
        {"2025-03-30T22:00:00Z", false, "00:00 CEST on the 31st, 23 hours after the 30th began", true},
        {"2025-03-30T23:00:00Z", false, "24 hours after the 30th began: no second reset", true},
        {"2025-03-30T23:00:00Z", false, "01:00 CEST on the 31st", false, 23h}}},
      {"the 25-hour Europe/Paris day 2025-10-26 holds both 02:xx hours",
       "Europe/Paris",
       "2025-10-25T12:00:00Z",
       "paris",
       2,
       // 2025-10-26 runs from 2025-10-25T22:00Z (00:00 CEST) to
       // 2025-10-26T23:00Z (00:00 CET on the 27th); 02:00-03:00 local
       // happens twice.
       {{"2025-10-25", "2025-10-25T22:00:00Z"},
        {"2025-10-26", "2025-10-26T23:00:00Z"},
        {"2025-10-27", "2025-10-27T23:00:00Z"}},
       "2025-10-31T23:00:00Z",
       {{"2025-10-25T22:00:00Z", true, "23:59:59.999999 CEST on the 25th", true},
        {"2025-10-26T00:30:00Z", false, "02:30 CEST, first pass", true},
        {"2025-10-26T01:30:00Z", false, "02:30 CET, second pass", true},
        {"2025-10-26T01:30:00Z", false, "02:30 CET, second pass", false, 21h + 30min},
        {"2025-10-26T22:00:00Z", false, "23:00 CET: 24 hours after the 26th began, still the 26th", false, 1h},
        {"2025-10-26T23:00:00Z", true, "23:59:59.999999 CET", false, 1s},
        {"2025-10-26T23:00:00Z", false, "00:00 CET on the 27th", true}}},
      {"the 23-hour America/New_York day 2025-03-09 holds 01:59 and 03:00 local",
       "America/New_York",
       "2025-03-08T12:00:00Z",
       "new-york",
       2,
       // 2025-03-09 runs from 05:00Z (00:00 EST) to 2025-03-10T04:00Z
       // (00:00 EDT).
       {{"2025-03-08", "2025-03-09T05:00:00Z"},
        {"2025-03-09", "2025-03-10T04:00:00Z"},
        {"2025-03-10", "2025-03-11T04:00:00Z"}},
       "2025-04-01T04:00:00Z",
       {{"2025-03-09T05:00:00Z", true, "23:59:59.999999 EST on the 8th", true},
        {"2025-03-09T06:59:00Z", false, "01:59 EST", true},
        {"2025-03-09T07:00:00Z", false, "03:00 EDT", true},
        {"2025-03-09T07:00:00Z", false, "03:00 EDT", false, 21h},
        {"2025-03-10T04:00:00Z", true, "23:59:59.999999 EDT", false, 1s},
        {"2025-03-10T04:00:00Z", false, "00:00 EDT on the 10th", true},
        {"2025-03-10T05:00:00Z", false, "24 hours after the 9th began: no second reset", true},
        {"2025-03-10T05:00:00Z", false, "01:00 EDT on the 10th", false, 23h}}},
      {"the 25-hour America/New_York day 2025-11-02 holds both 01:xx hours",
       "America/New_York",
       "2025-11-01T12:00:00Z",
       "new-york",
       2,
       // 2025-11-02 runs from 04:00Z (00:00 EDT) to 2025-11-03T05:00Z
       // (00:00 EST); 01:00-02:00 local happens twice.
       {{"2025-11-01", "2025-11-02T04:00:00Z"},
        {"2025-11-02", "2025-11-03T05:00:00Z"},
        {"2025-11-03", "2025-11-04T05:00:00Z"}},
       "2025-12-01T05:00:00Z",
       {{"2025-11-02T04:00:00Z", true, "23:59:59.999999 EDT on the 1st", true},
        {"2025-11-02T05:30:00Z", false, "01:30 EDT, first pass", true},
        {"2025-11-02T06:30:00Z", false, "01:30 EST, second pass", true},
        {"2025-11-02T06:30:00Z", false, "01:30 EST, second pass", false, 22h + 30min},
        {"2025-11-03T04:00:00Z", false, "23:00 EST: 24 hours after the 2nd began, still the 2nd", false, 1h},
        {"2025-11-03T05:00:00Z", true, "23:59:59.999999 EST", false, 1s},
        {"2025-11-03T05:00:00Z", false, "00:00 EST on the 3rd", true}}},
      {"the Pacific/Chatham DST day 2025-09-28 lasts 23 hours",
       "Pacific/Chatham",
       "2025-09-27T10:00:00Z",
       "chatham",
       2,
       // Clocks go from 02:45 +1245 to 03:45 +1345 at 2025-09-27T14:00Z;
       // the 28th runs from 2025-09-27T11:15Z to 2025-09-28T10:15Z.
       {{"2025-09-27", "2025-09-27T11:15:00Z"},
        {"2025-09-28", "2025-09-28T10:15:00Z"},
        {"2025-09-29", "2025-09-29T10:15:00Z"}},
       "2025-09-30T10:15:00Z",
       {{"2025-09-27T11:15:00Z", true, "23:59:59.999999 +1245 on the 27th", true},
        {"2025-09-27T13:59:59Z", false, "02:44:59 +1245 on the 28th", true},
        {"2025-09-27T14:00:00Z", false, "03:45:00 +1345", true},
        {"2025-09-27T14:00:00Z", false, "03:45:00 +1345", false, 20h + 15min},
        {"2025-09-28T10:15:00Z", true, "23:59:59.999999 +1345 on the 28th", false, 1s},
        {"2025-09-28T10:15:00Z", false, "00:00 +1345 on the 29th", true}}},
      {"the Australia/Lord_Howe DST day 2025-10-05 lasts 23.5 hours",
       "Australia/Lord_Howe",
       "2025-10-04T12:00:00Z",
       "lord-howe",
       2,
       // Clocks go from 02:00 +1030 to 02:30 +11 at 2025-10-04T15:30Z; the
       // 5th runs from 2025-10-04T13:30Z to 2025-10-05T13:00Z.
       {{"2025-10-04", "2025-10-04T13:30:00Z"},
        {"2025-10-05", "2025-10-05T13:00:00Z"},
        {"2025-10-06", "2025-10-06T13:00:00Z"}},
       "2025-10-31T13:00:00Z",
       {{"2025-10-04T13:30:00Z", true, "23:59:59.999999 +1030 on the 4th", true},
        {"2025-10-04T15:29:59Z", false, "01:59:59 +1030 on the 5th", true},
        {"2025-10-04T15:30:00Z", false, "02:30:00 +11", true},
        {"2025-10-04T15:30:00Z", false, "02:30:00 +11", false, 21h + 30min},
        {"2025-10-05T13:00:00Z", true, "23:59:59.999999 +11 on the 5th", false, 1s},
        {"2025-10-05T13:00:00Z", false, "00:00 +11 on the 6th", true}}},
  };
  for (const auto& c : cases) {
    SUBCASE(c.name) { run_zone_days(c); }
  }
}

// --- Local midnights that do not exist or come back ------------------------------------

TEST_CASE("time: America/Santiago 2024-09-08 has no local midnight and starts at the DST transition") {
  // At 2024-09-08T04:00Z clocks go from 00:00 -04 to 01:00 -03: the 8th
  // starts at 01:00 local and ends at 2024-09-09T03:00Z (00:00 -03).
  service_fixture f(in_zone("America/Santiago"), "2024-09-07T12:00:00Z");
  f.set_limits("free", 1, 100, std::nullopt);
  const auto u = f.add_user("santiago");

  f.clock->set(just_before(at("2024-09-08T04:00:00Z")));  // 23:59:59.999999 -04 on the 7th
  check_allowed(f.consume(u), date("2024-09-07"));
  check_denied(f.consume(u), limit_kind::daily, at("2024-09-08T04:00:00Z"), 1s);
  check_quota(f.quota(u), {.day = date("2024-09-07"),
                           .today = 1,
                           .month = 1,
                           .daily_reset = at("2024-09-08T04:00:00Z"),
                           .monthly_reset = at("2024-10-01T03:00:00Z")});

  f.advance(1us);  // 01:00 -03 on the 8th: its first instant
  check_allowed(f.consume(u), date("2024-09-08"));
  check_denied(f.consume(u), limit_kind::daily, at("2024-09-09T03:00:00Z"), 23h);
  check_quota(f.quota(u), {.day = date("2024-09-08"),
                           .today = 1,
                           .month = 2,
                           .daily_reset = at("2024-09-09T03:00:00Z"),
                           .monthly_reset = at("2024-10-01T03:00:00Z")});

  f.clock->set(just_before(at("2024-09-09T03:00:00Z")));
  check_denied(f.consume(u), limit_kind::daily, at("2024-09-09T03:00:00Z"), 1s);
  f.set_time("2024-09-09T03:00:00Z");  // 00:00 -03 on the 9th
  check_allowed(f.consume(u), date("2024-09-09"));
  check_quota(f.quota(u), {.day = date("2024-09-09"),
                           .today = 1,
                           .month = 3,
                           .daily_reset = at("2024-09-10T03:00:00Z"),
                           .monthly_reset = at("2024-10-01T03:00:00Z")});

  check_day(f, u, date("2024-09-07"), 1);
  check_day(f, u, date("2024-09-08"), 1);
  check_day(f, u, date("2024-09-09"), 1);
  f.check_month_to_date(u, date("2024-09-09"));
  f.check_audit(u, {date("2024-09-07"), date("2024-09-08"), date("2024-09-09")});
}

TEST_CASE("time: America/Santiago 2025-04-05 ends after its repeated last hour") {
  // At 2025-04-06T03:00Z clocks go from 00:00 -03 back to 23:00 -04 on the
  // 5th: the 5th ends at 2025-04-06T04:00Z, not at the first local midnight.
  service_fixture f(in_zone("America/Santiago"), "2025-04-05T12:00:00Z");
  f.set_limits("free", 1, 100, std::nullopt);
  const auto u = f.add_user("santiago");

  f.set_time("2025-04-06T02:30:00Z");  // 23:30 -03 on the 5th
  check_allowed(f.consume(u), date("2025-04-05"));
  check_denied(f.consume(u), limit_kind::daily, at("2025-04-06T04:00:00Z"), 1h + 30min);
  check_quota(f.quota(u), {.day = date("2025-04-05"),
                           .today = 1,
                           .month = 1,
                           .daily_reset = at("2025-04-06T04:00:00Z"),
                           .monthly_reset = at("2025-05-01T04:00:00Z")});

  f.set_time("2025-04-06T03:00:00Z");  // 23:00 -04 on the 5th again
  check_denied(f.consume(u), limit_kind::daily, at("2025-04-06T04:00:00Z"), 1h);
  f.set_time("2025-04-06T03:30:00Z");  // 23:30 -04, second pass
  check_denied(f.consume(u), limit_kind::daily, at("2025-04-06T04:00:00Z"), 30min);
  f.clock->set(just_before(at("2025-04-06T04:00:00Z")));
  check_denied(f.consume(u), limit_kind::daily, at("2025-04-06T04:00:00Z"), 1s);
  check_quota(f.quota(u), {.day = date("2025-04-05"),
                           .today = 1,
                           .month = 1,
                           .daily_reset = at("2025-04-06T04:00:00Z"),
                           .monthly_reset = at("2025-05-01T04:00:00Z")});

  f.set_time("2025-04-06T04:00:00Z");  // 00:00 -04 on the 6th
  check_allowed(f.consume(u), date("2025-04-06"));
  check_quota(f.quota(u), {.day = date("2025-04-06"),
                           .today = 1,
                           .month = 2,
                           .daily_reset = at("2025-04-07T04:00:00Z"),
                           .monthly_reset = at("2025-05-01T04:00:00Z")});

  check_day(f, u, date("2025-04-05"), 1);
  check_day(f, u, date("2025-04-06"), 1);
  f.check_month_to_date(u, date("2025-04-06"));
  f.check_audit(u, {date("2025-04-05"), date("2025-04-06")});
}

TEST_CASE("time: Pacific/Apia skipped 2011-12-30, so the 29th and the 31st are consecutive days") {
  // At 2011-12-30T10:00Z clocks went from 23:59:59 -10 on the 29th to
  // 00:00 +14 on the 31st.
  service_fixture f(in_zone("Pacific/Apia"), "2011-12-29T20:00:00Z");  // 10:00 -10 on the 29th
  f.set_limits("free", 1, 100, std::nullopt);
  const auto u = f.add_user("apia");

  check_allowed(f.consume(u), date("2011-12-29"));
  check_denied(f.consume(u), limit_kind::daily, at("2011-12-30T10:00:00Z"), 14h);
  check_quota(f.quota(u), {.day = date("2011-12-29"),
                           .today = 1,
                           .month = 1,
                           .daily_reset = at("2011-12-30T10:00:00Z"),
                           .monthly_reset = at("2011-12-31T10:00:00Z")});

  f.clock->set(just_before(at("2011-12-30T10:00:00Z")));
  check_denied(f.consume(u), limit_kind::daily, at("2011-12-30T10:00:00Z"), 1s);
  CHECK(f.local_day(f.now()) == date("2011-12-29"));

  f.advance(1us);  // 00:00 +14 on the 31st
  CHECK(f.local_day(f.now()) == date("2011-12-31"));
  check_allowed(f.consume(u), date("2011-12-31"));
  check_quota(f.quota(u), {.day = date("2011-12-31"),
                           .today = 1,
                           .month = 2,
                           .daily_reset = at("2011-12-31T10:00:00Z"),
                           .monthly_reset = at("2011-12-31T10:00:00Z")});

  f.set_time("2011-12-31T10:00:00Z");  // 00:00 +14 on 2012-01-01
  check_allowed(f.consume(u), date("2012-01-01"));
  check_quota(f.quota(u), {.day = date("2012-01-01"),
                           .today = 1,
                           .month = 1,
                           .daily_reset = at("2012-01-01T10:00:00Z"),
                           .monthly_reset = at("2012-01-31T10:00:00Z")});

  check_day(f, u, date("2011-12-29"), 1);
  check_day(f, u, date("2011-12-30"), 0);
  check_day(f, u, date("2011-12-31"), 1);
  check_day(f, u, date("2012-01-01"), 1);
  f.check_month_to_date(u, date("2011-12-31"));
  f.check_audit(u, {date("2011-12-29"), date("2011-12-30"), date("2011-12-31"), date("2012-01-01")});
}

TEST_CASE("time: America/St_Johns 2009-11-01: October 31st comes back after November 1st began") {
  // At 2009-11-01T02:31Z clocks went from 00:00:59 NDT (-02:30) on Nov 1st
  // back to 23:01 NST (-03:30) on Oct 31st. November 1st first began at
  // 02:30Z, and began for good at 03:30Z; October (and its 31st) ended for
  // good at 03:30Z.
  service_fixture f(in_zone("America/St_Johns"), "2009-10-31T12:00:00Z");
  f.set_limits("free", 2, 100, std::nullopt);
  const auto u = f.add_user("st-johns");

  REQUIRE(f.consume_n(u, 2) == 2);
  check_denied(f.consume(u), limit_kind::daily, at("2009-11-01T03:30:00Z"), 15h + 30min);
  check_quota(f.quota(u), {.day = date("2009-10-31"),
                           .today = 2,
                           .month = 2,
                           .daily_reset = at("2009-11-01T03:30:00Z"),
                           .monthly_reset = at("2009-11-01T03:30:00Z")});

  f.set_time("2009-11-01T02:30:30Z");  // 00:00:30 NDT on Nov 1st, first pass
  check_allowed(f.consume(u), date("2009-11-01"));
  check_quota(f.quota(u), {.day = date("2009-11-01"),
                           .today = 1,
                           .month = 1,
                           .daily_reset = at("2009-11-02T03:30:00Z"),
                           .monthly_reset = at("2009-12-01T03:30:00Z")});

  f.set_time("2009-11-01T02:45:00Z");  // 23:15 NST on Oct 31st again
  check_denied(f.consume(u), limit_kind::daily, at("2009-11-01T03:30:00Z"), 45min);
  check_quota(f.quota(u), {.day = date("2009-10-31"),
                           .today = 2,
                           .month = 2,
                           .daily_reset = at("2009-11-01T03:30:00Z"),
                           .monthly_reset = at("2009-11-01T03:30:00Z")});
  f.clock->set(just_before(at("2009-11-01T03:30:00Z")));
  check_denied(f.consume(u), limit_kind::daily, at("2009-11-01T03:30:00Z"), 1s);

  f.set_time("2009-11-01T03:30:00Z");  // 00:00 NST on Nov 1st, second and last time
  check_allowed(f.consume(u), date("2009-11-01"));
  check_quota(f.quota(u), {.day = date("2009-11-01"),
                           .today = 2,
                           .month = 2,
                           .daily_reset = at("2009-11-02T03:30:00Z"),
                           .monthly_reset = at("2009-12-01T03:30:00Z")});
  check_denied(f.consume(u), limit_kind::daily, at("2009-11-02T03:30:00Z"), 24h);

  check_day(f, u, date("2009-10-31"), 2);
  check_day(f, u, date("2009-11-01"), 2);
  f.check_month_to_date(u, date("2009-10-31"));
  f.check_month_to_date(u, date("2009-11-01"));
  f.check_audit(u, {date("2009-10-31"), date("2009-11-01")});
}

// --- Month and year ends, leap years ---------------------------------------------------

TEST_CASE("time: January 31st rolls over to February 1st and restarts the month") {
  service_fixture f({}, "2025-01-31T12:00:00Z");
  const auto u = f.add_user("utc");

  f.clock->set(just_before(at("2025-02-01T00:00:00Z")));
  REQUIRE(f.consume_n(u, 2) == 2);
  check_quota(f.quota(u), {.day = date("2025-01-31"),
                           .today = 2,
                           .month = 2,
                           .daily_reset = at("2025-02-01T00:00:00Z"),
                           .monthly_reset = at("2025-02-01T00:00:00Z")});

  f.advance(1us);
  check_quota(f.quota(u), {.day = date("2025-02-01"),
                           .today = 0,
                           .month = 0,
                           .daily_reset = at("2025-02-02T00:00:00Z"),
                           .monthly_reset = at("2025-03-01T00:00:00Z")});
  check_allowed(f.consume(u), date("2025-02-01"));
  check_quota(f.quota(u), {.day = date("2025-02-01"),
                           .today = 1,
                           .month = 1,
                           .daily_reset = at("2025-02-02T00:00:00Z"),
                           .monthly_reset = at("2025-03-01T00:00:00Z")});

  check_day(f, u, date("2025-01-31"), 2);
  check_day(f, u, date("2025-02-01"), 1);
  f.check_month_to_date(u, date("2025-01-31"));
  f.check_month_to_date(u, date("2025-02-01"));
  f.check_audit(u, {date("2025-01-31"), date("2025-02-01")});
}

TEST_CASE("time: April 30th rolls over to May 1st and restarts the month") {
  service_fixture f({}, "2025-04-30T12:00:00Z");
  const auto u = f.add_user("utc");

  f.clock->set(just_before(at("2025-05-01T00:00:00Z")));
  REQUIRE(f.consume_n(u, 3) == 3);
  check_quota(f.quota(u), {.day = date("2025-04-30"),
                           .today = 3,
                           .month = 3,
                           .daily_reset = at("2025-05-01T00:00:00Z"),
                           .monthly_reset = at("2025-05-01T00:00:00Z")});

  f.advance(1us);
  check_allowed(f.consume(u), date("2025-05-01"));
  check_quota(f.quota(u), {.day = date("2025-05-01"),
                           .today = 1,
                           .month = 1,
                           .daily_reset = at("2025-05-02T00:00:00Z"),
                           .monthly_reset = at("2025-06-01T00:00:00Z")});

  check_day(f, u, date("2025-04-30"), 3);
  check_day(f, u, date("2025-05-01"), 1);
  f.check_month_to_date(u, date("2025-04-30"));
  f.check_month_to_date(u, date("2025-05-01"));
  f.check_audit(u, {date("2025-04-30"), date("2025-05-01")});
}

TEST_CASE("time: December 31st rolls over to January 1st and the year changes") {
  service_fixture f({}, "2025-12-31T12:00:00Z");
  f.set_limits("free", 2, 10, std::nullopt);
  const auto u = f.add_user("utc");

  REQUIRE(f.consume_n(u, 2) == 2);
  // The day and the month end together: the denial points at the new year.
  check_denied(f.consume(u), limit_kind::daily, at("2026-01-01T00:00:00Z"), 12h);
  f.clock->set(just_before(at("2026-01-01T00:00:00Z")));
  check_denied(f.consume(u), limit_kind::daily, at("2026-01-01T00:00:00Z"), 1s);
  check_quota(f.quota(u), {.day = date("2025-12-31"),
                           .today = 2,
                           .month = 2,
                           .daily_reset = at("2026-01-01T00:00:00Z"),
                           .monthly_reset = at("2026-01-01T00:00:00Z")});

  f.advance(1us);
  check_allowed(f.consume(u), date("2026-01-01"));
  check_quota(f.quota(u), {.day = date("2026-01-01"),
                           .today = 1,
                           .month = 1,
                           .daily_reset = at("2026-01-02T00:00:00Z"),
                           .monthly_reset = at("2026-02-01T00:00:00Z")});

  check_day(f, u, date("2025-12-31"), 2);
  check_day(f, u, date("2026-01-01"), 1);
  f.check_month_to_date(u, date("2025-12-31"));
  f.check_month_to_date(u, date("2026-01-01"));
  f.check_audit(u, {date("2025-12-31"), date("2026-01-01")});
}

TEST_CASE("time: 2024-02-29 exists and is its own day between the 28th and March 1st") {
  service_fixture f({}, "2024-02-28T12:00:00Z");
  const auto u = f.add_user("leap");

  f.clock->set(just_before(at("2024-02-29T00:00:00Z")));
  check_allowed(f.consume(u), date("2024-02-28"));
  check_quota(f.quota(u), {.day = date("2024-02-28"),
                           .today = 1,
                           .month = 1,
                           .daily_reset = at("2024-02-29T00:00:00Z"),
                           .monthly_reset = at("2024-03-01T00:00:00Z")});

  f.advance(1us);
  check_allowed(f.consume(u), date("2024-02-29"));
  f.clock->set(just_before(at("2024-03-01T00:00:00Z")));
  check_allowed(f.consume(u), date("2024-02-29"));
  check_quota(f.quota(u), {.day = date("2024-02-29"),
                           .today = 2,
                           .month = 3,
                           .daily_reset = at("2024-03-01T00:00:00Z"),
                           .monthly_reset = at("2024-03-01T00:00:00Z")});

  f.advance(1us);
  check_allowed(f.consume(u), date("2024-03-01"));
  check_quota(f.quota(u), {.day = date("2024-03-01"),
                           .today = 1,
                           .month = 1,
                           .daily_reset = at("2024-03-02T00:00:00Z"),
                           .monthly_reset = at("2024-04-01T00:00:00Z")});

  check_day(f, u, date("2024-02-28"), 1);
  check_day(f, u, date("2024-02-29"), 2);
  check_day(f, u, date("2024-03-01"), 1);
  f.check_month_to_date(u, date("2024-02-29"));
  f.check_month_to_date(u, date("2024-03-01"));
  f.check_audit(u, {date("2024-02-28"), date("2024-02-29"), date("2024-03-01")});
}

TEST_CASE("time: 2100 is not a leap year, so February 28th is followed by March 1st") {
  service_fixture f({}, "2100-02-28T12:00:00Z");
  const auto u = f.add_user("century");

  f.clock->set(just_before(at("2100-03-01T00:00:00Z")));
  check_allowed(f.consume(u), date("2100-02-28"));
  check_quota(f.quota(u), {.day = date("2100-02-28"),
                           .today = 1,
                           .month = 1,
                           .daily_reset = at("2100-03-01T00:00:00Z"),
                           .monthly_reset = at("2100-03-01T00:00:00Z")});

  f.advance(1us);
  check_allowed(f.consume(u), date("2100-03-01"));
  check_quota(f.quota(u), {.day = date("2100-03-01"),
                           .today = 1,
                           .month = 1,
                           .daily_reset = at("2100-03-02T00:00:00Z"),
                           .monthly_reset = at("2100-04-01T00:00:00Z")});

  check_day(f, u, date("2100-02-28"), 1);
  check_day(f, u, date("2100-03-01"), 1);
  f.check_month_to_date(u, date("2100-02-28"));
  f.check_month_to_date(u, date("2100-03-01"));
  f.check_audit(u, {date("2100-02-28"), date("2100-03-01")});
}

TEST_CASE("time: 2000 is a leap century, so 2000-02-29 exists") {
  service_fixture f({}, "2000-02-28T12:00:00Z");
  const auto u = f.add_user("century");

  f.clock->set(just_before(at("2000-02-29T00:00:00Z")));
  check_allowed(f.consume(u), date("2000-02-28"));
  check_quota(f.quota(u), {.day = date("2000-02-28"),
                           .today = 1,
                           .month = 1,
                           .daily_reset = at("2000-02-29T00:00:00Z"),
                           .monthly_reset = at("2000-03-01T00:00:00Z")});

  f.advance(1us);
  check_allowed(f.consume(u), date("2000-02-29"));
  check_quota(f.quota(u), {.day = date("2000-02-29"),
                           .today = 1,
                           .month = 2,
                           .daily_reset = at("2000-03-01T00:00:00Z"),
                           .monthly_reset = at("2000-03-01T00:00:00Z")});

  f.set_time("2000-03-01T00:00:00Z");
  check_allowed(f.consume(u), date("2000-03-01"));
  check_quota(f.quota(u), {.day = date("2000-03-01"),
                           .today = 1,
                           .month = 1,
                           .daily_reset = at("2000-03-02T00:00:00Z"),
                           .monthly_reset = at("2000-04-01T00:00:00Z")});

  check_day(f, u, date("2000-02-28"), 1);
  check_day(f, u, date("2000-02-29"), 1);
  check_day(f, u, date("2000-03-01"), 1);
  f.check_month_to_date(u, date("2000-02-29"));
  f.check_audit(u, {date("2000-02-28"), date("2000-02-29"), date("2000-03-01")});
}

TEST_CASE("time: a monthly denial at the end of February waits for March 1st, one day longer in a leap year") {
  SUBCASE("2025 (28 days)") {
    service_fixture f({}, "2025-02-28T12:00:00Z");
    f.set_limits("free", std::nullopt, 1, std::nullopt);
    const auto u = f.add_user("february");
    check_allowed(f.consume(u), date("2025-02-28"));
    check_denied(f.consume(u), limit_kind::monthly, at("2025-03-01T00:00:00Z"), 12h);
    check_quota(f.quota(u), {.day = date("2025-02-28"),
                             .today = 1,
                             .month = 1,
                             .daily_reset = at("2025-03-01T00:00:00Z"),
                             .monthly_reset = at("2025-03-01T00:00:00Z")});
    f.set_time("2025-03-01T00:00:00Z");
    check_allowed(f.consume(u), date("2025-03-01"));
    check_day(f, u, date("2025-02-28"), 1);
    check_day(f, u, date("2025-03-01"), 1);
    f.check_audit(u, {date("2025-02-28"), date("2025-03-01")});
  }
  SUBCASE("2024 (29 days)") {
    service_fixture f({}, "2024-02-28T12:00:00Z");
    f.set_limits("free", std::nullopt, 1, std::nullopt);
    const auto u = f.add_user("february");
    check_allowed(f.consume(u), date("2024-02-28"));
    check_denied(f.consume(u), limit_kind::monthly, at("2024-03-01T00:00:00Z"), 36h);
    check_quota(f.quota(u), {.day = date("2024-02-28"),
                             .today = 1,
                             .month = 1,
                             .daily_reset = at("2024-02-29T00:00:00Z"),
                             .monthly_reset = at("2024-03-01T00:00:00Z")});
    f.set_time("2024-02-29T12:00:00Z");
    check_denied(f.consume(u), limit_kind::monthly, at("2024-03-01T00:00:00Z"), 12h);
    check_quota(f.quota(u), {.day = date("2024-02-29"),
                             .today = 0,
                             .month = 1,
                             .daily_reset = at("2024-03-01T00:00:00Z"),
                             .monthly_reset = at("2024-03-01T00:00:00Z")});
    f.set_time("2024-03-01T00:00:00Z");
    check_allowed(f.consume(u), date("2024-03-01"));
    check_day(f, u, date("2024-02-28"), 1);
    check_day(f, u, date("2024-02-29"), 0);
    check_day(f, u, date("2024-03-01"), 1);
    f.check_audit(u, {date("2024-02-28"), date("2024-02-29"), date("2024-03-01")});
  }
}

TEST_CASE("time: in Europe/Paris 2025-10-31T23:30Z is already November 1st and the month restarts") {
  service_fixture f(in_zone("Europe/Paris"), "2025-10-31T12:00:00Z");
  f.set_limits("free", std::nullopt, 3, std::nullopt);
  const auto u = f.add_user("paris");

  f.clock->set(just_before(at("2025-10-31T23:00:00Z")));  // 23:59:59.999999 CET on Oct 31st
  REQUIRE(f.consume_n(u, 3) == 3);
  check_denied(f.consume(u), limit_kind::monthly, at("2025-10-31T23:00:00Z"), 1s);
  check_quota(f.quota(u), {.day = date("2025-10-31"),
                           .today = 3,
                           .month = 3,
                           .daily_reset = at("2025-10-31T23:00:00Z"),
                           .monthly_reset = at("2025-10-31T23:00:00Z")});

  f.set_time("2025-10-31T23:30:00Z");  // 00:30 CET on Nov 1st
  check_allowed(f.consume(u), date("2025-11-01"));
  check_quota(f.quota(u), {.day = date("2025-11-01"),
                           .today = 1,
                           .month = 1,
                           .daily_reset = at("2025-11-01T23:00:00Z"),
                           .monthly_reset = at("2025-11-30T23:00:00Z")});

  check_day(f, u, date("2025-10-31"), 3);
  check_day(f, u, date("2025-11-01"), 1);
  f.check_month_to_date(u, date("2025-10-31"));
  f.check_month_to_date(u, date("2025-11-01"));
  f.check_audit(u, {date("2025-10-31"), date("2025-11-01")});
}

TEST_CASE("time: administrative resets just after local midnight in Europe/Paris act on the local day and month") {
  service_fixture f(in_zone("Europe/Paris"), "2025-10-31T22:30:00Z");  // 23:30 CET on Oct 31st
  const auto u = f.add_user("paris", "pro");
  REQUIRE(f.consume_n(u, 2, 10) == 2);

  f.set_time("2025-10-31T23:30:00Z");  // 00:30 CET on Nov 1st, still Oct 31st in UTC
  REQUIRE(f.consume_n(u, 3, 10) == 3);
  CHECK(must(f.svc.reset_daily_quotas(u)) == 1);
  check_quota(f.quota(u), {.day = date("2025-11-01"),
                           .today = 0,
                           .month = 0,
                           .daily_reset = at("2025-11-01T23:00:00Z"),
                           .monthly_reset = at("2025-11-30T23:00:00Z")});
  check_day(f, u, date("2025-10-31"), 2);

  check_allowed(f.consume(u, 10), date("2025-11-01"));
  CHECK(must(f.svc.reset_monthly_quotas(u)) == 1);
  check_quota(f.quota(u), {.day = date("2025-11-01"),
                           .today = 0,
                           .month = 0,
                           .daily_reset = at("2025-11-01T23:00:00Z"),
                           .monthly_reset = at("2025-11-30T23:00:00Z")});
  const auto oct31 = f.usage_on(u, date("2025-10-31"));
  CHECK(oct31.messages_today == 2);
  CHECK(oct31.messages_this_month == 2);
  CHECK(oct31.tokens_this_month == 20);

  check_allowed(f.consume(u, 10), date("2025-11-01"));
  check_quota(f.quota(u), {.day = date("2025-11-01"),
                           .today = 1,
                           .month = 1,
                           .daily_reset = at("2025-11-01T23:00:00Z"),
                           .monthly_reset = at("2025-11-30T23:00:00Z")});
  f.check_month_to_date(u, date("2025-10-31"));
  f.check_month_to_date(u, date("2025-11-01"));
  f.check_audit(u, {date("2025-10-31"), date("2025-11-01")});
}

// --- Clocks stepped backwards --------------------------------------------------------------

TEST_CASE("time: a clock stepped back five minutes across midnight counts into the previous day, then continues") {
  service_fixture f({}, "2025-11-07T23:50:00Z");
  const auto u = f.add_user("utc", "pro");

  check_allowed(f.consume(u, 10), date("2025-11-07"));
  f.set_time("2025-11-08T00:02:00Z");
  check_allowed(f.consume(u, 20), date("2025-11-08"));

  f.set_time("2025-11-07T23:57:00Z");  // stepped back five minutes
  check_allowed(f.consume(u, 40), date("2025-11-07"));
  // The month-to-date totals are the month's, including the later day.
  auto q = f.quota(u);
  check_quota(q, {.day = date("2025-11-07"),
                  .today = 2,
                  .month = 3,
                  .daily_reset = at("2025-11-08T00:00:00Z"),
                  .monthly_reset = at("2025-12-01T00:00:00Z")});
  CHECK(q.tokens_today == 50);
  CHECK(q.tokens_this_month == 70);
  check_day(f, u, date("2025-11-07"), 2);
  check_day(f, u, date("2025-11-08"), 1);
  f.check_month_to_date(u, date("2025-11-08"));

  f.set_time("2025-11-08T00:03:00Z");  // forward again
  check_allowed(f.consume(u, 80), date("2025-11-08"));
  q = f.quota(u);
  check_quota(q, {.day = date("2025-11-08"),
                  .today = 2,
                  .month = 4,
                  .daily_reset = at("2025-11-09T00:00:00Z"),
                  .monthly_reset = at("2025-12-01T00:00:00Z")});
  CHECK(q.tokens_today == 100);
  CHECK(q.tokens_this_month == 150);
  check_day(f, u, date("2025-11-07"), 2);
  check_day(f, u, date("2025-11-08"), 2);
  f.check_month_to_date(u, date("2025-11-08"));
  f.check_audit(u, {date("2025-11-07"), date("2025-11-08")});
}

TEST_CASE("time: a clock stepped back within a day keeps counting that day") {
  service_fixture f({}, "2025-11-07T12:00:00Z");
  f.set_limits("free", 3, 100, std::nullopt);
  const auto u = f.add_user("utc");

  check_allowed(f.consume(u), date("2025-11-07"));
  f.set_time("2025-11-07T11:00:00Z");
  check_allowed(f.consume(u), date("2025-11-07"));
  f.set_time("2025-11-07T00:00:00Z");  // the day's first instant
  check_allowed(f.consume(u), date("2025-11-07"));
  check_denied(f.consume(u), limit_kind::daily, at("2025-11-08T00:00:00Z"), 24h);
  check_quota(f.quota(u), {.day = date("2025-11-07"),
                           .today = 3,
                           .month = 3,
                           .daily_reset = at("2025-11-08T00:00:00Z"),
                           .monthly_reset = at("2025-12-01T00:00:00Z")});

  f.set_time("2025-11-08T00:00:00Z");
  check_allowed(f.consume(u), date("2025-11-08"));
  check_day(f, u, date("2025-11-06"), 0);
  check_day(f, u, date("2025-11-07"), 3);
  check_day(f, u, date("2025-11-08"), 1);
  f.check_month_to_date(u, date("2025-11-08"));
  f.check_audit(u, {date("2025-11-06"), date("2025-11-07"), date("2025-11-08")});
}

TEST_CASE("time: a clock stepped back across a month boundary counts into the previous month only") {
  service_fixture f({}, "2025-11-30T23:50:00Z");
  const auto u = f.add_user("utc", "pro");

  check_allowed(f.consume(u, 10), date("2025-11-30"));
  f.set_time("2025-12-01T00:02:00Z");
  check_allowed(f.consume(u, 20), date("2025-12-01"));

  f.set_time("2025-11-30T23:57:00Z");
  check_allowed(f.consume(u, 40), date("2025-11-30"));
  auto q = f.quota(u);
  check_quota(q, {.day = date("2025-11-30"),
                  .today = 2,
                  .month = 2,
                  .daily_reset = at("2025-12-01T00:00:00Z"),
                  .monthly_reset = at("2025-12-01T00:00:00Z")});
  CHECK(q.tokens_this_month == 50);

  f.set_time("2025-12-01T00:03:00Z");
  q = f.quota(u);
  check_quota(q, {.day = date("2025-12-01"),
                  .today = 1,
                  .month = 1,
                  .daily_reset = at("2025-12-02T00:00:00Z"),
                  .monthly_reset = at("2026-01-01T00:00:00Z")});
  CHECK(q.tokens_this_month == 20);
  check_allowed(f.consume(u, 80), date("2025-12-01"));
  q = f.quota(u);
  check_quota(q, {.day = date("2025-12-01"),
                  .today = 2,
                  .month = 2,
                  .daily_reset = at("2025-12-02T00:00:00Z"),
                  .monthly_reset = at("2026-01-01T00:00:00Z")});
  CHECK(q.tokens_this_month == 100);

  check_day(f, u, date("2025-11-30"), 2);
  check_day(f, u, date("2025-12-01"), 2);
  f.check_month_to_date(u, date("2025-11-30"));
  f.check_month_to_date(u, date("2025-12-01"));
  f.check_audit(u, {date("2025-11-30"), date("2025-12-01")});
}

TEST_CASE("time: a clock stepped back into a day at its daily limit is denied until that day's midnight") {
  service_fixture f({}, "2025-11-07T23:00:00Z");
  f.set_limits("free", 2, 100, std::nullopt);
  const auto u = f.add_user("utc");

  REQUIRE(f.consume_n(u, 2) == 2);
  f.set_time("2025-11-08T00:02:00Z");
  check_allowed(f.consume(u), date("2025-11-08"));

  f.set_time("2025-11-07T23:57:00Z");
  check_denied(f.consume(u), limit_kind::daily, at("2025-11-08T00:00:00Z"), 3min);
  check_quota(f.quota(u), {.day = date("2025-11-07"),
                           .today = 2,
                           .month = 3,
                           .daily_reset = at("2025-11-08T00:00:00Z"),
                           .monthly_reset = at("2025-12-01T00:00:00Z")});

  f.set_time("2025-11-08T00:03:00Z");
  check_allowed(f.consume(u), date("2025-11-08"));
  check_denied(f.consume(u), limit_kind::daily, at("2025-11-09T00:00:00Z"), 23h + 57min);
  check_quota(f.quota(u), {.day = date("2025-11-08"),
                           .today = 2,
                           .month = 4,
                           .daily_reset = at("2025-11-09T00:00:00Z"),
                           .monthly_reset = at("2025-12-01T00:00:00Z")});

  check_day(f, u, date("2025-11-07"), 2);
  check_day(f, u, date("2025-11-08"), 2);
  f.check_month_to_date(u, date("2025-11-08"));
  f.check_audit(u, {date("2025-11-07"), date("2025-11-08")});
}

TEST_CASE("time: a clock stepped back into a month at its monthly limit is denied until that month ends") {
  service_fixture f({}, "2025-11-30T23:00:00Z");
  f.set_limits("free", std::nullopt, 2, std::nullopt);
  const auto u = f.add_user("utc");

  REQUIRE(f.consume_n(u, 2) == 2);
  f.set_time("2025-12-01T00:02:00Z");
  check_allowed(f.consume(u), date("2025-12-01"));

  f.set_time("2025-11-30T23:57:00Z");
  check_denied(f.consume(u), limit_kind::monthly, at("2025-12-01T00:00:00Z"), 3min);
  check_quota(f.quota(u), {.day = date("2025-11-30"),
                           .today = 2,
                           .month = 2,
                           .daily_reset = at("2025-12-01T00:00:00Z"),
                           .monthly_reset = at("2025-12-01T00:00:00Z")});

  f.set_time("2025-12-01T00:03:00Z");
  check_allowed(f.consume(u), date("2025-12-01"));
  check_denied(f.consume(u), limit_kind::monthly, at("2026-01-01T00:00:00Z"), 30 * 24h + 23h + 57min);
  check_quota(f.quota(u), {.day = date("2025-12-01"),
                           .today = 2,
                           .month = 2,
                           .daily_reset = at("2025-12-02T00:00:00Z"),
                           .monthly_reset = at("2026-01-01T00:00:00Z")});

  check_day(f, u, date("2025-11-30"), 2);
  check_day(f, u, date("2025-12-01"), 2);
  f.check_month_to_date(u, date("2025-11-30"));
  f.check_month_to_date(u, date("2025-12-01"));
  f.check_audit(u, {date("2025-11-30"), date("2025-12-01")});
}

TEST_CASE("time: a clock stepped back across local midnight in Asia/Kolkata counts into the previous local day") {
  service_fixture f(in_zone("Asia/Kolkata"), "2025-11-07T18:32:00Z");  // 00:02 IST on the 8th
  const auto u = f.add_user("kolkata", "pro");

  check_allowed(f.consume(u), date("2025-11-08"));
  f.set_time("2025-11-07T18:27:00Z");  // 23:57 IST on the 7th
  check_allowed(f.consume(u), date("2025-11-07"));
  check_quota(f.quota(u), {.day = date("2025-11-07"),
                           .today = 1,
                           .month = 2,
                           .daily_reset = at("2025-11-07T18:30:00Z"),
                           .monthly_reset = at("2025-11-30T18:30:00Z")});
  f.check_month_to_date(u, date("2025-11-08"));

  f.set_time("2025-11-07T18:33:00Z");  // 00:03 IST on the 8th
  check_allowed(f.consume(u), date("2025-11-08"));
  check_quota(f.quota(u), {.day = date("2025-11-08"),
                           .today = 2,
                           .month = 3,
                           .daily_reset = at("2025-11-08T18:30:00Z"),
                           .monthly_reset = at("2025-11-30T18:30:00Z")});

  check_day(f, u, date("2025-11-07"), 1);
  check_day(f, u, date("2025-11-08"), 2);
  f.check_month_to_date(u, date("2025-11-08"));
  f.check_audit(u, {date("2025-11-07"), date("2025-11-08")});
}

// --- Monthly and token limits across DST changes ---------------------------------------------

TEST_CASE("time: a monthly limit across the spring DST change in Europe/Paris resets at April 1st local midnight") {
  service_fixture f(in_zone("Europe/Paris"), "2025-03-28T12:00:00Z");
  f.set_limits("free", std::nullopt, 3, std::nullopt);
  const auto u = f.add_user("paris");

  REQUIRE(f.consume_n(u, 2) == 2);
  f.set_time("2025-03-30T00:59:59Z");  // 01:59:59 CET
  check_allowed(f.consume(u), date("2025-03-30"));
  check_quota(f.quota(u), {.day = date("2025-03-30"),
                           .today = 1,
                           .month = 3,
                           .daily_reset = at("2025-03-30T22:00:00Z"),
                           .monthly_reset = at("2025-03-31T22:00:00Z")});

  f.set_time("2025-03-30T01:00:00Z");  // 03:00 CEST
  check_denied(f.consume(u), limit_kind::monthly, at("2025-03-31T22:00:00Z"), 45h);
  f.clock->set(just_before(at("2025-03-31T22:00:00Z")));  // 23:59:59.999999 CEST on the 31st
  check_denied(f.consume(u), limit_kind::monthly, at("2025-03-31T22:00:00Z"), 1s);
  check_quota(f.quota(u), {.day = date("2025-03-31"),
                           .today = 0,
                           .month = 3,
                           .daily_reset = at("2025-03-31T22:00:00Z"),
                           .monthly_reset = at("2025-03-31T22:00:00Z")});

  f.advance(1us);  // 00:00 CEST on April 1st
  check_allowed(f.consume(u), date("2025-04-01"));
  check_quota(f.quota(u), {.day = date("2025-04-01"),
                           .today = 1,
                           .month = 1,
                           .daily_reset = at("2025-04-01T22:00:00Z"),
                           .monthly_reset = at("2025-04-30T22:00:00Z")});

  check_day(f, u, date("2025-03-28"), 2);
  check_day(f, u, date("2025-03-30"), 1);
  check_day(f, u, date("2025-03-31"), 0);
  check_day(f, u, date("2025-04-01"), 1);
  f.check_month_to_date(u, date("2025-03-31"));
  f.check_audit(u, {date("2025-03-28"), date("2025-03-30"), date("2025-03-31"), date("2025-04-01")});
}

TEST_CASE(
    "time: a monthly limit across the fall DST change in America/New_York resets at December 1st local midnight") {
  service_fixture f(in_zone("America/New_York"), "2025-11-01T12:00:00Z");  // 08:00 EDT
  f.set_limits("free", std::nullopt, 2, std::nullopt);
  const auto u = f.add_user("new-york");

  REQUIRE(f.consume_n(u, 2) == 2);
  // Reported while still on EDT, the reset is already in EST: 00:00 EST = 05:00Z.
  check_denied(f.consume(u), limit_kind::monthly, at("2025-12-01T05:00:00Z"), 29 * 24h + 17h);
  check_quota(f.quota(u), {.day = date("2025-11-01"),
                           .today = 2,
                           .month = 2,
                           .daily_reset = at("2025-11-02T04:00:00Z"),
                           .monthly_reset = at("2025-12-01T05:00:00Z")});

  f.set_time("2025-11-02T06:30:00Z");  // 01:30 EST, after the change
  check_denied(f.consume(u), limit_kind::monthly, at("2025-12-01T05:00:00Z"), 28 * 24h + 22h + 30min);
  f.clock->set(just_before(at("2025-12-01T05:00:00Z")));  // 23:59:59.999999 EST on Nov 30th
  check_denied(f.consume(u), limit_kind::monthly, at("2025-12-01T05:00:00Z"), 1s);
  check_quota(f.quota(u), {.day = date("2025-11-30"),
                           .today = 0,
                           .month = 2,
                           .daily_reset = at("2025-12-01T05:00:00Z"),
                           .monthly_reset = at("2025-12-01T05:00:00Z")});

  f.advance(1us);
  check_allowed(f.consume(u), date("2025-12-01"));
  check_quota(f.quota(u), {.day = date("2025-12-01"),
                           .today = 1,
                           .month = 1,
                           .daily_reset = at("2025-12-02T05:00:00Z"),
                           .monthly_reset = at("2026-01-01T05:00:00Z")});

  check_day(f, u, date("2025-11-01"), 2);
  check_day(f, u, date("2025-11-02"), 0);
  check_day(f, u, date("2025-12-01"), 1);
  f.check_month_to_date(u, date("2025-11-30"));
  f.check_audit(u, {date("2025-11-01"), date("2025-11-02"), date("2025-11-30"), date("2025-12-01")});
}

TEST_CASE("time: a token denial at the end of a month points at the next month's first instant") {
  service_fixture f({}, "2025-01-31T18:00:00Z");
  f.set_limits("free", std::nullopt, std::nullopt, 100);
  const auto u = f.add_user("tokens");

  check_allowed(f.consume(u, 60), date("2025-01-31"));
  check_denied(f.consume(u, 50), limit_kind::tokens, at("2025-02-01T00:00:00Z"), 6h);

  f.clock->set(just_before(at("2025-02-01T00:00:00Z")));
  check_allowed(f.consume(u, 40), date("2025-01-31"));                                // exactly the limit
  check_denied(f.consume(u, 0), limit_kind::tokens, at("2025-02-01T00:00:00Z"), 1s);  // exhausted
  auto q = f.quota(u);
  CHECK_FALSE(q.can_send_message);
  check_quota(q, {.day = date("2025-01-31"),
                  .today = 2,
                  .month = 2,
                  .daily_reset = at("2025-02-01T00:00:00Z"),
                  .monthly_reset = at("2025-02-01T00:00:00Z")});
  CHECK(q.tokens_this_month == 100);

  f.advance(1us);
  check_allowed(f.consume(u, 100), date("2025-02-01"));
  q = f.quota(u);
  check_quota(q, {.day = date("2025-02-01"),
                  .today = 1,
                  .month = 1,
                  .daily_reset = at("2025-02-02T00:00:00Z"),
                  .monthly_reset = at("2025-03-01T00:00:00Z")});
  CHECK(q.tokens_this_month == 100);

  check_day(f, u, date("2025-01-31"), 2);
  check_day(f, u, date("2025-02-01"), 1);
  f.check_month_to_date(u, date("2025-01-31"));
  f.check_month_to_date(u, date("2025-02-01"));
  f.check_audit(u, {date("2025-01-31"), date("2025-02-01")});
}

TEST_CASE("time: a token denial on the 25-hour America/New_York day points at December 1st local midnight") {
  service_fixture f(in_zone("America/New_York"), "2025-11-02T05:30:00Z");  // 01:30 EDT
  f.set_limits("free", std::nullopt, std::nullopt, 100);
  const auto u = f.add_user("tokens");

  check_allowed(f.consume(u, 80), date("2025-11-02"));
  f.set_time("2025-11-02T06:30:00Z");  // 01:30 EST
  check_denied(f.consume(u, 30), limit_kind::tokens, at("2025-12-01T05:00:00Z"), 28 * 24h + 22h + 30min);
  CHECK(f.quota(u).can_send_message);  // only that estimate did not fit; a smaller request still does
  check_allowed(f.consume(u, 20), date("2025-11-02"));
  auto q = f.quota(u);
  check_quota(q, {.day = date("2025-11-02"),
                  .today = 2,
                  .month = 2,
                  .daily_reset = at("2025-11-03T05:00:00Z"),
                  .monthly_reset = at("2025-12-01T05:00:00Z")});
  CHECK(q.tokens_today == 100);
  CHECK(q.tokens_this_month == 100);

  f.clock->set(just_before(at("2025-12-01T05:00:00Z")));
  check_denied(f.consume(u, 1), limit_kind::tokens, at("2025-12-01T05:00:00Z"), 1s);
  f.advance(1us);
  check_allowed(f.consume(u, 1), date("2025-12-01"));
  q = f.quota(u);
  check_quota(q, {.day = date("2025-12-01"),
                  .today = 1,
                  .month = 1,
                  .daily_reset = at("2025-12-02T05:00:00Z"),
                  .monthly_reset = at("2026-01-01T05:00:00Z")});
  CHECK(q.tokens_this_month == 1);

  check_day(f, u, date("2025-11-02"), 2);
  check_day(f, u, date("2025-11-30"), 0);
  check_day(f, u, date("2025-12-01"), 1);
  f.check_month_to_date(u, date("2025-11-02"));
  f.check_audit(u, {date("2025-11-02"), date("2025-11-30"), date("2025-12-01")});
}
