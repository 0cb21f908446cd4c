// UTF-8 decoding (internal): the one reading of RFC 3629 used by the JSON
// writer, the JSON checker, input validation and message quoting, so that
// they all agree on what is well formed.
#pragma once

#include <cstddef>
#include <string_view>

namespace kauri_quota::detail::utf8 {

/// Length (1-4) of the well-formed UTF-8 sequence starting at s[i], storing
/// its code point in `cp`; 0 when none starts there: a stray continuation
/// byte, an overlong form, a surrogate, a code point above U+10FFFF, a lead
/// byte C0, C1 or F5-FF, or a sequence cut short by the end of `s`.
/// Requires i < s.size().
std::size_t decode(std::string_view s, std::size_t i, char32_t& cp) noexcept;

/// True when the whole of `s` is well-formed UTF-8.
bool valid(std::string_view s) noexcept;

/// Calls `f(cp, offset)` for each code point of `s` in order while `f`
/// returns true. Returns the offset where it stopped: s.size() when every
/// code point was visited, else the offset of the first ill-formed byte or
/// of the code point for which `f` returned false.
template <class F>
std::size_t for_each_code_point(std::string_view s, F&& f) {
  std::size_t i = 0;
  while (i < s.size()) {
    char32_t cp = 0;
    const std::size_t len = decode(s, i, cp);
    if (len == 0 || !f(cp, i)) {
      return i;
    }
    i += len;
  }
  return i;
}

/// C0 controls, DEL and C1 controls: what must not reach a terminal or a
/// log viewer raw.
constexpr bool is_control(char32_t cp) noexcept { return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F); }

}  // namespace kauri_quota::detail::utf8
