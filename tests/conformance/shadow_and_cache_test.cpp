// Shadow mode: decisions computed and audited, over-limit requests admitted
// and counted. The denial cache: denials answered from memory until their
// period rolls over or the TTL passes, dropped by this service's changes
// (other programs' changes: change_feed_test.cpp).
#include "support/fixtures.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

using namespace kauri_quota;
using namespace kauri_quota::testing;
using namespace std::chrono_literals;

namespace {

service_options shadow_options() {
  service_options o;
  o.shadow = true;
  return o;
}

/// The quota_exceeded rows of `user`, newest first.
std::vector<usage_event> denials(service_fixture& f, const user_id& user) {
  std::vector<usage_event> out;
  for (auto& e : f.events(user))
    if (e.event_type == "quota_exceeded") out.push_back(std::move(e));
  return out;
}

}  // namespace

// --- Shadow mode ----------------------------------------------------------------

TEST_CASE("shadow mode admits and counts what the daily limit would refuse, and audits it as a shadow denial") {
  service_fixture f(shadow_options());
  f.set_limits("free", 3, {}, {});
  const auto u = f.add_user("shadow-daily");
  for (int i = 1; i <= 3; ++i) {
    const auto d = f.consume(u);
    CHECK(d.allowed);
    CHECK_FALSE(d.shadow);
  }
  for (int i = 4; i <= 5; ++i) {
    const auto d = f.consume(u, 7);
    INFO("message " << i);
    CHECK(d.allowed);
    CHECK(d.shadow);
    CHECK(d.denied_by == limit_kind::daily);
    CHECK(d.retry_after == 0s);
    CHECK_FALSE(d.replayed);
    CHECK(d.quota.messages_today == i);
  }
  CHECK(f.today_usage(u).messages_today == 5);
  CHECK(f.today_usage(u).tokens_today == 14);

  const auto rows = denials(f, u);
  REQUIRE(rows.size() == 2);
  for (const auto& e : rows) {
    CHECK(e.messages_count == 0);
    CHECK(e.quota_tier == std::optional<std::string>{"free"});
    REQUIRE(e.event_metadata.has_value());
    const auto meta = parse_json(*e.event_metadata);
    CHECK(meta["shadow"].as_bool());
    CHECK(meta["limit"].as_string() == "daily");
    CHECK(meta["requested_tokens"].as_int() == 7);
  }
  CHECK(parse_json(*rows[0].event_metadata)["usage"].as_int() == 4);  // the newest: 4 used before it
  CHECK(f.count_events(u, "usage_recorded") == 2);
  f.check_audit(u);

  const auto m = f.svc.metrics();
  CHECK(m.allowed == 3);
  CHECK(m.shadow_denied_daily == 2);
  CHECK(m.denied_daily == 0);
  const std::string text = to_prometheus(m);
  CHECK(text.find("kauri_quota_decisions_total{result=\"shadow_denied\",limit=\"daily\"} 2\n") != std::string::npos);
  CHECK(text.find("kauri_quota_decisions_total{result=\"allowed\",limit=\"none\"} 3\n") != std::string::npos);
}

TEST_CASE("shadow mode names the token and monthly limits it would have enforced") {
  service_fixture f(shadow_options());
  f.set_limits("free", {}, 2, 100);
  const auto u = f.add_user("shadow-month");
  CHECK_FALSE(f.consume(u, 60).shadow);
  const auto tokens = f.consume(u, 60);
  CHECK(tokens.allowed);
  CHECK(tokens.shadow);
  CHECK(tokens.denied_by == limit_kind::tokens);
  const auto monthly = f.consume(u, 0);
  CHECK(monthly.shadow);
  CHECK(monthly.denied_by == limit_kind::monthly);
  CHECK(f.today_usage(u).messages_this_month == 3);
  CHECK(f.today_usage(u).tokens_this_month == 120);
  const auto m = f.svc.metrics();
  CHECK(m.shadow_denied_tokens == 1);
  CHECK(m.shadow_denied_monthly == 1);
  f.check_audit(u);
}

