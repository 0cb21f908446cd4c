#include "core/sql_support.hpp"

#include "core/error_text.hpp"
#include "core/json_writer.hpp"
#include "core/time_format.hpp"

#include <fmt/format.h>

#include <random>

namespace kauri_quota::detail {
namespace {

using namespace std::chrono;

bool digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  return true;
}

/// The day at the start of `s` and the length of its text: "YYYY-MM-DD", or
/// an expanded year (a sign, or a fifth digit: what time_format.hpp writes
/// and PostgreSQL prints past 9999) before "-MM-DD".
std::optional<local_date> parse_date_prefix(std::string_view s, std::size_t& length) {
  std::size_t i = 0;
  int sign = 1;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    sign = s[0] == '-' ? -1 : 1;
    i = 1;
  }
  std::size_t n = 0;
  while (i + n < s.size() && n < 6 && s[i + n] >= '0' && s[i + n] <= '9') ++n;
  int y = 0, m = 0, d = 0;
  // Four digits, or five at most: std::chrono::year stops at 32767.
  if (n < 4 || n > 5 || !digits(s, i, n, y)) return std::nullopt;
  i += n;
  if (s.size() < i + 6 || s[i] != '-' || !digits(s, i + 1, 2, m) || s[i + 3] != '-' || !digits(s, i + 4, 2, d))
    return std::nullopt;
  y *= sign;
  if (y < static_cast<int>(year::min()) || y > static_cast<int>(year::max())) return std::nullopt;
  year_month_day ymd{year{y}, month{static_cast<unsigned>(m)}, day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return std::nullopt;
  length = i + 6;
  return ymd;
}

}  // namespace

std::string format_db_time(sys_time t) { return format_stored_time(t); }

std::optional<local_date> parse_db_date(std::string_view s) {
  std::size_t length = 0;
  return parse_date_prefix(s, length);
}

std::optional<sys_time> parse_db_time(std::string_view whole) {
  std::size_t length = 0;
  auto date = parse_date_prefix(whole, length);
  if (!date) return std::nullopt;
  sys_time t{sys_days{*date}.time_since_epoch()};
  // Offsets below are those of a four-digit year; a longer one shifts them.
  const std::string_view s = whole.substr(length - 10);
  if (s.size() == 10) return t;
  if (s[10] != ' ' && s[10] != 'T') return std::nullopt;
  int hh = 0, mm = 0, ss = 0;
  if (!digits(s, 11, 2, hh) || s.size() < 19 || s[13] != ':' || !digits(s, 14, 2, mm) || s[16] != ':' ||
      !digits(s, 17, 2, ss) || hh > 23 || mm > 59 || ss > 60)
    return std::nullopt;
  t += hours{hh} + minutes{mm} + seconds{ss};
  std::size_t i = 19;
  if (i < s.size() && s[i] == '.') {
    std::int64_t frac = 0;
    int n = 0;
    for (++i; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i, ++n)
      if (n < 6) frac = frac * 10 + (s[i] - '0');
    for (int k = std::min(n, 6); k < 6; ++k) frac *= 10;
    t += microseconds{frac};
  }
  // An explicit offset (PostgreSQL's text form "+00", "+01:00", or "Z").
  if (i < s.size()) {
    if (s[i] == 'Z') return t;
    if (s[i] != '+' && s[i] != '-') return std::nullopt;
    const int sign = s[i] == '+' ? 1 : -1;
    int oh = 0, om = 0;
    if (!digits(s, i + 1, 2, oh)) return std::nullopt;
    if (i + 3 < s.size()) {
      std::size_t j = i + 3;
      if (s[j] == ':') ++j;
      if (!digits(s, j, 2, om)) return std::nullopt;
    }
    t -= sign * (hours{oh} + minutes{om});
  }
  return t;
}

std::string format_db_date(local_date d) { return format_iso_date(d); }

std::map<std::string, bool> parse_features(std::string_view json) {
  // The column is written by this library or by a DBA as a flat object of
  // booleans: {"a":true,"b":false}. Anything else is skipped.
  std::map<std::string, bool> out;
  std::size_t i = 0;
  auto skip_ws = [&] {
    while (i < json.size() && (json[i] == ' ' || json[i] == '\n' || json[i] == '\t' || json[i] == '\r')) ++i;
  };
  skip_ws();
  if (i >= json.size() || json[i] != '{') return out;
  ++i;
  while (i < json.size()) {
    skip_ws();
    if (i < json.size() && json[i] == '}') break;
    if (json[i] != '"') return out;
    std::string key;
    for (++i; i < json.size() && json[i] != '"'; ++i) {
      if (json[i] == '\\' && i + 1 < json.size()) ++i;
      key.push_back(json[i]);
    }
    ++i;
    skip_ws();
    if (i >= json.size() || json[i] != ':') return out;
    ++i;
    skip_ws();
    if (json.substr(i, 4) == "true") {
      out[key] = true;
      i += 4;
    } else if (json.substr(i, 5) == "false") {
      out[key] = false;
      i += 5;
    } else {
      while (i < json.size() && json[i] != ',' && json[i] != '}') ++i;
    }
    skip_ws();
    if (i < json.size() && json[i] == ',') ++i;
  }
  return out;
}

