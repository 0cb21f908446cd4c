// Fuzz target: the JSON syntax checker (detail::valid_json), JSON output
// (json_quote, detail::json_writer) and the RFC 3339 / ISO 8601 formatting
// of instants and days.
//
// nlohmann-json is the oracle throughout: an implementation independent of
// the library's. Properties checked for every input:
// - detail::valid_json(input) says what nlohmann says, except where the two
//   legitimately differ (see checker_agrees), and valid_json_object(input)
//   also wants an object;
// - json_quote(input) is exactly one JSON string literal, and a JSON
//   document built by json_writer with the input as keys and values is
//   valid JSON, both by nlohmann's strict parser (only the escapes JSON
//   defines, no lone surrogate escapes, valid UTF-8, no raw control
//   characters);
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

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
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

/// What nlohmann's parser reported, through its SAX interface: every string
/// it decoded (keys included) and the text of every number, in document
/// order, how many values it saw at the top level, and how deep the
/// deepest value sat (the number of containers around it).
class json_events final : public nlohmann::json_sax<nlohmann::json> {
 public:
  std::vector<std::string> strings;
  std::vector<std::string> numbers;
  std::size_t top_level_values = 0;
  std::size_t max_depth = 0;
  int error_id = 0;              ///< nlohmann's exception id when parsing failed
  std::size_t error_offset = 0;  ///< bytes read when it failed
  std::string error_token;       ///< the token it failed on

  bool null() override { return value(); }
  bool boolean(bool) override { return value(); }
  bool number_integer(number_integer_t n) override { return number(std::to_string(n)); }
  bool number_unsigned(number_unsigned_t n) override { return number(std::to_string(n)); }
  bool number_float(number_float_t, const string_t& written) override { return number(written); }
  bool string(string_t& s) override {
    strings.push_back(s);
    return value();
  }
  bool binary(binary_t&) override { return false; }
  bool start_object(std::size_t) override { return open(); }
  bool key(string_t& k) override {
    strings.push_back(k);
    return true;
  }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override { return open(); }
  bool end_array() override { return close(); }
  bool parse_error(std::size_t offset, const std::string& token, const nlohmann::detail::exception& e) override {
    error_id = e.id;
    error_offset = offset;
    error_token = token;
    return false;
  }

 private:
  bool value() {
    max_depth = std::max(max_depth, open_);
    if (open_ == 0) ++top_level_values;
    return true;
  }
  bool number(std::string written) {
    numbers.push_back(std::move(written));
    return value();
  }
  bool open() {
    value();
    ++open_;
    return true;
  }
  bool close() {
    --open_;
    return true;
  }
  std::size_t open_ = 0;
};

/// Whether nlohmann's strict parser (the one nlohmann::json::accept runs)
/// takes `text` as one JSON text; `events` gets what it saw.
bool nlohmann_parses(std::string_view text, json_events& events) {
  return nlohmann::json::sax_parse(text.begin(), text.end(), &events);
}

/// nlohmann's exception id for a number it cannot hold as a double
/// ("number overflow", out_of_range.406).
constexpr int nlohmann_number_overflow = 406;

/// `text` with the four hex digits of every \uD800-\uDFFF escape replaced
/// by 0041. Only the digits change, so the text keeps its structure; an
/// escape is a backslash ending an odd run of backslashes (inside a string
/// the run pairs up; outside one any backslash is an error either way).
std::string without_surrogate_escapes(std::string_view text) {
  std::string out(text);
  std::size_t run = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (out[i] != '\\') {
      run = 0;
      continue;
    }
    ++run;
    if (run % 2 == 1 && i + 5 < out.size() && out[i + 1] == 'u' && (out[i + 2] == 'd' || out[i + 2] == 'D') &&
        std::string_view{"89abcdefABCDEF"}.find(out[i + 3]) != std::string_view::npos &&
        std::isxdigit(static_cast<unsigned char>(out[i + 4])) != 0 &&
        std::isxdigit(static_cast<unsigned char>(out[i + 5])) != 0) {
      out.replace(i + 2, 4, "0041");
      run = 0;
      i += 5;
    }
  }
  return out;
}