TEST_CASE("shadow mode keeps request_id semantics: a retry is replayed and never counted twice") {
  service_fixture f(shadow_options());
  f.set_limits("free", 1, {}, {});
  const auto u = f.add_user("shadow-retry");
  const auto first = f.consume(u, 0, with_request_id("k-1"));
  CHECK_FALSE(first.shadow);
  const auto over = f.consume(u, 0, with_request_id("k-2"));
  CHECK(over.shadow);
  CHECK_FALSE(over.replayed);

  const auto over_again = f.consume(u, 0, with_request_id("k-2"));
  CHECK(over_again.allowed);
  CHECK(over_again.shadow);
  CHECK(over_again.replayed);
  // The first request, admitted by the limit, is replayed as such although
  // the counters would now refuse it.
  const auto first_again = f.consume(u, 0, with_request_id("k-1"));
  CHECK(first_again.allowed);
  CHECK(first_again.replayed);
  CHECK_FALSE(first_again.shadow);
  // The same key with other arguments is still a mismatch.
  check_error(f.svc.try_consume(u, 5, with_request_id("k-2")), errc::idempotency_mismatch);

  CHECK(f.today_usage(u).messages_today == 2);
  CHECK(denials(f, u).size() == 1);
  f.check_audit(u);
}

TEST_CASE("a shadow reservation beyond the limit gets its reservation, and committing it settles as usual") {
  service_fixture f(shadow_options());
  f.set_limits("free", 1, {}, {});
  const auto u = f.add_user("shadow-reserve");
  const auto ok = must(f.svc.reserve(u, 30));
  REQUIRE(ok.reservation.has_value());
  CHECK_FALSE(ok.shadow);
  const auto over = must(f.svc.reserve(u, 40));
  CHECK(over.allowed);
  CHECK(over.shadow);
  CHECK(over.denied_by == limit_kind::daily);
  REQUIRE(over.reservation.has_value());
  CHECK(must(f.store().get_reservation(*over.reservation)).state == reservation_state::open);
  CHECK(f.today_usage(u).messages_today == 2);
  CHECK(f.today_usage(u).tokens_today == 70);
  // The flagged denial, then the row that counts the reservation.
  const auto rows = denials(f, u);
  REQUIRE(rows.size() == 1);
  CHECK(parse_json(*rows[0].event_metadata)["shadow"].as_bool());
  CHECK(f.count_events(u, "reservation_created") == 2);
  CHECK(f.count_events(u, "usage_recorded") == 0);

  const auto committed = must(f.svc.commit(*over.reservation, 15));
  CHECK(committed.state == reservation_state::committed);
  must(f.svc.commit(*ok.reservation, 10));
  CHECK(f.today_usage(u).messages_today == 2);
  CHECK(f.today_usage(u).tokens_today == 25);
  f.check_audit(u);
}

TEST_CASE("concurrent shadow requests over the limit are all admitted, each with a flagged denial") {
  service_fixture f(shadow_options());
  f.set_limits("free", 2, {}, {});
  const auto u = f.add_user("shadow-race");
  constexpr int threads = 4;
  constexpr int each = 5;
  std::vector<std::thread> pool;
  std::atomic<int> admitted{0};
  std::atomic<int> shadowed{0};
  std::atomic<int> failed{0};
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (int i = 0; i < each; ++i) {
        auto d = f.svc.try_consume(u, 3);
        if (!d) {
          ++failed;
          continue;
        }
        if (d.value().allowed) ++admitted;
        if (d.value().shadow) ++shadowed;
      }
    });
  }
  for (auto& th : pool) th.join();
  CHECK(failed == 0);
  CHECK(admitted == threads * each);
  CHECK(shadowed == threads * each - 2);
  CHECK(f.today_usage(u).messages_today == threads * each);
  const auto rows = denials(f, u);
  CHECK(rows.size() == static_cast<std::size_t>(threads * each - 2));
  for (const auto& e : rows) {
    REQUIRE(e.event_metadata.has_value());
    CHECK(parse_json(*e.event_metadata)["shadow"].as_bool());
  }
  CHECK(f.count_events(u, "usage_recorded") == static_cast<std::size_t>(threads * each - 2));
  CHECK(f.svc.metrics().shadow_denied_daily == static_cast<std::uint64_t>(threads * each - 2));
  f.check_audit(u);
}

