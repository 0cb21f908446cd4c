#include <kauri_quota/json.hpp>

#include "json_writer.hpp"
#include "time_format.hpp"
#include "validate.hpp"

#include <fmt/format.h>

#include <cctype>
#include <cstddef>
#include <string>
#include <string_view>

namespace kauri_quota {
namespace {

using detail::json_writer;

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

bool embeddable_json(std::string_view s) { return detail::valid_json(s); }

/// "2025-11-08T00:00:00Z": an instant for people to read (no fraction).
std::string format_time_seconds(sys_time t) {
  std::string text = format_time(t);
  text.erase(text.size() - 8, 7);  // ".ffffff"
  return text;
}

void write_time(json_writer& w, std::string_view key, sys_time t) { w.field(key, format_time(t)); }

void write_optional_time(json_writer& w, std::string_view key, const std::optional<sys_time>& t) {
  w.key(key);
  if (t) {
    w.value(format_time(*t));
  } else {
    w.null();
  }
}

void write_quota_info(json_writer& w, const quota_info& q) {
  w.begin_object();
  // The spec's UserQuotaInfo fields, in the spec's order ...
  w.field("user_id", q.user.str());
  w.field("subscription_tier", q.subscription_tier.str());
  w.field("tier_name", q.tier_name);
  w.field("tier_name_fr", q.tier_name_fr);
  w.field("messages_per_day_limit", q.messages_per_day_limit);
  w.field("messages_per_month_limit", q.messages_per_month_limit);
  w.field("messages_today", q.messages_today);
  w.field("messages_remaining_today", q.messages_remaining_today);
  w.field("messages_remaining_month", q.messages_remaining_month);
  w.field("can_send_message", q.can_send_message);
  w.field("is_quota_exceeded", q.is_quota_exceeded);
  w.field("needs_upgrade", q.needs_upgrade);
  w.field("warning_threshold_reached", q.warning_threshold_reached);
  // ... then the library's additions.
  w.field("subscription_status", to_string(q.status));
  w.field("messages_this_month", q.messages_this_month);
  w.field("tokens_per_month_limit", q.tokens_per_month_limit);
  w.field("tokens_today", q.tokens_today);
  w.field("tokens_this_month", q.tokens_this_month);
  w.field("tokens_remaining_month", q.tokens_remaining_month);
  w.field("usage_date", format_date(q.usage_date));
  write_time(w, "daily_resets_at", q.daily_resets_at);
  write_time(w, "monthly_resets_at", q.monthly_resets_at);
  w.end_object();
}

void write_tier(json_writer& w, const tier& t) {
  w.begin_object();
  w.field("tier_id", t.id.str());
  w.field("name", t.name);
  w.field("name_fr", t.name_fr);
  w.field("messages_per_day", t.messages_per_day);
  w.field("messages_per_month", t.messages_per_month);
  w.field("tokens_per_month", t.tokens_per_month);
  w.field("price_fcfa", t.price_fcfa);
  w.key("features").begin_object();
  for (const auto& [name, enabled] : t.features) {
    w.field(name, enabled);
  }
  w.end_object();
  w.field("display_order", t.display_order);
  w.field("is_visible", t.is_visible);
  w.end_object();
}

void write_subscription(json_writer& w, const subscription& s) {
  w.begin_object();
  w.field("user_id", s.user.str());
  w.field("email", s.email);
  w.field("subscription_tier", s.tier.str());
  w.field("subscription_status", to_string(s.status));
  write_optional_time(w, "subscription_start_date", s.start_date);
  write_optional_time(w, "subscription_end_date", s.end_date);
  write_optional_time(w, "trial_end_date", s.trial_end_date);
  w.end_object();
}

void write_event(json_writer& w, const usage_event& e) {
  w.begin_object();
  w.field("id", e.id);
  w.field("user_id", e.user.str());
  w.field("event_type", e.event_type);
  w.field("messages_count", e.messages_count);
  w.field("tokens_count", e.tokens_count);
  w.field("quota_tier", e.quota_tier);
  w.field("request_ip", e.request_ip);
  w.field("user_agent", e.user_agent);
  w.key("event_metadata");
  if (!e.event_metadata) {
    w.null();
  } else if (embeddable_json(*e.event_metadata)) {
    w.raw(*e.event_metadata);
  } else {
    // Stored text that is not JSON is kept, as a string, rather than
    // corrupting the whole document.
    w.value(*e.event_metadata);
  }
  w.key("usage_date");
  if (e.usage_date) {
    w.value(format_date(*e.usage_date));
  } else {
    w.null();
  }
  write_time(w, "event_timestamp", e.event_timestamp);
  w.end_object();
}

const char* limit_name(limit_kind k) noexcept { return k == limit_kind::none ? nullptr : to_string(k); }

/// The suggested tier's display name ("Pro"), or, for a decision built
/// without the names, its id with a capital ("pro" -> "Pro").
std::string display_name(const tier_id& id, const std::string& name_given) {
  if (!name_given.empty()) return name_given;
  std::string name = id.str();
  if (!name.empty() && name[0] >= 'a' && name[0] <= 'z') {
    name[0] = static_cast<char>(name[0] - 'a' + 'A');
  }
  return name;
}

struct denial_facts {
  limit max;
  std::int64_t used = 0;
};

denial_facts facts_of(const decision& d) {
  const quota_info& q = d.quota;
  switch (d.denied_by) {
    case limit_kind::daily:
      return {q.messages_per_day_limit, q.messages_today};
    case limit_kind::monthly:
      return {q.messages_per_month_limit, q.messages_this_month};
    case limit_kind::tokens:
      return {q.tokens_per_month_limit, q.tokens_this_month};
    case limit_kind::none:
      break;
  }
  return {};
}

std::string usage_ratio(const denial_facts& f) {
  return f.max ? fmt::format("{}/{}", f.used, *f.max) : fmt::format("{}", f.used);
}

std::string denial_message_en(const decision& d, const denial_facts& f) {
  std::string text;
  switch (d.denied_by) {
    case limit_kind::daily:
      text = fmt::format("Daily message limit reached ({}).", usage_ratio(f));
      break;
    case limit_kind::monthly:
      text = fmt::format("Monthly message limit reached ({}).", usage_ratio(f));
      break;
    case limit_kind::tokens:
      text = f.max && f.used < *f.max
                 ? fmt::format("This request would exceed your monthly token limit ({} tokens used).", usage_ratio(f))
                 : fmt::format("Monthly token limit reached ({} tokens).", usage_ratio(f));
      break;
    case limit_kind::none:
      return "No limit was reached.";
  }
  text += fmt::format(" Your quota resets at {}.", format_time_seconds(d.resets_at));
  if (d.suggested_tier) {
    text += fmt::format(" Upgrade to {} for more {}.", display_name(*d.suggested_tier, d.suggested_tier_name),
                        d.denied_by == limit_kind::tokens ? "tokens" : "messages");
  }
  return text;
}

std::string denial_message_fr(const decision& d, const denial_facts& f) {
  std::string text;
  switch (d.denied_by) {
    case limit_kind::daily:
      text = fmt::format("Limite quotidienne de messages atteinte ({}).", usage_ratio(f));
      break;
    case limit_kind::monthly:
      text = fmt::format("Limite mensuelle de messages atteinte ({}).", usage_ratio(f));
      break;
    case limit_kind::tokens:
      text = f.max && f.used < *f.max
                 ? fmt::format("Cette requête dépasserait votre limite mensuelle de jetons ({} jetons utilisés).",
                               usage_ratio(f))
                 : fmt::format("Limite mensuelle de jetons atteinte ({} jetons).", usage_ratio(f));
      break;
    case limit_kind::none:
      return "Aucune limite n'a été atteinte.";
  }
  text += fmt::format(" Votre quota sera réinitialisé le {}.", format_time_seconds(d.resets_at));
  if (d.suggested_tier) {
    text +=
        fmt::format(" Passez à l'offre {} pour plus de {}.", display_name(*d.suggested_tier, d.suggested_tier_name_fr),
                    d.denied_by == limit_kind::tokens ? "jetons" : "messages");
  }
  return text;
}

}  // namespace

std::string format_date(local_date d) { return detail::format_iso_date(d); }

std::string format_time(sys_time t) { return detail::format_rfc3339(t); }

std::string json_quote(std::string_view s) {
  std::string out;
  detail::append_json_string(out, s);
  return out;
}

std::string to_json(const quota_info& q) {
  json_writer w;
  write_quota_info(w, q);
  return w.take();
}

std::string to_json(const tier& t) {
  json_writer w;
  write_tier(w, t);
  return w.take();
}

std::string to_json(const std::vector<tier>& tiers) {
  json_writer w;
  w.begin_array();
  for (const tier& t : tiers) {
    write_tier(w, t);
  }
  w.end_array();
  return w.take();
}

std::string to_json(const subscription& s) {
  json_writer w;
  write_subscription(w, s);
  return w.take();
}

std::string to_json(const usage& u) {
  json_writer w;
  w.begin_object();
  w.field("user_id", u.user.str());
  w.field("usage_date", format_date(u.usage_date));
  w.field("messages_today", u.messages_today);
  w.field("messages_this_month", u.messages_this_month);
  w.field("tokens_today", u.tokens_today);
  w.field("tokens_this_month", u.tokens_this_month);
  w.end_object();
  return w.take();
}

std::string to_json(const usage_stats& s) {
  json_writer w;
  w.begin_object();
  w.key("quota");
  write_quota_info(w, s.quota);
  const auto write_percent = [&w](std::string_view key, const std::optional<double>& p) {
    w.key(key);
    if (p) {
      w.value(*p);
    } else {
      w.null();
    }
  };
  write_percent("daily_percent", s.daily_percent);
  write_percent("monthly_percent", s.monthly_percent);
  write_percent("tokens_percent", s.tokens_percent);
  w.key("warnings").begin_array();
  for (const std::string& warning : s.warnings) {
    w.value(warning);
  }
  w.end_array();
  w.end_object();
  return w.take();
}

std::string to_json(const usage_event& e) {
  json_writer w;
  write_event(w, e);
  return w.take();
}

std::string to_json(const std::vector<usage_event>& events) {
  json_writer w;
  w.begin_array();
  for (const usage_event& e : events) {
    write_event(w, e);
  }
  w.end_array();
  return w.take();
}

std::string to_json(const reservation& r) {
  json_writer w;
  w.begin_object();
  w.field("reservation_id", r.id.str());
  w.field("user_id", r.user.str());
  w.field("usage_date", format_date(r.usage_date));
  w.field("messages", r.messages);
  w.field("estimated_tokens", r.estimated_tokens);
  w.field("actual_tokens", r.actual_tokens);
  w.field("state", to_string(r.state));
  write_time(w, "created_at", r.created_at);
  write_time(w, "expires_at", r.expires_at);
  w.end_object();
  return w.take();
}

std::string to_json(const upgrade_result& u) {
  json_writer w;
  w.begin_object();
  w.field("success", u.success);
  w.field("message", u.message);
  w.key("subscription");
  write_subscription(w, u.sub);
  w.end_object();
  return w.take();
}

std::string to_json(const decision& d) {
  json_writer w;
  w.begin_object();
  w.field("allowed", d.allowed);
  w.key("denied_by");
  if (const char* name = limit_name(d.denied_by)) {
    w.value(name);
  } else {
    w.null();
  }
  w.field("replayed", d.replayed);
  w.key("reservation_id");
  if (d.reservation) {
    w.value(d.reservation->str());
  } else {
    w.null();
  }
  write_time(w, "resets_at", d.resets_at);
  w.field("retry_after_seconds", static_cast<std::int64_t>(d.retry_after.count()));
  w.key("suggested_tier");
  if (d.suggested_tier) {
    w.value(d.suggested_tier->str());
  } else {
    w.null();
  }
  w.key("quota");
  write_quota_info(w, d.quota);
  w.end_object();
  return w.take();
}

std::string denial_payload_json(const decision& d) {
  const denial_facts f = facts_of(d);
  json_writer w;
  w.begin_object();
  w.field("error", "quota_exceeded");
  w.key("limit");
  if (const char* name = limit_name(d.denied_by)) {
    w.value(name);
  } else {
    w.null();
  }
  w.key("limit_value");
  if (d.denied_by == limit_kind::none) {
    w.null();
  } else {
    w.value(f.max);
  }
  w.key("usage");
  if (d.denied_by == limit_kind::none) {
    w.null();
  } else {
    w.value(f.used);
  }
  write_time(w, "resets_at", d.resets_at);
  w.field("retry_after_seconds", static_cast<std::int64_t>(d.retry_after.count()));
  w.field("subscription_tier", d.quota.subscription_tier.str());
  w.key("suggested_tier");
  if (d.suggested_tier) {
    w.value(d.suggested_tier->str());
  } else {
    w.null();
  }
  w.field("message", denial_message_en(d, f));
  w.field("message_fr", denial_message_fr(d, f));
  w.end_object();
  return w.take();
}

namespace detail {

bool valid_json(std::string_view s) { return valid_utf8(s) && json_checker{s}.valid(); }

bool valid_json_object(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  return first != std::string_view::npos && s[first] == '{' && valid_json(s);
}

}  // namespace detail

}  // namespace kauri_quota
