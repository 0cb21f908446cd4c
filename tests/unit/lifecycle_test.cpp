// The subscription lifecycle rules: due transitions, every lifecycle kind
// and its refusals, payment effects, and calendar months in a zone.
#include "core/lifecycle.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace kauri_quota::detail {

using std::chrono::days;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::sys_days;

namespace {

zone zone_of(const char* name) {
  auto z = zone::locate(name);
  REQUIRE_MESSAGE(z.has_value(), name);
  return z.value();
}

sys_time utc(local_date d, int h = 0, int m = 0) { return sys_time{sys_days{d}} + hours{h} + minutes{m}; }

tier make_tier(const char* id, std::int32_t order, std::int64_t price, std::int64_t per_day) {
  tier t;
  t.id = tier_id{id};
  t.name = id;
  t.display_order = order;
  t.price_fcfa = price;
  t.messages_per_day = per_day;
  return t;
}

const std::vector<tier>& all_tiers() {
  static const std::vector<tier> tiers{make_tier("free", 0, 0, 5), make_tier("basic", 1, 1000, 50),
                                       make_tier("pro", 2, 5000, 100)};
  return tiers;
}

const sys_time t0 = utc(2025y / std::chrono::March / 10d, 12);

subscription free_user() {
  subscription s;
  s.user = user_id{"u"};
  s.tier = tier_id{"free"};
  s.status = subscription_status::active;
  s.start_date = t0 - days{30};
  return s;
}

/// A user on `tier` paid until `end`.
subscription paid(const char* tier_name, sys_time end) {
  subscription s = free_user();
  s.tier = tier_id{tier_name};
  s.end_date = end;
  return s;
}

lifecycle_request request(lifecycle_kind kind, sys_time now = t0) {
  lifecycle_request r;
  r.kind = kind;
  r.user = user_id{"u"};
  r.now = now;
  r.day = local_date{std::chrono::floor<days>(now)};
  r.grace_period = days{3};
  return r;
}

payment pay_of(const char* tier_name, int months, std::int64_t amount, const char* key = "tx-1") {
  payment p;
  p.provider = "cinetpay";
  p.transaction_id = key;
  p.user = user_id{"u"};
  p.tier = tier_id{tier_name};
  p.months = months;
  p.amount = amount;
  p.currency = "XOF";
  return p;
}

lifecycle_plan plan(const lifecycle_request& r, const subscription& s, const std::optional<payment>& existing = {}) {
  auto p = plan_lifecycle(r, s, all_tiers(), existing);
  REQUIRE_MESSAGE(p.has_value(), (p.has_value() ? "" : p.error().message));
  return std::move(p).value();
}

errc refusal(const lifecycle_request& r, const subscription& s, const std::optional<payment>& existing = {}) {
  auto p = plan_lifecycle(r, s, all_tiers(), existing);
  REQUIRE_FALSE(p.has_value());
  return static_cast<errc>(p.error().code.value());
}

std::vector<std::string> event_types(const lifecycle_plan& p) {
  std::vector<std::string> out;
  for (const auto& e : p.events) out.push_back(e.event_type);
  return out;
}

}  // namespace

TEST_CASE("add_months keeps the day of the month, or takes the last day of a shorter month") {
  const zone z = zone_of("UTC");
  const sys_time jan31 = utc(2025y / std::chrono::January / 31d, 10, 30);
  CHECK(add_months(jan31, 1, z) == utc(2025y / std::chrono::February / 28d, 10, 30));
  CHECK(add_months(jan31, 2, z) == utc(2025y / std::chrono::March / 31d, 10, 30));
  CHECK(add_months(jan31, 3, z) == utc(2025y / std::chrono::April / 30d, 10, 30));
  CHECK(add_months(utc(2024y / std::chrono::January / 31d), 1, z) == utc(2024y / std::chrono::February / 29d));
  CHECK(add_months(utc(2024y / std::chrono::February / 29d), 12, z) == utc(2025y / std::chrono::February / 28d));
  CHECK(add_months(utc(2025y / std::chrono::November / 30d), 3, z) == utc(2026y / std::chrono::February / 28d));
  CHECK(add_months(utc(2025y / std::chrono::December / 15d), 1, z) == utc(2026y / std::chrono::January / 15d));
}