TEST_CASE("without shadow mode the same requests are refused") {
  service_fixture f;
  CHECK_FALSE(f.svc.options().shadow);
  f.set_limits("free", 1, {}, {});
  const auto u = f.add_user("enforced");
  CHECK(f.consume(u).allowed);
  const auto d = f.consume(u);
  CHECK_FALSE(d.allowed);
  CHECK_FALSE(d.shadow);
  REQUIRE(denials(f, u).size() == 1);
  CHECK_FALSE(parse_json(*denials(f, u)[0].event_metadata).has("shadow"));
  CHECK(f.svc.metrics().shadow_denied_daily == 0);
}

// --- Denial cache ----------------------------------------------------------------

namespace {

service_options cache_options() {
  service_options o;
  o.deny_cache_ttl = default_deny_cache_ttl;
  return o;
}

/// Sets a tier's limits through the service with the cache. On PostgreSQL
/// the service also hears its own change announced, a few milliseconds
/// later, and drops its entries once more; the wait lets that pass so that
/// what follows sees the steady state.
void set_limits_quietly(service_fixture& f, std::string_view tier, limit per_day, limit per_month, limit tokens) {
  f.set_limits(tier, per_day, per_month, tokens);
  if (f.db.backend == "postgresql") std::this_thread::sleep_for(std::chrono::milliseconds(200));
}

}  // namespace

TEST_CASE("with the denial cache a repeated denial is answered from memory and written nowhere until the TTL") {
  service_fixture f(cache_options());
  set_limits_quietly(f, "free", 1, {}, {});
  const auto u = f.add_user("cached");
  CHECK(f.consume(u).allowed);
  const auto first = f.consume(u);
  REQUIRE_FALSE(first.allowed);
  CHECK_FALSE(first.cached);
  const auto second = f.consume(u);
  CHECK_FALSE(second.allowed);
  CHECK(second.cached);
  CHECK(second.denied_by == limit_kind::daily);
  CHECK(second.resets_at == first.resets_at);
  CHECK(second.retry_after == first.retry_after);
  CHECK(second.suggested_tier == first.suggested_tier);
  CHECK(f.count_events(u, "quota_exceeded") == 1);  // the cached answer is not audited

  f.advance(59s);
  const auto later = must(f.svc.reserve(u, 10));
  CHECK(later.cached);
  CHECK(later.retry_after == first.retry_after - 59s);  // counted from the instant answered
  f.advance(1s);
  const auto expired = f.consume(u);
  CHECK_FALSE(expired.allowed);
  CHECK_FALSE(expired.cached);  // the TTL passed: asked the storage again
  CHECK(f.count_events(u, "quota_exceeded") == 2);

  const auto m = f.svc.metrics();
  CHECK(m.denied_daily == 4);
  CHECK(m.cached_denials == 2);
  CHECK(to_prometheus(m).find("kauri_quota_cached_denials_total 2\n") != std::string::npos);
  CHECK(f.today_usage(u).messages_today == 1);
  f.check_audit(u);
}

TEST_CASE("a cached denial ends at the period boundary when it comes before the TTL") {
  service_fixture f(cache_options(), "2025-11-07T23:59:30Z");
  set_limits_quietly(f, "free", 1, {}, {});
  const auto u = f.add_user("midnight");
  CHECK(f.consume(u).allowed);
  CHECK_FALSE(f.consume(u).allowed);
  f.advance(29s);
  CHECK(f.consume(u).cached);
  f.advance(1s);  // 2025-11-08T00:00:00Z
  const auto d = f.consume(u);
  CHECK(d.allowed);
  CHECK_FALSE(d.cached);
}

