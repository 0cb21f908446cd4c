// The JSON views of the library's values (the serialisers); the syntax
// check is in json_check.cpp and the denial texts in denial_messages.cpp.
#include <kauri_quota/json.hpp>

#include "core/denial_messages.hpp"
#include "core/json_writer.hpp"
#include "core/time_format.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace kauri_quota {
namespace {

using detail::json_writer;

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
  w.field("usage_date", q.usage_date);
  w.field("daily_resets_at", q.daily_resets_at);
  w.field("monthly_resets_at", q.monthly_resets_at);
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
  w.field("subscription_start_date", s.start_date);
  w.field("subscription_end_date", s.end_date);
  w.field("trial_end_date", s.trial_end_date);
  w.field("time_zone", s.time_zone);
  w.field("scheduled_tier", s.scheduled_tier);
  w.field("scheduled_end_date", s.scheduled_end_date);
  w.field("cancel_at_period_end", s.cancel_at_period_end);
  w.end_object();
}

void write_payment(json_writer& w, const payment& p) {
  w.begin_object();
  w.field("provider", p.provider);
  w.field("transaction_id", p.transaction_id);
  w.field("user_id", p.user.str());
  w.field("tier_id", p.tier.str());
  w.field("months", static_cast<std::int64_t>(p.months));
  w.field("amount", p.amount);
  w.field("currency", p.currency);
  w.field("status", to_string(p.status));
  w.field("effect", to_string(p.effect));
  w.field("period_start", p.period_start);
  w.field("period_end", p.period_end);
  w.field("failure_reason", p.failure_reason);
  w.field("created_at", p.created_at);
  w.field("updated_at", p.updated_at);
  w.end_object();
}

/// A day's or a month's usage: `key` names the day field.
template <class Usage>
void write_period_usage(json_writer& w, const Usage& u, local_date d, std::string_view key) {
  w.begin_object();
  w.field(key, d);
  w.field("messages", u.messages);
  w.field("tokens", u.tokens);
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
  } else if (detail::valid_json(*e.event_metadata)) {
    w.raw(*e.event_metadata);
  } else {
    // Stored text that is not JSON is kept, as a string, rather than
    // corrupting the whole document.
    w.value(*e.event_metadata);
  }
  w.field("usage_date", e.usage_date);
  w.field("event_timestamp", e.event_timestamp);
  w.end_object();
}

/// The limit's name, or nothing (JSON null) when no limit was hit.
std::optional<std::string_view> limit_name(limit_kind k) noexcept {
  if (k == limit_kind::none) return std::nullopt;
  return std::string_view{to_string(k)};
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
  w.field("usage_date", u.usage_date);
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
  const auto percent = [](const std::optional<double>& p) -> std::optional<detail::percentage> {
    if (!p) return std::nullopt;
    return detail::percentage{*p};
  };
  w.field("daily_percent", percent(s.daily_percent));
  w.field("monthly_percent", percent(s.monthly_percent));
  w.field("tokens_percent", percent(s.tokens_percent));
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
  w.field("usage_date", r.usage_date);
  w.field("messages", r.messages);
  w.field("estimated_tokens", r.estimated_tokens);
  w.field("actual_tokens", r.actual_tokens);
  w.field("state", to_string(r.state));
  w.field("created_at", r.created_at);
  w.field("expires_at", r.expires_at);
  w.end_object();
  return w.take();
}

std::string to_json(const payment& p) {
  json_writer w;
  write_payment(w, p);
  return w.take();
}

std::string to_json(const std::vector<payment>& payments) {
  json_writer w;
  w.begin_array();
  for (const payment& p : payments) write_payment(w, p);
  w.end_array();
  return w.take();
}

std::string to_json(const payment_outcome& o) {
  json_writer w;
  w.begin_object();
  w.key("payment");
  write_payment(w, o.pay);
  w.key("subscription");
  write_subscription(w, o.sub);
  w.field("replayed", o.replayed);
  w.end_object();
  return w.take();
}

std::string to_json(const day_usage& d) {
  json_writer w;
  write_period_usage(w, d, d.day, "day");
  return w.take();
}

std::string to_json(const std::vector<day_usage>& days) {
  json_writer w;
  w.begin_array();
  for (const day_usage& d : days) write_period_usage(w, d, d.day, "day");
  w.end_array();
  return w.take();
}

std::string to_json(const month_usage& m) {
  json_writer w;
  write_period_usage(w, m, m.month, "month");
  return w.take();
}

std::string to_json(const std::vector<month_usage>& months) {
  json_writer w;
  w.begin_array();
  for (const month_usage& m : months) write_period_usage(w, m, m.month, "month");
  w.end_array();
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
  w.field("denied_by", limit_name(d.denied_by));
  w.field("replayed", d.replayed);
  w.field("reservation_id", d.reservation);
  w.field("resets_at", d.resets_at);
  w.field("retry_after_seconds", static_cast<std::int64_t>(d.retry_after.count()));
  w.field("suggested_tier", d.suggested_tier);
  w.key("quota");
  write_quota_info(w, d.quota);
  w.end_object();
  return w.take();
}

std::string denial_payload_json(const decision& d) {
  const detail::denial_facts f = detail::facts_of(d);
  json_writer w;
  w.begin_object();
  w.field("error", "quota_exceeded");
  w.field("limit", limit_name(d.denied_by));
  const bool denied = d.denied_by != limit_kind::none;
  w.field("limit_value", denied ? f.max : std::nullopt);
  w.field("usage", denied ? std::optional<std::int64_t>{f.used} : std::nullopt);
  w.field("resets_at", d.resets_at);
  w.field("retry_after_seconds", static_cast<std::int64_t>(d.retry_after.count()));
  w.field("subscription_tier", d.quota.subscription_tier.str());
  w.field("suggested_tier", d.suggested_tier);
  w.field("message", detail::denial_message_en(d));
  w.field("message_fr", detail::denial_message_fr(d));
  w.end_object();
  return w.take();
}

}  // namespace kauri_quota