TEST_CASE("add_months counts in the zone's calendar, not UTC's") {
  // 31 January 23:30 in Douala (UTC+1) is 22:30 UTC: still the 31st there.
  const zone douala = zone_of("Africa/Douala");
  CHECK(add_months(utc(2025y / std::chrono::January / 31d, 22, 30), 1, douala) ==
        utc(2025y / std::chrono::February / 28d, 22, 30));
  // 1 February 00:30 in Douala is 31 January 23:30 UTC: the 1st there.
  CHECK(add_months(utc(2025y / std::chrono::January / 31d, 23, 30), 1, douala) ==
        utc(2025y / std::chrono::February / 28d, 23, 30));
}

TEST_CASE("add_months keeps the local time across a DST change") {
  const zone paris = zone_of("Europe/Paris");
  // 10:00 in Paris in February (UTC+1) -> 10:00 in April (UTC+2).
  CHECK(add_months(utc(2025y / std::chrono::February / 15d, 9), 2, paris) == utc(2025y / std::chrono::April / 15d, 8));
  const zone ny = zone_of("America/New_York");
  // 09:00 in New York in October (UTC-4) -> 09:00 in December (UTC-5).
  CHECK(add_months(utc(2025y / std::chrono::October / 5d, 13), 2, ny) == utc(2025y / std::chrono::December / 5d, 14));
}

TEST_CASE("add_months moves a local time in a DST gap forward by the gap and takes the earlier of two") {
  const zone paris = zone_of("Europe/Paris");
  // 30 March 2025 02:00-03:00 does not exist in Paris: 02:30 on 30 January
  // (01:30 UTC) plus two months is 03:30 CEST, 01:30 UTC.
  CHECK(add_months(utc(2025y / std::chrono::January / 30d, 1, 30), 2, paris) ==
        utc(2025y / std::chrono::March / 30d, 1, 30));
  // 26 October 2025 02:30 happens twice in Paris: the first (CEST) is 00:30 UTC.
  CHECK(add_months(utc(2025y / std::chrono::September / 26d, 0, 30), 1, paris) ==
        utc(2025y / std::chrono::October / 26d, 0, 30));
  const zone ny = zone_of("America/New_York");
  // 9 March 2025 02:30 does not exist in New York: 03:30 EDT = 07:30 UTC.
  CHECK(add_months(utc(2025y / std::chrono::February / 9d, 7, 30), 1, ny) ==
        utc(2025y / std::chrono::March / 9d, 7, 30));
  // 2 November 2025 01:30 happens twice: the first (EDT) is 05:30 UTC.
  CHECK(add_months(utc(2025y / std::chrono::October / 2d, 5, 30), 1, ny) ==
        utc(2025y / std::chrono::November / 2d, 5, 30));
}

TEST_CASE("transition_due: a trial at its end, a paid period at its end, past_due at the grace period's end") {
  const auto grace = std::chrono::seconds{days{3}};
  subscription trial = free_user();
  trial.tier = tier_id{"pro"};
  trial.status = subscription_status::trialing;
  trial.trial_end_date = t0;
  CHECK_FALSE(transition_due(trial, t0 - 1us, grace));
  CHECK(transition_due(trial, t0, grace));

  subscription s = paid("pro", t0);
  CHECK_FALSE(transition_due(s, t0 - 1us, grace));
  CHECK(transition_due(s, t0, grace));
  s.status = subscription_status::past_due;
  CHECK_FALSE(transition_due(s, t0 + days{3} - 1us, grace));
  CHECK(transition_due(s, t0 + days{3}, grace));
  s.scheduled_tier = tier_id{"basic"};
  CHECK(transition_due(s, t0, grace));

  CHECK_FALSE(transition_due(free_user(), t0, grace));
  subscription expired = paid("pro", t0 - days{10});
  expired.status = subscription_status::expired;
  CHECK_FALSE(transition_due(expired, t0, grace));
}