std::string features_json(const std::map<std::string, bool>& f) {
  json_writer w;
  w.begin_object();
  for (const auto& [k, v] : f) w.field(k, v);
  w.end_object();
  return w.take();
}

std::optional<reservation_state> parse_reservation_state(std::string_view s) noexcept {
  if (s == "open") return reservation_state::open;
  if (s == "committed") return reservation_state::committed;
  if (s == "released") return reservation_state::released;
  if (s == "expired") return reservation_state::expired;
  return std::nullopt;
}

std::optional<payment_status> parse_payment_status(std::string_view s) noexcept {
  for (auto v : {payment_status::pending, payment_status::applied, payment_status::failed})
    if (s == to_string(v)) return v;
  return std::nullopt;
}

std::optional<payment_effect> parse_payment_effect(std::string_view s) noexcept {
  for (auto v : {payment_effect::none, payment_effect::extended, payment_effect::started, payment_effect::scheduled})
    if (s == to_string(v)) return v;
  return std::nullopt;
}

limit_kind parse_limit_kind(std::string_view s) noexcept {
  if (s == "daily") return limit_kind::daily;
  if (s == "monthly") return limit_kind::monthly;
  if (s == "tokens") return limit_kind::tokens;
  return limit_kind::none;
}

std::string checksum_hex(std::string_view text) {
  std::uint64_t h = 1469598103934665603ULL;
  for (const char c : text) {
    h ^= static_cast<std::uint64_t>(static_cast<unsigned char>(c));
    h *= 1099511628211ULL;
  }
  return fmt::format("{:016x}", h);
}

std::string fingerprint(std::string_view operation, std::int64_t messages, std::int64_t tokens) {
  return fmt::format("{}:{}:{}", operation, messages, tokens);
}

error mismatch_error(const request_id& id, std::string_view stored_operation) {
  return error_text::request_id_reused(id.str(), stored_operation);
}

std::string new_reservation_id() {
  thread_local std::mt19937_64 gen{[] {
    std::random_device rd;
    std::seed_seq seq{rd(), rd(), rd(), rd(), rd(), rd(), rd(), rd()};
    return std::mt19937_64{seq};
  }()};
  return fmt::format("r_{:016x}{:016x}", gen(), gen());
}

result<void> check_settleable(const reservation& r, sys_time now) {
  if (r.state != reservation_state::open) return error_text::reservation_already_closed(r.id.str(), r.state);
  if (now >= r.expires_at) return error_text::reservation_expired(r.id.str(), r.expires_at, r.estimated_tokens);
  return ok();
}

namespace {
std::pair<limit, std::int64_t> limit_and_usage(limit_kind k, const tier& t, const usage& u) {
  switch (k) {
    case limit_kind::daily:
      return {t.messages_per_day, u.messages_today};
    case limit_kind::monthly:
      return {t.messages_per_month, u.messages_this_month};
    case limit_kind::tokens:
      return {t.tokens_per_month, u.tokens_this_month};
    case limit_kind::none:
      break;
  }
  return {std::nullopt, 0};
}
}  // namespace

std::string limit_metadata(limit_kind k, const tier& t, const usage& u, double threshold) {
  auto [lim, used] = limit_and_usage(k, t, u);
  json_writer w;
  w.begin_object()
      .field("limit", to_string(k))
      .field("limit_value", lim)
      .field("usage", used)
      .field("threshold", threshold)
      .end_object();
  return w.take();
}

std::string denial_metadata(limit_kind k, const tier& t, const usage& u, std::int64_t messages, std::int64_t tokens) {
  auto [lim, used] = limit_and_usage(k, t, u);
  json_writer w;
  w.begin_object()
      .field("limit", to_string(k))
      .field("limit_value", lim)
      .field("usage", used)
      .field("requested_messages", messages)
      .field("requested_tokens", tokens)
      .end_object();
  return w.take();
}

std::string reservation_metadata(const reservation& r) {
  json_writer w;
  w.begin_object()
      .field("reservation_id", r.id.str())
      .field("estimated_tokens", r.estimated_tokens)
      .field("actual_tokens", r.actual_tokens)
      .field("state", to_string(r.state))
      .end_object();
  return w.take();
}

error reset_stopped(error e, std::int64_t done) {
  if (done > 0)
    e.message += fmt::format(" (the reset stopped after {} users had been reset; run it again to finish it)", done);
  return e;
}

}  // namespace kauri_quota::detail
