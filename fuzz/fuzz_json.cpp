// Fuzz target: JSON output (json_quote, detail::json_writer) and the
// RFC 3339 / ISO 8601 formatting of instants and days.
//
// Properties checked for every input:
// - json_quote(input) is exactly one JSON string literal, and a JSON
//   document built by json_writer with the input as keys and values is
//   valid JSON, both by a strict RFC 8259 reader written here: only the
//   escapes JSON defines, no lone surrogate escapes, valid UTF-8, no raw
//   control characters;
// - the output shows no raw C0/DEL/C1 control character, U+2028 or U+2029
//   (the writer escapes them, so that logs and JavaScript can hold it);
// - decoding gives the input back, each byte that starts no well-formed
//   UTF-8 sequence replaced by U+FFFD;
// - numbers are written as valid JSON numbers with the value given
//   (doubles to two decimals; NaN and infinities as null);
// - format_time and format_date, on instants and days derived from the
//   input within their valid ranges, give the documented shapes and read
//   back as the same instant or day.
#include "core/json_writer.hpp"
#include "fuzz_support.hpp"

#include <kauri_quota/json.hpp>
#include <kauri_quota/types.hpp>

#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace chr = std::chrono;
using kauri_quota_fuzz::violated;

/// A strict reader of one JSON text (RFC 8259) that records every string
/// it decodes and the text of every number, in document order.
class json_reader {
 public:
  explicit json_reader(std::string_view text) : text_(text) {}

  /// One JSON value, optionally surrounded by whitespace, and nothing else.
  bool document() {
    skip_whitespace();
    if (!value(0)) return false;
    skip_whitespace();
    return pos_ == text_.size();
  }

  /// Exactly one string literal and nothing else.
  bool string_literal() { return string() && pos_ == text_.size(); }

  const std::vector<std::string>& strings() const noexcept { return strings_; }
  const std::vector<std::string>& numbers() const noexcept { return numbers_; }

 private:
  static constexpr int max_depth = 64;

  bool at(char c) const noexcept { return pos_ < text_.size() && text_[pos_] == c; }

  void skip_whitespace() noexcept {
    while (at(' ') || at('\t') || at('\n') || at('\r')) ++pos_;
  }

  bool value(int depth) {
    if (depth > max_depth || pos_ >= text_.size()) return false;
    switch (text_[pos_]) {
      case '{':
        return object(depth + 1);
      case '[':
        return array(depth + 1);
      case '"':
        return string();
      case 't':
        return word("true");
      case 'f':
        return word("false");
      case 'n':
        return word("null");
      default:
        return number();
    }
  }

  bool object(int depth) {
    ++pos_;  // '{'
    skip_whitespace();
    if (at('}')) {
      ++pos_;
      return true;
    }
    for (;;) {
      skip_whitespace();
      if (!at('"') || !string()) return false;
      skip_whitespace();
      if (!at(':')) return false;
      ++pos_;
      skip_whitespace();
      if (!value(depth)) return false;
      skip_whitespace();
      if (at('}')) {
        ++pos_;
        return true;
      }
      if (!at(',')) return false;
      ++pos_;
    }
  }

  bool array(int depth) {
    ++pos_;  // '['
    skip_whitespace();
    if (at(']')) {
      ++pos_;
      return true;
    }
    for (;;) {
      skip_whitespace();
      if (!value(depth)) return false;
      skip_whitespace();
      if (at(']')) {
        ++pos_;
        return true;
      }
      if (!at(',')) return false;
      ++pos_;
    }
  }

  bool word(std::string_view w) {
    if (text_.substr(pos_, w.size()) != w) return false;
    pos_ += w.size();
    return true;
  }

  bool digits() {
    const std::size_t start = pos_;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
    return pos_ > start;
  }

  // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  bool number() {
    const std::size_t start = pos_;
    if (at('-')) ++pos_;
    if (at('0')) {
      ++pos_;
    } else if (pos_ < text_.size() && text_[pos_] >= '1' && text_[pos_] <= '9') {
      digits();
    } else {
      return false;
    }
    if (at('.')) {
      ++pos_;
      if (!digits()) return false;
    }
    if (at('e') || at('E')) {
      ++pos_;
      if (at('+') || at('-')) ++pos_;
      if (!digits()) return false;
    }
    numbers_.emplace_back(text_.substr(start, pos_ - start));
    return true;
  }

  std::optional<char32_t> hex4() {
    if (text_.size() - pos_ < 4) return std::nullopt;
    char32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = text_[pos_++];
      v <<= 4;
      if (c >= '0' && c <= '9') {
        v |= static_cast<char32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        v |= static_cast<char32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        v |= static_cast<char32_t>(c - 'A' + 10);
      } else {
        return std::nullopt;
      }
    }
    return v;
  }

  static void append_utf8(std::string& out, char32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  /// An escape after its backslash; appends what it stands for.
  bool escape(std::string& out) {
    if (pos_ >= text_.size()) return false;
    const char c = text_[pos_++];
    switch (c) {
      case '"':
      case '\\':
      case '/':
        out += c;
        return true;
      case 'b':
        out += '\b';
        return true;
      case 'f':
        out += '\f';
        return true;
      case 'n':
        out += '\n';
        return true;
      case 'r':
        out += '\r';
        return true;
      case 't':
        out += '\t';
        return true;
      case 'u':
        break;
      default:
        return false;
    }
    auto cp = hex4();
    if (!cp) return false;
    if (*cp >= 0xDC00 && *cp <= 0xDFFF) return false;  // a lone low surrogate
    if (*cp >= 0xD800 && *cp <= 0xDBFF) {              // must be followed by its low half
      if (text_.substr(pos_, 2) != "\\u") return false;
      pos_ += 2;
      const auto low = hex4();
      if (!low || *low < 0xDC00 || *low > 0xDFFF) return false;
      *cp = 0x10000 + ((*cp - 0xD800) << 10) + (*low - 0xDC00);
    }
    append_utf8(out, *cp);
    return true;
  }

  bool string() {
    if (!at('"')) return false;
    ++pos_;
    std::string decoded;
    for (;;) {
      if (pos_ >= text_.size()) return false;
      const auto b = static_cast<unsigned char>(text_[pos_]);
      if (b == '"') {
        ++pos_;
        strings_.push_back(std::move(decoded));
        return true;
      }
      if (b == '\\') {
        ++pos_;
        if (!escape(decoded)) return false;
        continue;
      }
      if (b < 0x20) return false;  // raw control characters are not allowed in strings
      char32_t cp = 0;
      const std::size_t len = kauri_quota_fuzz::utf8_decode(text_, pos_, cp);
      if (len == 0) return false;
      decoded.append(text_.substr(pos_, len));
      pos_ += len;
    }
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  std::vector<std::string> strings_;
  std::vector<std::string> numbers_;
};

/// What a JSON string holding `s` decodes to: `s`, with each byte that
/// starts no well-formed UTF-8 sequence replaced by U+FFFD.
std::string sanitized(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    char32_t cp = 0;
    const std::size_t len = kauri_quota_fuzz::utf8_decode(s, i, cp);
    if (len == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(s.substr(i, len));
      i += len;
    }
  }
  return out;
}

/// Up to 8 bytes of `input` from `offset` (zero-padded) as an integer.
std::uint64_t bytes_at(std::string_view input, std::size_t offset) {
  std::uint64_t v = 0;
  if (offset < input.size()) std::memcpy(&v, input.data() + offset, std::min<std::size_t>(8, input.size() - offset));
  return v;
}

void check_output_text(std::string_view what, std::string_view input, const std::string& out) {
  if (!kauri_quota_fuzz::valid_utf8(out)) violated(std::string(what) + " is not valid UTF-8", input, out);
  if (kauri_quota_fuzz::has_control_character(out, /*line_separators=*/true))
    violated(std::string(what) + " contains a raw control character, U+2028 or U+2029", input, out);
}

void check_quote(std::string_view input) {
  const std::string out = kauri_quota::json_quote(input);
  check_output_text("json_quote output", input, out);
  json_reader reader{out};
  if (!reader.string_literal()) violated("json_quote output is not one JSON string literal", input, out);
  if (reader.strings().front() != sanitized(input))
    violated("json_quote output does not decode to the input", input, out);
}

void check_writer(std::string_view input) {
  const auto count = static_cast<std::int64_t>(bytes_at(input, 0));
  double ratio = 0;
  const std::uint64_t ratio_bits = bytes_at(input, 8);
  std::memcpy(&ratio, &ratio_bits, sizeof ratio);

  kauri_quota::detail::json_writer w;
  w.begin_object();
  w.key(input).value(input);
  w.field("count", count);
  w.field("ratio", ratio);
  w.field("limit", kauri_quota::limit{});
  w.key("list").begin_array();
  w.value(true).value(false).null().value(input);
  w.begin_object().end_object().begin_array().end_array();
  w.end_array();
  w.key("nested").begin_object().field(input, std::string(input)).end_object();
  w.end_object();
  const std::string out = w.take();

  check_output_text("json_writer output", input, out);
  json_reader reader{out};
  if (!reader.document()) violated("json_writer output is not valid JSON", input, out);

  const std::string s = sanitized(input);
  const std::vector<std::string> expected_strings{s, s, "count", "ratio", "limit", "list", s, "nested", s, s};
  if (reader.strings() != expected_strings)
    violated("json_writer strings do not decode to what was written", input, out);

  const std::vector<std::string>& numbers = reader.numbers();
  const bool finite = std::isfinite(ratio);
  if (numbers.size() != (finite ? 2U : 1U)) violated("json_writer wrote the wrong numbers", input, out);
  if (numbers[0] != std::to_string(count)) violated("json_writer wrote the wrong integer", input, out);
  if (finite) {
    const double written = std::strtod(numbers[1].c_str(), nullptr);
    // Two decimals, rounded: within half a hundredth (plus the rounding of
    // the decimal text itself for large values).
    if (std::fabs(written - ratio) > 0.005 + std::fabs(ratio) * 1e-15)
      violated("json_writer wrote the wrong double", input, out);
  }
}