TEST_CASE("apply_due: active past its end becomes past_due, then expired, one audited step each") {
  const subscription s = paid("pro", t0);
  const auto nothing = plan(request(lifecycle_kind::apply_due, t0 - 1us), s);
  CHECK_FALSE(nothing.write_subscription);
  CHECK(nothing.events.empty());
  CHECK(nothing.outcome.transitions == 0);

  const auto grace = plan(request(lifecycle_kind::apply_due, t0 + days{1}), s);
  CHECK(grace.write_subscription);
  CHECK(grace.after.status == subscription_status::past_due);
  CHECK(grace.after.tier == tier_id{"pro"});
  REQUIRE(event_types(grace) == std::vector<std::string>{"subscription_past_due"});
  CHECK(grace.events[0].quota_tier == "pro");
  CHECK(grace.events[0].messages_count == 0);

  const auto late = plan(request(lifecycle_kind::apply_due, t0 + days{3}), s);
  CHECK(late.after.status == subscription_status::expired);
  CHECK(late.after.tier == tier_id{"pro"});
  CHECK(late.outcome.transitions == 1);
  REQUIRE(event_types(late) == std::vector<std::string>{"subscription_expired"});
  CHECK(late.events[0].quota_tier == "free");

  const auto again = plan(request(lifecycle_kind::apply_due, t0 + days{5}), late.after);
  CHECK_FALSE(again.write_subscription);
  CHECK(again.events.empty());
}

TEST_CASE("apply_due writes the transitions in order: trial end, then nothing more for the default tier") {
  subscription s = free_user();
  s.tier = tier_id{"pro"};
  s.status = subscription_status::trialing;
  s.start_date = t0 - days{7};
  s.trial_end_date = t0;
  const auto p = plan(request(lifecycle_kind::apply_due, t0 + hours{1}), s);
  CHECK(p.after.tier == tier_id{"free"});
  CHECK(p.after.status == subscription_status::active);
  CHECK(p.after.start_date == t0);
  CHECK(p.after.trial_end_date == t0);
  CHECK_FALSE(p.after.end_date.has_value());
  CHECK(event_types(p) == std::vector<std::string>{"trial_ended"});
  REQUIRE(p.events[0].event_metadata.has_value());
  CHECK(p.events[0].event_metadata->find("\"tier\":\"pro\"") != std::string::npos);
}

TEST_CASE("apply_due applies a scheduled change at the end and then its own period's transitions") {
  subscription s = paid("pro", t0);
  s.scheduled_tier = tier_id{"basic"};
  s.scheduled_end_date = t0 + days{31};
  const auto at_end = plan(request(lifecycle_kind::apply_due, t0), s);
  CHECK(at_end.after.tier == tier_id{"basic"});
  CHECK(at_end.after.status == subscription_status::active);
  CHECK(at_end.after.start_date == t0);
  CHECK(at_end.after.end_date == t0 + days{31});
  CHECK_FALSE(at_end.after.scheduled_tier.has_value());
  CHECK(event_types(at_end) == std::vector<std::string>{"scheduled_change_applied"});

  // Within the second period's grace: the change, then past_due.
  const auto grace = plan(request(lifecycle_kind::apply_due, t0 + days{32}), s);
  CHECK(event_types(grace) == std::vector<std::string>{"scheduled_change_applied", "subscription_past_due"});
  CHECK(grace.outcome.transitions == 2);
  // Past its grace too: the change, then expired at once (no past_due).
  const auto later = plan(request(lifecycle_kind::apply_due, t0 + days{40}), s);
  CHECK(event_types(later) == std::vector<std::string>{"scheduled_change_applied", "subscription_expired"});
  CHECK(later.after.status == subscription_status::expired);
  CHECK(later.outcome.transitions == 2);
}

