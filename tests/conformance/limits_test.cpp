// Limits: daily, monthly and token limits; unlimited (null) and zero;
// all-or-nothing denials; the warning threshold; the denial payload.
#include "support/fixtures.hpp"

#include <string>

using namespace kauri_quota;
using namespace kauri_quota::testing;
using namespace std::chrono_literals;

TEST_CASE("try_consume admits 5 messages of a free user's day and denies the 6th without counting it") {
  service_fixture f;
  const auto u = f.add_user("alice");
  for (int i = 1; i <= 5; ++i) {
    const auto d = f.consume(u);
    INFO("message " << i);
    CHECK(d.allowed);
    CHECK(d.denied_by == limit_kind::none);
    CHECK_FALSE(d.replayed);
    CHECK(d.retry_after == 0s);
    CHECK(d.quota.messages_today == i);
    CHECK(d.quota.messages_this_month == i);
    CHECK(d.quota.messages_remaining_today == limit{5 - i});
  }
  const auto denied = f.consume(u);
  CHECK_FALSE(denied.allowed);
  CHECK(denied.denied_by == limit_kind::daily);
  CHECK_FALSE(denied.reservation.has_value());
  CHECK(denied.quota.messages_today == 5);
  CHECK(denied.quota.messages_this_month == 5);
  CHECK(denied.quota.messages_remaining_today == limit{0});
  CHECK_FALSE(denied.quota.can_send_message);
  CHECK(denied.quota.is_quota_exceeded);
  CHECK(denied.quota.needs_upgrade);
  CHECK(denied.resets_at == at("2025-11-08T00:00:00Z"));
  CHECK(denied.retry_after == 14h);
  CHECK(denied.suggested_tier == std::optional<tier_id>{tier_id{"pro"}});

  const auto q = f.quota(u);
  CHECK(q.messages_today == 5);
  CHECK(q.messages_this_month == 5);
  CHECK_FALSE(q.can_send_message);
  CHECK(q.is_quota_exceeded);
  CHECK(f.count_events(u, "message_sent") == 5);
  CHECK(f.count_events(u, "quota_exceeded") == 1);
  f.check_audit(u);
}

TEST_CASE("the quota_exceeded audit row of a denial names the tier and changes no counter") {
  service_fixture f;
  const auto u = f.add_user("alice");
  REQUIRE(f.consume_n(u, 5) == 5);
  request_context ctx;
  ctx.ip = "203.0.113.7";
  ctx.user_agent = "kauri-web/1.0";
  REQUIRE_FALSE(f.consume(u, 0, ctx).allowed);
  const auto events = f.events(u);
  REQUIRE_FALSE(events.empty());
  const auto& e = events.front();  // newest first
  CHECK(e.event_type == "quota_exceeded");
  CHECK(e.messages_count == 0);
  CHECK(e.tokens_count == 0);
  CHECK(e.quota_tier == std::optional<std::string>{"free"});
  CHECK(e.request_ip == ctx.ip);
  CHECK(e.user_agent == ctx.user_agent);
  CHECK(e.event_timestamp == f.now());
  f.check_audit(u);
}

TEST_CASE("the denial payload is the 429 body: quota_exceeded, the daily limit, reset time, retry-after and tier") {
  service_fixture f;
  const auto u = f.add_user("alice");
  REQUIRE(f.consume_n(u, 5) == 5);
  const auto denied = f.consume(u);
  REQUIRE_FALSE(denied.allowed);
  const auto text = denial_payload_json(denied);
  INFO("denial_payload_json = " << text);
  const auto doc = parse_json(text);
  CHECK(doc["error"].as_string() == "quota_exceeded");
  CHECK(doc["retry_after_seconds"].as_int() == 14 * 3600);
  CHECK(contains_string(doc, "daily"));
  CHECK(contains_string(doc, "free"));
  CHECK(contains_string(doc, "pro"));
  bool reset_found = false;
  for (const auto& [k, v] : doc.members) {
    if (v.type == json_value::kind::string && v.text.starts_with("2025-11-08T00:00:00")) reset_found = true;
  }
  CHECK(reset_found);
  CHECK(doc["limit"].as_string() == "daily");
  CHECK(doc["subscription_tier"].as_string() == "free");
  CHECK(doc["suggested_tier"].as_string() == "pro");
  const auto& en = doc["message"].as_string();
  const auto& fr = doc["message_fr"].as_string();
  CHECK_FALSE(en.empty());
  CHECK_FALSE(fr.empty());
  CHECK(en != fr);

  const auto decision_doc = parse_json(to_json(denied));
  CHECK(decision_doc["allowed"].as_bool() == false);
  CHECK(decision_doc["denied_by"].as_string() == "daily");
  f.check_audit(u);
}