/// What detail::valid_json must answer for `input`, from nlohmann, with the
/// places where the checker (src/core/json.cpp) and nlohmann legitimately
/// differ made explicit:
/// - a UTF-8 byte order mark: nlohmann skips one at the start (RFC 8259
///   §8.1 lets a parser ignore it); the checker, which vets stored text
///   before embedding it in the library's output, refuses it, because JSON
///   text must not carry one;
/// - escapes of UTF-16 surrogates (\uD800 alone, \uDC00 first): nlohmann
///   refuses unpaired ones; the checker checks only the RFC 8259 grammar,
///   which allows any four hex digits (§8.2 leaves their meaning open);
/// - numbers beyond the range of a double (1e999): nlohmann refuses them
///   (out_of_range.406); the checker checks syntax, and RFC 8259 §6 leaves
///   the range to the implementation. Each such number is replaced by 0
///   (and a space, so that it cannot merge with what follows) and the
///   text parsed again;
/// - depth: the checker refuses any value inside more than 64 containers,
///   so that hostile input cannot exhaust its stack; nlohmann parses
///   without recursion and has no limit;
/// - a NUL byte: nlohmann takes one as the end of the input, so it accepts
///   "0" followed by a NUL and anything; a NUL is no JSON token and, raw in
///   a string, a control character, so no JSON text holds one;
/// - duplicate object keys are no difference: both accept them (RFC 8259
///   §4 says names SHOULD be unique).
bool oracle_accepts(std::string_view input) {
  if (input.starts_with("\xEF\xBB\xBF")) return false;
  if (input.find('\0') != std::string_view::npos) return false;
  std::string text = without_surrogate_escapes(input);
  for (;;) {
    json_events events;
    if (nlohmann_parses(text, events)) return events.max_depth <= 64;
    if (events.error_id != nlohmann_number_overflow) return false;
    const std::size_t length = events.error_token.size();
    const std::size_t end = events.error_offset;
    if (length == 0 || end < length || end > text.size() ||
        std::string_view{text}.substr(end - length, length) != events.error_token) {
      violated("the oracle cannot locate the number nlohmann could not hold", input, events.error_token);
    }
    // "0 ", not "0": nlohmann converts a number as soon as its token ends,
    // so what follows (e.g. "e-999" after "1E67891") has not been parsed
    // yet and must not merge into the replacement.
    text.replace(end - length, length, "0 ");
  }
}

void check_checker(std::string_view input) {
  const bool expected = oracle_accepts(input);
  if (kauri_quota::detail::valid_json(input) != expected)
    violated(
        expected ? "valid_json refuses a JSON text nlohmann accepts" : "valid_json accepts a text nlohmann refuses",
        input);
  const auto first = input.find_first_not_of(" \t\r\n");
  const bool object = expected && first != std::string_view::npos && input[first] == '{';
  if (kauri_quota::detail::valid_json_object(input) != object)
    violated(object ? "valid_json_object refuses a JSON object" : "valid_json_object accepts what is no JSON object",
             input);
}

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
  json_events events;
  if (!out.starts_with('"') || !nlohmann_parses(out, events) || events.strings.size() != 1 || !events.numbers.empty() ||
      events.max_depth != 0)
    violated("json_quote output is not one JSON string literal", input, out);
  if (events.strings.front() != sanitized(input))
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
  json_events events;
  if (!nlohmann_parses(out, events)) violated("json_writer output is not valid JSON", input, out);

  const std::string s = sanitized(input);
  const std::vector<std::string> expected_strings{s, s, "count", "ratio", "limit", "list", s, "nested", s, s};
  if (events.strings != expected_strings) violated("json_writer strings do not decode to what was written", input, out);

  const std::vector<std::string>& numbers = events.numbers;
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

/// Parses "YYYY-MM-DD" for years 0000-9999, and outside them the ISO 8601
/// expanded form: a sign, then four or five digits ("+10000-01-01",
/// "-0001-12-31", "-32767-01-01").
std::optional<chr::year_month_day> read_date(std::string_view s) {
  if (s.size() < 10) return std::nullopt;
  const bool negative = s.front() == '-';
  const bool signed_year = negative || s.front() == '+';
  const std::size_t year_digits = s.size() - (signed_year ? 1 : 0) - 6;
  if (year_digits < 4 || year_digits > 5 || (!signed_year && year_digits != 4)) return std::nullopt;
  const auto y = read_digits(s, signed_year ? 1 : 0, year_digits);
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
  if (!four_digit_year && text.front() != '-' && text.front() != '+')
    violated("format_date writes a year outside 0000-9999 without its sign", input, text);
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
    check_checker(input);
    check_quote(input);
    check_writer(input);
    check_date(input);
    check_time(input);
  } catch (...) {
    violated("an exception escaped", input);
  }
  return 0;
}
