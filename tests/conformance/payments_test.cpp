// Payments on every backend: periods bought, extended from the end or from
// now, calendar months from the 31st, idempotency on (provider,
// transaction id) under concurrency, mismatches that change nothing,
// pending orders and failures.
#include "support/fixtures.hpp"

#include <atomic>
#include <thread>
#include <vector>

using namespace kauri_quota;
using namespace kauri_quota::testing;
using namespace std::chrono_literals;

namespace {

payment pay_of(const user_id& u, const char* tier, int months, std::int64_t amount, std::string key,
               std::string provider = "cinetpay") {
  payment p;
  p.provider = std::move(provider);
  p.transaction_id = std::move(key);
  p.user = u;
  p.tier = tier_id{tier};
  p.months = months;
  p.amount = amount;
  p.currency = "XOF";
  return p;
}

}  // namespace

TEST_CASE("a payment starts a paid period of its tier, recorded with the period it bought") {
  service_fixture f;
  const auto u = f.add_user("payer");
  const sys_time start = f.now();  // 2025-11-07T10:00:00Z
  const auto o = must(f.svc.apply_payment(pay_of(u, "pro", 1, 7000, "tx-1")));
  CHECK_FALSE(o.replayed);
  CHECK(o.pay.status == payment_status::applied);
  CHECK(o.pay.effect == payment_effect::started);
  CHECK(o.pay.period_start == start);
  CHECK(o.pay.period_end == at("2025-12-07T10:00:00Z"));
  CHECK(o.sub.tier == tier_id{"pro"});
  CHECK(o.sub.status == subscription_status::active);
  CHECK(o.sub.end_date == at("2025-12-07T10:00:00Z"));
  CHECK(f.quota(u).messages_per_day_limit == limit{100});

  const auto stored = must(f.svc.get_payment("cinetpay", "tx-1"));
  CHECK(stored == o.pay);
  CHECK(stored.amount == 7000);
  CHECK(stored.currency == "XOF");
  f.advance(1h);
  must(f.svc.apply_payment(pay_of(u, "pro", 2, 14000, "tx-2")));
  const auto all = must(f.svc.get_payments(u));
  REQUIRE(all.size() == 2);
  CHECK(all[0].transaction_id == "tx-2");  // newest first
  CHECK(all[1].transaction_id == "tx-1");
  check_error(f.svc.get_payments(user_id{"nobody"}), errc::unknown_user);
  check_error(f.svc.get_payment("cinetpay", "tx-none"), errc::payment_not_found);
  CHECK(f.count_events(u, "payment_applied") == 2);
  CHECK(f.count_events(u, "subscription_changed") == 1);
  f.check_audit(u);
}

TEST_CASE("a renewal before the end extends from the end; after expiry it starts from now") {
  service_fixture f;
  const auto u = f.add_user("renewer");
  must(f.svc.apply_payment(pay_of(u, "pro", 1, 7000, "tx-1")));
  f.advance(24h * 10);
  const auto renewed = must(f.svc.apply_payment(pay_of(u, "pro", 1, 7000, "tx-2")));
  CHECK(renewed.pay.effect == payment_effect::extended);
  CHECK(renewed.pay.period_start == at("2025-12-07T10:00:00Z"));
  CHECK(renewed.sub.end_date == at("2026-01-07T10:00:00Z"));
  CHECK(renewed.sub.start_date == at("2025-11-07T10:00:00Z"));

  // In the grace period: extended from now.
  f.set_time("2026-01-08T12:00:00Z");
  const auto late = must(f.svc.apply_payment(pay_of(u, "pro", 1, 7000, "tx-3")));
  CHECK(late.pay.effect == payment_effect::extended);
  CHECK(late.sub.status == subscription_status::active);
  CHECK(late.sub.end_date == at("2026-02-08T12:00:00Z"));
  CHECK(f.count_events(u, "subscription_past_due") == 1);

  // Expired: a new period from now.
  f.set_time("2026-03-01T09:00:00Z");
  CHECK(f.quota(u).status == subscription_status::expired);
  const auto again = must(f.svc.apply_payment(pay_of(u, "pro", 1, 7000, "tx-4")));
  CHECK(again.pay.effect == payment_effect::started);
  CHECK(again.sub.start_date == at("2026-03-01T09:00:00Z"));
  CHECK(again.sub.end_date == at("2026-04-01T09:00:00Z"));
  f.check_audit(u);
}

