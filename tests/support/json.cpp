#include "support/json.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <charconv>
#include <cstdlib>
#include <stdexcept>

namespace kauri_quota::testing {

namespace {

/// Builds a json_value from nlohmann's SAX events. SAX rather than
/// nlohmann::json itself, because nlohmann's objects sort their keys and
/// drop duplicates, and its numbers lose the text they were written as.
class builder final : public nlohmann::json_sax<nlohmann::json> {
 public:
  json_value take() { return std::move(root_); }
  const std::string& error() const noexcept { return error_; }

  bool null() override {
    place(json_value{});
    return true;
  }
  bool boolean(bool b) override {
    json_value v;
    v.type = json_value::kind::boolean;
    v.boolean = b;
    place(std::move(v));
    return true;
  }
  bool number_integer(number_integer_t n) override { return number(std::to_string(n)); }
  bool number_unsigned(number_unsigned_t n) override { return number(std::to_string(n)); }
  bool number_float(number_float_t, const string_t& written) override { return number(written); }
  bool string(string_t& s) override {
    json_value v;
    v.type = json_value::kind::string;
    v.text = std::move(s);
    place(std::move(v));
    return true;
  }
  bool binary(binary_t&) override { return false; }  // never produced by the JSON text parser
  bool start_object(std::size_t) override { return open(json_value::kind::object); }
  bool key(string_t& k) override {
    key_ = std::move(k);
    return true;
  }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override { return open(json_value::kind::array); }
  bool end_array() override { return close(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    error_ = e.what();
    return false;
  }

 private:
  bool number(std::string written) {
    json_value v;
    v.type = json_value::kind::number;
    v.text = std::move(written);
    place(std::move(v));
    return true;
  }

  // Pointers on the stack stay valid: a value is only ever added to the
  // innermost open container, and no open container is an item of it.
  json_value& place(json_value v) {
    if (open_.empty()) {
      root_ = std::move(v);
      return root_;
    }
    json_value& top = *open_.back();
    if (top.type == json_value::kind::array) {
      top.items.push_back(std::move(v));
      return top.items.back();
    }
    top.members.emplace_back(std::move(key_), std::move(v));
    return top.members.back().second;
  }

  bool open(json_value::kind k) {
    json_value v;
    v.type = k;
    open_.push_back(&place(std::move(v)));
    return true;
  }

  bool close() {
    open_.pop_back();
    return true;
  }

  json_value root_;
  std::vector<json_value*> open_;
  std::string key_;
  std::string error_;
};

/// The parsed value, or the reason `text` is not JSON.
std::pair<std::optional<json_value>, std::string> parse(std::string_view text) {
  // nlohmann skips a leading byte order mark, which RFC 8259 §8.1 lets a
  // parser do; the library must never write one, so it is an error here.
  if (text.starts_with("\xEF\xBB\xBF")) return {std::nullopt, "a byte order mark"};
  // nlohmann also takes a NUL byte as the end of the input; no JSON text
  // holds one (it is no token, and raw in a string a control character).
  if (text.find('\0') != std::string_view::npos) return {std::nullopt, "a NUL byte"};
  builder b;
  if (!nlohmann::json::sax_parse(text.begin(), text.end(), &b)) return {std::nullopt, b.error()};
  return {b.take(), {}};
}

}  // namespace

json_value parse_json(std::string_view text) {
  auto [value, why] = parse(text);
  if (!value) {
    FAIL("invalid JSON (" << why << "): " << std::string(text));
    throw std::logic_error("unreachable");
  }
  return std::move(*value);
}

std::optional<json_value> try_parse_json(std::string_view text) { return parse(text).first; }

bool contains_string(const json_value& v, std::string_view s) {
  switch (v.type) {
    case json_value::kind::string:
      return v.text == s;
    case json_value::kind::array:
      for (const auto& item : v.items) {
        if (contains_string(item, s)) return true;
      }
      return false;
    case json_value::kind::object:
      for (const auto& [key, member] : v.members) {
        if (contains_string(member, s)) return true;
      }
      return false;
    default:
      return false;
  }
}

bool json_value::has(std::string_view key) const noexcept {
  if (type != kind::object) return false;
  for (const auto& [k, v] : members) {
    if (k == key) return true;
  }
  return false;
}

const json_value& json_value::operator[](std::string_view key) const {
  if (type != kind::object) FAIL("JSON value is not an object; wanted member \"" << std::string(key) << "\"");
  for (const auto& [k, v] : members) {
    if (k == key) return v;
  }
  FAIL("JSON object has no member \"" << std::string(key) << "\"");
  throw std::logic_error("unreachable");
}

const json_value& json_value::operator[](std::size_t i) const {
  if (type != kind::array) FAIL("JSON value is not an array; wanted item " << i);
  if (i >= items.size()) FAIL("JSON array has " << items.size() << " items; wanted item " << i);
  return items[i];
}

std::size_t json_value::size() const {
  if (type == kind::array) return items.size();
  if (type == kind::object) return members.size();
  FAIL("JSON value is neither an array nor an object; wanted its size");
  return 0;
}

std::int64_t json_value::as_int() const {
  std::int64_t v = 0;
  if (type != kind::number) FAIL("JSON value is not a number");
  const auto* first = text.data();
  const auto* last = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(first, last, v);
  if (ec != std::errc{} || ptr != last) FAIL("JSON number " << text << " is not an integer");
  return v;
}

double json_value::as_double() const {
  if (type != kind::number) FAIL("JSON value is not a number");
  return std::strtod(text.c_str(), nullptr);
}

const std::string& json_value::as_string() const {
  if (type != kind::string) FAIL("JSON value is not a string");
  return text;
}

bool json_value::as_bool() const {
  if (type != kind::boolean) FAIL("JSON value is not a boolean");
  return boolean;
}

}  // namespace kauri_quota::testing