TEST_CASE("a cancellation applies at the end: default tier, status canceled") {
  subscription s = paid("pro", t0);
  s.cancel_at_period_end = true;
  s.scheduled_tier = tier_id{"free"};
  const auto p = plan(request(lifecycle_kind::apply_due, t0 + 1us), s);
  CHECK(p.after.tier == tier_id{"free"});
  CHECK(p.after.status == subscription_status::canceled);
  CHECK_FALSE(p.after.cancel_at_period_end);
  CHECK_FALSE(p.after.end_date.has_value());
  CHECK(event_types(p) == std::vector<std::string>{"subscription_canceled"});
}

TEST_CASE("start_trial: once per user, not during a paid period, not of the default tier, 1 hour to 90 days") {
  auto r = request(lifecycle_kind::start_trial);
  r.tier = tier_id{"pro"};
  r.trial_length = days{14};
  const auto p = plan(r, free_user());
  CHECK(p.after.status == subscription_status::trialing);
  CHECK(p.after.tier == tier_id{"pro"});
  CHECK(p.after.trial_end_date == t0 + days{14});
  CHECK(p.after.start_date == t0);
  CHECK(event_types(p) == std::vector<std::string>{"trial_started"});

  CHECK(refusal(r, p.after) == errc::subscription_conflict);
  subscription used = free_user();
  used.trial_end_date = t0 - days{100};
  CHECK(refusal(r, used) == errc::subscription_conflict);
  CHECK(refusal(r, paid("basic", t0 + days{1})) == errc::subscription_conflict);

  auto bad = r;
  bad.tier = tier_id{"free"};
  CHECK(refusal(bad, free_user()) == errc::invalid_argument);
  bad = r;
  bad.tier = tier_id{"gold"};
  CHECK(refusal(bad, free_user()) == errc::unknown_tier);
  bad = r;
  bad.trial_length = minutes{59};
  CHECK(refusal(bad, free_user()) == errc::invalid_argument);
  bad.trial_length = days{91};
  CHECK(refusal(bad, free_user()) == errc::invalid_argument);
}

TEST_CASE("open_payment records a pending order at the tier's price; the same order again returns it") {
  auto r = request(lifecycle_kind::open_payment);
  r.pay = pay_of("pro", 2, 0);
  const auto p = plan(r, free_user());
  REQUIRE(p.write_payment.has_value());
  CHECK(p.write_payment->status == payment_status::pending);
  CHECK(p.write_payment->amount == 10000);
  CHECK(p.write_payment->currency == "XOF");
  CHECK(event_types(p) == std::vector<std::string>{"payment_pending"});
  CHECK_FALSE(p.write_subscription);

  const auto again = plan(r, free_user(), p.write_payment);
  CHECK_FALSE(again.write_payment.has_value());
  CHECK(again.events.empty());
  CHECK(again.outcome.pay == p.write_payment);

  auto other = r;
  other.pay.months = 3;
  CHECK(refusal(other, free_user(), p.write_payment) == errc::invalid_argument);
  other = r;
  other.pay.tier = tier_id{"free"};
  CHECK(refusal(other, free_user()) == errc::invalid_argument);
}

TEST_CASE("apply_payment refuses a wrong amount or currency and names the numbers") {
  auto r = request(lifecycle_kind::apply_payment);
  r.pay = pay_of("pro", 2, 9999);
  auto wrong = plan_lifecycle(r, free_user(), all_tiers(), std::nullopt);
  REQUIRE_FALSE(wrong.has_value());
  CHECK(wrong.error().code == make_error_code(errc::invalid_argument));
  CHECK(wrong.error().message.find("9999") != std::string::npos);
  CHECK(wrong.error().message.find("10000") != std::string::npos);
  r.pay = pay_of("pro", 1, 5000);
  r.pay.currency = "XAF";
  CHECK(refusal(r, free_user()) == errc::invalid_argument);
  r.pay = pay_of("gold", 1, 5000);
  CHECK(refusal(r, free_user()) == errc::unknown_tier);
}