TEST_CASE("a period that starts on the 31st ends on the last day of a shorter month") {
  service_fixture f({}, "2026-01-31T08:30:00Z");
  const auto u = f.add_user("month-end");
  const auto o = must(f.svc.apply_payment(pay_of(u, "pro", 1, 7000, "tx-1")));
  CHECK(o.sub.end_date == at("2026-02-28T08:30:00Z"));
  // Renewed from the 28th, the period keeps its anchor, the 31st.
  const auto three = must(f.svc.apply_payment(pay_of(u, "pro", 3, 21000, "tx-2")));
  CHECK(three.sub.end_date == at("2026-05-31T08:30:00Z"));
  CHECK(must(f.svc.apply_payment(pay_of(u, "pro", 1, 7000, "tx-3"))).sub.end_date == at("2026-06-30T08:30:00Z"));
  CHECK(must(f.svc.apply_payment(pay_of(u, "pro", 1, 7000, "tx-4"))).sub.end_date == at("2026-07-31T08:30:00Z"));
  service_fixture leap({}, "2028-01-31T08:30:00Z");
  const auto v = leap.add_user("leap");
  CHECK(must(leap.svc.apply_payment(pay_of(v, "max", 1, 22000, "tx-1"))).sub.end_date == at("2028-02-29T08:30:00Z"));
}

TEST_CASE("the same payment applied 20 times at once renews once; the others are replays") {
  service_fixture f;
  const auto u = f.add_user("concurrent-payer");
  const auto first = must(f.svc.apply_payment(pay_of(u, "pro", 1, 7000, "tx-0")));
  const sys_time end = *first.sub.end_date;
  std::atomic<int> applied{0};
  std::atomic<int> replayed{0};
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 20; ++i) {
    threads.emplace_back([&] {
      auto svc = f.make_service(f.clock);
      auto o = svc.apply_payment(pay_of(u, "pro", 1, 7000, "tx-renew"));
      if (!o)
        ++errors;
      else if (o.value().replayed)
        ++replayed;
      else
        ++applied;
    });
  }
  for (auto& t : threads) t.join();
  CHECK(errors.load() == 0);
  CHECK(applied.load() == 1);
  CHECK(replayed.load() == 19);
  const auto sub = must(f.svc.get_subscription(u));
  CHECK(sub.end_date == at("2026-01-07T10:00:00Z"));
  CHECK(sub.end_date > end);
  CHECK(f.count_events(u, "payment_applied") == 2);
  const auto replay = must(f.svc.apply_payment(pay_of(u, "pro", 1, 7000, "tx-renew")));
  CHECK(replay.replayed);
  CHECK(replay.sub == sub);
  CHECK(must(f.svc.get_payments(u)).size() == 2);
}

