// Limit evaluation, warnings, quota info, usage stats and denials.
#include "core/policy.hpp"
#include "core/period.hpp"
#include "support/fixtures.hpp"  // expected_fresh_free_quota

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace kauri_quota {

using detail::evaluate;
using std::chrono::days;
using std::chrono::December;
using std::chrono::hours;
using std::chrono::microseconds;
using std::chrono::November;
using std::chrono::seconds;
using std::chrono::sys_days;

namespace {

tier make_tier(const char* id, const char* name, const char* name_fr, limit per_day, limit per_month, limit tokens,
               std::int32_t order) {
  tier t;
  t.id = tier_id{id};
  t.name = name;
  t.name_fr = name_fr;
  t.messages_per_day = per_day;
  t.messages_per_month = per_month;
  t.tokens_per_month = tokens;
  t.display_order = order;
  return t;
}

tier free_tier() { return make_tier("free", "Free", "Gratuit", 5, 150, 100'000, 0); }
tier pro_tier() { return make_tier("pro", "Pro", "Pro", 100, 3'000, 3'000'000, 1); }
tier max_tier() { return make_tier("max", "Max", "Max", 500, 15'000, 15'000'000, 2); }
tier enterprise_tier() {
  return make_tier("enterprise", "Enterprise", "Entreprise", std::nullopt, std::nullopt, std::nullopt, 3);
}
std::vector<tier> default_tiers() { return {free_tier(), pro_tier(), max_tier(), enterprise_tier()}; }

usage counters(std::int64_t today, std::int64_t month, std::int64_t tokens_month = 0) {
  usage u;
  u.user = user_id{"u1"};
  u.usage_date = 2025y / November / 7d;
  u.messages_today = today;
  u.messages_this_month = month;
  u.tokens_this_month = tokens_month;
  return u;
}

detail::zone utc_zone() { return detail::zone::locate("UTC").value(); }

usage_snapshot fresh_free_user() {
  usage_snapshot s;
  s.sub.user = user_id{"7336840a-b662-428b-b912-ffcf4dd0635d"};
  s.sub.tier = tier_id{"free"};
  s.applied = free_tier();
  s.counters.user = s.sub.user;
  s.counters.usage_date = 2025y / November / 7d;
  return s;
}

constexpr std::int64_t int64_max = std::numeric_limits<std::int64_t>::max();

}  // namespace

TEST_CASE("evaluate admits the 5th message of a 5-per-day tier") {
  CHECK(evaluate(free_tier(), counters(4, 4), 1, 0) == limit_kind::none);
}

TEST_CASE("evaluate refuses the 6th message of a 5-per-day tier") {
  CHECK(evaluate(free_tier(), counters(5, 5), 1, 0) == limit_kind::daily);
}

TEST_CASE("evaluate refuses a message past the monthly limit even on a fresh day") {
  CHECK(evaluate(free_tier(), counters(0, 150), 1, 0) == limit_kind::monthly);
  CHECK(evaluate(free_tier(), counters(0, 149), 1, 0) == limit_kind::none);
}

TEST_CASE("evaluate checks daily, then monthly, then tokens") {
  CHECK(evaluate(free_tier(), counters(5, 150, 100'000), 1, 0) == limit_kind::daily);
  CHECK(evaluate(free_tier(), counters(0, 150, 100'000), 1, 0) == limit_kind::monthly);
  CHECK(evaluate(free_tier(), counters(0, 0, 100'000), 1, 0) == limit_kind::tokens);
}

TEST_CASE("evaluate counts several messages at once against the limits") {
  CHECK(evaluate(free_tier(), counters(3, 3), 2, 0) == limit_kind::none);
  CHECK(evaluate(free_tier(), counters(3, 3), 3, 0) == limit_kind::daily);
}

TEST_CASE("evaluate never refuses on unlimited (NULL) limits") {
  CHECK(evaluate(enterprise_tier(), counters(1'000'000, 1'000'000'000, 999'999'999'999), 1, 1'000'000) ==
        limit_kind::none);
  CHECK(evaluate(enterprise_tier(), counters(int64_max, int64_max, int64_max), 1, 1) == limit_kind::none);
}

TEST_CASE("evaluate always refuses a message on a zero limit") {
  tier t = free_tier();
  t.messages_per_day = 0;
  CHECK(evaluate(t, counters(0, 0), 1, 0) == limit_kind::daily);
  t = free_tier();
  t.messages_per_month = 0;
  CHECK(evaluate(t, counters(0, 0), 1, 0) == limit_kind::monthly);
  t = free_tier();
  t.tokens_per_month = 0;
  CHECK(evaluate(t, counters(0, 0), 1, 0) == limit_kind::tokens);
}

TEST_CASE("evaluate admits a token estimate that fits the monthly token limit") {
  CHECK(evaluate(free_tier(), counters(0, 0, 90'000), 1, 10'000) == limit_kind::none);
}

TEST_CASE("evaluate refuses a token estimate that does not fit the monthly token limit") {
  CHECK(evaluate(free_tier(), counters(0, 0, 90'000), 1, 10'001) == limit_kind::tokens);
}

TEST_CASE("evaluate refuses any message once the token limit is exhausted") {
  CHECK(evaluate(free_tier(), counters(0, 0, 100'000), 1, 0) == limit_kind::tokens);
  CHECK(evaluate(free_tier(), counters(0, 0, 120'000), 1, 0) == limit_kind::tokens);
  CHECK(evaluate(free_tier(), counters(0, 0, 99'999), 1, 0) == limit_kind::none);
}

TEST_CASE("evaluate of nothing at all refuses nothing") {
  CHECK(evaluate(free_tier(), counters(5, 150, 100'000), 0, 0) == limit_kind::none);
}

TEST_CASE("evaluate of tokens alone ignores the message limits") {
  CHECK(evaluate(free_tier(), counters(5, 150, 0), 0, 10) == limit_kind::none);
  CHECK(evaluate(free_tier(), counters(5, 150, 99'995), 0, 10) == limit_kind::tokens);
}

TEST_CASE("evaluate does not overflow on huge counts") {
  CHECK(evaluate(free_tier(), counters(0, 0, 0), 1, int64_max) == limit_kind::tokens);
  CHECK(evaluate(free_tier(), counters(int64_max, 0, 0), 1, 0) == limit_kind::daily);
  CHECK(evaluate(free_tier(), counters(0, 0, int64_max), 1, int64_max) == limit_kind::tokens);
}

TEST_CASE("the warning threshold is reached at 80% of any limit") {
  CHECK_FALSE(detail::at_warning(free_tier(), counters(3, 3, 0), 0.8));
  CHECK(detail::at_warning(free_tier(), counters(4, 4, 0), 0.8));    // 4/5 daily
  CHECK(detail::at_warning(free_tier(), counters(0, 120, 0), 0.8));  // 120/150 monthly
  CHECK_FALSE(detail::at_warning(free_tier(), counters(0, 119, 79'999), 0.8));
  CHECK(detail::at_warning(free_tier(), counters(0, 0, 80'000), 0.8));  // tokens
  CHECK_FALSE(detail::at_warning(enterprise_tier(), counters(1'000, 1'000'000, 1'000'000), 0.8));
}

TEST_CASE("the warning threshold honours a threshold that is not exact in binary") {
  tier t = free_tier();
  t.messages_per_day = 100;  // 0.55 * 100 is 55.00000000000001 in binary
  CHECK(detail::at_warning(t, counters(55, 55, 0), 0.55));
  CHECK_FALSE(detail::at_warning(t, counters(54, 54, 0), 0.55));
}

TEST_CASE("a zero limit counts as a reached warning threshold") {
  tier t = enterprise_tier();
  t.messages_per_day = 0;
  CHECK(detail::at_warning(t, counters(0, 0, 0), 0.8));
}

TEST_CASE("warnings_crossed reports each limit that crosses the threshold once") {
  const tier t = free_tier();
  CHECK(detail::warnings_crossed(t, counters(3, 3, 0), counters(4, 4, 0), 0.8) ==
        std::vector<limit_kind>{limit_kind::daily});
  CHECK(detail::warnings_crossed(t, counters(4, 4, 0), counters(5, 5, 0), 0.8).empty());
  CHECK(detail::warnings_crossed(t, counters(3, 119, 79'000), counters(4, 120, 81'000), 0.8) ==
        std::vector<limit_kind>{limit_kind::daily, limit_kind::monthly, limit_kind::tokens});
  CHECK(detail::warnings_crossed(enterprise_tier(), counters(0, 0, 0), counters(100, 100, 100), 0.8).empty());
}

TEST_CASE("make_quota_info of a fresh free user matches the spec field by field") {
  CHECK(detail::make_quota_info(fresh_free_user(), utc_zone(), 0.8) ==
        testing::expected_fresh_free_quota(user_id{"7336840a-b662-428b-b912-ffcf4dd0635d"}, 2025y / November / 7d));
}

TEST_CASE("make_quota_info of an exhausted day says the user must upgrade") {
  usage_snapshot s = fresh_free_user();
  s.counters.messages_today = 5;
  s.counters.messages_this_month = 40;
  const quota_info q = detail::make_quota_info(s, utc_zone(), 0.8);
  CHECK(q.messages_remaining_today == limit{0});
  CHECK(q.messages_remaining_month == limit{110});
  CHECK_FALSE(q.can_send_message);
  CHECK(q.is_quota_exceeded);
  CHECK(q.needs_upgrade);
  CHECK(q.warning_threshold_reached);
}

TEST_CASE("make_quota_info never reports negative remaining counts") {
  usage_snapshot s = fresh_free_user();
  s.counters.messages_today = 7;
  s.counters.messages_this_month = 200;
  s.counters.tokens_this_month = 150'000;
  const quota_info q = detail::make_quota_info(s, utc_zone(), 0.8);
  CHECK(q.messages_remaining_today == limit{0});
  CHECK(q.messages_remaining_month == limit{0});
  CHECK(q.tokens_remaining_month == limit{0});
}

TEST_CASE("make_quota_info of an unlimited tier has no limits and no remaining counts") {
  usage_snapshot s = fresh_free_user();
  s.applied = enterprise_tier();
  s.counters.messages_today = 10'000;
  const quota_info q = detail::make_quota_info(s, utc_zone(), 0.8);
  CHECK(q.subscription_tier == tier_id{"enterprise"});
  CHECK(q.tier_name_fr == "Entreprise");
  CHECK_FALSE(q.messages_per_day_limit.has_value());
  CHECK_FALSE(q.messages_remaining_today.has_value());
  CHECK_FALSE(q.messages_remaining_month.has_value());
  CHECK_FALSE(q.tokens_remaining_month.has_value());
  CHECK(q.can_send_message);
  CHECK_FALSE(q.warning_threshold_reached);
}

TEST_CASE("make_quota_info reports resets in the quota time zone") {
  const auto paris = detail::zone::locate("Europe/Paris").value();
  const quota_info q = detail::make_quota_info(fresh_free_user(), paris, 0.8);
  CHECK(q.daily_resets_at == sys_time{sys_days{2025y / November / 7d}} + hours{23});
  CHECK(q.monthly_resets_at == sys_time{sys_days{2025y / November / 30d}} + hours{23});
}

TEST_CASE("usage stats give percentages rounded to two decimals") {
  usage_snapshot s = fresh_free_user();
  s.counters.messages_today = 2;
  s.counters.messages_this_month = 50;
  s.counters.tokens_this_month = 12'345;
  const usage_stats st = detail::make_usage_stats(detail::make_quota_info(s, utc_zone(), 0.8), 0.8);
  REQUIRE(st.daily_percent.has_value());
  CHECK(*st.daily_percent == doctest::Approx(40.0));
  CHECK(*st.monthly_percent == doctest::Approx(33.33));
  CHECK(*st.tokens_percent == doctest::Approx(12.35));
  CHECK(st.warnings.empty());
}

TEST_CASE("usage stats warn for every limit at or above the threshold") {
  usage_snapshot s = fresh_free_user();
  s.counters.messages_today = 4;
  s.counters.messages_this_month = 120;
  s.counters.tokens_this_month = 50'000;
  const usage_stats st = detail::make_usage_stats(detail::make_quota_info(s, utc_zone(), 0.8), 0.8);
  REQUIRE(st.warnings.size() == 2);
  CHECK(st.warnings[0] == "You have used 80% of your daily messages (4/5).");
  CHECK(st.warnings[1] == "You have used 80% of your monthly messages (120/150).");
}

TEST_CASE("usage stats of unlimited limits have no percentage and zero limits count as 100%") {
  usage_snapshot s = fresh_free_user();
  s.applied = enterprise_tier();
  s.applied.tokens_per_month = 0;
  const usage_stats st = detail::make_usage_stats(detail::make_quota_info(s, utc_zone(), 0.8), 0.8);
  CHECK_FALSE(st.daily_percent.has_value());
  CHECK_FALSE(st.monthly_percent.has_value());
  REQUIRE(st.tokens_percent.has_value());
  CHECK(*st.tokens_percent == doctest::Approx(100.0));
  REQUIRE(st.warnings.size() == 1);
  CHECK(st.warnings[0] == "Your plan includes no monthly tokens.");
}

TEST_CASE("suggest_tier picks the next visible tier with a higher limit") {
  const auto all = default_tiers();
  CHECK(detail::suggest_tier(free_tier(), limit_kind::daily, all) == tier_id{"pro"});
  CHECK(detail::suggest_tier(pro_tier(), limit_kind::monthly, all) == tier_id{"max"});
  CHECK(detail::suggest_tier(max_tier(), limit_kind::tokens, all) == tier_id{"enterprise"});
  CHECK_FALSE(detail::suggest_tier(enterprise_tier(), limit_kind::daily, all).has_value());
  CHECK_FALSE(detail::suggest_tier(free_tier(), limit_kind::none, all).has_value());
}

TEST_CASE("suggest_tier skips hidden tiers and tiers whose limit is not higher") {
  auto all = default_tiers();
  all[1].is_visible = false;  // pro hidden
  CHECK(detail::suggest_tier(free_tier(), limit_kind::daily, all) == tier_id{"max"});
  all = default_tiers();
  all[1].tokens_per_month = 100'000;  // pro has no more tokens than free
  CHECK(detail::suggest_tier(free_tier(), limit_kind::tokens, all) == tier_id{"max"});
  // Order comes from display_order, not from the vector.
  all = {enterprise_tier(), max_tier(), pro_tier(), free_tier()};
  CHECK(detail::suggest_tier(free_tier(), limit_kind::daily, all) == tier_id{"pro"});
}

TEST_CASE("fill_denial resets a daily denial at the next local midnight") {
  decision d;
  d.quota = detail::make_quota_info(fresh_free_user(), utc_zone(), 0.8);
  const sys_time now = sys_time{sys_days{2025y / November / 7d}} + hours{22} + microseconds{500'000};
  detail::fill_denial(d, limit_kind::daily, now);
  CHECK(d.denied_by == limit_kind::daily);
  CHECK(d.resets_at == sys_time{sys_days{2025y / November / 8d}});
  CHECK(d.retry_after == seconds{2 * 3600});  // 1h59m59.5s rounded up
}

TEST_CASE("fill_denial resets monthly and token denials at the next month") {
  decision d;
  d.quota = detail::make_quota_info(fresh_free_user(), utc_zone(), 0.8);
  const sys_time now = sys_time{sys_days{2025y / November / 30d}};
  detail::fill_denial(d, limit_kind::monthly, now);
  CHECK(d.resets_at == sys_time{sys_days{2025y / December / 1d}});
  CHECK(d.retry_after == seconds{86'400});
  detail::fill_denial(d, limit_kind::tokens, now);
  CHECK(d.denied_by == limit_kind::tokens);
  CHECK(d.resets_at == sys_time{sys_days{2025y / December / 1d}});
}

TEST_CASE("fill_denial points a daily denial at the month's reset when the month is used up too") {
  decision d;
  d.quota = detail::make_quota_info(fresh_free_user(), utc_zone(), 0.8);
  d.quota.messages_remaining_today = 0;
  d.quota.messages_remaining_month = 0;
  const sys_time now = sys_time{sys_days{2025y / November / 20d}} + hours{12};
  detail::fill_denial(d, limit_kind::daily, now);
  CHECK(d.denied_by == limit_kind::daily);
  CHECK(d.resets_at == sys_time{sys_days{2025y / December / 1d}});
  CHECK(d.retry_after == seconds{(10 * 24 + 12) * 3600});
  // Exhausted tokens keep the user out until the month resets as well.
  d.quota.messages_remaining_month = 100;
  d.quota.tokens_remaining_month = 0;
  detail::fill_denial(d, limit_kind::daily, now);
  CHECK(d.resets_at == sys_time{sys_days{2025y / December / 1d}});
}

TEST_CASE("fill_denial waits at least one second") {
  decision d;
  d.quota = detail::make_quota_info(fresh_free_user(), utc_zone(), 0.8);
  detail::fill_denial(d, limit_kind::daily, sys_time{sys_days{2025y / November / 9d}});
  CHECK(d.retry_after == seconds{1});
}

}  // namespace kauri_quota