TEST_CASE("try_consume denies the 4th message of a month limited to 3, across days, with denied_by monthly") {
  service_fixture f;
  f.set_limits("free", std::nullopt, limit{3}, std::nullopt);
  const auto u = f.add_user("alice");
  for (int day = 0; day < 3; ++day) {
    const auto d = f.consume(u);
    INFO("day " << day);
    CHECK(d.allowed);
    CHECK(d.quota.messages_today == 1);
    CHECK(d.quota.messages_this_month == day + 1);
    f.advance(24h);
  }
  CHECK(f.quota(u).messages_today == 0);
  const auto denied = f.consume(u);
  CHECK_FALSE(denied.allowed);
  CHECK(denied.denied_by == limit_kind::monthly);
  CHECK(denied.resets_at == at("2025-12-01T00:00:00Z"));
  CHECK(denied.retry_after == std::chrono::duration_cast<std::chrono::seconds>(at("2025-12-01T00:00:00Z") - f.now()));
  CHECK(denied.quota.messages_today == 0);
  CHECK(denied.quota.messages_this_month == 3);
  CHECK(denied.quota.messages_remaining_month == limit{0});
  CHECK(f.quota(u).messages_this_month == 3);
  f.check_audit(u, {date("2025-11-07"), date("2025-11-08"), date("2025-11-09")});
}

TEST_CASE("the 151st message of a free user's month is denied by the monthly limit") {
  service_fixture f;
  const auto u = f.add_user("alice");
  // 50 messages recorded on each of three days (increment_usage is unconditional).
  for (int day = 0; day < 3; ++day) {
    must(f.svc.increment_usage(u, 50, 0));
    f.advance(24h);
  }
  const auto q = f.quota(u);
  CHECK(q.messages_today == 0);
  CHECK(q.messages_this_month == 150);
  CHECK(q.messages_remaining_month == limit{0});
  CHECK_FALSE(q.can_send_message);
  const auto denied = f.consume(u);
  CHECK_FALSE(denied.allowed);
  CHECK(denied.denied_by == limit_kind::monthly);
  CHECK(f.quota(u).messages_this_month == 150);
  f.check_audit(u, {date("2025-11-07"), date("2025-11-08"), date("2025-11-09")});
}

TEST_CASE("a token limit of 100 admits 60, denies 60 more, admits the last 40, then denies anything") {
  service_fixture f;
  f.set_limits("free", std::nullopt, std::nullopt, limit{100});
  const auto u = f.add_user("alice");

  auto d = f.consume(u, 60);
  CHECK(d.allowed);
  CHECK(d.quota.tokens_this_month == 60);
  CHECK(d.quota.tokens_remaining_month == limit{40});

  d = f.consume(u, 60);
  CHECK_FALSE(d.allowed);
  CHECK(d.denied_by == limit_kind::tokens);
  CHECK(d.quota.tokens_this_month == 60);
  CHECK(d.quota.messages_today == 1);

  d = f.consume(u, 40);
  CHECK(d.allowed);
  CHECK(d.quota.tokens_this_month == 100);
  CHECK(d.quota.tokens_remaining_month == limit{0});

  d = f.consume(u, 0);
  CHECK_FALSE(d.allowed);
  CHECK(d.denied_by == limit_kind::tokens);
  d = f.consume(u, 1);
  CHECK_FALSE(d.allowed);
  CHECK(d.denied_by == limit_kind::tokens);
  CHECK(d.resets_at == at("2025-12-01T00:00:00Z"));

  const auto q = f.quota(u);
  CHECK(q.messages_today == 2);
  CHECK(q.tokens_today == 100);
  CHECK(q.tokens_this_month == 100);
  CHECK_FALSE(q.can_send_message);
  CHECK_FALSE(must(f.svc.can_send_message(u)));
  f.check_audit(u);
}