TEST_CASE("apply_payment for the current tier extends from the end, or from now once lapsed") {
  auto r = request(lifecycle_kind::apply_payment);
  r.pay = pay_of("pro", 1, 5000);
  const sys_time end = utc(2025y / std::chrono::March / 31d, 8);
  const auto before_end = plan(r, paid("pro", end));
  CHECK(before_end.write_payment->effect == payment_effect::extended);
  CHECK(before_end.after.end_date == utc(2025y / std::chrono::April / 30d, 8));
  CHECK(before_end.write_payment->period_start == end);
  CHECK(before_end.write_payment->period_end == before_end.after.end_date);
  CHECK(before_end.write_payment->status == payment_status::applied);
  CHECK(event_types(before_end) == std::vector<std::string>{"payment_applied"});

  // In grace: past_due first, then extended from now.
  auto late = r;
  late.now = end + days{1};
  const auto in_grace = plan(late, paid("pro", end));
  CHECK(event_types(in_grace) == std::vector<std::string>{"subscription_past_due", "payment_applied"});
  CHECK(in_grace.write_payment->effect == payment_effect::extended);
  CHECK(in_grace.after.status == subscription_status::active);
  CHECK(in_grace.after.end_date == utc(2025y / std::chrono::May / 1d, 8));

  // Expired: a new period from now.
  late.now = end + days{10};
  const auto expired = plan(late, paid("pro", end));
  CHECK(expired.write_payment->effect == payment_effect::started);
  CHECK(expired.after.start_date == late.now);
  CHECK(expired.after.end_date == utc(2025y / std::chrono::May / 10d, 8));
}

TEST_CASE("a renewal clears a cancellation and moves a paid schedule by the same amount") {
  auto r = request(lifecycle_kind::apply_payment);
  r.pay = pay_of("pro", 1, 5000);
  const sys_time end = utc(2025y / std::chrono::March / 31d);
  subscription canceled = paid("pro", end);
  canceled.cancel_at_period_end = true;
  canceled.scheduled_tier = tier_id{"free"};
  const auto p = plan(r, canceled);
  CHECK_FALSE(p.after.cancel_at_period_end);
  CHECK_FALSE(p.after.scheduled_tier.has_value());

  subscription sched = paid("pro", end);
  sched.scheduled_tier = tier_id{"basic"};
  sched.scheduled_end_date = end + days{30};
  const auto moved = plan(r, sched);
  CHECK(moved.after.scheduled_tier == tier_id{"basic"});
  CHECK(moved.after.scheduled_end_date == end + days{30} + (*moved.after.end_date - end));
}

TEST_CASE("a higher tier starts at once; a lower one is scheduled at the end of the paid period") {
  auto r = request(lifecycle_kind::apply_payment);
  r.pay = pay_of("pro", 1, 5000);
  r.usage = usage_policy::reset;
  const sys_time end = t0 + days{10};
  const auto up = plan(r, paid("basic", end));
  CHECK(up.write_payment->effect == payment_effect::started);
  CHECK(up.after.tier == tier_id{"pro"});
  CHECK(up.after.start_date == t0);
  CHECK(up.after.end_date == utc(2025y / std::chrono::April / 10d, 12));
  CHECK(up.reset_usage);
  CHECK(event_types(up) == std::vector<std::string>{"payment_applied", "subscription_changed"});

  r.pay = pay_of("basic", 2, 2000);
  const auto down = plan(r, paid("pro", end));
  CHECK(down.write_payment->effect == payment_effect::scheduled);
  CHECK_FALSE(down.reset_usage);
  CHECK(down.after.tier == tier_id{"pro"});
  CHECK(down.after.end_date == end);
  CHECK(down.after.scheduled_tier == tier_id{"basic"});
  CHECK(down.after.scheduled_end_date == utc(2025y / std::chrono::May / 20d, 12));
  CHECK(down.write_payment->period_start == end);
  // A second lower payment extends the paid schedule: no month is lost.
  r.pay = pay_of("basic", 1, 1000, "tx-2");
  const auto again = plan(r, down.after);
  CHECK(again.after.scheduled_end_date == utc(2025y / std::chrono::June / 20d, 12));

  // A free user's payment starts its period.
  r.pay = pay_of("basic", 1, 1000);
  const auto from_free = plan(r, free_user());
  CHECK(from_free.write_payment->effect == payment_effect::started);
  CHECK(from_free.after.tier == tier_id{"basic"});
}