TEST_CASE("a wrong amount, currency, tier or order is refused and changes nothing") {
  service_fixture f;
  const auto u = f.add_user("mismatch");
  const auto before = must(f.svc.get_subscription(u));
  const auto events_before = f.events(u).size();
  auto wrong = check_error(f.svc.apply_payment(pay_of(u, "pro", 2, 7000, "tx-1")), errc::invalid_argument);
  CHECK(wrong);
  auto err = f.svc.apply_payment(pay_of(u, "pro", 2, 7000, "tx-1"));
  REQUIRE_FALSE(err.has_value());
  CHECK(err.error().message.find("7000") != std::string::npos);
  CHECK(err.error().message.find("14000") != std::string::npos);
  auto xaf = pay_of(u, "pro", 1, 7000, "tx-2");
  xaf.currency = "XAF";
  check_error(f.svc.apply_payment(xaf), errc::invalid_argument);
  xaf.currency = "EUR";
  check_error(f.svc.apply_payment(xaf), errc::invalid_argument);
  check_error(f.svc.apply_payment(pay_of(u, "free", 1, 0, "tx-3")), errc::invalid_argument);
  check_error(f.svc.apply_payment(pay_of(u, "gold", 1, 7000, "tx-4")), errc::unknown_tier);
  check_error(f.svc.apply_payment(pay_of(u, "pro", 0, 0, "tx-5")), errc::invalid_argument);
  check_error(f.svc.apply_payment(pay_of(u, "pro", 37, 259000, "tx-6")), errc::invalid_argument);
  check_error(f.svc.apply_payment(pay_of(u, "pro", 1, 7000, "tx 7")), errc::invalid_argument);
  check_error(f.svc.apply_payment(pay_of(u, "pro", 1, 7000, "tx-8", "CinetPay")), errc::invalid_argument);
  check_error(f.svc.apply_payment(pay_of(user_id{"nobody"}, "pro", 1, 7000, "tx-9")), errc::unknown_user);
  CHECK(must(f.svc.get_subscription(u)) == before);
  CHECK(f.events(u).size() == events_before);
  CHECK(must(f.svc.get_payments(u)).empty());
  check_error(f.svc.get_payment("cinetpay", "tx-1"), errc::payment_not_found);
}

TEST_CASE("a pending order is applied when the payment matches it, and refused when it does not") {
  service_fixture f;
  const auto u = f.add_user("checkout");
  auto order = pay_of(u, "pro", 2, 0, "order-1");
  const auto pending = must(f.svc.open_payment(order));
  CHECK(pending.status == payment_status::pending);
  CHECK(pending.amount == 14000);
  CHECK(pending.currency == "XOF");
  CHECK(must(f.svc.open_payment(order)) == pending);  // the same order again
  auto other = order;
  other.months = 3;
  check_error(f.svc.open_payment(other), errc::invalid_argument);
  check_error(f.svc.open_payment(pay_of(u, "free", 1, 0, "order-2")), errc::invalid_argument);
  CHECK(f.count_events(u, "payment_pending") == 1);
  CHECK(must(f.svc.get_subscription(u)).tier == tier_id{"free"});

  // Right price for 1 month, but the order was for 2.
  check_error(f.svc.apply_payment(pay_of(u, "pro", 1, 7000, "order-1")), errc::invalid_argument);
  CHECK(must(f.svc.get_payment("cinetpay", "order-1")).status == payment_status::pending);
  const auto o = must(f.svc.apply_payment(pay_of(u, "pro", 2, 14000, "order-1")));
  CHECK_FALSE(o.replayed);
  CHECK(o.pay.status == payment_status::applied);
  CHECK(o.pay.created_at == pending.created_at);
  CHECK(o.sub.end_date == at("2026-01-07T10:00:00Z"));
  CHECK(must(f.svc.get_payments(u)).size() == 1);
  f.check_audit(u);
}

TEST_CASE("fail_payment fails a pending payment once; an applied one cannot fail") {
  service_fixture f;
  const auto u = f.add_user("refused");
  must(f.svc.open_payment(pay_of(u, "pro", 1, 0, "order-1")));
  const auto failed = must(f.svc.fail_payment("cinetpay", "order-1", "REFUSED by the bank"));
  CHECK(failed.status == payment_status::failed);
  CHECK(failed.failure_reason == "REFUSED by the bank");
  CHECK(must(f.svc.fail_payment("cinetpay", "order-1", "again")) == failed);
  CHECK(f.count_events(u, "payment_failed") == 1);
  // A confirmation after a refusal (the provider reports every change of
  // status) supersedes it; once applied, it is final.
  const auto later = must(f.svc.apply_payment(pay_of(u, "pro", 1, 7000, "order-1")));
  CHECK_FALSE(later.replayed);
  CHECK(later.pay.status == payment_status::applied);
  CHECK(later.sub.tier == tier_id{"pro"});
  CHECK(must(f.svc.apply_payment(pay_of(u, "pro", 1, 7000, "order-1"))).replayed);

  check_error(f.svc.fail_payment("cinetpay", "order-1", "late refusal"), errc::subscription_conflict);
  check_error(f.svc.fail_payment("cinetpay", "tx-none", "x"), errc::payment_not_found);
  check_error(f.svc.fail_payment("cinetpay", "tx-2", std::string(501, 'x')), errc::invalid_argument);
  f.check_audit(u);
}

