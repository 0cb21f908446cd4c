// The one UTF-8 decoder: sequence lengths, code points, and where a walk
// over a text stops.
#include "core/utf8.hpp"

#include <doctest/doctest.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace kauri_quota::detail {

namespace {

std::string bytes(std::initializer_list<unsigned char> b) { return {b.begin(), b.end()}; }

/// (length, code point) of the sequence at the start of `s`.
std::pair<std::size_t, char32_t> decoded(std::string_view s) {
  char32_t cp = 0xFFFFFFFF;
  const std::size_t len = utf8::decode(s, 0, cp);
  return {len, len == 0 ? 0 : cp};
}

}  // namespace

TEST_CASE("utf8::decode reads one to four byte sequences and their code points") {
  CHECK(decoded("A") == std::pair<std::size_t, char32_t>{1, U'A'});
  CHECK(decoded("\xC3\xA9") == std::pair<std::size_t, char32_t>{2, U'\u00E9'});
  CHECK(decoded("\xE2\x82\xAC") == std::pair<std::size_t, char32_t>{3, U'\u20AC'});
  CHECK(decoded("\xF0\x9F\x98\x80") == std::pair<std::size_t, char32_t>{4, U'\U0001F600'});
  CHECK(decoded("\xF4\x8F\xBF\xBF") == std::pair<std::size_t, char32_t>{4, U'\U0010FFFF'});
}

TEST_CASE("utf8::decode refuses overlongs, surrogates, out-of-range and cut sequences") {
  CHECK(decoded(bytes({0xC0, 0xAF})).first == 0);        // overlong '/'
  CHECK(decoded(bytes({0xE0, 0x80, 0xAF})).first == 0);  // overlong below U+0800
  CHECK(decoded(bytes({0xF0, 0x80, 0x80, 0xAF})).first == 0);
  CHECK(decoded(bytes({0xED, 0xA0, 0x80})).first == 0);        // U+D800
  CHECK(decoded(bytes({0xF4, 0x90, 0x80, 0x80})).first == 0);  // U+110000
  CHECK(decoded(bytes({0xF5, 0x80, 0x80, 0x80})).first == 0);
  CHECK(decoded(bytes({0x80})).first == 0);  // stray continuation byte
  CHECK(decoded(bytes({0xE2, 0x82})).first == 0);
  CHECK(decoded(bytes({0xC3, 0x41})).first == 0);
}

TEST_CASE("utf8::decode reads at an offset and stops at the end of the text") {
  const std::string s = "a\xC3\xA9";
  char32_t cp = 0;
  CHECK(utf8::decode(s, 1, cp) == 2);
  CHECK(cp == U'\u00E9');
  CHECK(utf8::decode(std::string_view{s}.substr(0, 2), 1, cp) == 0);
}

TEST_CASE("utf8::valid accepts well-formed text only") {
  CHECK(utf8::valid(""));
  CHECK(utf8::valid("plain ASCII"));
  CHECK(utf8::valid("d\xC3\xA9j\xC3\xA0 \xE2\x82\xAC \xF0\x9F\x98\x80"));
  CHECK_FALSE(utf8::valid("ok\xFF"));
  CHECK_FALSE(utf8::valid(bytes({'a', 0xED, 0xBF, 0xBF})));
}

TEST_CASE("utf8::for_each_code_point visits code points with their offsets") {
  std::vector<std::pair<char32_t, std::size_t>> seen;
  const std::string s = "a\xC3\xA9\xE2\x82\xAC";
  const std::size_t stop = utf8::for_each_code_point(s, [&](char32_t cp, std::size_t at) {
    seen.emplace_back(cp, at);
    return true;
  });
  CHECK(stop == s.size());
  REQUIRE(seen.size() == 3);
  CHECK(seen[0] == std::pair<char32_t, std::size_t>{U'a', 0});
  CHECK(seen[1] == std::pair<char32_t, std::size_t>{U'\u00E9', 1});
  CHECK(seen[2] == std::pair<char32_t, std::size_t>{U'\u20AC', 3});
}

TEST_CASE("utf8::for_each_code_point stops at the first ill-formed byte or when told to") {
  CHECK(utf8::for_each_code_point("ab\xFF"
                                  "c",
                                  [](char32_t, std::size_t) { return true; }) == 2);
  CHECK(utf8::for_each_code_point("abc", [](char32_t cp, std::size_t) { return cp != U'b'; }) == 1);
}

TEST_CASE("utf8::is_control covers C0, DEL and C1 only") {
  CHECK(utf8::is_control(0));
  CHECK(utf8::is_control(0x1F));
  CHECK(utf8::is_control(0x7F));
  CHECK(utf8::is_control(0x85));
  CHECK(utf8::is_control(0x9F));
  CHECK_FALSE(utf8::is_control(U' '));
  CHECK_FALSE(utf8::is_control(0xA0));
  CHECK_FALSE(utf8::is_control(0x2028));
}

}  // namespace kauri_quota::detail
