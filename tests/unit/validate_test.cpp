// Input validation: ids, counts, free text, request context, checked sums.
#include "core/validate.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

namespace kauri_quota::detail {

namespace {

/// The message of a failed check (and that it is invalid_argument).
template <class R>
std::string rejection(const R& r) {
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().is(errc::invalid_argument));
  return r.error().message;
}

std::string bytes(std::initializer_list<unsigned char> b) {
  std::string s(b.begin(), b.end());
  return s;
}

}  // namespace

TEST_CASE("valid_utf8 accepts ASCII and well-formed multi-byte sequences") {
  CHECK(valid_utf8(""));
  CHECK(valid_utf8("hello"));
  CHECK(valid_utf8("Fran\xC3\xA7ois"));            // U+00E7
  CHECK(valid_utf8("\xE2\x82\xAC"));               // U+20AC
  CHECK(valid_utf8("\xF0\x9F\x98\x80"));           // U+1F600
  CHECK(valid_utf8("\xF4\x8F\xBF\xBF"));           // U+10FFFF
  CHECK(valid_utf8("\xED\x9F\xBF"));               // U+D7FF, just below the surrogates
  CHECK(valid_utf8(std::string_view{"a\0b", 3}));  // NUL is valid UTF-8
}

TEST_CASE("valid_utf8 rejects overlong encodings") {
  CHECK_FALSE(valid_utf8("\xC0\xAF"));  // '/' in two bytes
  CHECK_FALSE(valid_utf8("\xC1\xBF"));
  CHECK_FALSE(valid_utf8("\xE0\x80\xAF"));      // '/' in three bytes
  CHECK_FALSE(valid_utf8("\xF0\x80\x80\xAF"));  // '/' in four bytes
}

TEST_CASE("valid_utf8 rejects surrogates and code points above U+10FFFF") {
  CHECK_FALSE(valid_utf8("\xED\xA0\x80"));      // U+D800
  CHECK_FALSE(valid_utf8("\xED\xBF\xBF"));      // U+DFFF
  CHECK_FALSE(valid_utf8("\xF4\x90\x80\x80"));  // U+110000
  CHECK_FALSE(valid_utf8("\xF5\x80\x80\x80"));
  CHECK_FALSE(valid_utf8(bytes({0xFF})));
}

TEST_CASE("valid_utf8 rejects truncated sequences and stray continuation bytes") {
  CHECK_FALSE(valid_utf8("\xC3"));
  CHECK_FALSE(valid_utf8("\xE2\x82"));
  CHECK_FALSE(valid_utf8("\xF0\x9F\x98"));
  CHECK_FALSE(valid_utf8("abc\xE2"));
  CHECK_FALSE(valid_utf8("\x80"));
  CHECK_FALSE(valid_utf8("\xC3(\xA7"));
}

TEST_CASE("user ids are 1-128 bytes") {
  CHECK(check_user(user_id{"7336840a-b662-428b-b912-ffcf4dd0635d"}).has_value());
  CHECK(check_user(user_id{std::string(128, 'a')}).has_value());
  CHECK(rejection(check_user(user_id{""})) == "user_id must be 1-128 bytes (got 0)");
  CHECK(rejection(check_user(user_id{std::string(129, 'a')})) == "user_id must be 1-128 bytes (got 129)");
}

TEST_CASE("user ids may contain non-ASCII UTF-8") {
  CHECK(check_user(user_id{"fran\xC3\xA7ois@example.com"}).has_value());
  CHECK(check_user(user_id{"\xE7\x94\xA8\xE6\x88\xB7"}).has_value());
}

TEST_CASE("user ids must be valid UTF-8") {
  CHECK(rejection(check_user(user_id{"ab\xFF"})) == "user_id is not valid UTF-8 at byte 2");
  CHECK(rejection(check_user(user_id{"\xC0\xAF"})).find("not valid UTF-8") != std::string::npos);      // overlong
  CHECK(rejection(check_user(user_id{"\xED\xA0\x80"})).find("not valid UTF-8") != std::string::npos);  // surrogate
  CHECK(rejection(check_user(user_id{"abc\xE2\x82"})).find("not valid UTF-8") != std::string::npos);   // truncated
}

