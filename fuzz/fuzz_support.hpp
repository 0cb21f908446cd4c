// Checks shared by the fuzz targets: a strict UTF-8 validator written
// independently of the library's own, and a report of a violated property
// followed by abort(), which libFuzzer records as a crash with its input.
#pragma once

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace kauri_quota_fuzz {

/// Decodes the UTF-8 sequence starting at s[i]. Returns its length and
/// stores the code point, or returns 0 when the bytes there are not a
/// well-formed sequence (Unicode 15, table 3-7: no overlong forms, no
/// surrogates, nothing above U+10FFFF, no truncated sequence).
inline std::size_t utf8_decode(std::string_view s, std::size_t i, char32_t& cp) noexcept {
  const auto lead = static_cast<unsigned char>(s[i]);
  std::size_t len = 0;
  char32_t min = 0;
  if (lead < 0x80) {
    cp = lead;
    return 1;
  }
  if ((lead & 0xE0) == 0xC0) {
    len = 2;
    min = 0x80;
    cp = lead & 0x1Fu;
  } else if ((lead & 0xF0) == 0xE0) {
    len = 3;
    min = 0x800;
    cp = lead & 0x0Fu;
  } else if ((lead & 0xF8) == 0xF0) {
    len = 4;
    min = 0x10000;
    cp = lead & 0x07u;
  } else {
    return 0;  // a continuation byte, or 0xF8..0xFF
  }
  if (s.size() - i < len) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3Fu);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

inline bool valid_utf8(std::string_view s) noexcept {
  for (std::size_t i = 0; i < s.size();) {
    char32_t cp = 0;
    const std::size_t len = utf8_decode(s, i, cp);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

/// True when valid UTF-8 `s` contains a control character (Unicode
/// category Cc: C0 including newlines, DEL, C1), which must not be shown raw
/// on one line of a terminal or log; with `line_separators`, also U+2028
/// LINE SEPARATOR and U+2029 PARAGRAPH SEPARATOR, which JSON output escapes
/// for JavaScript.
inline bool has_control_character(std::string_view s, bool line_separators = false) noexcept {
  for (std::size_t i = 0; i < s.size();) {
    char32_t cp = 0;
    const std::size_t len = utf8_decode(s, i, cp);
    if (len == 0) return false;  // not UTF-8: checked separately
    if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F)) return true;
    if (line_separators && (cp == 0x2028 || cp == 0x2029)) return true;
    i += len;
  }
  return false;
}

/// Non-overlapping occurrences of a non-empty `needle` in `haystack`.
inline std::size_t count_occurrences(std::string_view haystack, std::string_view needle) noexcept {
  std::size_t n = 0;
  for (std::size_t pos = haystack.find(needle); pos != std::string_view::npos;
       pos = haystack.find(needle, pos + needle.size())) {
    ++n;
  }
  return n;
}

/// `s` as the body of a C string literal (other bytes as octal escapes),
/// so that any input can be printed and pasted into a regression test.
inline std::string escaped(std::string_view s) {
  std::string out;
  for (const char c : s) {
    const auto b = static_cast<unsigned char>(c);
    if (b == '\\' || b == '"') {
      out += '\\';
      out += c;
    } else if (b >= 0x20 && b < 0x7F) {
      out += c;
    } else {
      out += '\\';
      out += static_cast<char>('0' + (b >> 6));
      out += static_cast<char>('0' + ((b >> 3) & 7));
      out += static_cast<char>('0' + (b & 7));
    }
  }
  return out;
}

/// Reports a violated property and aborts; libFuzzer then saves the input
/// as a crash file.
[[noreturn]] inline void violated(std::string_view property, std::string_view input, std::string_view output = {}) {
  std::fprintf(stderr, "\n*** property violated: %.*s\n*** input:  \"%s\"\n*** output: \"%s\"\n",
               static_cast<int>(property.size()), property.data(), escaped(input).c_str(), escaped(output).c_str());
  std::abort();
}

}  // namespace kauri_quota_fuzz
