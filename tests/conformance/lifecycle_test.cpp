// The subscription lifecycle on every backend: trials, grace and expiry at
// their exact instants, scheduled changes and cancellations applied once at
// the boundary, undo, the usage policy of an upgrade, and sweepers racing.
#include "support/fixtures.hpp"
#include "support/temp_dir.hpp"
#include "support/worker_process.hpp"

#include <atomic>
#include <thread>
#include <vector>

using namespace kauri_quota;
using namespace kauri_quota::testing;
using namespace std::chrono_literals;

namespace {

payment pay_of(const user_id& u, const char* tier, int months, std::int64_t amount, std::string key) {
  payment p;
  p.provider = "manual";
  p.transaction_id = std::move(key);
  p.user = u;
  p.tier = tier_id{tier};
  p.months = months;
  p.amount = amount;
  p.currency = "XOF";
  return p;
}

/// A paid month of Pro (7000 XOF) from now; returns its end.
sys_time pay_pro(service_fixture& f, const user_id& u, std::string key = "pro-1") {
  const auto o = must(f.svc.apply_payment(pay_of(u, "pro", 1, 7000, std::move(key))));
  REQUIRE(o.sub.end_date.has_value());
  return *o.sub.end_date;
}

}  // namespace

TEST_CASE("a trial gives its tier's limits until the exact end, then the default tier's, once per user") {
  service_fixture f;
  const auto u = f.add_user("trial-user");
  const sys_time start = f.now();
  const auto sub = must(f.svc.start_trial(u, tier_id{"pro"}, 24h * 7));
  CHECK(sub.status == subscription_status::trialing);
  CHECK(sub.tier == tier_id{"pro"});
  CHECK(sub.trial_end_date == start + 24h * 7);
  CHECK(f.quota(u).messages_per_day_limit == limit{100});
  check_error(f.svc.start_trial(u, tier_id{"max"}, 24h), errc::subscription_conflict);

  f.clock->set(start + 24h * 7 - 1us);
  CHECK(f.quota(u).subscription_tier == tier_id{"pro"});
  CHECK(f.quota(u).status == subscription_status::trialing);
  f.clock->set(start + 24h * 7);
  const auto q = f.quota(u);
  CHECK(q.subscription_tier == tier_id{"free"});
  CHECK(q.status == subscription_status::active);
  CHECK(q.messages_per_day_limit == limit{5});
  const auto after = must(f.svc.get_subscription(u));
  CHECK(after.tier == tier_id{"free"});
  CHECK(after.trial_end_date == start + 24h * 7);
  // Used once, a trial is never offered again.
  check_error(f.svc.start_trial(u, tier_id{"pro"}, 24h), errc::subscription_conflict);
  CHECK(f.count_events(u, "trial_started") == 1);
  CHECK(f.count_events(u, "trial_ended") == 1);
  f.check_audit(u);
}

TEST_CASE("a trial is refused for the default tier, an unknown tier, a bad length and a paid user") {
  service_fixture f;
  const auto u = f.add_user("trial-refused");
  check_error(f.svc.start_trial(u, tier_id{"free"}, 24h), errc::invalid_argument);
  check_error(f.svc.start_trial(u, tier_id{"gold"}, 24h), errc::unknown_tier);
  check_error(f.svc.start_trial(u, tier_id{"pro"}, 59min), errc::invalid_argument);
  check_error(f.svc.start_trial(u, tier_id{"pro"}, 24h * 91), errc::invalid_argument);
  check_error(f.svc.start_trial(user_id{"nobody"}, tier_id{"pro"}, 24h), errc::unknown_user);
  pay_pro(f, u);
  check_error(f.svc.start_trial(u, tier_id{"max"}, 24h), errc::subscription_conflict);
  CHECK(f.count_events(u, "trial_started") == 0);
}

