// HTTP answers: status, Retry-After, the draft-10 RateLimit fields and the
// 429 body in the language asked for, for every limit kind and time zone.
#include "core/period.hpp"
#include "core/policy.hpp"
#include "support/fixtures.hpp"

#include <kauri_quota/http_answer.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <regex>
#include <string>

using namespace std::chrono_literals;

namespace kauri_quota {
namespace {

using testing::at;
using testing::parse_json;

tier free_tier() {
  tier t;
  t.id = tier_id{"free"};
  t.name = "Free";
  t.name_fr = "Gratuit";
  t.messages_per_day = 5;
  t.messages_per_month = 150;
  t.tokens_per_month = 100'000;
  return t;
}

struct counters {
  std::int64_t today = 0;
  std::int64_t month = 0;
  std::int64_t tokens = 0;
};

/// The quota of a user of tier `t` with counters `c` at `now` in `zone`, as
/// the service builds it.
quota_info quota_at(const tier& t, counters c, std::string_view zone, sys_time now) {
  const auto z = detail::zone::locate(zone).value();
  usage_snapshot s;
  s.sub.user = user_id{"u-1"};
  s.sub.tier = t.id;
  s.applied = t;
  s.counters.user = s.sub.user;
  s.counters.usage_date = z.day_of(now);
  s.counters.messages_today = c.today;
  s.counters.messages_this_month = c.month;
  s.counters.tokens_today = c.tokens;
  s.counters.tokens_this_month = c.tokens;
  return detail::make_quota_info(s, z, 0.8);
}

/// The decision the service makes for one more message at `now`.
decision decide(const tier& t, counters c, std::string_view zone, sys_time now) {
  decision d;
  d.quota = quota_at(t, c, zone, now);
  d.resets_at = d.quota.daily_resets_at;
  const limit_kind kind = detail::evaluate(t, usage{{}, {}, c.today, c.tokens, c.month, c.tokens}, 1, 0);
  d.allowed = kind == limit_kind::none;
  if (!d.allowed) detail::fill_denial(d, kind, now);
  return d;
}

/// True when `value` is a Structured-Field List (RFC 9651) of Strings whose
/// parameters are Integers or Strings, serialised with ", " between members.
bool is_sf_list(const std::string& value) {
  static const std::regex list{
      R"(("[a-z]+"(;[a-z*][a-z0-9_.*-]*=([0-9]{1,15}|"[^"\\]*"))+)(, ("[a-z]+"(;[a-z*][a-z0-9_.*-]*=([0-9]{1,15}|"[^"\\]*"))+))*)"};
  return std::regex_match(value, list);
}

}  // namespace

TEST_CASE("negotiate_language picks French for fr and its regional subtags") {
  CHECK(negotiate_language("fr") == language::fr);
  CHECK(negotiate_language("fr-CM") == language::fr);
  CHECK(negotiate_language("FR-cm, en;q=0.5") == language::fr);
  CHECK(negotiate_language("en-US,en;q=0.9,fr;q=0.8") == language::en);
  CHECK(negotiate_language("de-DE, fr;q=0.7, en;q=0.3") == language::fr);
  CHECK(negotiate_language("  fr-CA ; q=0.9 , en ; q=0.4 ") == language::fr);
}

TEST_CASE("negotiate_language weighs q-values, wildcards and ties") {
  CHECK(negotiate_language("en;q=0.2, fr;q=0.9") == language::fr);
  CHECK(negotiate_language("fr;q=0, *") == language::en);  // French refused
  CHECK(negotiate_language("en;q=0, *") == language::fr);  // English refused, anything else welcome
  CHECK(negotiate_language("*") == language::en);
  CHECK(negotiate_language("fr, en") == language::fr);  // a tie goes to the first listed
  CHECK(negotiate_language("en, fr") == language::en);
  CHECK(negotiate_language("de, *;q=0.5, fr;q=0.6") == language::fr);
  CHECK(negotiate_language("fr;q=1.000") == language::fr);
}

TEST_CASE("negotiate_language falls back to English on empty, malformed or foreign values") {
  CHECK(negotiate_language("") == language::en);
  CHECK(negotiate_language("de, es") == language::en);
  CHECK(negotiate_language("fr;q=2") == language::en);       // weight out of range: the range is ignored
  CHECK(negotiate_language("fr;q=0.1234") == language::en);  // more than three decimals
  CHECK(negotiate_language("fr;x") == language::en);
  CHECK(negotiate_language(",,;,") == language::en);
  CHECK(negotiate_language("fr;q=0") == language::en);
  CHECK(negotiate_language("francais") == language::en);  // "fr" is a whole primary subtag only
  CHECK(to_string(language::fr) == std::string{"fr"});
  CHECK(to_string(language::en) == std::string{"en"});
}

TEST_CASE("a daily denial in Africa/Douala waits for local midnight, 23:00 UTC") {
  const sys_time now = at("2025-11-07T10:00:00Z");
  const decision d = decide(free_tier(), {5, 20, 1000}, "Africa/Douala", now);
  REQUIRE_FALSE(d.allowed);
  REQUIRE(d.denied_by == limit_kind::daily);
  const http_answer a = http_answer_for(d, now, "fr-CM");
  CHECK(a.status == 429);
  CHECK(a.retry_after == 13 * 3600);
  CHECK(a.rate_limit.policy ==
        R"("daily";q=5;w=86400, "monthly";q=150;w=2592000, "tokens";q=100000;w=2592000;kq-unit="tokens")");
  // The month resets on 2025-12-01 at 00:00 in Douala: 2025-11-30T23:00Z.
  CHECK(a.rate_limit.state == R"("daily";r=0;t=46800, "monthly";r=130;t=2034000, "tokens";r=99000;t=2034000)");
  CHECK(is_sf_list(a.rate_limit.policy));
  CHECK(is_sf_list(a.rate_limit.state));
  CHECK(a.content_language == language::fr);
}

TEST_CASE("a monthly denial waits for the first local midnight of next month") {
  const sys_time now = at("2025-11-07T10:00:00Z");
  const decision d = decide(free_tier(), {3, 150, 1000}, "Africa/Douala", now);
  REQUIRE(d.denied_by == limit_kind::monthly);
  const http_answer a = http_answer_for(d, now);
  CHECK(a.status == 429);
  CHECK(a.retry_after == 2034000);
  CHECK(a.rate_limit.state == R"("daily";r=2;t=46800, "monthly";r=0;t=2034000, "tokens";r=99000;t=2034000)");
}

TEST_CASE("a token denial waits for the month, and so does a daily denial once the month is used up") {
  const sys_time now = at("2025-11-07T10:00:00Z");
  const decision tokens = decide(free_tier(), {1, 10, 100'000}, "UTC", now);
  REQUIRE(tokens.denied_by == limit_kind::tokens);
  // The month resets on 2025-12-01T00:00Z: 23 days and 14 hours.
  CHECK(http_answer_for(tokens, now).retry_after == 23 * 86400 + 14 * 3600);
  CHECK(http_answer_for(tokens, now).rate_limit.state ==
        R"("daily";r=4;t=50400, "monthly";r=140;t=2037600, "tokens";r=0;t=2037600)");

  tier t = free_tier();
  t.messages_per_month = 5;
  const decision both = decide(t, {5, 5, 0}, "UTC", now);
  REQUIRE(both.denied_by == limit_kind::daily);
  const http_answer a = http_answer_for(both, now);
  CHECK(a.retry_after == 2037600);  // not midnight: the month is used up too
  // Retry-After is never earlier than any t of the violated policies.
  CHECK(a.rate_limit.state == R"("daily";r=0;t=50400, "monthly";r=0;t=2037600, "tokens";r=100000;t=2037600)");
}

TEST_CASE("Europe/Paris: the 25-hour day of 2025-10-26 and the 23-hour day of 2025-03-30") {
  {
    // 02:30 CEST, before the clocks go back; the day began at 2025-10-25T22:00Z and ends at 23:00Z.
    const sys_time now = at("2025-10-26T00:30:00Z");
    const decision d = decide(free_tier(), {5, 5, 0}, "Europe/Paris", now);
    REQUIRE(d.denied_by == limit_kind::daily);
    const http_answer a = http_answer_for(d, now);
    CHECK(a.retry_after == 22 * 3600 + 1800);
    // November starts at 2025-10-31T23:00Z (midnight CET).
    CHECK(a.rate_limit.state == R"("daily";r=0;t=81000, "monthly";r=145;t=513000, "tokens";r=100000;t=513000)");
  }
  {
    // The day began at 2025-03-29T23:00Z (CET) and ends at 22:00Z (CEST).
    const sys_time now = at("2025-03-30T00:30:00Z");
    const decision d = decide(free_tier(), {5, 5, 0}, "Europe/Paris", now);
    CHECK(http_answer_for(d, now).retry_after == 21 * 3600 + 1800);
  }
}

TEST_CASE("Retry-After rounds up and is never 0 for a denial") {
  const sys_time now = at("2025-11-07T10:00:00Z");
  const decision d = decide(free_tier(), {5, 5, 0}, "UTC", now);
  const sys_time midnight = at("2025-11-08T00:00:00Z");
  REQUIRE(d.resets_at == midnight);
  CHECK(retry_after_seconds(d, midnight - std::chrono::microseconds{1}) == 1);
  CHECK(retry_after_seconds(d, midnight - 1500ms) == 2);
  CHECK(retry_after_seconds(d, midnight) == 1);
  CHECK(retry_after_seconds(d, midnight + 10s) == 1);  // answered late: still a wait
  // t of a period that has rolled over is 0.
  CHECK(rate_limit_fields_for(d.quota, midnight + 10s).state.starts_with(R"("daily";r=0;t=0, )"));
}

TEST_CASE("an admission is a 200 with the rate-limit fields and no body") {
  const sys_time now = at("2025-11-07T10:00:00Z");
  const decision d = decide(free_tier(), {2, 2, 10}, "UTC", now);
  REQUIRE(d.allowed);
  const http_answer a = http_answer_for(d, now, "fr");
  CHECK(a.status == 200);
  CHECK_FALSE(a.retry_after.has_value());
  CHECK(a.body.empty());
  CHECK(retry_after_seconds(d, now) == 0);
  CHECK(a.rate_limit.state == R"("daily";r=3;t=50400, "monthly";r=148;t=2037600, "tokens";r=99990;t=2037600)");
}

TEST_CASE("unlimited quotas are omitted from both fields") {
  const sys_time now = at("2025-11-07T10:00:00Z");
  tier unlimited = free_tier();
  unlimited.messages_per_day = std::nullopt;
  unlimited.messages_per_month = std::nullopt;
  unlimited.tokens_per_month = std::nullopt;
  const quota_info q = quota_at(unlimited, {1000, 5000, 99}, "UTC", now);
  const http_answer a = http_answer_for(q, now);
  CHECK(a.status == 200);
  CHECK(a.rate_limit.policy.empty());
  CHECK(a.rate_limit.state.empty());

  tier tokens_only = unlimited;
  tokens_only.tokens_per_month = 2'000'000;
  const auto f = rate_limit_fields_for(quota_at(tokens_only, {10, 10, 500}, "UTC", now), now);
  CHECK(f.policy == R"("tokens";q=2000000;w=2592000;kq-unit="tokens")");
  CHECK(f.state == R"("tokens";r=1999500;t=2037600)");
  CHECK(is_sf_list(f.policy));
}

TEST_CASE("zero limits are sent as q=0 with nothing remaining") {
  const sys_time now = at("2025-11-07T10:00:00Z");
  tier none = free_tier();
  none.messages_per_day = 0;
  none.tokens_per_month = 0;
  const decision d = decide(none, {0, 0, 0}, "UTC", now);
  REQUIRE(d.denied_by == limit_kind::daily);
  const http_answer a = http_answer_for(d, now);
  CHECK(a.status == 429);
  CHECK(a.rate_limit.policy ==
        R"("daily";q=0;w=86400, "monthly";q=150;w=2592000, "tokens";q=0;w=2592000;kq-unit="tokens")");
  CHECK(a.rate_limit.state == R"("daily";r=0;t=50400, "monthly";r=150;t=2037600, "tokens";r=0;t=2037600)");
}

TEST_CASE("the 429 body is the denial payload with the message in the language asked for") {
  const sys_time now = at("2025-11-07T10:00:00Z");
  decision d = decide(free_tier(), {5, 20, 0}, "UTC", now);
  d.suggested_tier = tier_id{"basic"};
  d.suggested_tier_name = "Basic";
  d.suggested_tier_name_fr = "Basique";
  const sys_time later = now + 3600s;

  const auto fr = parse_json(http_answer_for(d, later, "fr-CM;q=0.9, en;q=0.5").body);
  CHECK(fr["error"].as_string() == "quota_exceeded");
  CHECK(fr["limit"].as_string() == "daily");
  CHECK(fr["message"].as_string() == fr["message_fr"].as_string());
  CHECK(fr["message_fr"].as_string().starts_with("Limite quotidienne de messages atteinte (5/5)."));
  CHECK(fr["message_en"].as_string().starts_with("Daily message limit reached (5/5)."));
  // The body's retry_after_seconds is the header's, at the instant answered.
  CHECK(fr["retry_after_seconds"].as_int() == 13 * 3600);

  const auto en = parse_json(http_answer_for(d, later, "de").body);
  CHECK(en["message"].as_string() == en["message_en"].as_string());
  CHECK(en["message_fr"].as_string() == fr["message_fr"].as_string());
  CHECK(en["suggested_tier"].as_string() == "basic");

  // Messages holding quotes and backslashes (from tier names) survive.
  d.suggested_tier_name = R"(Pro "Max" \ plus)";
  const auto odd = parse_json(denial_body_json(d, now, language::en));
  CHECK(odd["message"].as_string().find(R"(Pro "Max" \ plus)") != std::string::npos);
  CHECK(odd["message"].as_string() == odd["message_en"].as_string());
}

}  // namespace kauri_quota
