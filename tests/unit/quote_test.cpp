// quote_for_message: what an error message may repeat of an input.
#include "core/quote.hpp"

#include <doctest/doctest.h>

#include <string>

namespace kauri_quota::detail {

TEST_CASE("quote_for_message quotes short text and escapes quotes and backslashes") {
  CHECK(quote_for_message("free") == "\"free\"");
  CHECK(quote_for_message("") == "\"\"");
  CHECK(quote_for_message("a\"b\\c") == "\"a\\\"b\\\\c\"");
}

TEST_CASE("quote_for_message keeps valid UTF-8 and escapes controls and invalid bytes as upper-case \\xNN") {
  CHECK(quote_for_message("caf\xC3\xA9") == "\"caf\xC3\xA9\"");
  CHECK(quote_for_message(std::string("a\0b", 3)) == "\"a\\x00b\"");
  CHECK(quote_for_message("\n\x7F") == "\"\\x0A\\x7F\"");
  CHECK(quote_for_message("\xC2\x85") == "\"\\xC2\\x85\"");  // U+0085, a C1 control
  CHECK(quote_for_message("\xFF\xC3") == "\"\\xFF\\xC3\"");
}

TEST_CASE("quote_for_message keeps at most 40 bytes, never splitting a character, and says how many") {
  CHECK(quote_for_message(std::string(40, 'x')) == "\"" + std::string(40, 'x') + "\"");
  CHECK(quote_for_message(std::string(41, 'x')) == "\"" + std::string(40, 'x') + "\" (first 40 of 41 bytes)");
  // 39 bytes, then a two-byte character that would end past byte 40.
  CHECK(quote_for_message(std::string(39, 'x') + "\xC3\xA9") ==
        "\"" + std::string(39, 'x') + "\" (first 39 of 41 bytes)");
}

}  // namespace kauri_quota::detail