TEST_CASE("past the end date: past_due with the tier's limits for the grace period, then expired with free's") {
  service_fixture f;
  const auto u = f.add_user("grace-user");
  const sys_time end = pay_pro(f, u);

  f.clock->set(end - 1us);
  CHECK(f.quota(u).status == subscription_status::active);
  f.clock->set(end);
  auto q = f.quota(u);
  CHECK(q.status == subscription_status::past_due);
  CHECK(q.subscription_tier == tier_id{"pro"});
  CHECK(q.messages_per_day_limit == limit{100});
  CHECK(f.consume_n(u, 10) == 10);

  f.clock->set(end + 72h - 1us);
  CHECK(f.quota(u).status == subscription_status::past_due);
  CHECK(f.quota(u).messages_per_day_limit == limit{100});
  f.clock->set(end + 72h);
  q = f.quota(u);
  CHECK(q.status == subscription_status::expired);
  CHECK(q.subscription_tier == tier_id{"free"});
  CHECK(q.messages_per_day_limit == limit{5});
  const auto sub = must(f.svc.get_subscription(u));
  CHECK(sub.status == subscription_status::expired);
  CHECK(sub.tier == tier_id{"pro"});  // the status says the default tier applies
  CHECK(f.count_events(u, "subscription_past_due") == 1);
  CHECK(f.count_events(u, "subscription_expired") == 1);
  f.check_audit(u);
}

TEST_CASE("a grace period of its own: zero expires at the end date at once") {
  service_options opts;
  opts.grace_period = 0s;
  service_fixture f(opts);
  const auto u = f.add_user("no-grace");
  const sys_time end = pay_pro(f, u);
  f.clock->set(end);
  CHECK(f.quota(u).status == subscription_status::expired);
  CHECK(f.count_events(u, "subscription_past_due") == 0);
  CHECK(f.count_events(u, "subscription_expired") == 1);

  opts.grace_period = 24h * 91;
  CHECK_FALSE(quota_service::create(f.db.store, opts).has_value());
  opts.grace_period = -1s;
  CHECK_FALSE(quota_service::create(f.db.store, opts).has_value());
}

TEST_CASE("a higher tier applies at once; a lower one is scheduled and applied once at the boundary") {
  service_fixture f;
  const auto u = f.add_user("tiers-user");
  const sys_time pro_end = pay_pro(f, u);
  f.advance(24h);
  const auto up = must(f.svc.apply_payment(pay_of(u, "max", 1, 22000, "max-1")));
  CHECK(up.pay.effect == payment_effect::started);
  CHECK(up.sub.tier == tier_id{"max"});
  CHECK(f.quota(u).messages_per_day_limit == limit{500});
  const sys_time max_end = *up.sub.end_date;
  CHECK(max_end > pro_end);

  const auto down = must(f.svc.apply_payment(pay_of(u, "pro", 2, 14000, "pro-2")));
  CHECK(down.pay.effect == payment_effect::scheduled);
  CHECK(down.sub.tier == tier_id{"max"});
  CHECK(down.sub.scheduled_tier == tier_id{"pro"});
  CHECK(down.pay.period_start == max_end);
  REQUIRE(down.sub.scheduled_end_date.has_value());
  const sys_time pro_period_end = *down.sub.scheduled_end_date;
  // Paid for: it cannot be undone.
  check_error(f.svc.undo_scheduled_change(u), errc::subscription_conflict);

  f.clock->set(max_end - 1us);
  CHECK(f.quota(u).subscription_tier == tier_id{"max"});
  f.clock->set(max_end);
  for (int i = 0; i < 3; ++i) {
    const auto q = f.quota(u);
    CHECK(q.subscription_tier == tier_id{"pro"});
    CHECK(q.status == subscription_status::active);
  }
  const auto sub = must(f.svc.get_subscription(u));
  CHECK(sub.tier == tier_id{"pro"});
  CHECK(sub.start_date == max_end);
  CHECK(sub.end_date == pro_period_end);
  CHECK_FALSE(sub.scheduled_tier.has_value());
  CHECK(f.count_events(u, "scheduled_change_applied") == 1);
  f.check_audit(u);
}