TEST_CASE("apply_payment replays a final payment and checks a pending order") {
  auto r = request(lifecycle_kind::apply_payment);
  r.pay = pay_of("pro", 1, 5000);
  const auto first = plan(r, free_user());
  const auto replay = plan(r, first.after, first.write_payment);
  CHECK(replay.outcome.replayed);
  CHECK_FALSE(replay.write_subscription);
  CHECK_FALSE(replay.write_payment.has_value());
  CHECK(replay.events.empty());
  CHECK(replay.outcome.pay == first.write_payment);

  payment pending = pay_of("pro", 1, 5000);
  pending.status = payment_status::pending;
  pending.created_at = t0 - hours{1};
  const auto applied = plan(r, free_user(), pending);
  CHECK(applied.write_payment->status == payment_status::applied);
  CHECK(applied.write_payment->created_at == t0 - hours{1});
  pending.months = 2;
  pending.amount = 10000;
  CHECK(refusal(r, free_user(), pending) == errc::invalid_argument);
}

TEST_CASE("fail_payment fails a pending payment, replays a failed one, refuses an applied one") {
  auto r = request(lifecycle_kind::fail_payment);
  r.pay.provider = "cinetpay";
  r.pay.transaction_id = "tx-1";
  r.reason = "refused by the bank";
  CHECK(refusal(r, free_user()) == errc::payment_not_found);
  payment pending = pay_of("pro", 1, 5000);
  const auto p = plan(r, free_user(), pending);
  CHECK(p.write_payment->status == payment_status::failed);
  CHECK(p.write_payment->failure_reason == "refused by the bank");
  CHECK(event_types(p) == std::vector<std::string>{"payment_failed"});
  const auto again = plan(r, free_user(), p.write_payment);
  CHECK(again.outcome.replayed);
  CHECK_FALSE(again.write_payment.has_value());
  payment applied = pending;
  applied.status = payment_status::applied;
  CHECK(refusal(r, free_user(), applied) == errc::subscription_conflict);
}

TEST_CASE("cancel and schedule need a paid period; undo drops what is not paid for") {
  const subscription s = paid("pro", t0 + days{10});
  const auto cancel = plan(request(lifecycle_kind::cancel), s);
  CHECK(cancel.after.cancel_at_period_end);
  CHECK(cancel.after.scheduled_tier == tier_id{"free"});
  CHECK(event_types(cancel) == std::vector<std::string>{"cancellation_scheduled"});
  const auto repeat = plan(request(lifecycle_kind::cancel), cancel.after);
  CHECK(repeat.outcome.unchanged);
  CHECK_FALSE(repeat.write_subscription);
  CHECK(refusal(request(lifecycle_kind::cancel), free_user()) == errc::subscription_conflict);

  auto sched = request(lifecycle_kind::schedule);
  sched.tier = tier_id{"basic"};
  const auto scheduled = plan(sched, cancel.after);
  CHECK(scheduled.after.scheduled_tier == tier_id{"basic"});
  CHECK_FALSE(scheduled.after.cancel_at_period_end);
  CHECK(event_types(scheduled) == std::vector<std::string>{"change_scheduled"});
  CHECK(refusal(sched, free_user()) == errc::subscription_conflict);
  sched.tier = tier_id{"pro"};
  CHECK(refusal(sched, s) == errc::invalid_argument);
  sched.tier = tier_id{"gold"};
  CHECK(refusal(sched, s) == errc::unknown_tier);

  const auto undone = plan(request(lifecycle_kind::undo), scheduled.after);
  CHECK_FALSE(undone.after.scheduled_tier.has_value());
  CHECK(event_types(undone) == std::vector<std::string>{"scheduled_change_undone"});
  CHECK(refusal(request(lifecycle_kind::undo), s) == errc::subscription_conflict);
  subscription paid_schedule = s;
  paid_schedule.scheduled_tier = tier_id{"basic"};
  paid_schedule.scheduled_end_date = t0 + days{40};
  CHECK(refusal(request(lifecycle_kind::undo), paid_schedule) == errc::subscription_conflict);
}