/// Reads `n` decimal digits at `s[pos]`.
std::optional<long long> read_digits(std::string_view s, std::size_t pos, std::size_t n) {
  if (pos + n > s.size()) return std::nullopt;
  long long v = 0;
  for (std::size_t k = 0; k < n; ++k) {
    const char c = s[pos + k];
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

/// Parses "YYYY-MM-DD", or outside years 0000-9999 "YYYYY-MM-DD" and
/// "-YYY-MM-DD" / "-YYYYY-MM-DD" (the year zero-padded to four characters
/// including its sign).
std::optional<chr::year_month_day> read_date(std::string_view s) {
  if (s.size() < 10) return std::nullopt;
  const bool negative = s.front() == '-';
  const std::size_t year_digits = s.size() - (negative ? 1 : 0) - 6;
  if (year_digits < (negative ? 3U : 4U) || year_digits > 5) return std::nullopt;
  const auto y = read_digits(s, negative ? 1 : 0, year_digits);
  const std::size_t rest = s.size() - 6;
  const auto m = read_digits(s, rest + 1, 2);
  const auto d = read_digits(s, rest + 4, 2);
  if (!y || !m || !d || s[rest] != '-' || s[rest + 3] != '-') return std::nullopt;
  return chr::year{static_cast<int>(negative ? -*y : *y)} / chr::month{static_cast<unsigned>(*m)} /
         chr::day{static_cast<unsigned>(*d)};
}

void check_date(std::string_view input) {
  // Any valid day of the years std::chrono supports (-32767..32767).
  const std::uint64_t bits = bytes_at(input, 16);
  const chr::year y{static_cast<int>(bits % 65535) - 32767};
  const chr::month m{static_cast<unsigned>((bits >> 16) % 12 + 1)};
  const chr::day last = chr::year_month_day_last{y, chr::month_day_last{m}}.day();
  const chr::day d{static_cast<unsigned>((bits >> 24) % static_cast<unsigned>(last) + 1)};
  const chr::year_month_day date{y, m, d};

  const std::string text = kauri_quota::format_date(date);
  const bool four_digit_year = static_cast<int>(y) >= 0 && static_cast<int>(y) <= 9999;
  if (four_digit_year && text.size() != 10) violated("format_date is not YYYY-MM-DD", input, text);
  const auto back = read_date(text);
  if (!back || *back != date) violated("format_date does not read back as the same day", input, text);
}

void check_time(std::string_view input) {
  // Any instant from 0000-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z.
  constexpr std::int64_t first = -62'167'219'200'000'000;  // µs since the epoch
  constexpr std::int64_t last = 253'402'300'799'999'999;
  const std::uint64_t span = static_cast<std::uint64_t>(last - first) + 1;
  const auto offset = static_cast<std::int64_t>(bytes_at(input, 24) % span);
  const kauri_quota::sys_time t{chr::microseconds{first + offset}};

  const std::string text = kauri_quota::format_time(t);
  // "YYYY-MM-DDTHH:MM:SS.ffffffZ"
  if (text.size() != 27 || text[10] != 'T' || text[13] != ':' || text[16] != ':' || text[19] != '.' || text[26] != 'Z')
    violated("format_time is not YYYY-MM-DDTHH:MM:SS.ffffffZ", input, text);
  const auto date = read_date(text.substr(0, 10));
  const auto hours = read_digits(text, 11, 2);
  const auto minutes = read_digits(text, 14, 2);
  const auto seconds = read_digits(text, 17, 2);
  const auto micros = read_digits(text, 20, 6);
  if (!date || !date->ok() || !hours || !minutes || !seconds || !micros || *hours > 23 || *minutes > 59 ||
      *seconds > 59)
    violated("format_time has an invalid field", input, text);
  const kauri_quota::sys_time back = chr::sys_days{*date} + chr::hours{*hours} + chr::minutes{*minutes} +
                                     chr::seconds{*seconds} + chr::microseconds{*micros};
  if (back != t) violated("format_time does not read back as the same instant", input, text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input{reinterpret_cast<const char*>(data), size};
  try {
    check_quote(input);
    check_writer(input);
    check_date(input);
    check_time(input);
  } catch (...) {
    violated("an exception escaped", input);
  }
  return 0;
}