TEST_CASE("cancel at period end keeps the tier to the end, then free with status canceled; undo before it") {
  service_fixture f;
  const auto u = f.add_user("cancel-user");
  const sys_time end = pay_pro(f, u);
  request_context ctx;
  ctx.ip = "198.51.100.7";
  ctx.user_agent = "account-page";
  auto sub = must(f.svc.cancel_at_period_end(u, ctx));
  CHECK(sub.cancel_at_period_end);
  CHECK(sub.scheduled_tier == tier_id{"free"});
  CHECK(must(f.svc.cancel_at_period_end(u)).cancel_at_period_end);  // a repeat changes nothing
  CHECK(f.count_events(u, "cancellation_scheduled") == 1);
  for (const auto& e : f.events(u)) {
    if (e.event_type != "cancellation_scheduled") continue;
    CHECK(e.request_ip == "198.51.100.7");
    CHECK(e.user_agent == "account-page");
    CHECK(e.messages_count == 0);
  }

  sub = must(f.svc.undo_scheduled_change(u));
  CHECK_FALSE(sub.cancel_at_period_end);
  CHECK_FALSE(sub.scheduled_tier.has_value());
  check_error(f.svc.undo_scheduled_change(u), errc::subscription_conflict);
  CHECK(f.count_events(u, "scheduled_change_undone") == 1);

  must(f.svc.cancel_at_period_end(u));
  f.clock->set(end - 1us);
  CHECK(f.quota(u).subscription_tier == tier_id{"pro"});
  f.clock->set(end);
  const auto q = f.quota(u);
  CHECK(q.subscription_tier == tier_id{"free"});
  CHECK(q.status == subscription_status::canceled);
  CHECK(must(f.svc.get_subscription(u)).status == subscription_status::canceled);
  CHECK(f.count_events(u, "subscription_canceled") == 1);
  CHECK(f.count_events(u, "subscription_past_due") == 0);
  f.check_audit(u);
}

TEST_CASE("schedule_change applies at the end of the period and can be undone before it") {
  service_fixture f;
  const auto u = f.add_user("schedule-user");
  must(f.svc.apply_payment(pay_of(u, "max", 1, 22000, "max-1")));
  check_error(f.svc.schedule_change(u, tier_id{"max"}), errc::invalid_argument);
  check_error(f.svc.schedule_change(u, tier_id{"gold"}), errc::unknown_tier);
  auto sub = must(f.svc.schedule_change(u, tier_id{"pro"}));
  CHECK(sub.scheduled_tier == tier_id{"pro"});
  CHECK_FALSE(sub.scheduled_end_date.has_value());
  sub = must(f.svc.undo_scheduled_change(u));
  CHECK_FALSE(sub.scheduled_tier.has_value());
  must(f.svc.schedule_change(u, tier_id{"pro"}));
  const sys_time end = *sub.end_date;
  f.clock->set(end);
  // A sold tier scheduled without a payment starts unpaid: past_due at
  // once, with its limits for the grace period, then expired; never free.
  sub = must(f.svc.get_subscription(u));
  CHECK(sub.tier == tier_id{"pro"});
  CHECK(sub.status == subscription_status::past_due);
  CHECK(sub.end_date == end);
  CHECK(f.quota(u).messages_per_day_limit == limit{100});
  CHECK(f.count_events(u, "change_scheduled") == 2);
  CHECK(f.count_events(u, "scheduled_change_applied") == 1);
  CHECK(f.count_events(u, "subscription_past_due") == 1);
  f.clock->set(end + 72h);
  CHECK(must(f.svc.get_subscription(u)).status == subscription_status::expired);
  CHECK(f.quota(u).messages_per_day_limit == limit{5});
  // A payment for it starts it.
  CHECK(must(f.svc.apply_payment(pay_of(u, "pro", 1, 7000, "pro-1"))).sub.status == subscription_status::active);
  f.check_audit(u);
}