TEST_CASE("user ids must not contain control characters") {
  CHECK(rejection(check_user(user_id{"abc\ndef"})) == "user_id contains a control character at byte 3");
  CHECK(rejection(check_user(user_id{std::string{"ab\0", 3}})) == "user_id contains a NUL byte at byte 2");
  CHECK(rejection(check_user(user_id{"\x1F"})).find("control character") != std::string::npos);   // C0
  CHECK(rejection(check_user(user_id{"a\x7F"})).find("control character") != std::string::npos);  // DEL
  CHECK(rejection(check_user(user_id{"a\xC2\x85"})).find("control character at byte 1") !=
        std::string::npos);  // U+0085 (C1)
  CHECK(rejection(check_user(user_id{"a\xC2\x9F"})).find("control character") != std::string::npos);
  CHECK(check_user(user_id{"a\xC2\xA0"}).has_value());  // U+00A0 is not a control character
}

TEST_CASE("request ids follow the id rules under their own name") {
  CHECK(check_request_id(request_id{"req-1"}).has_value());
  CHECK(rejection(check_request_id(request_id{""})) == "request_id must be 1-128 bytes (got 0)");
  CHECK(rejection(check_id("reservation_id", "x\ty")) == "reservation_id contains a control character at byte 1");
}

TEST_CASE("tier ids are 1-20 characters of [a-z0-9_-]") {
  for (const std::string ok : {"free", "pro", "max", "enterprise", "team_2025", "a-b", "zzzzzzzzzzzzzzzzzzzz"}) {
    CAPTURE(ok);
    CHECK(check_tier_id(tier_id{ok}).has_value());
  }
  CHECK(rejection(check_tier_id(tier_id{"Pro"})) == "tier_id must be 1-20 characters of [a-z0-9_-] (got \"Pro\")");
  CHECK(rejection(check_tier_id(tier_id{""})).find("1-20") != std::string::npos);
  CHECK(rejection(check_tier_id(tier_id{std::string(21, 'a')})).find("1-20") != std::string::npos);
  CHECK(rejection(check_tier_id(tier_id{"pro max"})).find("[a-z0-9_-]") != std::string::npos);
}

