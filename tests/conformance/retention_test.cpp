// Retention (quota_service::prune_usage): whole months of day rows and
// their audit rows go, in short batches; the days that remain keep their
// counters equal to their audit rows, and a refused call changes nothing.
#include "support/fixtures.hpp"

#include <algorithm>
#include <string>
#include <vector>

using namespace kauri_quota;
using namespace kauri_quota::testing;
using namespace std::chrono_literals;

namespace {

/// What a prune before `before` must delete for `users`, counted from the
/// rows as they are: day rows before it, and audit rows of those days (or,
/// without a day, older than `before_start`).
prune_report expected_prune(service_fixture& f, const std::vector<user_id>& users, local_date before,
                            sys_time before_start) {
  prune_report r;
  for (const auto& u : users) {
    const auto days = must(
        f.store().usage_days(u, date("2000-01-01"), local_date{std::chrono::sys_days{before} - std::chrono::days{1}}));
    r.day_rows += static_cast<std::int64_t>(days.size());
    for (const auto& e : f.events(u)) {
      if (e.usage_date ? *e.usage_date < before : e.event_timestamp < before_start) ++r.audit_rows;
    }
  }
  return r;
}

/// Two users with usage in September, October and November 2025; the clock
/// ends on 2025-11-07 12:00 UTC.
struct three_months {
  service_fixture f{service_options{}, "2025-09-10T10:00:00Z"};
  user_id alice = f.add_user("alice", "pro");
  user_id bob;

  three_months() {
    f.consume(alice, 10);
    f.consume(alice, 20);
    f.set_time("2025-09-30T23:30:00Z");
    must(f.svc.increment_usage(alice, 2, 300));
    bob = f.add_user("bob");
    f.consume(bob, 5);
    f.set_time("2025-10-01T00:10:00Z");
    f.consume(alice, 7);
    f.consume(bob, 1);
    f.set_time("2025-10-15T12:00:00Z");
    must(f.svc.increment_usage(alice, 3, 100));
    f.consume(alice, 4);
    f.set_time("2025-11-07T12:00:00Z");
    f.consume(alice, 1);
    f.consume(bob, 2);
  }
};

}  // namespace

TEST_CASE("prune_usage before the first day of the current month keeps that month whole") {
  three_months m;
  auto& f = m.f;
  const auto today_before = f.quota(m.alice);
  const auto got = must(f.svc.prune_usage(date("2025-11-01")));
  CHECK(got.day_rows == 6);
  CHECK(f.quota(m.alice) == today_before);
  f.check_audit(m.alice);
  f.check_audit(m.bob);
}

TEST_CASE("prune_usage deletes the months before `before` and keeps the counters of the days that remain") {
  three_months m;
  auto& f = m.f;
  const auto before = date("2025-10-01");
  const auto expected = expected_prune(f, {m.alice, m.bob}, before, at("2025-10-01T00:00:00Z"));
  REQUIRE(expected.day_rows == 3);  // alice 09-10 and 09-30, bob 09-30
  REQUIRE(expected.audit_rows >= 6);
  const auto today_before = f.quota(m.alice);

  const auto got = must(f.svc.prune_usage(before));
  CHECK(got == expected);

  for (const auto& u : {m.alice, m.bob}) {
    CHECK(must(f.store().usage_days(u, date("2000-01-01"), date("2025-09-30"))).empty());
    for (const auto& e : f.events(u)) {
      CHECK(e.event_timestamp >= at("2025-10-01T00:00:00Z"));
      if (e.usage_date) CHECK(*e.usage_date >= before);
    }
  }
  // The days kept still add up, their month-to-date totals included.
  f.check_audit(m.alice, {date("2025-10-01"), date("2025-10-15")});
  f.check_audit(m.bob, {date("2025-10-01")});
  f.check_month_to_date(m.alice, date("2025-10-15"));
  CHECK(f.usage_on(m.alice, date("2025-10-15")).messages_this_month == 5);
  CHECK(f.usage_on(m.alice, date("2025-10-15")).tokens_this_month == 111);
  CHECK(f.quota(m.alice) == today_before);
}

TEST_CASE("a second prune_usage with the same date deletes nothing") {
  three_months m;
  const auto first = must(m.f.svc.prune_usage(date("2025-10-01")));
  CHECK(first.day_rows > 0);
  CHECK(first.audit_rows > 0);
  CHECK(must(m.f.svc.prune_usage(date("2025-10-01"))) == prune_report{});
  CHECK(must(m.f.svc.prune_usage(date("2025-09-01"))) == prune_report{});
}

TEST_CASE("prune_usage in batches of one row deletes what one large batch deletes") {
  three_months m;
  auto& f = m.f;
  const auto expected = expected_prune(f, {m.alice, m.bob}, date("2025-11-01"), at("2025-11-01T00:00:00Z"));
  REQUIRE(expected.day_rows == 6);
  CHECK(must(f.svc.prune_usage(date("2025-11-01"), 1)) == expected);
  CHECK(must(f.svc.prune_usage(date("2025-11-01"), 1)) == prune_report{});
  f.check_audit(m.alice);
  f.check_audit(m.bob);
  CHECK(f.today_usage(m.alice).messages_this_month == 1);
}

TEST_CASE("prune_usage before an older month keeps the later months whole") {
  three_months m;
  auto& f = m.f;
  CHECK(must(f.svc.prune_usage(date("2025-09-01"), 2)) == prune_report{});
  const auto got = must(f.svc.prune_usage(date("2025-10-01"), 2));
  CHECK(got.day_rows == 3);
  f.check_audit(m.alice, {date("2025-10-01"), date("2025-10-15")});
  f.check_month_to_date(m.alice, date("2025-10-15"));
}

