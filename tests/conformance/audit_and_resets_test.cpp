// The audit log (usage_logs) and administrative resets. Per user and day,
// the counters equal what the audit rows add up to.
#include "support/fixtures.hpp"

#include <cstdio>
#include <set>
#include <string>
#include <vector>

using namespace kauri_quota;
using namespace kauri_quota::testing;
using namespace std::chrono_literals;

TEST_CASE("a message_sent audit row carries the counts, tier, request context, day and time") {
  service_fixture f;
  const auto u = f.add_user("alice");
  request_context ctx;
  ctx.ip = "2001:db8::1";
  ctx.user_agent = "Mozilla/5.0 (kauri)";
  REQUIRE(f.consume(u, 42, ctx).allowed);
  const auto events = f.events(u);
  REQUIRE_FALSE(events.empty());
  const auto& e = events.front();
  CHECK(e.id > 0);
  CHECK(e.user == u);
  CHECK(e.event_type == "message_sent");
  CHECK(e.messages_count == 1);
  CHECK(e.tokens_count == 42);
  CHECK(e.quota_tier == std::optional<std::string>{"free"});
  CHECK(e.request_ip == ctx.ip);
  CHECK(e.user_agent == ctx.user_agent);
  CHECK(e.usage_date == std::optional<local_date>{date("2025-11-07")});
  CHECK(e.event_timestamp == f.now());

  const auto doc = parse_json(to_json(e));
  CHECK(doc["event_type"].as_string() == "message_sent");
  CHECK(doc["messages_count"].as_int() == 1);
  CHECK(doc["tokens_count"].as_int() == 42);
  CHECK(doc.has("event_metadata"));
  CHECK_FALSE(doc.has("metadata"));
  f.check_audit(u);
}

TEST_CASE("increment_usage is audited as usage_recorded with its counts") {
  service_fixture f;
  const auto u = f.add_user("alice");
  const auto got = must(f.svc.increment_usage(u, 3, 250));
  CHECK(got.messages_today == 3);
  CHECK(got.tokens_today == 250);
  CHECK(got.messages_this_month == 3);
  CHECK(got.tokens_this_month == 250);
  const auto events = f.events(u);
  REQUIRE_FALSE(events.empty());
  CHECK(events.front().event_type == "usage_recorded");
  CHECK(events.front().messages_count == 3);
  CHECK(events.front().tokens_count == 250);
  f.check_audit(u);
}