TEST_CASE("cancel and schedule need a paid period; undo needs something scheduled") {
  service_fixture f;
  const auto u = f.add_user("unpaid-user");
  check_error(f.svc.cancel_at_period_end(u), errc::subscription_conflict);
  check_error(f.svc.schedule_change(u, tier_id{"pro"}), errc::subscription_conflict);
  check_error(f.svc.undo_scheduled_change(u), errc::subscription_conflict);
  check_error(f.svc.cancel_at_period_end(user_id{"nobody"}), errc::unknown_user);
  must(f.svc.start_trial(u, tier_id{"pro"}, 24h));
  check_error(f.svc.cancel_at_period_end(u), errc::subscription_conflict);

  // In the grace period the paid period has ended: nothing is left to
  // cancel or to change at its end; a payment renews it.
  const auto late = f.add_user("grace-user");
  const sys_time end = pay_pro(f, late, "late-1");
  f.clock->set(end + 1h);
  auto in_grace = f.svc.cancel_at_period_end(late);
  check_error(in_grace, errc::subscription_conflict);
  if (!in_grace) CHECK(in_grace.error().message.find("renews") != std::string::npos);
  check_error(f.svc.schedule_change(late, tier_id{"max"}), errc::subscription_conflict);
  CHECK(must(f.svc.get_subscription(late)).status == subscription_status::past_due);
  f.check_audit(late);
}

TEST_CASE("putting a user back on the default tier keeps its one trial used") {
  service_fixture f;
  const auto u = f.add_user("trial-once");
  must(f.svc.start_trial(u, tier_id{"pro"}, 24h));
  const auto back = must(f.svc.assign_default_subscription(u));
  CHECK(back.tier == tier_id{"free"});
  CHECK(back.trial_end_date.has_value());
  check_error(f.svc.start_trial(u, tier_id{"max"}, 24h), errc::subscription_conflict);
}

TEST_CASE("two sweepers racing at the boundary apply a cancellation and a scheduled downgrade once each") {
  service_fixture f;
  const auto canceled = f.add_user("racing-cancel");
  const auto downgraded = f.add_user("racing-downgrade");
  must(f.svc.apply_payment(pay_of(canceled, "pro", 1, 7000, "c-1")));
  const auto paid = must(f.svc.apply_payment(pay_of(downgraded, "max", 1, 22000, "d-1")));
  must(f.svc.cancel_at_period_end(canceled));
  must(f.svc.apply_payment(pay_of(downgraded, "pro", 1, 7000, "d-2")));  // a lower tier, paid for after
  f.clock->set(*paid.sub.end_date + 1min);

  std::atomic<std::int64_t> written{0};
  std::vector<std::thread> sweepers;
  for (int t = 0; t < 2; ++t) {
    sweepers.emplace_back([&] {
      auto svc = f.make_service(f.clock);
      for (int k = 0; k < 3; ++k) {
        if (auto n = svc.sweep_subscriptions()) written += n.value();
      }
    });
  }
  for (auto& t : sweepers) t.join();
  CHECK(written.load() == 2);
  CHECK(f.count_events(canceled, "subscription_canceled") == 1);
  CHECK(f.count_events(downgraded, "scheduled_change_applied") == 1);
  const auto c = must(f.svc.get_subscription(canceled));
  CHECK(c.status == subscription_status::canceled);
  CHECK(f.quota(canceled).messages_per_day_limit == limit{5});
  const auto d = must(f.svc.get_subscription(downgraded));
  CHECK(d.tier == tier_id{"pro"});
  CHECK(d.status == subscription_status::active);
  CHECK(d.start_date == paid.sub.end_date);
  CHECK(f.quota(downgraded).messages_per_day_limit == limit{100});
  f.check_audit(canceled);
  f.check_audit(downgraded);
}

