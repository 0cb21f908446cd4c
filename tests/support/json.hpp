// The tests' JSON reader: the library's JSON output parsed by nlohmann-json,
// an implementation independent of the library's own writer and checker, so
// that a bug in one cannot be hidden by the same bug in the other.
//
// nlohmann stays out of this header: suites see only json_value, and only
// the support library compiles the parser.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kauri_quota::testing {

/// A parsed JSON value: enough to inspect the library's JSON output field by
/// field, independently of its spacing. Object members keep the order (and
/// any duplicates) of the text.
struct json_value {
  enum class kind { null, boolean, number, string, array, object };
  kind type = kind::null;
  bool boolean = false;
  std::string text;  ///< the string's value, or the number as written (integers in decimal)
  std::vector<json_value> items;
  std::vector<std::pair<std::string, json_value>> members;

  bool is_null() const noexcept { return type == kind::null; }
  bool has(std::string_view key) const noexcept;
  /// The member `key`; fails the test when this is not an object with it.
  const json_value& operator[](std::string_view key) const;
  /// Item `i` of an array; fails the test when this is not an array that long.
  const json_value& operator[](std::size_t i) const;
  const json_value& operator[](int i) const { return (*this)[static_cast<std::size_t>(i)]; }
  /// The number of items of an array or members of an object; fails the
  /// test on anything else.
  std::size_t size() const;
  /// The number as an integer; fails the test when it is not one.
  std::int64_t as_int() const;
  double as_double() const;
  /// The string value; fails the test when this is not a string.
  const std::string& as_string() const;
  bool as_bool() const;
};

/// Parses `text` as one JSON value (RFC 8259, valid UTF-8, no byte order
/// mark); fails the test when it is not valid JSON.
json_value parse_json(std::string_view text);

/// As parse_json, but std::nullopt when `text` is not valid JSON (for tests
/// that check whether output parses at all).
std::optional<json_value> try_parse_json(std::string_view text);

/// True when some string anywhere inside `v` (a member value or an array
/// item, at any depth; not keys) equals `s`.
bool contains_string(const json_value& v, std::string_view s);

}  // namespace kauri_quota::testing
