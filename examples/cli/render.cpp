#include "render.hpp"

#include "args.hpp"

#include <date/date.h>
#include <date/tz.h>  // IANA zones, to show reset instants in the quota time zone
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <exception>

namespace kauri_quota_cli {

namespace kq = kauri_quota;

namespace {

constexpr int bar_cells = 20;

/// Removes spaces at the end of each line (rows end with optional columns).
std::string trim_lines(std::string text) {
  std::string out;
  out.reserve(text.size());
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + start, end - start);
    while (!line.empty() && line.back() == ' ') line.remove_suffix(1);
    out.append(line);
    if (end < text.size()) out += '\n';
    start = end + 1;
  }
  return out;
}

std::string optional_instant(const std::optional<kq::sys_time>& t, const std::string& zone) {
  return t ? show_instant(*t, zone) : std::string("-");
}

/// One row of the quota view: label, bar (or "unlimited"), usage, reset.
std::string quota_row(std::string_view label, std::int64_t used, const kq::limit& max, std::string_view reset) {
  std::string cells;
  std::string count;
  if (max) {
    cells = "[" + usage_bar(used, *max) + "]";
    count = fmt::format("{}/{}", used, *max);
  } else {
    // Same width as a bar: 2 brackets + 20 cells.
    cells = fmt::format("{:<{}}", "unlimited", bar_cells + 2);
    count = fmt::format("{}", used);
  }
  std::string line = fmt::format("{:<10}{}  {:<11}", label, cells, count);
  if (!reset.empty()) line += fmt::format("resets {}", reset);
  return line + "\n";
}

std::string status_line(const kq::quota_info& q) {
  return fmt::format("{:<10}{} ({}, {})\n", "user", q.user.str(), q.subscription_tier.str(), kq::to_string(q.status));
}

std::string percent(const std::optional<double>& p) {
  return p ? fmt::format("{:.1f}%", *p) : std::string("unlimited");
}

}  // namespace

std::string group_digits(std::int64_t n) {
  std::string digits = std::to_string(n);
  const std::size_t first = (!digits.empty() && digits.front() == '-') ? 1 : 0;
  for (std::size_t pos = digits.size(); pos > first + 3; pos -= 3) digits.insert(pos - 3, ",");
  return digits;
}

std::string show_limit(const kq::limit& l) { return l ? group_digits(*l) : std::string("unlimited"); }

std::string show_instant(kq::sys_time t, const std::string& zone) {
  const auto minutes = std::chrono::floor<std::chrono::minutes>(t);
  try {
    const date::time_zone* tz = date::locate_zone(zone);
    return date::format("%Y-%m-%d %H:%M %Z", date::make_zoned(tz, minutes));
  } catch (const std::exception&) {
    return date::format("%Y-%m-%d %H:%MZ", minutes);
  }
}

std::string usage_bar(std::int64_t used, std::int64_t max) {
  int filled = bar_cells;
  if (max > 0) {
    const double ratio = std::clamp(static_cast<double>(used) / static_cast<double>(max), 0.0, 1.0);
    filled = static_cast<int>(std::floor(ratio * bar_cells));
    if (used > 0 && filled == 0) filled = 1;  // some use is never shown as none
  }
  std::string bar;
  for (int i = 0; i < bar_cells; ++i) bar += i < filled ? "█" : "░";
  return bar;
}

std::string render_tiers(const std::vector<kq::tier>& tiers) {
  std::string out = fmt::format("{:<12}{:<12}{:<12}{:>10}{:>11}{:>14}{:>12}\n", "ID", "NAME", "NAME (FR)", "PER DAY",
                                "PER MONTH", "TOKENS/MONTH", "FCFA/MONTH");
  for (const kq::tier& t : tiers) {
    out += fmt::format("{:<12}{:<12}{:<12}{:>10}{:>11}{:>14}{:>12}{}\n", t.id.str(), printable(t.name, 200),
                       printable(t.name_fr, 200), show_limit(t.messages_per_day), show_limit(t.messages_per_month),
                       show_limit(t.tokens_per_month), group_digits(t.price_fcfa), t.is_visible ? "" : "  (hidden)");
  }
  return out;
}