TEST_CASE("the currency option is validated and payments must be in it") {
  service_options opts;
  opts.currency = "EUR";
  service_fixture bad;
  CHECK_FALSE(quota_service::create(bad.db.store, opts).has_value());
  opts.currency = "XAF";
  service_fixture f(opts);
  const auto u = f.add_user("douala");
  auto p = pay_of(u, "pro", 1, 7000, "tx-1");
  check_error(f.svc.apply_payment(p), errc::invalid_argument);
  p.currency = "XAF";
  CHECK(must(f.svc.apply_payment(p)).pay.currency == "XAF");
  CHECK(must(f.svc.open_payment(pay_of(u, "max", 1, 0, "order-1"))).currency == "XAF");
}

TEST_CASE("a pending order keeps its price and currency when the tier's price changes before it is confirmed") {
  service_fixture f;
  const auto u = f.add_user("price-change");
  const auto order = must(f.svc.open_payment(pay_of(u, "pro", 1, 0, "order-1")));
  CHECK(order.amount == 7000);
  tier_update up;
  up.id = tier_id{"pro"};
  up.price_fcfa = 8000;
  must(f.svc.update_tier(up));
  // A new payment pays the new price; the order opened before keeps its own.
  check_error(f.svc.apply_payment(pay_of(u, "pro", 1, 7000, "tx-new")), errc::invalid_argument);
  const auto o = must(f.svc.apply_payment(pay_of(u, "pro", 1, 7000, "order-1")));
  CHECK(o.pay.status == payment_status::applied);
  CHECK(o.pay.amount == 7000);
  CHECK(o.sub.tier == tier_id{"pro"});
  // Another user cannot use that transaction id.
  const auto v = f.add_user("other");
  check_error(f.svc.apply_payment(pay_of(v, "pro", 1, 7000, "order-1")), errc::invalid_argument);
  CHECK(must(f.svc.get_subscription(v)).tier == tier_id{"free"});
  f.check_audit(u);
}

TEST_CASE("a lower tier paid for after the period is kept when a higher tier starts, and cannot be replaced") {
  service_fixture f;
  const auto u = f.add_user("stacked");
  must(f.svc.apply_payment(pay_of(u, "max", 1, 22000, "max-1")));
  const auto low = must(f.svc.apply_payment(pay_of(u, "pro", 2, 14000, "pro-2")));
  REQUIRE(low.pay.effect == payment_effect::scheduled);
  const auto paid_for = *low.sub.scheduled_end_date - *low.sub.end_date;
  check_error(f.svc.cancel_at_period_end(u), errc::subscription_conflict);
  check_error(f.svc.schedule_change(u, tier_id{"free"}), errc::subscription_conflict);
  check_error(f.svc.undo_scheduled_change(u), errc::subscription_conflict);
  const auto high = must(f.svc.apply_payment(pay_of(u, "enterprise", 1, 85000, "ent-1")));
  CHECK(high.pay.effect == payment_effect::started);
  CHECK(high.sub.tier == tier_id{"enterprise"});
  CHECK(high.sub.scheduled_tier == tier_id{"pro"});
  REQUIRE(high.sub.scheduled_end_date.has_value());
  CHECK(*high.sub.scheduled_end_date - *high.sub.end_date == paid_for);
  f.check_audit(u);
}
