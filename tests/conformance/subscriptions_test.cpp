// Subscriptions: upgrades and downgrades keep the period's usage, and a
// lapsed subscription (canceled, expired, past its end date, trial over)
// falls back to the default tier's limits.
#include "support/fixtures.hpp"

using namespace kauri_quota;
using namespace kauri_quota::testing;
using namespace std::chrono_literals;

namespace {

/// Sets a user's subscription directly through the storage.
subscription change_subscription(service_fixture& f, const user_id& u, std::string_view tier,
                                 std::optional<subscription_status> status, std::optional<sys_time> end_date = {},
                                 std::optional<sys_time> trial_end = {}) {
  subscription_change c;
  c.user = u;
  c.tier = tier_id{std::string(tier)};
  c.status = status;
  c.end_date = end_date;
  c.trial_end_date = trial_end;
  c.now = f.now();
  return must(f.store().set_subscription(c));
}

}  // namespace

TEST_CASE("upgrading mid-day keeps the day's usage and lifts the limit at once") {
  service_fixture f;
  const auto u = f.add_user("alice");
  REQUIRE(f.consume_n(u, 5) == 5);
  REQUIRE_FALSE(f.consume(u).allowed);

  const auto up = must(f.svc.upgrade_subscription(u, tier_id{"pro"}));
  CHECK(up.success);
  CHECK_FALSE(up.message.empty());
  CHECK(up.sub.tier == tier_id{"pro"});
  CHECK(up.sub.status == subscription_status::active);
  CHECK(must(f.svc.get_subscription(u)).tier == tier_id{"pro"});

  auto q = f.quota(u);
  CHECK(q.subscription_tier == tier_id{"pro"});
  CHECK(q.messages_today == 5);
  CHECK(q.messages_this_month == 5);
  CHECK(q.messages_per_day_limit == limit{100});
  CHECK(q.messages_remaining_today == limit{95});
  CHECK(q.can_send_message);

  const auto d = f.consume(u);
  CHECK(d.allowed);
  CHECK(d.quota.messages_today == 6);
  CHECK(f.count_events(u, "subscription_changed") == 1);
  f.check_audit(u);
}

TEST_CASE("downgrading mid-day keeps the day's usage, so a pro user with 10 messages is refused on free") {
  service_fixture f;
  const auto u = f.add_user("alice", "pro");
  REQUIRE(f.consume_n(u, 10) == 10);

  const auto down = must(f.svc.upgrade_subscription(u, tier_id{"free"}));
  CHECK(down.success);
  CHECK(down.sub.tier == tier_id{"free"});

  const auto q = f.quota(u);
  CHECK(q.subscription_tier == tier_id{"free"});
  CHECK(q.messages_today == 10);
  CHECK(q.messages_this_month == 10);
  CHECK(q.messages_remaining_today == limit{0});
  CHECK_FALSE(q.can_send_message);
  CHECK(q.is_quota_exceeded);

  const auto d = f.consume(u);
  CHECK_FALSE(d.allowed);
  CHECK(d.denied_by == limit_kind::daily);
  CHECK(f.quota(u).messages_today == 10);
  f.check_audit(u);
}

TEST_CASE("upgrading to the tier the user is already on is not a success and changes nothing") {
  service_fixture f;
  const auto u = f.add_user("alice", "pro");
  const auto before = must(f.svc.get_subscription(u));
  const auto events_before = f.events(u).size();
  const auto same = must(f.svc.upgrade_subscription(u, tier_id{"pro"}));
  CHECK_FALSE(same.success);
  CHECK_FALSE(same.message.empty());
  CHECK(must(f.svc.get_subscription(u)) == before);
  CHECK(f.count_events(u, "subscription_changed") == 0);
  CHECK(f.events(u).size() == events_before);
  f.check_audit(u);
}

TEST_CASE("upgrading to a tier that does not exist is unknown_tier and changes nothing") {
  service_fixture f;
  const auto u = f.add_user("alice");
  const auto before = must(f.svc.get_subscription(u));
  check_error(f.svc.upgrade_subscription(u, tier_id{"platinum"}), errc::unknown_tier);
  CHECK(must(f.svc.get_subscription(u)) == before);
  f.check_audit(u);
}

TEST_CASE("the upgrade result serialises as success, message and subscription") {
  service_fixture f;
  const auto u = f.add_user("alice");
  const auto up = must(f.svc.upgrade_subscription(u, tier_id{"max"}));
  const auto doc = parse_json(to_json(up));
  CHECK(doc["success"].as_bool());
  CHECK_FALSE(doc["message"].as_string().empty());
}

TEST_CASE("a canceled subscription falls back to the default tier's limits") {
  service_fixture f;
  const auto u = f.add_user("alice", "pro");
  REQUIRE(f.consume_n(u, 10) == 10);
  change_subscription(f, u, "pro", subscription_status::canceled);

  const auto sub = must(f.svc.get_subscription(u));
  CHECK(sub.tier == tier_id{"pro"});
  CHECK(sub.status == subscription_status::canceled);

  const auto q = f.quota(u);
  CHECK(q.subscription_tier == tier_id{"free"});
  CHECK(q.tier_name == "Free");
  CHECK(q.status == subscription_status::canceled);
  CHECK(q.messages_per_day_limit == limit{5});
  CHECK(q.messages_today == 10);
  CHECK_FALSE(q.can_send_message);

  const auto d = f.consume(u);
  CHECK_FALSE(d.allowed);
  CHECK(d.denied_by == limit_kind::daily);
  f.check_audit(u);
}