TEST_CASE("this service's upgrade, reset, tier update and refund drop the cached denial at once") {
  service_fixture f(cache_options());
  set_limits_quietly(f, "free", 1, {}, {});
  const auto u = f.add_user("changes");
  const auto held = must(f.svc.reserve(u, 0));
  REQUIRE(held.reservation.has_value());
  REQUIRE_FALSE(f.consume(u).allowed);
  REQUIRE(f.consume(u).cached);

  SUBCASE("upgrade") { REQUIRE(must(f.svc.upgrade_subscription(u, tier_id{"pro"})).success); }
  SUBCASE("daily reset of the user") { REQUIRE(must(f.svc.reset_daily_quotas(u)) == 1); }
  SUBCASE("daily reset of everyone") { REQUIRE(must(f.svc.reset_daily_quotas()) >= 1); }
  SUBCASE("monthly reset") {
    set_limits_quietly(f, "free", {}, 1, {});
    REQUIRE_FALSE(f.consume(u).allowed);
    REQUIRE(f.consume(u).cached);
    REQUIRE(must(f.svc.reset_monthly_quotas(u)) == 1);
  }
  SUBCASE("tier update") { set_limits_quietly(f, "free", 5, {}, {}); }
  SUBCASE("refund of a reservation") { must(f.svc.release(*held.reservation)); }
  const auto d = f.consume(u);
  CHECK(d.allowed);
  CHECK_FALSE(d.cached);
}

TEST_CASE("requests with a request_id, and denials that depend on the request's size, bypass the cache") {
  service_fixture f(cache_options());
  set_limits_quietly(f, "free", 1, {}, 100);
  const auto u = f.add_user("bypass");
  REQUIRE(f.consume(u, 0, with_request_id("first")).allowed);
  REQUIRE_FALSE(f.consume(u).allowed);
  REQUIRE(f.consume(u).cached);
  // A retry of the admitted request gets its own answer, not the cached one.
  const auto retry = f.consume(u, 0, with_request_id("first"));
  CHECK(retry.allowed);
  CHECK(retry.replayed);
  CHECK_FALSE(retry.cached);

  set_limits_quietly(f, "free", {}, {}, 100);
  const auto v = f.add_user("bypass-tokens");
  REQUIRE(f.consume(v, 90).allowed);
  const auto big = f.consume(v, 20);
  REQUIRE(big.denied_by == limit_kind::tokens);
  const auto small = f.consume(v, 5);  // not refused from memory: it fits
  CHECK(small.allowed);
  CHECK_FALSE(small.cached);
  REQUIRE(f.consume(v, 5).allowed);  // the budget is now used up
  REQUIRE_FALSE(f.consume(v, 0).allowed);
  CHECK(f.consume(v, 0).cached);
}

TEST_CASE("the denial cache is off by default and ignored in shadow mode") {
  {
    service_fixture f;
    CHECK_FALSE(f.svc.options().deny_cache_ttl.has_value());
    set_limits_quietly(f, "free", 1, {}, {});
    const auto u = f.add_user("no-cache");
    REQUIRE(f.consume(u).allowed);
    REQUIRE_FALSE(f.consume(u).allowed);
    CHECK_FALSE(f.consume(u).cached);
    CHECK(f.count_events(u, "quota_exceeded") == 2);
  }
  {
    service_options o = cache_options();
    o.shadow = true;
    service_fixture f(o);
    set_limits_quietly(f, "free", 1, {}, {});
    const auto u = f.add_user("shadow-cache");
    for (int i = 0; i < 3; ++i) CHECK(f.consume(u).allowed);
    CHECK(f.today_usage(u).messages_today == 3);
  }
}

TEST_CASE("deny_cache_ttl and deny_cache_capacity are bounded") {
  service_fixture f;
  const auto with = [&](std::optional<std::chrono::seconds> ttl, std::size_t capacity) {
    service_options o;
    o.deny_cache_ttl = ttl;
    o.deny_cache_capacity = capacity;
    return quota_service::create(f.db.store, o);
  };
  check_error(with(0s, 1000), errc::invalid_argument);
  check_error(with(std::chrono::hours{2}, 1000), errc::invalid_argument);
  check_error(with(60s, 0), errc::invalid_argument);
  CHECK(with(1s, 1).has_value());
  CHECK(with(std::chrono::hours{1}, 1000).has_value());
  CHECK(with(std::nullopt, 0).has_value());  // the capacity of a cache that is off does not matter
}