TEST_CASE("rejection messages quote at most 40 bytes and escape binary input") {
  const std::string huge = std::string(10'000, 'A');
  const std::string message = rejection(check_tier_id(tier_id{huge}));
  CHECK(message.size() < 200);
  CHECK(message.find(std::string(40, 'A')) != std::string::npos);
  CHECK(message.find(std::string(41, 'A')) == std::string::npos);
  CHECK(message.find("of 10000 bytes") != std::string::npos);

  const std::string binary = rejection(check_tier_id(tier_id{bytes({'a', 0x00, 0xFF, '\n', '"'})}));
  CHECK(binary.find("\\x00\\xFF\\x0A\\\"") != std::string::npos);
  CHECK(binary.find('\0') == std::string::npos);
  CHECK(binary.find('\n') == std::string::npos);
}

TEST_CASE("counts are between 0 and 10^12") {
  CHECK(check_count("tokens", 0).has_value());
  CHECK(check_count("tokens", max_count).has_value());
  CHECK(rejection(check_count("tokens", -5)) == "tokens must be between 0 and 1000000000000 (got -5)");
  CHECK(rejection(check_count("messages", max_count + 1)) ==
        "messages must be between 0 and 1000000000000 (got 1000000000001)");
  CHECK_FALSE(check_count("tokens", std::numeric_limits<std::int64_t>::min()).has_value());
  CHECK_FALSE(check_count("tokens", std::numeric_limits<std::int64_t>::max()).has_value());
}

TEST_CASE("checked_add adds within bounds and refuses overflow") {
  CHECK(checked_add("tokens", 2, 3).value() == 5);
  CHECK(checked_add("tokens", max_count - 1, 1).value() == max_count);
  CHECK(checked_add("tokens", 10, -4).value() == 6);
  CHECK(rejection(checked_add("tokens", max_count, 1)).find("tokens") != std::string::npos);
  CHECK_FALSE(checked_add("tokens", std::numeric_limits<std::int64_t>::max(), 1).has_value());
  CHECK_FALSE(checked_add("tokens", std::numeric_limits<std::int64_t>::max(), std::numeric_limits<std::int64_t>::max())
                  .has_value());
  CHECK_FALSE(checked_add("tokens", std::numeric_limits<std::int64_t>::min(), -1).has_value());
}

TEST_CASE("free text must be valid UTF-8 without NUL and within its size") {
  CHECK(check_text("user_agent", "Mozilla/5.0 (X11; Linux x86_64)", max_text_bytes).has_value());
  CHECK(check_text("user_agent", "", max_text_bytes).has_value());
  CHECK(check_text("name", "Entreprise \xC3\xA9t\xC3\xA9", max_text_bytes).has_value());
  CHECK(rejection(check_text("user_agent", std::string(1025, 'x'), max_text_bytes)) ==
        "user_agent must be at most 1024 bytes (got 1025)");
  CHECK(rejection(check_text("user_agent", std::string{"ab\0c", 4}, max_text_bytes)) ==
        "user_agent contains a NUL byte at byte 2");
  CHECK(rejection(check_text("user_agent", "ab\xC3", max_text_bytes)) == "user_agent is not valid UTF-8 at byte 2");
}

TEST_CASE("request context checks ip, user agent and request id") {
  request_context ctx;
  CHECK(check_context(ctx).has_value());
  ctx.ip = "203.0.113.7";
  ctx.user_agent = "curl/8.0";
  ctx.id = request_id{"r-1"};
  CHECK(check_context(ctx).has_value());
  ctx.ip = "fe80::1%eth0";
  CHECK(check_context(ctx).has_value());

  request_context bad = ctx;
  bad.ip = std::string(46, '1');
  CHECK(rejection(check_context(bad)) == "ip must be 1-45 bytes (got 46)");
  bad.ip = "";
  CHECK(rejection(check_context(bad)).find("ip must be") != std::string::npos);
  bad.ip = "1.2.3.4 evil";
  CHECK(rejection(check_context(bad)).find("printable ASCII") != std::string::npos);
  bad.ip = "1.2.3.4\n";
  CHECK(rejection(check_context(bad)).find("printable ASCII") != std::string::npos);

  bad = ctx;
  bad.user_agent = std::string(2000, 'u');
  CHECK(rejection(check_context(bad)).find("user_agent") != std::string::npos);
  bad = ctx;
  bad.id = request_id{std::string(129, 'r')};
  CHECK(rejection(check_context(bad)) == "request_id must be 1-128 bytes (got 129)");
}

}  // namespace kauri_quota::detail

TEST_CASE("payment fields, currencies, zones and lengths are validated") {
  using namespace kauri_quota::detail;
  CHECK(check_provider("cinetpay"));
  CHECK_FALSE(check_provider("CinetPay"));
  CHECK_FALSE(check_provider(""));
  CHECK_FALSE(check_provider(std::string(33, 'a')));
  CHECK(check_transaction_id("KQ-2025.11:07_ab"));
  CHECK_FALSE(check_transaction_id("tx 1"));
  CHECK_FALSE(check_transaction_id(std::string(129, 'a')));
  CHECK(check_months(1));
  CHECK(check_months(36));
  CHECK_FALSE(check_months(0));
  CHECK_FALSE(check_months(37));
  CHECK(check_currency("XOF"));
  CHECK(check_currency("XAF"));
  CHECK_FALSE(check_currency("EUR"));
  CHECK(check_zone("Africa/Douala"));
  CHECK_FALSE(check_zone("Mars/Base"));
  CHECK(check_trial_length(std::chrono::hours{1}));
  CHECK_FALSE(check_trial_length(std::chrono::minutes{59}));
  CHECK(check_trial_length(std::chrono::hours{24 * 90}));
  CHECK_FALSE(check_trial_length(std::chrono::hours{24 * 90 + 1}));
  CHECK(check_grace_period(std::chrono::seconds{0}));
  CHECK_FALSE(check_grace_period(std::chrono::seconds{-1}));
  CHECK_FALSE(check_grace_period(std::chrono::hours{24 * 91}));
}