std::string render_tier(const kq::tier& t) {
  std::string features;
  for (const auto& [name, on] : t.features) {
    if (!on) continue;
    if (!features.empty()) features += ", ";
    features += name;
  }
  std::string out;
  out += fmt::format("{:<12}{}\n", "tier", t.id.str());
  out += fmt::format("{:<12}{} / {}\n", "name", printable(t.name, 200), printable(t.name_fr, 200));
  out += fmt::format("{:<12}{}\n", "per day", show_limit(t.messages_per_day));
  out += fmt::format("{:<12}{}\n", "per month", show_limit(t.messages_per_month));
  out += fmt::format("{:<12}{} per month\n", "tokens", show_limit(t.tokens_per_month));
  out += fmt::format("{:<12}{} FCFA per month\n", "price", group_digits(t.price_fcfa));
  out += fmt::format("{:<12}{}\n", "features", features.empty() ? "-" : features);
  out += fmt::format("{:<12}{}\n", "order", t.display_order);
  out += fmt::format("{:<12}{}\n", "visible", t.is_visible ? "yes" : "no");
  return out;
}

std::string render_subscription(const kq::subscription& s, const std::string& zone) {
  std::string out;
  out += fmt::format("{:<12}{}\n", "user", s.user.str());
  out += fmt::format("{:<12}{}\n", "email", printable(s.email.value_or("-"), 300));
  out += fmt::format("{:<12}{}\n", "tier", s.tier.str());
  out += fmt::format("{:<12}{}\n", "status", kq::to_string(s.status));
  out += fmt::format("{:<12}{}\n", "started", optional_instant(s.start_date, zone));
  if (s.end_date) out += fmt::format("{:<12}{}\n", "ends", show_instant(*s.end_date, zone));
  if (s.trial_end_date) out += fmt::format("{:<12}{}\n", "trial ends", show_instant(*s.trial_end_date, zone));
  if (s.cancel_at_period_end) {
    out += fmt::format("{:<12}{}\n", "then", "canceled at the end of the period");
  } else if (s.scheduled_tier) {
    out += fmt::format("{:<12}{} at the end of the period{}\n", "then", s.scheduled_tier->str(),
                       s.scheduled_end_date ? ", paid until " + show_instant(*s.scheduled_end_date, zone) : "");
  }
  out += fmt::format("{:<12}{}\n", "time zone", s.time_zone ? printable(*s.time_zone, 64) : zone + " (the service's)");
  return out;
}

std::string render_payment(const kq::payment& p, const std::string& zone) {
  std::string out;
  out += fmt::format("{:<12}{} {}\n", "payment", printable(p.provider, 40), printable(p.transaction_id, 200));
  out += fmt::format("{:<12}{}\n", "user", p.user.str());
  out += fmt::format("{:<12}{} x {} month{}\n", "tier", p.tier.str(), p.months, p.months == 1 ? "" : "s");
  out += fmt::format("{:<12}{} {}\n", "amount", group_digits(p.amount), p.currency);
  out += fmt::format("{:<12}{}{}\n", "status", kq::to_string(p.status),
                     p.effect == kq::payment_effect::none ? "" : fmt::format(" ({})", kq::to_string(p.effect)));
  if (p.period_start && p.period_end)
    out += fmt::format("{:<12}{} to {}\n", "period", show_instant(*p.period_start, zone),
                       show_instant(*p.period_end, zone));
  if (p.failure_reason) out += fmt::format("{:<12}{}\n", "reason", printable(*p.failure_reason, 300));
  out += fmt::format("{:<12}{}\n", "created", show_instant(p.created_at, zone));
  return out;
}

std::string render_payments(const std::vector<kq::payment>& list, const std::string& zone) {
  if (list.empty()) return "no payments\n";
  std::string out = fmt::format("{:<18}{:<10}{:>7}{:>12} {:<4}{:<10}{}\n", "created", "tier", "months", "amount", "",
                                "status", "transaction");
  for (const kq::payment& p : list) {
    out += fmt::format("{:<18}{:<10}{:>7}{:>12} {:<4}{:<10}{} {}\n", show_instant(p.created_at, zone).substr(0, 16),
                       p.tier.str(), p.months, group_digits(p.amount), p.currency, kq::to_string(p.status),
                       printable(p.provider, 40), printable(p.transaction_id, 80));
  }
  return out;
}

std::string render_history(const std::vector<kq::day_usage>& days) {
  std::int64_t most = 0;
  for (const kq::day_usage& d : days) most = std::max(most, d.messages);
  std::string out = fmt::format("{:<12}{:>9}{:>12}\n", "day", "messages", "tokens");
  for (const kq::day_usage& d : days) {
    const auto cells = most > 0 ? static_cast<std::size_t>(d.messages * 20 / most) : std::size_t{0};
    out += fmt::format("{:<12}{:>9}{:>12}{}\n", kq::format_date(d.day), d.messages, group_digits(d.tokens),
                       cells > 0 ? "  " + std::string(cells, '#') : "");
  }
  return out;
}