TEST_CASE("unlimited (null) limits never deny: an enterprise user sends 1000 messages in a day") {
  service_fixture f;
  const auto u = f.add_user("big-corp", "enterprise");
  CHECK(f.consume_n(u, 1000, 1'000'000) == 1000);
  const auto q = f.quota(u);
  CHECK(q.messages_today == 1000);
  CHECK(q.messages_this_month == 1000);
  CHECK(q.tokens_this_month == 1'000'000'000);
  CHECK(q.can_send_message);
  CHECK_FALSE(q.is_quota_exceeded);
  f.check_audit(u);
}

TEST_CASE("a zero daily limit denies every message, as daily") {
  service_fixture f;
  f.set_limits("free", limit{0}, std::nullopt, std::nullopt);
  const auto u = f.add_user("alice");
  const auto d = f.consume(u);
  CHECK_FALSE(d.allowed);
  CHECK(d.denied_by == limit_kind::daily);
  CHECK_FALSE(must(f.svc.can_send_message(u)));
  CHECK(f.quota(u).messages_today == 0);
  CHECK(f.quota(u).messages_remaining_today == limit{0});
  f.check_audit(u);
}

TEST_CASE("a zero monthly limit denies every message, as monthly") {
  service_fixture f;
  f.set_limits("free", std::nullopt, limit{0}, std::nullopt);
  const auto u = f.add_user("alice");
  const auto d = f.consume(u);
  CHECK_FALSE(d.allowed);
  CHECK(d.denied_by == limit_kind::monthly);
  CHECK(f.quota(u).messages_this_month == 0);
  f.check_audit(u);
}

TEST_CASE("a zero token limit denies every message, even one announcing no tokens") {
  service_fixture f;
  f.set_limits("free", std::nullopt, std::nullopt, limit{0});
  const auto u = f.add_user("alice");
  const auto d = f.consume(u, 0);
  CHECK_FALSE(d.allowed);
  CHECK(d.denied_by == limit_kind::tokens);
  CHECK(f.quota(u).messages_today == 0);
  f.check_audit(u);
}

TEST_CASE("a denial is all-or-nothing: a message refused for its tokens is not counted either") {
  service_fixture f;
  f.set_limits("free", limit{5}, limit{150}, limit{100});
  const auto u = f.add_user("alice");
  REQUIRE(f.consume(u, 90).allowed);
  const auto d = f.consume(u, 20);
  CHECK_FALSE(d.allowed);
  CHECK(d.denied_by == limit_kind::tokens);
  const auto q = f.quota(u);
  CHECK(q.messages_today == 1);
  CHECK(q.messages_this_month == 1);
  CHECK(q.tokens_today == 90);
  CHECK(q.tokens_this_month == 90);
  f.check_audit(u);
}

TEST_CASE("a denial is all-or-nothing: tokens of a message refused by the daily limit are not counted") {
  service_fixture f;
  const auto u = f.add_user("alice");
  REQUIRE(f.consume_n(u, 5, 10) == 5);
  const auto d = f.consume(u, 500);
  CHECK_FALSE(d.allowed);
  CHECK(d.denied_by == limit_kind::daily);
  const auto q = f.quota(u);
  CHECK(q.messages_today == 5);
  CHECK(q.tokens_today == 50);
  CHECK(q.tokens_this_month == 50);
  f.check_audit(u);
}

TEST_CASE("a refused reservation counts nothing and issues no reservation") {
  service_fixture f;
  f.set_limits("free", limit{5}, limit{150}, limit{100});
  const auto u = f.add_user("alice");
  const auto d = must(f.svc.reserve(u, 101));
  CHECK_FALSE(d.allowed);
  CHECK(d.denied_by == limit_kind::tokens);
  CHECK_FALSE(d.reservation.has_value());
  const auto q = f.quota(u);
  CHECK(q.messages_today == 0);
  CHECK(q.tokens_today == 0);
  f.check_audit(u);
}

TEST_CASE("the warning threshold is reached at 80% of the daily limit and audited once per day") {
  service_fixture f;
  const auto u = f.add_user("alice");
  REQUIRE(f.consume_n(u, 3) == 3);
  CHECK_FALSE(f.quota(u).warning_threshold_reached);
  CHECK(f.count_events(u, "quota_warning") == 0);

  const auto fourth = f.consume(u);
  CHECK(fourth.allowed);
  CHECK(fourth.quota.warning_threshold_reached);
  CHECK(f.quota(u).warning_threshold_reached);
  CHECK(f.count_events(u, "quota_warning") == 1);

  REQUIRE(f.consume(u).allowed);
  REQUIRE_FALSE(f.consume(u).allowed);
  CHECK(f.count_events(u, "quota_warning") == 1);

  f.advance(24h);
  CHECK_FALSE(f.quota(u).warning_threshold_reached);
  REQUIRE(f.consume_n(u, 3) == 3);
  CHECK(f.count_events(u, "quota_warning") == 1);
  REQUIRE(f.consume(u).allowed);
  CHECK(f.count_events(u, "quota_warning") == 2);
  REQUIRE(f.consume(u).allowed);
  CHECK(f.count_events(u, "quota_warning") == 2);
  f.check_audit(u, {date("2025-11-07")});
}

TEST_CASE("the warning threshold is reached at 80% of the monthly token limit") {
  service_fixture f;
  f.set_limits("free", std::nullopt, std::nullopt, limit{1000});
  const auto u = f.add_user("alice");
  REQUIRE(f.consume(u, 799).allowed);
  CHECK_FALSE(f.quota(u).warning_threshold_reached);
  REQUIRE(f.consume(u, 1).allowed);
  CHECK(f.quota(u).warning_threshold_reached);
  CHECK(f.count_events(u, "quota_warning") == 1);
  f.check_audit(u);
}

TEST_CASE("the warning threshold is configurable through service_options") {
  service_options opts;
  opts.warning_threshold = 0.5;
  service_fixture f(opts);
  const auto u = f.add_user("alice");
  REQUIRE(f.consume_n(u, 2) == 2);
  CHECK_FALSE(f.quota(u).warning_threshold_reached);
  REQUIRE(f.consume(u).allowed);
  CHECK(f.quota(u).warning_threshold_reached);
  CHECK(f.count_events(u, "quota_warning") == 1);
  f.check_audit(u);
}

TEST_CASE("a denial suggests the next tier up whose limit is higher") {
  service_fixture f;
  const auto on_max = f.add_user("max-user", "max");
  must(f.svc.increment_usage(on_max, 500, 0));
  const auto d = f.consume(on_max);
  CHECK_FALSE(d.allowed);
  CHECK(d.denied_by == limit_kind::daily);
  CHECK(d.suggested_tier == std::optional<tier_id>{tier_id{"enterprise"}});

  const auto on_free = f.add_user("free-user");
  must(f.svc.increment_usage(on_free, 0, 100'000));
  const auto t = f.consume(on_free);
  CHECK_FALSE(t.allowed);
  CHECK(t.denied_by == limit_kind::tokens);
  CHECK(t.suggested_tier == std::optional<tier_id>{tier_id{"pro"}});
  f.check_audit(on_max);
  f.check_audit(on_free);
}

TEST_CASE("new limits of a tier apply at once to the users already on it") {
  service_fixture f;
  const auto u = f.add_user("alice", "pro");
  REQUIRE(f.consume_n(u, 3) == 3);
  f.set_limits("pro", limit{3}, limit{3000}, limit{3'000'000});
  const auto d = f.consume(u);
  CHECK_FALSE(d.allowed);
  CHECK(d.denied_by == limit_kind::daily);
  CHECK(f.quota(u).messages_per_day_limit == limit{3});
  f.set_limits("pro", std::nullopt, limit{3000}, limit{3'000'000});
  CHECK(f.consume(u).allowed);
  CHECK_FALSE(f.quota(u).messages_per_day_limit.has_value());
  f.check_audit(u);
}