TEST_CASE("an expired subscription falls back to the default tier's limits") {
  service_fixture f;
  const auto u = f.add_user("alice", "max");
  REQUIRE(f.consume_n(u, 6) == 6);
  change_subscription(f, u, "max", subscription_status::expired);
  const auto q = f.quota(u);
  CHECK(q.subscription_tier == tier_id{"free"});
  CHECK(q.messages_per_day_limit == limit{5});
  CHECK(q.messages_per_month_limit == limit{150});
  CHECK_FALSE(f.consume(u).allowed);
  CHECK(f.quota(u).messages_today == 6);
  f.check_audit(u);
}

TEST_CASE("an active subscription past its end date is past_due with its tier's limits, then expired") {
  // 0.1.0 fell back to the default tier at the end date; the lifecycle
  // keeps the tier through the grace period (3 days by default).
  service_fixture f;
  const auto u = f.add_user("alice");
  const sys_time end = f.now() + 1h;
  change_subscription(f, u, "pro", subscription_status::active, end);
  REQUIRE(f.consume_n(u, 7) == 7);
  CHECK(f.quota(u).subscription_tier == tier_id{"pro"});

  f.advance(2h);
  const auto grace = f.quota(u);
  CHECK(grace.subscription_tier == tier_id{"pro"});
  CHECK(grace.status == subscription_status::past_due);
  CHECK(must(f.svc.get_subscription(u)).status == subscription_status::past_due);
  CHECK(f.consume(u).allowed);

  f.clock->set(end + 72h);
  const auto q = f.quota(u);
  CHECK(q.subscription_tier == tier_id{"free"});
  CHECK(q.status == subscription_status::expired);
  CHECK(q.messages_per_day_limit == limit{5});
  CHECK(f.consume_n(u, 6) == 5);
  CHECK(f.count_events(u, "subscription_past_due") == 1);
  CHECK(f.count_events(u, "subscription_expired") == 1);
  f.check_audit(u);
}

TEST_CASE("a trial past its trial end date falls back to the default tier's limits") {
  service_fixture f;
  const auto u = f.add_user("alice");
  change_subscription(f, u, "pro", subscription_status::trialing, std::nullopt, f.now() + 1h);
  REQUIRE(f.consume_n(u, 6) == 6);
  CHECK(f.quota(u).subscription_tier == tier_id{"pro"});
  f.advance(2h);
  CHECK(f.quota(u).subscription_tier == tier_id{"free"});
  CHECK_FALSE(f.consume(u).allowed);
  // The trial's end is written: the default tier, active, the trial kept.
  const auto sub = must(f.svc.get_subscription(u));
  CHECK(sub.tier == tier_id{"free"});
  CHECK(sub.status == subscription_status::active);
  CHECK(sub.trial_end_date.has_value());
  CHECK(f.count_events(u, "trial_ended") == 1);
  f.check_audit(u);
}

TEST_CASE("set_subscription returns the subscription as it was before the change") {
  service_fixture f;
  const auto u = f.add_user("alice");
  const auto before = change_subscription(f, u, "pro", subscription_status::active);
  CHECK(before.tier == tier_id{"free"});
  const auto again = change_subscription(f, u, "max", subscription_status::past_due);
  CHECK(again.tier == tier_id{"pro"});
  const auto now = must(f.svc.get_subscription(u));
  CHECK(now.tier == tier_id{"max"});
  CHECK(now.status == subscription_status::past_due);
}

TEST_CASE("re-subscribing a canceled user to the same tier reactivates the subscription") {
  service_fixture f;
  const auto u = f.add_user("alice", "pro");
  change_subscription(f, u, "pro", subscription_status::canceled);
  CHECK(f.quota(u).subscription_tier == tier_id{"free"});
  const auto up = must(f.svc.upgrade_subscription(u, tier_id{"pro"}));
  CHECK(up.success);
  CHECK(up.sub.status == subscription_status::active);
  const auto q = f.quota(u);
  CHECK(q.subscription_tier == tier_id{"pro"});
  CHECK(q.status == subscription_status::active);
  f.check_audit(u);
}

TEST_CASE("an active trial keeps its tier's limits until the trial ends") {
  service_fixture f;
  const auto u = f.add_user("alice");
  change_subscription(f, u, "max", subscription_status::trialing, std::nullopt, f.now() + 24h * 14);
  f.advance(24h * 13);
  const auto q = f.quota(u);
  CHECK(q.subscription_tier == tier_id{"max"});
  CHECK(q.status == subscription_status::trialing);
  CHECK(q.messages_per_day_limit == limit{500});
}

TEST_CASE("subscription changes are audited without changing any counter") {
  service_fixture f;
  const auto u = f.add_user("alice");
  REQUIRE(f.consume_n(u, 2, 10) == 2);
  must(f.svc.upgrade_subscription(u, tier_id{"pro"}));
  must(f.svc.upgrade_subscription(u, tier_id{"max"}));
  CHECK(f.count_events(u, "subscription_changed") == 2);
  for (const auto& e : f.events(u)) {
    if (e.event_type == "subscription_changed") {
      CHECK(e.messages_count == 0);
      CHECK(e.tokens_count == 0);
    }
  }
  CHECK(f.quota(u).messages_today == 2);
  f.check_audit(u);
}