std::string render_monthly(const std::vector<kq::month_usage>& months) {
  std::string out = fmt::format("{:<9}{:>9}{:>12}\n", "month", "messages", "tokens");
  for (const kq::month_usage& m : months)
    out += fmt::format("{:<9}{:>9}{:>12}\n", kq::format_date(m.month).substr(0, 7), m.messages, group_digits(m.tokens));
  return out;
}

std::string render_quota(const kq::quota_info& q, const std::vector<std::string>& warnings, const std::string& zone) {
  std::string out = status_line(q);
  out += quota_row("today", q.messages_today, q.messages_per_day_limit, show_instant(q.daily_resets_at, zone));
  out += quota_row("month", q.messages_this_month, q.messages_per_month_limit, show_instant(q.monthly_resets_at, zone));
  out += quota_row("tokens", q.tokens_this_month, q.tokens_per_month_limit, "");
  out += fmt::format("{:<10}{}\n", "can send", q.can_send_message ? "yes" : "no (quota exceeded)");
  for (const std::string& w : warnings) out += fmt::format("{:<10}{}\n", "warning", w);
  return trim_lines(std::move(out));
}

std::string render_stats(const kq::usage_stats& s, const std::string& zone) {
  const kq::quota_info& q = s.quota;
  auto row = [](std::string_view label, std::int64_t used, const kq::limit& max, const std::optional<double>& p) {
    const std::string count = max ? fmt::format("{}/{}", used, *max) : fmt::format("{}", used);
    return fmt::format("{:<10}{:<22}{:>10}\n", label, count, percent(p));
  };
  std::string out = status_line(q);
  out += row("today", q.messages_today, q.messages_per_day_limit, s.daily_percent);
  out += row("month", q.messages_this_month, q.messages_per_month_limit, s.monthly_percent);
  out += row("tokens", q.tokens_this_month, q.tokens_per_month_limit, s.tokens_percent);
  out +=
      fmt::format("{:<10}{}, resets {}\n", "day", kq::format_date(q.usage_date), show_instant(q.daily_resets_at, zone));
  for (const std::string& w : s.warnings) out += fmt::format("{:<10}{}\n", "warning", w);
  return out;
}

std::string render_remaining(const kq::quota_info& q) {
  return fmt::format("remaining {} today, {} this month, {} tokens this month\n",
                     show_limit(q.messages_remaining_today), show_limit(q.messages_remaining_month),
                     show_limit(q.tokens_remaining_month));
}

std::string render_usage(const kq::usage& u) {
  std::string out;
  out += fmt::format("{:<10}{}\n", "user", u.user.str());
  out += fmt::format("{:<10}{}\n", "day", kq::format_date(u.usage_date));
  out += fmt::format("{:<10}{} messages, {} tokens\n", "today", u.messages_today, u.tokens_today);
  out += fmt::format("{:<10}{} messages, {} tokens\n", "month", u.messages_this_month, u.tokens_this_month);
  return out;
}

std::string render_reservation(const kq::reservation& r, const std::string& zone) {
  std::string out;
  out += fmt::format("{:<12}{}\n", "reservation", r.id.str());
  out += fmt::format("{:<12}{}\n", "user", r.user.str());
  out += fmt::format("{:<12}{}\n", "state", kq::to_string(r.state));
  out += fmt::format("{:<12}{}\n", "day", kq::format_date(r.usage_date));
  out += fmt::format("{:<12}{} estimated", "tokens", r.estimated_tokens);
  if (r.actual_tokens) out += fmt::format(", {} actual", *r.actual_tokens);
  out += "\n";
  out += fmt::format("{:<12}{}\n", "expires", show_instant(r.expires_at, zone));
  return out;
}

std::string render_events(const std::vector<kq::usage_event>& events, const std::string& zone) {
  if (events.empty()) return "no events\n";
  std::string out = fmt::format("{:<8}{:<22}{:<24}{:>9}{:>10}  {:<12}{}\n", "ID", "TIME", "TYPE", "MESSAGES", "TOKENS",
                                "TIER", "DAY");
  for (const kq::usage_event& e : events) {
    out += fmt::format("{:<8}{:<22}{:<24}{:>+9}{:>+10}  {:<12}{}\n", e.id, show_instant(e.event_timestamp, zone),
                       printable(e.event_type), e.messages_count, e.tokens_count, printable(e.quota_tier.value_or("-")),
                       e.usage_date ? kq::format_date(*e.usage_date) : "-");
  }
  return trim_lines(std::move(out));
}

std::string indent(std::string_view text, std::string_view prefix) {
  std::string out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(start, end - start);
    if (!line.empty()) out.append(prefix);
    out.append(line);
    out += '\n';
    start = end + 1;
  }
  return out;
}

}  // namespace kauri_quota_cli
