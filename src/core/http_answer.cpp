#include <kauri_quota/http_answer.hpp>

#include <kauri_quota/json.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstddef>

namespace kauri_quota {
namespace {

namespace chr = std::chrono;

// The field syntax follows draft-ietf-httpapi-ratelimit-headers-10: both
// fields are Structured-Field Lists (RFC 9651) whose members are a String
// policy name with Integer parameters. Its examples:
//
//   RateLimit-Policy: "burst";q=100;w=60,"daily";q=1000;w=86400
//   RateLimit: "default";r=50;t=30
//
// q is the quota of the policy, w its window in seconds, r the quota units
// left and t the seconds until the quota resets. Members are joined by ", "
// as RFC 9651 section 4.1.1 serialises a List. "tokens" is not a registered
// quota unit (qu), so the token policy names its unit in a vendor parameter.

/// Seconds of the nominal windows: a calendar day and a 30-day month. The
/// periods themselves are calendar periods of the quota zone (a DST day
/// lasts 23 or 25 hours); t, not w, carries the exact reset.
constexpr std::int64_t day_window = 86400;
constexpr std::int64_t month_window = 30 * day_window;

/// RFC 9651 Integers have at most 15 digits.
constexpr std::int64_t sf_integer_max = 999'999'999'999'999;

std::int64_t sf_integer(std::int64_t v) noexcept { return std::clamp<std::int64_t>(v, 0, sf_integer_max); }

/// Whole seconds from `now` to `at`, rounded up, never negative.
std::int64_t seconds_until(sys_time at, sys_time now) noexcept {
  if (at <= now) return 0;
  return chr::ceil<chr::seconds>(at - now).count();
}

struct policy_view {
  const char* name;
  const limit& max;
  const limit& left;
  std::int64_t window;
  sys_time resets_at;
  const char* extra;  // vendor parameters, already serialised
};

void append_member(std::string& out, std::string_view member) {
  if (!out.empty()) out += ", ";
  out += member;
}

/// The end of the JSON string literal starting at `open` (its opening
/// quote) in `s`: the index after its closing quote, or npos.
std::size_t end_of_string(std::string_view s, std::size_t open) {
  for (std::size_t i = open + 1; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == '"') {
      return i + 1;
    }
  }
  return std::string_view::npos;
}

/// The value of the top-level member `key` of a JSON object written by the
/// library, as the position and length of its string literal. The pattern
/// "key":" cannot occur inside a string value, where every quote is escaped.
bool find_string_member(std::string_view json, std::string_view key, std::size_t& pos, std::size_t& len) {
  const std::string pattern = fmt::format("\"{}\":\"", key);
  const auto at = json.find(pattern);
  if (at == std::string_view::npos) return false;
  pos = at + pattern.size() - 1;
  const auto end = end_of_string(json, pos);
  if (end == std::string_view::npos) return false;
  len = end - pos;
  return true;
}

bool ascii_iequal(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) noexcept {
  const auto first = s.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t");
  return s.substr(first, last - first + 1);
}

/// The weight of a `q=` value in thousandths (RFC 9110 section 12.4.2:
/// "0" to "1" with at most three decimals), or -1 when malformed.
int parse_weight(std::string_view v) noexcept {
  if (v.empty() || (v[0] != '0' && v[0] != '1')) return -1;
  int whole = v[0] - '0';
  int thousandths = 0;
  if (v.size() > 1) {
    if (v[1] != '.' || v.size() > 5) return -1;
    int scale = 100;
    for (std::size_t i = 2; i < v.size(); ++i, scale /= 10) {
      if (v[i] < '0' || v[i] > '9') return -1;
      thousandths += (v[i] - '0') * scale;
    }
  }
  const int weight = whole * 1000 + thousandths;
  return weight > 1000 ? -1 : weight;
}

}  // namespace

const char* to_string(language l) noexcept { return l == language::fr ? "fr" : "en"; }

