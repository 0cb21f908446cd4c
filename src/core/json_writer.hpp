// A minimal streaming JSON writer (internal), used by json.cpp, the
// backends (event_metadata) and nothing else. Keys are trusted literals;
// string values are escaped (invalid UTF-8 becomes U+FFFD).
#pragma once

#include <kauri_quota/types.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kauri_quota::detail {

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
  json_writer& value(double v);
  json_writer& value(bool v);
  json_writer& null();
  json_writer& value(const limit& v) { return v ? value(*v) : null(); }
  json_writer& value(const std::optional<std::string>& v) { return v ? value(*v) : null(); }
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