TEST_CASE("upgrade moves at once with no end date, keeps the trial, and is unchanged on the same tier") {
  subscription s = paid("basic", t0 + days{10});
  s.trial_end_date = t0 - days{50};
  s.scheduled_tier = tier_id{"free"};
  s.cancel_at_period_end = true;
  auto r = request(lifecycle_kind::upgrade);
  r.tier = tier_id{"pro"};
  const auto p = plan(r, s);
  CHECK(p.after.tier == tier_id{"pro"});
  CHECK_FALSE(p.after.end_date.has_value());
  CHECK(p.after.trial_end_date == s.trial_end_date);
  CHECK_FALSE(p.after.cancel_at_period_end);
  CHECK_FALSE(p.reset_usage);
  CHECK(event_types(p) == std::vector<std::string>{"subscription_changed"});
  const auto same = plan(r, p.after);
  CHECK(same.outcome.unchanged);
  CHECK_FALSE(same.write_subscription);
  r.usage = usage_policy::reset;
  CHECK(plan(r, s).reset_usage);
}

TEST_CASE("set_time_zone sets and clears the zone; the plan's day is the user's own") {
  auto r = request(lifecycle_kind::set_time_zone, utc(2025y / std::chrono::March / 10d, 23, 30));
  r.time_zone = "Europe/Paris";
  const auto p = plan(r, free_user());
  CHECK(p.after.time_zone == "Europe/Paris");
  CHECK(p.user_day == 2025y / std::chrono::March / 11d);
  CHECK(p.events.at(0).usage_date == 2025y / std::chrono::March / 11d);
  CHECK(event_types(p) == std::vector<std::string>{"time_zone_changed"});
  r.time_zone.reset();
  const auto cleared = plan(r, p.after);
  CHECK_FALSE(cleared.after.time_zone.has_value());
  CHECK(cleared.user_day == 2025y / std::chrono::March / 10d);
}

TEST_CASE("every event carries the request's address and agent") {
  auto r = request(lifecycle_kind::cancel);
  r.ctx.ip = "203.0.113.9";
  r.ctx.user_agent = "support-desk";
  const auto p = plan(r, paid("pro", t0 + days{1}));
  REQUIRE(p.events.size() == 1);
  CHECK(p.events[0].request_ip == "203.0.113.9");
  CHECK(p.events[0].user_agent == "support-desk");
  CHECK(p.events[0].event_timestamp == t0);
}

TEST_CASE("default_tier_applies only to canceled and expired subscriptions") {
  subscription s;
  for (const auto st : {subscription_status::active, subscription_status::trialing, subscription_status::past_due}) {
    s.status = st;
    CHECK_FALSE(default_tier_applies(s));
  }
  for (const auto st : {subscription_status::canceled, subscription_status::expired}) {
    s.status = st;
    CHECK(default_tier_applies(s));
  }
}

}  // namespace kauri_quota::detail