language negotiate_language(std::string_view header) noexcept {
  // Best weight and position of the ranges naming each language, and of "*".
  struct pick {
    int weight = -1;
    std::size_t index = 0;
  };
  pick en;
  pick fr;
  pick any;
  std::size_t index = 0;
  while (!header.empty()) {
    const auto comma = header.find(',');
    const std::string_view item = trim(header.substr(0, comma));
    header = comma == std::string_view::npos ? std::string_view{} : header.substr(comma + 1);
    if (item.empty()) continue;
    ++index;
    const auto semi = item.find(';');
    const std::string_view range = trim(item.substr(0, semi));
    int weight = 1000;
    if (semi != std::string_view::npos) {
      const std::string_view param = trim(item.substr(semi + 1));
      if (param.size() < 2 || (param[0] != 'q' && param[0] != 'Q') || param[1] != '=') continue;
      weight = parse_weight(trim(param.substr(2)));
      if (weight < 0) continue;
    }
    const std::string_view primary = range.substr(0, range.find('-'));
    pick* target = nullptr;
    if (range == "*") {
      target = &any;
    } else if (ascii_iequal(primary, "en")) {
      target = &en;
    } else if (ascii_iequal(primary, "fr")) {
      target = &fr;
    }
    if (target != nullptr && weight > target->weight) *target = pick{weight, index};
  }
  if (en.weight < 0) en = any;
  if (fr.weight < 0) fr = any;
  if (fr.weight > 0 && (fr.weight > en.weight || (fr.weight == en.weight && fr.index < en.index))) return language::fr;
  return language::en;
}

rate_limit_fields rate_limit_fields_for(const quota_info& q, sys_time now) {
  const policy_view policies[] = {
      {"daily", q.messages_per_day_limit, q.messages_remaining_today, day_window, q.daily_resets_at, ""},
      {"monthly", q.messages_per_month_limit, q.messages_remaining_month, month_window, q.monthly_resets_at, ""},
      {"tokens", q.tokens_per_month_limit, q.tokens_remaining_month, month_window, q.monthly_resets_at,
       ";kq-unit=\"tokens\""},
  };
  rate_limit_fields out;
  for (const auto& p : policies) {
    if (!p.max) continue;
    append_member(out.policy, fmt::format("\"{}\";q={};w={}{}", p.name, sf_integer(*p.max), p.window, p.extra));
    append_member(out.state, fmt::format("\"{}\";r={};t={}", p.name, sf_integer(p.left.value_or(0)),
                                         sf_integer(seconds_until(p.resets_at, now))));
  }
  return out;
}

std::int64_t retry_after_seconds(const decision& d, sys_time now) {
  if (d.allowed) return 0;
  return std::max<std::int64_t>(seconds_until(d.resets_at, now), 1);
}

std::string denial_body_json(const decision& d, sys_time now, language lang) {
  decision at_now = d;
  at_now.retry_after = chr::seconds{retry_after_seconds(d, now)};
  std::string body = denial_payload_json(at_now);
  // denial_payload_json writes "message" (English) and then "message_fr";
  // the body puts the chosen one under "message" and keeps both.
  std::size_t en_pos = 0;
  std::size_t en_len = 0;
  std::size_t fr_pos = 0;
  std::size_t fr_len = 0;
  if (!find_string_member(body, "message", en_pos, en_len) || !find_string_member(body, "message_fr", fr_pos, fr_len))
    return body;
  const std::string en = body.substr(en_pos, en_len);
  const std::string fr = body.substr(fr_pos, fr_len);
  std::string out = body.substr(0, en_pos);
  out += lang == language::fr ? fr : en;
  out += ",\"message_en\":";
  out += en;
  out += body.substr(en_pos + en_len);
  return out;
}

http_answer http_answer_for(const decision& d, sys_time now, std::string_view accept_language) {
  http_answer a;
  a.rate_limit = rate_limit_fields_for(d.quota, now);
  if (d.allowed) return a;
  a.status = 429;
  a.retry_after = retry_after_seconds(d, now);
  a.content_language = negotiate_language(accept_language);
  a.body = denial_body_json(d, now, a.content_language);
  return a;
}

http_answer http_answer_for(const quota_info& q, sys_time now) {
  http_answer a;
  a.rate_limit = rate_limit_fields_for(q, now);
  return a;
}

}  // namespace kauri_quota
