// JSON views: escaping, field names and order, nulls, denial payloads.
#include "support/json.hpp"  // nlohmann-json behind json_value: the independent oracle
#include "core/json_writer.hpp"
#include "core/period.hpp"
#include "core/policy.hpp"
#include "support/utf8.hpp"

#include <kauri_quota/json.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

using namespace std::chrono_literals;

namespace kauri_quota {

using std::chrono::February;
using std::chrono::hours;
using std::chrono::microseconds;
using std::chrono::minutes;
using std::chrono::November;
using std::chrono::seconds;
using std::chrono::sys_days;

namespace {

tier free_tier() {
  tier t;
  t.id = tier_id{"free"};
  t.name = "Free";
  t.name_fr = "Gratuit";
  t.messages_per_day = 5;
  t.messages_per_month = 150;
  t.tokens_per_month = 100'000;
  t.features = {{"document_sourcing", false}, {"pdf_generation", false}};
  return t;
}

sys_time at(local_date d, int h = 0, int m = 0, int s = 0) {
  return sys_time{sys_days{d}} + hours{h} + minutes{m} + seconds{s};
}

usage_snapshot fresh_free_user() {
  usage_snapshot s;
  s.sub.user = user_id{"7336840a-b662-428b-b912-ffcf4dd0635d"};
  s.sub.tier = tier_id{"free"};
  s.applied = free_tier();
  s.counters.user = s.sub.user;
  s.counters.usage_date = 2025y / November / 7d;
  return s;
}

quota_info quota_of(const usage_snapshot& s) {
  return detail::make_quota_info(s, detail::zone::locate("UTC").value(), 0.8);
}

/// A denied decision as the service builds it, at 10:00 UTC on 2025-11-07.
decision denied(const usage_snapshot& s, limit_kind kind, std::optional<tier_id> suggestion) {
  decision d;
  d.quota = quota_of(s);
  detail::fill_denial(d, kind, at(2025y / November / 7d, 10));
  d.suggested_tier = std::move(suggestion);
  return d;
}

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

}  // namespace

TEST_CASE("json_quote escapes quotes and backslashes") {
  CHECK(json_quote("say \"hi\"") == R"("say \"hi\"")");
  CHECK(json_quote("C:\\dir") == R"("C:\\dir")");
  CHECK(json_quote("") == R"("")");
  CHECK(json_quote("a/b") == R"("a/b")");
}

TEST_CASE("json_quote escapes control characters") {
  CHECK(json_quote("a\nb\tc\rd\be\ff") == R"("a\nb\tc\rd\be\ff")");
  CHECK(json_quote(std::string_view{"\0\x01\x1f", 3}) == R"("\u0000\u0001\u001f")");
  CHECK(json_quote("\x7f") == R"("\u007f")");
  CHECK(json_quote("\xC2\x85") == R"("\u0085")");  // U+0085 (C1)
}

TEST_CASE("json_quote escapes U+2028 and U+2029") {
  CHECK(json_quote("a\xE2\x80\xA8"
                   "b\xE2\x80\xA9") == R"("a\u2028b\u2029")");
}

TEST_CASE("json_quote keeps valid non-ASCII text as UTF-8") {
  CHECK(json_quote("Gratuit \xC3\xA9t\xC3\xA9 \xF0\x9F\x98\x80") == "\"Gratuit \xC3\xA9t\xC3\xA9 \xF0\x9F\x98\x80\"");
}

TEST_CASE("json_quote replaces invalid UTF-8 so the output stays valid JSON") {
  CHECK(json_quote("a\xFF"
                   "b") == R"("a\ufffdb")");
  CHECK(json_quote("\xC0\xAF") == R"("\ufffd\ufffd")");            // overlong
  CHECK(json_quote("\xED\xA0\x80") == R"("\ufffd\ufffd\ufffd")");  // surrogate
  CHECK(json_quote("ab\xE2\x82") == R"("ab\ufffd\ufffd")");        // truncated
}

TEST_CASE("json_quote of every Unicode scalar value reads back as the same text through an independent parser") {
  std::string all;
  for (char32_t cp = 0; cp <= 0x10FFFF; ++cp) {
    if (cp < 0xD800 || cp > 0xDFFF) testing::append_utf8(all, cp);
  }
  const std::string quoted = json_quote(all);
  const auto back = testing::parse_json(quoted);
  REQUIRE(back.type == testing::json_value::kind::string);
  CHECK(back.as_string() == all);
  CHECK(detail::valid_json(quoted));
}

TEST_CASE("valid_json agrees with nlohmann-json except where the two are documented to differ") {
  // checker: what detail::valid_json answers; oracle: what the tests' reader
  // (nlohmann-json, which refuses a byte order mark and a NUL byte here) answers. See
  // oracle_accepts in fuzz/fuzz_json.cpp for why each difference is right.
  struct row {
    const char* what;
    std::string text;
    bool checker;
    bool oracle;
  };
  const std::vector<row> rows{
      {"an object", R"({"a": [1, -0.5e-3, true, null, "x"]})", true, true},
      {"duplicate keys", R"({"a": 1, "a": 2})", true, true},
      {"an escaped surrogate pair", R"(["\uD83D\uDE00"])", true, true},
      {"a lone high surrogate escape", R"(["\uD800"])", true, false},
      {"a lone low surrogate escape", R"(["\uDC00"])", true, false},
      {"a number beyond a double", "[1e999]", true, false},
      {"a number below a double's precision", "[1e-999]", true, true},
      {"a value inside 64 containers", std::string(64, '[') + "0" + std::string(64, ']'), true, true},
      {"a value inside 65 containers", std::string(65, '[') + "0" + std::string(65, ']'), false, true},
      {"a byte order mark", "\xEF\xBB\xBF{}", false, false},
      {"a leading zero", "[01]", false, false},
      {"a raw tab in a string", "[\"\t\"]", false, false},
      {"invalid UTF-8 in a string", "[\"\xC0\xAF\"]", false, false},
      {"a trailing comma", "[1,]", false, false},
      {"two values", "1 2", false, false},
      {"a NUL byte after the value", std::string("0\0 1", 4), false, false},
  };
  for (const auto& r : rows) {
    CAPTURE(r.what);
    CHECK(detail::valid_json(r.text) == r.checker);
    CHECK(testing::try_parse_json(r.text).has_value() == r.oracle);
  }
}

TEST_CASE("the tests' JSON reader keeps member order, duplicate keys and numbers as written") {
  const auto v = testing::parse_json(R"({"z": 1, "a": [2.50, -0, 1E2], "z": {"k": "\u00e9"}})");
  REQUIRE(v.members.size() == 3);
  CHECK(v.members[0].first == "z");
  CHECK(v.members[1].first == "a");
  CHECK(v.members[2].first == "z");
  CHECK(v["z"].as_int() == 1);  // the first of two equal keys
  REQUIRE(v["a"].size() == 3);
  CHECK(v["a"][0].text == "2.50");
  CHECK(v["a"][1].as_int() == 0);
  CHECK(v["a"][2].text == "1E2");
  CHECK(v["a"][2].as_double() == 100.0);
  CHECK(v.members[2].second["k"].as_string() == "\xC3\xA9");
  CHECK_FALSE(testing::try_parse_json("{\"a\": }").has_value());
}

TEST_CASE("json_writer separates members and elements with commas") {
  detail::json_writer w;
  w.begin_object();
  w.field("a", 1);
  w.key("b").begin_array().value(true).value(false).null().begin_object().end_object().end_array();
  w.key("c").begin_object().field("d", "x").end_object();
  w.field("e", limit{});
  w.key("f").raw(R"({"k":1})");
  w.end_object();
  CHECK(w.str() == R"({"a":1,"b":[true,false,null,{}],"c":{"d":"x"},"e":null,"f":{"k":1}})");
}

TEST_CASE("json_writer prints percentages with at most two decimals and no NaN") {
  const auto one = [](double v) {
    detail::json_writer w;
    w.value(detail::percentage{v});
    return w.take();
  };
  CHECK(one(80.0) == "80");
  CHECK(one(33.333333) == "33.33");
  CHECK(one(12.5) == "12.5");
  CHECK(one(0.004) == "0");
  CHECK(one(-0.001) == "0");
  CHECK(one(std::nan("")) == "null");
  CHECK(one(std::numeric_limits<double>::infinity()) == "null");
  // The warning sentences write percentages with the same rule.
  CHECK(detail::format_percentage(66.666) == "66.67");
  CHECK(detail::format_percentage(-0.001) == "0");
}

TEST_CASE("json_writer prints a number in full, in its shortest round-trip form") {
  const auto one = [](double v) {
    detail::json_writer w;
    w.value(v);
    return w.take();
  };
  CHECK(one(0.855) == "0.855");
  CHECK(one(1e-6) == "1e-06");
  CHECK(one(1.0) == "1");
  CHECK(one(0.8) == "0.8");
  CHECK(one(0.1 + 0.2) == "0.30000000000000004");
  CHECK(one(-2.5) == "-2.5");
  CHECK(one(std::nan("")) == "null");
  CHECK(one(-std::numeric_limits<double>::infinity()) == "null");
}

TEST_CASE("json_writer writes an empty optional as null and a present one as its value") {
  detail::json_writer w;
  w.begin_array()
      .value(std::optional<std::string>{})
      .value(std::optional<std::string>{"x"})
      .value(std::optional<tier_id>{tier_id{"pro"}})
      .value(std::optional<sys_time>{})
      .value(std::optional<sys_time>{sys_time{}})
      .value(std::optional<double>{0.855})
      .value(std::optional<detail::percentage>{detail::percentage{0.855 * 100}})
      .end_array();
  CHECK(w.str() == R"([null,"x","pro",null,"1970-01-01T00:00:00.000000Z",0.855,85.5])");
}

TEST_CASE("json_writer writes 64-bit integers exactly") {
  detail::json_writer w;
  w.begin_array().value(std::numeric_limits<std::int64_t>::max()).value(std::int64_t{-1}).end_array();
  CHECK(w.str() == "[9223372036854775807,-1]");
}

TEST_CASE("format_time always prints six fraction digits in UTC") {
  CHECK(format_time(at(2025y / November / 7d, 10, 59, 24) + microseconds{625'159}) == "2025-11-07T10:59:24.625159Z");
  CHECK(format_time(at(2025y / November / 8d)) == "2025-11-08T00:00:00.000000Z");
  CHECK(format_time(sys_time{} - microseconds{1}) == "1969-12-31T23:59:59.999999Z");
}

TEST_CASE("format_date prints YYYY-MM-DD") {
  CHECK(format_date(2025y / November / 7d) == "2025-11-07");
  CHECK(format_date(2024y / February / 29d) == "2024-02-29");
}

TEST_CASE("quota info JSON of a fresh free user is the spec's UserQuotaInfo, then the additions") {
  CHECK(to_json(quota_of(fresh_free_user())) ==
        R"({"user_id":"7336840a-b662-428b-b912-ffcf4dd0635d","subscription_tier":"free","tier_name":"Free",)"
        R"("tier_name_fr":"Gratuit","messages_per_day_limit":5,"messages_per_month_limit":150,"messages_today":0,)"
        R"("messages_remaining_today":5,"messages_remaining_month":150,"can_send_message":true,)"
        R"("is_quota_exceeded":false,"needs_upgrade":false,"warning_threshold_reached":false,)"
        R"("subscription_status":"active","messages_this_month":0,"tokens_per_month_limit":100000,)"
        R"("tokens_today":0,"tokens_this_month":0,"tokens_remaining_month":100000,"usage_date":"2025-11-07",)"
        R"("daily_resets_at":"2025-11-08T00:00:00.000000Z","monthly_resets_at":"2025-12-01T00:00:00.000000Z"})");
}

TEST_CASE("quota info JSON writes unlimited limits as null") {
  usage_snapshot s = fresh_free_user();
  s.applied.id = tier_id{"enterprise"};
  s.applied.messages_per_day = std::nullopt;
  s.applied.messages_per_month = std::nullopt;
  s.applied.tokens_per_month = std::nullopt;
  const std::string json = to_json(quota_of(s));
  CHECK(contains(json, R"("messages_per_day_limit":null,"messages_per_month_limit":null,)"));
  CHECK(contains(json, R"("messages_remaining_today":null,"messages_remaining_month":null,)"));
  CHECK(contains(json, R"("tokens_per_month_limit":null,)"));
  CHECK(contains(json, R"("tokens_remaining_month":null,)"));
}

TEST_CASE("tier JSON has the subscription_tiers column names and a features object") {
  tier t = free_tier();
  t.price_fcfa = 0;
  t.display_order = 0;
  CHECK(to_json(t) ==
        R"({"tier_id":"free","name":"Free","name_fr":"Gratuit","messages_per_day":5,"messages_per_month":150,)"
        R"("tokens_per_month":100000,"price_fcfa":0,"features":{"document_sourcing":false,"pdf_generation":false},)"
        R"("display_order":0,"is_visible":true})");
  tier e;
  e.id = tier_id{"enterprise"};
  e.price_fcfa = 85'000;
  const std::string json = to_json(std::vector<tier>{t, e});
  CHECK(json.front() == '[');
  CHECK(contains(json, R"(},{"tier_id":"enterprise")"));
  CHECK(contains(json, R"("messages_per_day":null,"messages_per_month":null,"tokens_per_month":null,)"));
  CHECK(contains(json, R"("price_fcfa":85000,"features":{})"));
  CHECK(to_json(std::vector<tier>{}) == "[]");
}

TEST_CASE("subscription JSON has the users column names and null for missing dates") {
  subscription s;
  s.user = user_id{"u1"};
  s.email = "test_quota@kauri.com";
  s.tier = tier_id{"free"};
  s.start_date = at(2025y / November / 7d, 10, 59, 24) + microseconds{625'159};
  CHECK(to_json(s) == R"({"user_id":"u1","email":"test_quota@kauri.com","subscription_tier":"free",)"
                      R"("subscription_status":"active","subscription_start_date":"2025-11-07T10:59:24.625159Z",)"
                      R"("subscription_end_date":null,"trial_end_date":null,"time_zone":null,"scheduled_tier":null,)"
                      R"("scheduled_end_date":null,"cancel_at_period_end":false})");
  s.email.reset();
  CHECK(contains(to_json(s), R"("email":null,)"));
}

TEST_CASE("usage JSON has the user_usage column names") {
  usage u;
  u.user = user_id{"u1"};
  u.usage_date = 2025y / November / 7d;
  u.messages_today = 3;
  u.messages_this_month = 40;
  u.tokens_today = 1'200;
  u.tokens_this_month = 9'000;
  CHECK(to_json(u) == R"({"user_id":"u1","usage_date":"2025-11-07","messages_today":3,"messages_this_month":40,)"
                      R"("tokens_today":1200,"tokens_this_month":9000})");
}

TEST_CASE("usage stats JSON nests the quota and lists percentages and warnings") {
  usage_snapshot s = fresh_free_user();
  s.counters.messages_today = 4;
  s.counters.messages_this_month = 50;
  const usage_stats st = detail::make_usage_stats(quota_of(s), 0.8);
  const std::string json = to_json(st);
  CHECK(json.rfind(R"({"quota":{"user_id":"7336840a)", 0) == 0);
  CHECK(contains(json, R"(},"daily_percent":80,"monthly_percent":33.33,"tokens_percent":0,)"));
  CHECK(contains(json, R"("warnings":["You have used 80% of your daily messages (4/5)."]})"));
}

TEST_CASE("usage event JSON embeds event_metadata as a JSON value") {
  usage_event e;
  e.id = 42;
  e.user = user_id{"u1"};
  e.event_type = "message_sent";
  e.messages_count = 1;
  e.tokens_count = 250;
  e.quota_tier = "free";
  e.request_ip = "203.0.113.7";
  e.event_metadata = R"({"request_id": "r-1", "n": [1, 2.5e3, true, null]})";
  e.usage_date = 2025y / November / 7d;
  e.event_timestamp = at(2025y / November / 7d, 10);
  CHECK(to_json(e) == R"({"id":42,"user_id":"u1","event_type":"message_sent","messages_count":1,)"
                      R"("tokens_count":250,"quota_tier":"free","request_ip":"203.0.113.7","user_agent":null,)"
                      R"("event_metadata":{"request_id": "r-1", "n": [1, 2.5e3, true, null]},)"
                      R"("usage_date":"2025-11-07","event_timestamp":"2025-11-07T10:00:00.000000Z"})");
  e.event_metadata.reset();
  e.usage_date.reset();
  const std::string json = to_json(e);
  CHECK(contains(json, R"("event_metadata":null,"usage_date":null,)"));
  CHECK(to_json(std::vector<usage_event>{e, e}).find("},{\"id\":42") != std::string::npos);
}

TEST_CASE("usage event JSON keeps metadata that is not JSON as a string") {
  usage_event e;
  e.event_metadata = R"({"unterminated": )";
  CHECK(contains(to_json(e), R"("event_metadata":"{\"unterminated\": ",)"));
  e.event_metadata = "{\"a\":1} trailing";
  CHECK(contains(to_json(e), R"("event_metadata":"{\"a\":1} trailing",)"));
  e.event_metadata = "{\"a\":\"\xFF\"}";
  CHECK(contains(to_json(e), R"("event_metadata":"{\"a\":\"\ufffd\"}",)"));
  e.event_metadata = std::string(100, '[') + std::string(100, ']');
  CHECK(contains(to_json(e), R"("event_metadata":"[[[)"));
}

TEST_CASE("reservation JSON lists its period, tokens and state") {
  reservation r;
  r.id = reservation_id{"res-1"};
  r.user = user_id{"u1"};
  r.usage_date = 2025y / November / 7d;
  r.estimated_tokens = 500;
  r.created_at = at(2025y / November / 7d, 10);
  r.expires_at = at(2025y / November / 7d, 10, 5);
  CHECK(to_json(r) == R"({"reservation_id":"res-1","user_id":"u1","usage_date":"2025-11-07","messages":1,)"
                      R"("estimated_tokens":500,"actual_tokens":null,"state":"open",)"
                      R"("created_at":"2025-11-07T10:00:00.000000Z","expires_at":"2025-11-07T10:05:00.000000Z"})");
  r.actual_tokens = 420;
  r.state = reservation_state::committed;
  CHECK(contains(to_json(r), R"("actual_tokens":420,"state":"committed",)"));
}

TEST_CASE("upgrade result JSON has success, message and the subscription") {
  upgrade_result u;
  u.success = true;
  u.message = "Subscription upgraded to pro";
  u.sub.user = user_id{"u1"};
  u.sub.tier = tier_id{"pro"};
  CHECK(to_json(u).rfind(R"({"success":true,"message":"Subscription upgraded to pro","subscription":{"user_id":"u1",)",
                         0) == 0);
}

TEST_CASE("decision JSON of an allowed request has null denial fields") {
  decision d;
  d.allowed = true;
  d.quota = quota_of(fresh_free_user());
  detail::fill_denial(d, limit_kind::none, at(2025y / November / 7d, 10));
  const std::string json = to_json(d);
  CHECK(json.rfind(R"({"allowed":true,"denied_by":null,"replayed":false,"reservation_id":null,)"
                   R"("resets_at":"2025-11-08T00:00:00.000000Z","retry_after_seconds":0,"suggested_tier":null,)"
                   R"("quota":{"user_id":)",
                   0) == 0);
}

TEST_CASE("decision JSON of a denial names the limit and the suggested tier") {
  usage_snapshot s = fresh_free_user();
  s.counters.messages_today = 5;
  decision d = denied(s, limit_kind::daily, tier_id{"pro"});
  d.replayed = true;
  const std::string json = to_json(d);
  CHECK(contains(json, R"({"allowed":false,"denied_by":"daily","replayed":true,"reservation_id":null,)"));
  CHECK(contains(json, R"("retry_after_seconds":50400,"suggested_tier":"pro",)"));
}

TEST_CASE("denial payload of a daily limit") {
  usage_snapshot s = fresh_free_user();
  s.counters.messages_today = 5;
  s.counters.messages_this_month = 5;
  const std::string json = denial_payload_json(denied(s, limit_kind::daily, tier_id{"pro"}));
  CHECK(json ==
        R"({"error":"quota_exceeded","limit":"daily","limit_value":5,"usage":5,)"
        R"("resets_at":"2025-11-08T00:00:00.000000Z","retry_after_seconds":50400,"subscription_tier":"free",)"
        R"("suggested_tier":"pro",)"
        R"("message":"Daily message limit reached (5/5). Your quota resets at 2025-11-08T00:00:00Z. )"
        R"(Upgrade to Pro for more messages.",)"
        "\"message_fr\":\"Limite quotidienne de messages atteinte (5/5). Votre quota sera r\xC3\xA9initialis\xC3\xA9 "
        "le 2025-11-08T00:00:00Z. Passez \xC3\xA0 l'offre Pro pour plus de messages.\"}");
}

TEST_CASE("denial payload of a monthly limit") {
  usage_snapshot s = fresh_free_user();
  s.counters.messages_today = 1;
  s.counters.messages_this_month = 150;
  const std::string json = denial_payload_json(denied(s, limit_kind::monthly, tier_id{"pro"}));
  CHECK(contains(json, R"("limit":"monthly","limit_value":150,"usage":150,)"));
  CHECK(contains(json, R"("resets_at":"2025-12-01T00:00:00.000000Z",)"));
  CHECK(contains(json, R"("message":"Monthly message limit reached (150/150). Your quota resets at )"
                       R"(2025-12-01T00:00:00Z. Upgrade to Pro for more messages.")"));
  CHECK(contains(json, "\"message_fr\":\"Limite mensuelle de messages atteinte (150/150)."));
}

TEST_CASE("denial payload of the token limit") {
  usage_snapshot s = fresh_free_user();
  s.counters.tokens_this_month = 100'000;
  const std::string json = denial_payload_json(denied(s, limit_kind::tokens, tier_id{"pro"}));
  CHECK(contains(json, R"("limit":"tokens","limit_value":100000,"usage":100000,)"));
  CHECK(contains(json, R"("resets_at":"2025-12-01T00:00:00.000000Z",)"));
  CHECK(contains(json, R"("message":"Monthly token limit reached (100000/100000 tokens). )"));
  CHECK(contains(json, "Upgrade to Pro for more tokens.\""));
  CHECK(contains(json, "\"message_fr\":\"Limite mensuelle de jetons atteinte (100000/100000 jetons)."));
  CHECK(contains(json, "pour plus de jetons.\""));
}

TEST_CASE("denial payload of a token estimate that does not fit says so") {
  usage_snapshot s = fresh_free_user();
  s.counters.tokens_this_month = 99'000;
  const std::string json = denial_payload_json(denied(s, limit_kind::tokens, std::nullopt));
  CHECK(contains(json, R"("usage":99000,)"));
  CHECK(contains(json, "This request would exceed your monthly token limit (99000/100000 tokens used)."));
  CHECK(contains(json, "Cette requ\xC3\xAAte d\xC3\xA9passerait votre limite mensuelle de jetons"));
}

TEST_CASE("denial payload without a suggested tier has a null suggestion and no upgrade sentence") {
  usage_snapshot s = fresh_free_user();
  s.counters.messages_today = 5;
  const std::string json = denial_payload_json(denied(s, limit_kind::daily, std::nullopt));
  CHECK(contains(json, R"("suggested_tier":null,)"));
  CHECK_FALSE(contains(json, "Upgrade"));
  CHECK_FALSE(contains(json, "Passez"));
  CHECK(contains(json, R"(Your quota resets at 2025-11-08T00:00:00Z.",)"));
}

}  // namespace kauri_quota

TEST_CASE("payments, usage days and months have their JSON views") {
  kauri_quota::payment p;
  p.provider = "cinetpay";
  p.transaction_id = "tx-1";
  p.user = kauri_quota::user_id{"u"};
  p.tier = kauri_quota::tier_id{"pro"};
  p.months = 2;
  p.amount = 10000;
  p.currency = "XOF";
  p.status = kauri_quota::payment_status::applied;
  p.effect = kauri_quota::payment_effect::extended;
  const std::string j = kauri_quota::to_json(p);
  CHECK(j.find(R"("status":"applied")") != std::string::npos);
  CHECK(j.find(R"("effect":"extended")") != std::string::npos);
  CHECK(j.find(R"("amount":10000)") != std::string::npos);
  CHECK(j.find(R"("period_end":null)") != std::string::npos);
  kauri_quota::day_usage d{std::chrono::year{2025} / 11 / 7, 3, 40};
  CHECK(kauri_quota::to_json(std::vector<kauri_quota::day_usage>{d}) ==
        R"([{"day":"2025-11-07","messages":3,"tokens":40}])");
  kauri_quota::month_usage m{std::chrono::year{2025} / 11 / 1, 9, 90};
  CHECK(kauri_quota::to_json(m) == R"({"month":"2025-11-01","messages":9,"tokens":90})");
  kauri_quota::subscription s;
  s.scheduled_tier = kauri_quota::tier_id{"basic"};
  s.time_zone = "Africa/Douala";
  const std::string sj = kauri_quota::to_json(s);
  CHECK(sj.find(R"("scheduled_tier":"basic")") != std::string::npos);
  CHECK(sj.find(R"("time_zone":"Africa/Douala")") != std::string::npos);
  CHECK(sj.find(R"("cancel_at_period_end":false)") != std::string::npos);
}
