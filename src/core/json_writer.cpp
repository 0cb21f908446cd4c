#include "json_writer.hpp"

#include "core/time_format.hpp"
#include "core/utf8.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstddef>
#include <iterator>
#include <string>
#include <string_view>

namespace kauri_quota::detail {
namespace {

void append_u_escape(std::string& out, char32_t cp) { out += fmt::format("\\u{:04x}", static_cast<unsigned>(cp)); }

}  // namespace

void append_json_string(std::string& out, std::string_view s) {
  out.reserve(out.size() + s.size() + 2);
  out += '"';
  std::size_t i = 0;
  while (i < s.size()) {
    // Fast path: a run of printable ASCII that needs no escaping.
    std::size_t run = i;
    while (run < s.size()) {
      const auto b = static_cast<unsigned char>(s[run]);
      if (b < 0x20 || b >= 0x7F || b == '"' || b == '\\') {
        break;
      }
      ++run;
    }
    if (run > i) {
      out.append(s.substr(i, run - i));
      i = run;
      continue;
    }
    char32_t cp = 0;
    const std::size_t len = utf8::decode(s, i, cp);
    if (len == 0) {
      // One replacement character per byte that starts no valid sequence.
      out += "\\ufffd";
      ++i;
      continue;
    }
    switch (cp) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        // C0, DEL and C1 are escaped so that logs and terminals showing the
        // JSON stay readable; U+2028/U+2029 because JavaScript string
        // literals before ES2019 cannot contain them raw.
        if (utf8::is_control(cp) || cp == 0x2028 || cp == 0x2029) {
          append_u_escape(out, cp);
        } else {
          out.append(s.substr(i, len));
        }
    }
    i += len;
  }
  out += '"';
}

std::string format_percentage(double p) {
  // Two decimals are enough for people, and trailing zeros are noise.
  std::string text = fmt::format("{:.2f}", p);
  while (text.back() == '0') {
    text.pop_back();
  }
  if (text.back() == '.') {
    text.pop_back();
  }
  if (text == "-0") {
    text = "0";
  }
  return text;
}

void json_writer::separate() {
  if (after_key_) {
    after_key_ = false;
  } else if (!first_) {
    out_ += ',';
  }
  first_ = false;
}

json_writer& json_writer::begin_object() {
  separate();
  out_ += '{';
  first_ = true;
  return *this;
}

json_writer& json_writer::end_object() {
  out_ += '}';
  first_ = false;
  return *this;
}

json_writer& json_writer::begin_array() {
  separate();
  out_ += '[';
  first_ = true;
  return *this;
}

json_writer& json_writer::end_array() {
  out_ += ']';
  first_ = false;
  return *this;
}

json_writer& json_writer::key(std::string_view k) {
  separate();
  append_json_string(out_, k);
  out_ += ':';
  after_key_ = true;
  return *this;
}

json_writer& json_writer::value(std::string_view s) {
  separate();
  append_json_string(out_, s);
  return *this;
}

json_writer& json_writer::value(std::int64_t v) {
  separate();
  const fmt::format_int digits{v};
  out_.append(digits.data(), digits.size());
  return *this;
}

json_writer& json_writer::value(double v) {
  if (!std::isfinite(v)) {
    return null();  // JSON has no NaN or infinity
  }
  separate();
  // fmt's default for a double is the shortest round-trip form, which is
  // also what PostgreSQL prints (extra_float_digits = 1, its default).
  fmt::format_to(std::back_inserter(out_), "{}", v);
  return *this;
}

json_writer& json_writer::value(percentage p) {
  if (!std::isfinite(p.value)) {
    return null();
  }
  separate();
  out_ += format_percentage(p.value);
  return *this;
}

json_writer& json_writer::value(sys_time t) { return value(std::string_view{format_rfc3339(t)}); }

json_writer& json_writer::value(local_date d) { return value(std::string_view{format_iso_date(d)}); }

json_writer& json_writer::value(bool v) {
  separate();
  out_ += v ? "true" : "false";
  return *this;
}

json_writer& json_writer::null() {
  separate();
  out_ += "null";
  return *this;
}

json_writer& json_writer::raw(std::string_view json) {
  separate();
  out_ += json;
  return *this;
}

}  // namespace kauri_quota::detail
