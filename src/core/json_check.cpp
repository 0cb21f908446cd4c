// The strict JSON syntax check (RFC 8259) declared in json_writer.hpp.
#include "core/json_writer.hpp"
#include "core/utf8.hpp"

#include <cctype>
#include <cstddef>
#include <string_view>

namespace kauri_quota::detail {
namespace {

/// A strict RFC 8259 syntax check, used before embedding stored text
/// (event_metadata) into our output as raw JSON. Depth is bounded so that
/// hostile input cannot exhaust the stack.
class json_checker {
 public:
  explicit json_checker(std::string_view s) : s_(s) {}

  bool valid() {
    skip_ws();
    if (!parse_value(0)) {
      return false;
    }
    skip_ws();
    return pos_ == s_.size();
  }

 private:
  static constexpr int max_depth = 64;

  bool at_end() const { return pos_ >= s_.size(); }
  char peek() const { return s_[pos_]; }

  void skip_ws() {
    while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r')) {
      ++pos_;
    }
  }

  bool literal(std::string_view word) {
    if (s_.substr(pos_, word.size()) != word) {
      return false;
    }
    pos_ += word.size();
    return true;
  }

  bool digits() {
    const std::size_t start = pos_;
    while (!at_end() && std::isdigit(static_cast<unsigned char>(peek())) != 0) {
      ++pos_;
    }
    return pos_ > start;
  }

  bool parse_number() {
    if (peek() == '-') {
      ++pos_;
    }
    if (at_end()) {
      return false;
    }
    if (peek() == '0') {
      ++pos_;
    } else if (!digits()) {
      return false;
    }
    if (!at_end() && peek() == '.') {
      ++pos_;
      if (!digits()) {
        return false;
      }
    }
    if (!at_end() && (peek() == 'e' || peek() == 'E')) {
      ++pos_;
      if (!at_end() && (peek() == '+' || peek() == '-')) {
        ++pos_;
      }
      if (!digits()) {
        return false;
      }
    }
    return true;
  }

  bool parse_string() {
    ++pos_;  // opening quote
    while (!at_end()) {
      const auto c = static_cast<unsigned char>(peek());
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c < 0x20) {
        return false;
      }
      if (c == '\\') {
        ++pos_;
        if (at_end()) {
          return false;
        }
        const char e = peek();
        if (e == 'u') {
          for (int k = 0; k < 4; ++k) {
            ++pos_;
            if (at_end() || std::isxdigit(static_cast<unsigned char>(peek())) == 0) {
              return false;
            }
          }
        } else if (std::string_view{"\"\\/bfnrt"}.find(e) == std::string_view::npos) {
          return false;
        }
      }
      ++pos_;
    }
    return false;
  }

  bool parse_value(int depth) {
    if (at_end() || depth > max_depth) {
      return false;
    }
    switch (peek()) {
      case '{':
        return parse_container(depth, '}', true);
      case '[':
        return parse_container(depth, ']', false);
      case '"':
        return parse_string();
      case 't':
        return literal("true");
      case 'f':
        return literal("false");
      case 'n':
        return literal("null");
      default:
        return parse_number();
    }
  }

  bool parse_container(int depth, char close, bool object) {
    ++pos_;
    skip_ws();
    if (!at_end() && peek() == close) {
      ++pos_;
      return true;
    }
    while (true) {
      skip_ws();
      if (object) {
        if (at_end() || peek() != '"' || !parse_string()) {
          return false;
        }
        skip_ws();
        if (at_end() || peek() != ':') {
          return false;
        }
        ++pos_;
        skip_ws();
      }
      if (!parse_value(depth + 1)) {
        return false;
      }
      skip_ws();
      if (at_end()) {
        return false;
      }
      if (peek() == close) {
        ++pos_;
        return true;
      }
      if (peek() != ',') {
        return false;
      }
      ++pos_;
    }
  }

  std::string_view s_;
  std::size_t pos_ = 0;
};

}  // namespace

bool valid_json(std::string_view s) { return utf8::valid(s) && json_checker{s}.valid(); }

bool valid_json_object(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  return first != std::string_view::npos && s[first] == '{' && valid_json(s);
}

}  // namespace kauri_quota::detail
