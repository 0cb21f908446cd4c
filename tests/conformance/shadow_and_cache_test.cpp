// Shadow mode: decisions computed and audited, over-limit requests admitted
// and counted. The denial cache: denials answered from memory until their
// period rolls over or the TTL passes, dropped by this service's changes.
#include "support/fixtures.hpp"

#include <string>

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

TEST_CASE("a shadow reservation beyond the limit is counted at its estimate and has nothing to settle") {
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
  CHECK_FALSE(over.reservation.has_value());
  must(f.svc.commit(*ok.reservation, 10));
  CHECK(f.today_usage(u).messages_today == 2);
  CHECK(f.today_usage(u).tokens_today == 50);
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
