// UTF-8 for the tests, written independently of the library's own decoder
// (src/core/validate.cpp) so that a bug there cannot cancel out in a test.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kauri_quota::testing {

/// The code points of `s`, or nullopt when it is not well-formed UTF-8
/// (Unicode 15, table 3-7: no overlong forms, no surrogates, nothing above
/// U+10FFFF, no stray or missing continuation bytes).
std::optional<std::vector<char32_t>> decode_utf8(std::string_view s);

/// True when `s` is well-formed UTF-8 (see decode_utf8).
bool valid_utf8(std::string_view s);

/// Appends the UTF-8 encoding of `cp` (at most U+10FFFF; surrogates are
/// encoded as they come, for tests that need ill-formed text).
void append_utf8(std::string& out, char32_t cp);

}  // namespace kauri_quota::testing
