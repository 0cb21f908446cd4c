// A minimal streaming JSON writer (internal), used by json.cpp, the
// backends (event_metadata) and nothing else. Keys are trusted literals;
// string values are escaped (invalid UTF-8 becomes U+FFFD). A double is a
// number, written in full; a percentage for people is wrapped in
// `percentage` and rounded to two decimals, so that the two cannot be
// confused (a warning threshold of 0.855 must not be stored as 0.85).
#pragma once

#include <kauri_quota/types.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kauri_quota::detail {

/// A percentage shown to people ("66.67"): at most two decimals.
struct percentage {
  double value = 0;
};

/// "80", "66.67", "12.5", "0": a finite percentage as people write it, at
/// most two decimals and no trailing zeros; the JSON views and the warning
/// sentences both use it.
std::string format_percentage(double p);

class json_writer {
 public:
  json_writer& begin_object();
  json_writer& end_object();
  json_writer& begin_array();
  json_writer& end_array();
  json_writer& key(std::string_view k);
  json_writer& value(std::string_view s);
  json_writer& value(const char* s) { return value(std::string_view{s}); }
  json_writer& value(const std::string& s) { return value(std::string_view{s}); }
  json_writer& value(std::int64_t v);
  json_writer& value(int v) { return value(static_cast<std::int64_t>(v)); }
  /// The shortest text that reads back as `v` (0.855, 1e-06, 1), as
  /// PostgreSQL writes a double precision; null when not finite.
  json_writer& value(double v);
  /// At most two decimals, trailing zeros dropped ("80", "33.33", "12.5");
  /// null when not finite.
  json_writer& value(percentage p);
  json_writer& value(bool v);
  /// An id as its text.
  template <class Tag>
  json_writer& value(const basic_id<Tag>& id) {
    return value(std::string_view{id.str()});
  }
  /// An instant in RFC 3339 ("2025-11-07T10:59:24.625159Z").
  json_writer& value(sys_time t);
  /// A day ("2025-11-07").
  json_writer& value(local_date d);
  json_writer& null();
  /// The value, or null when empty (a limit, an optional text, id or time).
  template <class T>
  json_writer& value(const std::optional<T>& v) {
    return v ? value(*v) : null();
  }
  /// Inserts already-serialised JSON as a value.
  json_writer& raw(std::string_view json);
  template <class T>
  json_writer& field(std::string_view k, const T& v) {
    key(k);
    return value(v);
  }
  const std::string& str() const noexcept { return out_; }
  std::string take() noexcept { return std::move(out_); }

 private:
  void separate();
  std::string out_;
  bool first_ = true;
  bool after_key_ = false;
};

/// True when `s` is one valid JSON value (RFC 8259, strict) in valid UTF-8.
bool valid_json(std::string_view s);
/// True when `s` is a valid JSON object.
bool valid_json_object(std::string_view s);

/// Appends `s` quoted and escaped to `out`.
void append_json_string(std::string& out, std::string_view s);

}  // namespace kauri_quota::detail