TEST_CASE("an upgrade keeps the period's usage by default, or resets it, audited") {
  service_fixture f;
  const auto kept = f.add_user("keep-user");
  const auto reset = f.add_user("reset-user");
  REQUIRE(f.consume_n(kept, 3, 10) == 3);
  REQUIRE(f.consume_n(reset, 3, 10) == 3);
  CHECK(must(f.svc.upgrade_subscription(kept, tier_id{"pro"})).success);
  CHECK(must(f.svc.upgrade_subscription(reset, tier_id{"pro"}, {}, usage_policy::reset)).success);
  CHECK(f.quota(kept).messages_today == 3);
  const auto q = f.quota(reset);
  CHECK(q.messages_today == 0);
  CHECK(q.messages_this_month == 0);
  CHECK(q.tokens_this_month == 0);
  CHECK(f.count_events(reset, "monthly_reset") == 1);
  const auto again = must(f.svc.upgrade_subscription(reset, tier_id{"pro"}));
  CHECK_FALSE(again.success);
  f.check_audit(kept);
  f.check_audit(reset);
}

TEST_CASE("two sweepers racing write each transition exactly once") {
  service_fixture f;
  constexpr int users = 12;
  std::vector<user_id> ids;
  sys_time end{};
  for (int i = 0; i < users; ++i) {
    ids.push_back(f.add_user("sweep-" + std::to_string(i)));
    end = pay_pro(f, ids.back(), "sweep-pay-" + std::to_string(i));
  }
  f.clock->set(end + 1h);  // every period ended; in grace

  std::atomic<std::int64_t> written{0};
  std::atomic<int> errors{0};
  std::vector<std::thread> sweepers;
  for (int t = 0; t < 4; ++t) {
    sweepers.emplace_back([&] {
      auto svc = f.make_service(f.clock);
      for (int k = 0; k < 3; ++k) {
        auto n = svc.sweep_subscriptions();
        if (n)
          written += n.value();
        else
          ++errors;
      }
    });
  }
  for (auto& t : sweepers) t.join();
  CHECK(errors.load() == 0);
  CHECK(written.load() == users);
  for (const auto& u : ids) CHECK(f.count_events(u, "subscription_past_due") == 1);
  CHECK(must(f.svc.sweep_subscriptions()) == 0);

  // Past the grace period: two processes sweep at once.
  const sys_time later = end + 73h;
  temp_dir out;
  std::vector<worker_run> runs;
  for (int p = 0; p < 2; ++p) runs.push_back(spawn_worker(f.db.url, ids[0], 2, 2, later, out.path(), p, "sweep"));
  std::int64_t expired = 0;
  for (const auto& run : runs) {
    const auto r = wait_worker(run);
    INFO("stdout:\n" << r.stdout_text << "stderr:\n" << r.stderr_text);
    REQUIRE(r.exit_status == 0);
    CHECK(r.errors == 0);
    expired += r.allowed;
  }
  CHECK(expired == users);
  f.clock->set(later);
  for (const auto& u : ids) {
    CHECK(f.count_events(u, "subscription_expired") == 1);
    CHECK(must(f.svc.get_subscription(u)).status == subscription_status::expired);
    f.check_audit(u);
  }
}

TEST_CASE("the sweep's limit is validated and bounds the users it visits") {
  service_fixture f;
  check_error(f.svc.sweep_subscriptions(0), errc::invalid_argument);
  const auto a = f.add_user("sweep-a");
  const auto b = f.add_user("sweep-b");
  const sys_time end = pay_pro(f, a, "a-1");
  pay_pro(f, b, "b-1");
  f.clock->set(end + 1h);
  CHECK(must(f.svc.sweep_subscriptions(1)) == 1);
  CHECK(must(f.svc.sweep_subscriptions(1)) == 1);
  CHECK(must(f.svc.sweep_subscriptions(1)) == 0);
}