TEST_CASE("increment_usage is unconditional: it records past the limits") {
  service_fixture f;
  const auto u = f.add_user("alice");
  const auto got = must(f.svc.increment_usage(u, 8, 200'000));
  CHECK(got.messages_today == 8);
  const auto q = f.quota(u);
  CHECK(q.messages_today == 8);
  CHECK(q.messages_remaining_today == limit{0});
  CHECK(q.tokens_remaining_month == limit{0});
  CHECK_FALSE(q.can_send_message);
  CHECK(q.is_quota_exceeded);
  f.check_audit(u);
}

TEST_CASE("counters equal the audit rows for every day of a mixed scenario") {
  service_options opts;
  opts.reservation_ttl = 60s;
  service_fixture f(opts);
  const auto u = f.add_user("alice", "pro");
  const auto other = f.add_user("bob");

  REQUIRE(f.consume_n(u, 3, 17) == 3);
  must(f.svc.increment_usage(u, 2, 100));
  auto r1 = must(f.svc.reserve(u, 500));
  REQUIRE(r1.reservation);
  must(f.svc.commit(*r1.reservation, 123));
  auto r2 = must(f.svc.reserve(u, 400));
  REQUIRE(r2.reservation);
  must(f.svc.release(*r2.reservation));
  auto r3 = must(f.svc.reserve(u, 300));
  REQUIRE(r3.reservation);
  REQUIRE(f.consume_n(other, 6) == 5);
  must(f.svc.upgrade_subscription(u, tier_id{"max"}));
  must(f.svc.log_usage_event(u, "note", 0, 0));
  f.check_audit(u);
  f.check_audit(other);

  f.advance(24h);
  must(f.svc.expire_reservations());
  REQUIRE(f.consume_n(u, 2, 5) == 2);
  auto r4 = must(f.svc.reserve(u, 50));
  REQUIRE(r4.reservation);
  must(f.svc.reset_daily_quotas(u));
  REQUIRE(f.consume(u, 9).allowed);
  must(f.svc.commit(*r4.reservation, 60));
  must(f.svc.upgrade_subscription(u, tier_id{"free"}));
  f.check_audit(u, {date("2025-11-07")});
  f.check_audit(other, {date("2025-11-07")});

  const auto day1 = f.usage_on(u, date("2025-11-07"));
  CHECK(day1.messages_today == 3 + 2 + 1 + 1);
  CHECK(day1.tokens_today == 3 * 17 + 100 + 123 + 300);
}

TEST_CASE("log_usage_event appends an informational event that changes no counter") {
  service_fixture f;
  const auto u = f.add_user("alice");
  REQUIRE(f.consume(u, 5).allowed);
  const auto q = f.quota(u);
  request_context ctx;
  ctx.ip = "198.51.100.4";
  ctx.user_agent = "ops-console";
  const auto e = must(f.svc.log_usage_event(u, "support_note", 3, 7, ctx, std::string{R"({"ticket":42})"}));
  CHECK(e.id > 0);
  CHECK(e.user == u);
  CHECK(e.event_type == "support_note");
  CHECK(e.request_ip == ctx.ip);
  CHECK(e.user_agent == ctx.user_agent);
  REQUIRE(e.event_metadata.has_value());
  const auto meta = parse_json(*e.event_metadata);
  CHECK(meta["ticket"].as_int() == 42);
  CHECK(e.event_timestamp == f.now());

  CHECK(f.quota(u) == q);
  const auto events = f.events(u);
  REQUIRE_FALSE(events.empty());
  CHECK(events.front().id == e.id);
  CHECK(events.front().event_type == "support_note");
  CHECK(events.front().event_metadata == e.event_metadata);
  f.check_audit(u);
}

TEST_CASE("get_events filters by event type, honours the limit and returns the newest first") {
  service_fixture f;
  const auto u = f.add_user("alice");
  const auto other = f.add_user("bob");
  for (int i = 0; i < 4; ++i) {
    REQUIRE(f.consume(u, i).allowed);
    f.advance(1s);
  }
  must(f.svc.log_usage_event(u, "support_note", 0, 0));
  REQUIRE(f.consume(other).allowed);

  event_query q;
  q.user = u;
  q.event_type = "message_sent";
  q.limit = 2;
  const auto two = must(f.svc.get_events(q));
  REQUIRE(two.size() == 2);
  for (const auto& e : two) {
    CHECK(e.event_type == "message_sent");
    CHECK(e.user == u);
  }
  CHECK(two[0].id > two[1].id);
  CHECK(two[0].tokens_count == 3);
  CHECK(two[1].tokens_count == 2);
  CHECK(two[0].event_timestamp > two[1].event_timestamp);

  q.limit = 100;
  CHECK(must(f.svc.get_events(q)).size() == 4);

  q.event_type.reset();
  const auto all = must(f.svc.get_events(q));
  REQUIRE_FALSE(all.empty());
  CHECK(all.front().event_type == "support_note");
  for (std::size_t i = 1; i < all.size(); ++i) CHECK(all[i - 1].id > all[i].id);
  for (const auto& e : all) CHECK(e.user == u);

  q.event_type = "no_such_event";
  CHECK(must(f.svc.get_events(q)).empty());

  const auto doc = parse_json(to_json(two));
  REQUIRE(doc.type == json_value::kind::array);
  CHECK(doc.items.size() == 2);
  f.check_audit(u);
}

TEST_CASE("reset_daily_quotas zeroes today's counters of every user and returns how many it touched") {
  service_fixture f;
  const auto a = f.add_user("alice");
  const auto b = f.add_user("bob");
  REQUIRE(f.consume_n(a, 5, 10) == 5);
  REQUIRE(f.consume_n(b, 2, 10) == 2);
  CHECK(must(f.svc.reset_daily_quotas()) == 2);

  for (const auto& u : {a, b}) {
    INFO("user " << u.str());
    const auto q = f.quota(u);
    CHECK(q.messages_today == 0);
    CHECK(q.tokens_today == 0);
    CHECK(q.can_send_message);
    CHECK(f.count_events(u, "daily_reset") == 1);
    f.check_audit(u);
  }
  CHECK(f.consume(a).allowed);
  f.check_audit(a);
}

TEST_CASE("reset_daily_quotas for one user touches only that user") {
  service_fixture f;
  const auto a = f.add_user("alice");
  const auto b = f.add_user("bob");
  REQUIRE(f.consume_n(a, 5) == 5);
  REQUIRE(f.consume_n(b, 3) == 3);
  CHECK(must(f.svc.reset_daily_quotas(a)) == 1);
  CHECK(f.quota(a).messages_today == 0);
  CHECK(f.quota(b).messages_today == 3);
  CHECK(f.count_events(a, "daily_reset") == 1);
  CHECK(f.count_events(b, "daily_reset") == 0);
  f.check_audit(a);
  f.check_audit(b);
}

TEST_CASE("reset_monthly_quotas zeroes the month's counters and lifts a monthly denial") {
  service_fixture f;
  f.set_limits("free", std::nullopt, limit{3}, limit{1000});
  const auto u = f.add_user("alice");
  REQUIRE(f.consume_n(u, 2, 100) == 2);
  f.advance(24h);
  REQUIRE(f.consume(u, 100).allowed);
  REQUIRE_FALSE(f.consume(u).allowed);

  CHECK(must(f.svc.reset_monthly_quotas()) == 1);
  const auto q = f.quota(u);
  CHECK(q.messages_this_month == 0);
  CHECK(q.tokens_this_month == 0);
  CHECK(q.messages_remaining_month == limit{3});
  CHECK(q.can_send_message);
  // One monthly_reset row per day of the month it zeroed, so that each
  // day's audit rows still add up to that day's counters.
  std::set<local_date> reset_days;
  for (const auto& e : f.events(u)) {
    if (e.event_type == "monthly_reset") {
      REQUIRE(e.usage_date.has_value());
      reset_days.insert(*e.usage_date);
    }
  }
  CHECK(reset_days == std::set<local_date>{date("2025-11-07"), date("2025-11-08")});
  CHECK(f.consume(u).allowed);
  CHECK(f.quota(u).messages_this_month == 1);
  f.check_audit(u, {date("2025-11-07")});
}

TEST_CASE("reset_monthly_quotas for one user touches only that user") {
  service_fixture f;
  const auto a = f.add_user("alice");
  const auto b = f.add_user("bob");
  REQUIRE(f.consume_n(a, 2) == 2);
  REQUIRE(f.consume_n(b, 4) == 4);
  CHECK(must(f.svc.reset_monthly_quotas(b)) == 1);
  CHECK(f.quota(a).messages_this_month == 2);
  CHECK(f.quota(b).messages_this_month == 0);
  CHECK(f.count_events(b, "monthly_reset") >= 1);
  CHECK(f.count_events(a, "monthly_reset") == 0);
  f.check_audit(a);
  f.check_audit(b);
}

TEST_CASE("a reset of every user goes by chunks of users and resets each user once, across the chunks' edges") {
  // 500 users a chunk: 2001 users make five chunks, the last of one user.
  service_fixture f;
  std::vector<user_id> users;
  for (int i = 0; i < 2001; ++i) {
    char id[16];
    (void)std::snprintf(id, sizeof id, "u%05d", i);
    users.push_back(f.add_user(id));
  }
  // Users 0, 3, 6, ... and the edges of the chunks (999, 1000, 1999, 2000)
  // have usage; the others have none.
  std::set<int> used;
  for (int i = 0; i < 2001; i += 3) used.insert(i);
  used.insert({499, 500, 999, 1000, 1499, 1500, 1999, 2000});
  for (int i : used) REQUIRE(f.consume(users[static_cast<std::size_t>(i)], 7).allowed);
  const auto n_used = static_cast<std::int64_t>(used.size());

  CHECK(must(f.svc.reset_daily_quotas()) == n_used);
  for (int i : {0, 1, 499, 500, 998, 999, 1000, 1001, 1499, 1500, 1998, 1999, 2000}) {
    const auto& u = users[static_cast<std::size_t>(i)];
    INFO("user " << u.str());
    CHECK(f.quota(u).messages_today == 0);
    CHECK(f.count_events(u, "daily_reset") == (used.count(i) != 0 ? 1 : 0));
    f.check_audit(u);
  }
  // Nothing is left to reset: a second run touches nobody.
  CHECK(must(f.svc.reset_daily_quotas()) == 0);

  // A daily reset takes its counts off the month too: count again.
  for (int i : used) REQUIRE(f.consume(users[static_cast<std::size_t>(i)], 7).allowed);
  CHECK(must(f.svc.reset_monthly_quotas()) == n_used);
  for (int i : {499, 500, 999, 1000, 2000}) {
    const auto& u = users[static_cast<std::size_t>(i)];
    INFO("user " << u.str());
    CHECK(f.quota(u).messages_this_month == 0);
    CHECK(f.quota(u).tokens_this_month == 0);
    CHECK(f.count_events(u, "monthly_reset") == 1);
    f.check_audit(u);
  }
}

TEST_CASE("resets on a database without usage touch nobody") {
  service_fixture f;
  f.add_user("alice");
  CHECK(must(f.svc.reset_daily_quotas()) == 0);
  CHECK(must(f.svc.reset_monthly_quotas()) == 0);
}