TEST_CASE("prune_usage refuses a date inside a month, in the current month or later, and changes nothing") {
  three_months m;
  auto& f = m.f;
  const auto events_before = f.events(m.alice).size() + f.events(m.bob).size();
  const auto refused = [&](local_date d, std::int64_t batch, std::string_view says) {
    auto r = f.svc.prune_usage(d, batch);
    REQUIRE_FALSE(r);
    CHECK(r.error().is(errc::invalid_argument));
    CHECK_MESSAGE(r.error().message.find(says) != std::string::npos, r.error().message);
  };
  refused(date("2025-10-15"), 5000, "first day of a month");
  refused(date("2025-11-15"), 5000, "first day of a month");
  refused(date("2025-12-01"), 5000, "current month");
  refused(date("2030-01-01"), 5000, "current month");
  refused(local_date{std::chrono::year{2025}, std::chrono::month{2}, std::chrono::day{30}}, 5000, "valid date");
  refused(date("2025-10-01"), 0, "batch_size");
  refused(date("2025-10-01"), 100'001, "batch_size");
  CHECK(f.events(m.alice).size() + f.events(m.bob).size() == events_before);
  CHECK(!must(f.store().usage_days(m.alice, date("2025-09-01"), date("2025-09-30"))).empty());
  f.check_audit(m.alice, {date("2025-09-10"), date("2025-09-30"), date("2025-10-01"), date("2025-10-15")});
}

TEST_CASE("prune_usage waits until no zone down to UTC-12 and no open reservation is still in the month") {
  service_fixture f{service_options{}, "2025-10-31T20:00:00Z"};
  const auto u = f.add_user("alice", "pro");
  f.consume(u, 3);
  f.set_time("2025-11-01T05:00:00Z");
  auto early = f.svc.prune_usage(date("2025-11-01"));
  REQUIRE_FALSE(early);
  CHECK(early.error().is(errc::invalid_argument));
  CHECK_MESSAGE(early.error().message.find("2025-10") != std::string::npos, early.error().message);
  CHECK(must(f.svc.prune_usage(date("2025-10-01"))) == prune_report{});
  // Past twelve hours and the reservation TTL (five minutes by default).
  f.set_time("2025-11-01T12:06:00Z");
  const auto got = must(f.svc.prune_usage(date("2025-11-01")));
  CHECK(got.day_rows == 1);
  CHECK(got.audit_rows >= 2);
  CHECK(f.events(u).empty());
}

TEST_CASE("prune_usage settles a reservation left open on a pruned day before deleting its month") {
  service_fixture f{service_options{}, "2025-09-30T20:00:00Z"};
  const auto u = f.add_user("alice", "pro");
  const auto d = must(f.svc.reserve(u, 40));
  REQUIRE(d.allowed);
  REQUIRE(d.reservation.has_value());
  f.set_time("2025-10-01T12:00:00Z");
  f.consume(u, 3);
  f.set_time("2025-11-07T12:00:00Z");
  const auto got = must(f.svc.prune_usage(date("2025-10-01")));
  CHECK(got.day_rows == 1);
  // Expired first, with its audit row, then deleted with its day.
  CHECK(got.reservations == 1);
  check_error(f.store().get_reservation(*d.reservation), errc::reservation_not_found);
  // Nothing is left to settle into the month that went.
  CHECK(must(f.svc.expire_reservations()) == 0);
  for (const auto& e : f.events(u)) {
    if (e.usage_date) CHECK(*e.usage_date >= date("2025-10-01"));
  }
  f.check_audit(u, {date("2025-10-01")});
}

TEST_CASE("prune_usage deletes the settled reservations of the pruned days and keeps every other") {
  for (const std::int64_t batch : {std::int64_t{1}, std::int64_t{2}, default_prune_batch_size}) {
    INFO("batch_size " << batch);
    service_fixture f{service_options{}, "2025-09-10T10:00:00Z"};
    const auto u = f.add_user("alice", "pro");
    const auto reserve = [&] {
      const auto d = must(f.svc.reserve(u, 40));
      REQUIRE(d.allowed);
      REQUIRE(d.reservation.has_value());
      return *d.reservation;
    };
    // September: one committed, one released, one left open (expired by the prune).
    const auto committed = reserve();
    must(f.svc.commit(committed, 30));
    const auto released = reserve();
    must(f.svc.release(released));
    const auto left_open = reserve();
    // October: one committed; November (the current month): one open.
    f.set_time("2025-10-05T10:00:00Z");
    const auto kept = reserve();
    must(f.svc.commit(kept, 25));
    f.set_time("2025-11-07T12:00:00Z");
    const auto current = reserve();

    const auto got = must(f.svc.prune_usage(date("2025-10-01"), batch));
    CHECK(got.reservations == 3);
    for (const auto& gone : {committed, released, left_open})
      check_error(f.store().get_reservation(gone), errc::reservation_not_found);
    CHECK(must(f.store().get_reservation(kept)).state == reservation_state::committed);
    CHECK(must(f.store().get_reservation(current)).state == reservation_state::open);
    CHECK(must(f.svc.commit(current, 12)).state == reservation_state::committed);
    f.check_audit(u, {date("2025-10-05"), date("2025-11-07")});
    CHECK(must(f.svc.prune_usage(date("2025-10-01"), batch)) == prune_report{});
  }
}
