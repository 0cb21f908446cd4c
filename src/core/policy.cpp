#include "policy.hpp"

#include "core/json_writer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <tuple>

namespace kauri_quota::detail {
namespace {

/// True when `used + add` goes past `max`; a sum that overflows does.
bool exceeds(std::int64_t used, std::int64_t add, std::int64_t max) noexcept {
  std::int64_t sum = 0;
  if (__builtin_add_overflow(used, add, &sum)) {
    return add > 0;
  }
  return sum > max;
}

/// True when `used` is at or above `threshold` of `max`; a zero (or
/// negative) limit is always reached.
// twin: schema/postgres/functions/policy.sql kauri_quota_reached
bool reached(std::int64_t used, std::int64_t max, double threshold) noexcept {
  if (max <= 0) {
    return true;
  }
  const double bound = threshold * static_cast<double>(max);
  // The relative slack absorbs the rounding of threshold * max (0.55 * 100
  // is 55.00000000000001 in binary); it stays far below one unit even at
  // max_count.
  return static_cast<double>(used) >= bound - std::abs(bound) * 1e-14;
}

/// max(0, max - used) without overflow.
std::int64_t remaining(std::int64_t max, std::int64_t used) noexcept {
  if (used >= max) {
    return 0;
  }
  std::int64_t diff = 0;
  if (__builtin_sub_overflow(max, used, &diff)) {
    return std::numeric_limits<std::int64_t>::max();
  }
  return diff;
}

limit remaining(const limit& max, std::int64_t used) noexcept {
  if (!max) {
    return std::nullopt;
  }
  return remaining(*max, used);
}

std::optional<double> percent(const limit& max, std::int64_t used) noexcept {
  if (!max) {
    return std::nullopt;
  }
  if (*max <= 0) {
    return 100.0;
  }
  const double p = 100.0 * static_cast<double>(used) / static_cast<double>(*max);
  return std::round(p * 100.0) / 100.0;
}

struct limit_view {
  limit_kind kind;
  const limit& max;
  std::int64_t used;
  const char* what;  // English noun phrase for warnings
};

}  // namespace

// twin: schema/postgres/functions/policy.sql kauri_quota_evaluate
limit_kind evaluate(const tier& t, const usage& u, std::int64_t messages, std::int64_t tokens) {
  if (messages > 0) {
    if (t.messages_per_day && (*t.messages_per_day <= 0 || exceeds(u.messages_today, messages, *t.messages_per_day))) {
      return limit_kind::daily;
    }
    if (t.messages_per_month &&
        (*t.messages_per_month <= 0 || exceeds(u.messages_this_month, messages, *t.messages_per_month))) {
      return limit_kind::monthly;
    }
  }
  if (t.tokens_per_month && !(messages == 0 && tokens == 0)) {
    const std::int64_t max = *t.tokens_per_month;
    // An exhausted budget refuses even a request whose tokens are unknown
    // yet (tokens == 0): it would otherwise be counted after the fact.
    if (u.tokens_this_month >= max || exceeds(u.tokens_this_month, tokens, max)) {
      return limit_kind::tokens;
    }
  }
  return limit_kind::none;
}

bool at_warning(const tier& t, const usage& u, double threshold) {
  return (t.messages_per_day && reached(u.messages_today, *t.messages_per_day, threshold)) ||
         (t.messages_per_month && reached(u.messages_this_month, *t.messages_per_month, threshold)) ||
         (t.tokens_per_month && reached(u.tokens_this_month, *t.tokens_per_month, threshold));
}

// twin: schema/postgres/functions/policy.sql kauri_quota_crosses
std::vector<limit_kind> warnings_crossed(const tier& t, const usage& before, const usage& after, double threshold) {
  std::vector<limit_kind> crossed;
  const auto check = [&](limit_kind kind, const limit& max, std::int64_t used_before, std::int64_t used_after) {
    if (max && !reached(used_before, *max, threshold) && reached(used_after, *max, threshold)) {
      crossed.push_back(kind);
    }
  };
  check(limit_kind::daily, t.messages_per_day, before.messages_today, after.messages_today);
  check(limit_kind::monthly, t.messages_per_month, before.messages_this_month, after.messages_this_month);
  check(limit_kind::tokens, t.tokens_per_month, before.tokens_this_month, after.tokens_this_month);
  return crossed;
}

quota_info make_quota_info(const usage_snapshot& s, const zone& z, double threshold) {
  const tier& t = s.applied;
  const usage& u = s.counters;
  quota_info q;
  q.user = s.sub.user.empty() ? u.user : s.sub.user;
  q.subscription_tier = t.id;
  q.tier_name = t.name;
  q.tier_name_fr = t.name_fr;
  q.status = s.sub.status;
  q.messages_per_day_limit = t.messages_per_day;
  q.messages_per_month_limit = t.messages_per_month;
  q.tokens_per_month_limit = t.tokens_per_month;
  q.messages_today = u.messages_today;
  q.messages_this_month = u.messages_this_month;
  q.tokens_today = u.tokens_today;
  q.tokens_this_month = u.tokens_this_month;
  q.messages_remaining_today = remaining(t.messages_per_day, u.messages_today);
  q.messages_remaining_month = remaining(t.messages_per_month, u.messages_this_month);
  q.tokens_remaining_month = remaining(t.tokens_per_month, u.tokens_this_month);
  q.can_send_message = evaluate(t, u, 1, 0) == limit_kind::none;
  q.is_quota_exceeded = !q.can_send_message;
  // As in the spec: the user cannot continue without a bigger tier (or
  // waiting for the reset).
  q.needs_upgrade = q.is_quota_exceeded;
  q.warning_threshold_reached = at_warning(t, u, threshold);
  q.usage_date = u.usage_date;
  q.daily_resets_at = z.next_day_start(u.usage_date);
  q.monthly_resets_at = z.next_month_start(u.usage_date);
  return q;
}

usage_stats make_usage_stats(const quota_info& q, double threshold) {
  usage_stats stats;
  stats.quota = q;
  stats.daily_percent = percent(q.messages_per_day_limit, q.messages_today);
  stats.monthly_percent = percent(q.messages_per_month_limit, q.messages_this_month);
  stats.tokens_percent = percent(q.tokens_per_month_limit, q.tokens_this_month);

  const limit_view views[] = {
      {limit_kind::daily, q.messages_per_day_limit, q.messages_today, "daily messages"},
      {limit_kind::monthly, q.messages_per_month_limit, q.messages_this_month, "monthly messages"},
      {limit_kind::tokens, q.tokens_per_month_limit, q.tokens_this_month, "monthly tokens"},
  };
  for (const auto& v : views) {
    if (!v.max || !reached(v.used, *v.max, threshold)) {
      continue;
    }
    if (*v.max <= 0) {
      stats.warnings.push_back(fmt::format("Your plan includes no {}.", v.what));
      continue;
    }
    const double p = 100.0 * static_cast<double>(v.used) / static_cast<double>(*v.max);
    stats.warnings.push_back(
        fmt::format("You have used {}% of your {} ({}/{}).", format_percentage(p), v.what, v.used, *v.max));
  }
  return stats;
}

std::optional<tier_id> suggest_tier(const tier& current, limit_kind kind, const std::vector<tier>& all) {
  const auto limit_of = [kind](const tier& t) -> const limit& {
    switch (kind) {
      case limit_kind::daily:
        return t.messages_per_day;
      case limit_kind::monthly:
        return t.messages_per_month;
      default:
        return t.tokens_per_month;
    }
  };
  if (kind == limit_kind::none) {
    return std::nullopt;
  }
  const limit& mine = limit_of(current);
  if (!mine) {
    return std::nullopt;  // nothing is above unlimited
  }
  const auto order = [](const tier& t) { return std::tie(t.display_order, t.id); };
  std::vector<const tier*> candidates;
  for (const tier& t : all) {
    if (t.is_visible && t.id != current.id && order(current) < order(t)) {
      candidates.push_back(&t);
    }
  }
  std::sort(candidates.begin(), candidates.end(), [&](const tier* a, const tier* b) { return order(*a) < order(*b); });
  for (const tier* t : candidates) {
    const limit& theirs = limit_of(*t);
    if (!theirs || *theirs > *mine) {
      return t->id;
    }
  }
  return std::nullopt;
}

void fill_denial(decision& d, limit_kind kind, sys_time now) {
  d.denied_by = kind;
  d.resets_at =
      kind == limit_kind::daily || kind == limit_kind::none ? d.quota.daily_resets_at : d.quota.monthly_resets_at;
  // A user refused by the daily limit whose month is used up too cannot
  // send before the month resets: retry_after must not promise midnight.
  if (kind == limit_kind::daily) {
    const bool month_used_up = (d.quota.messages_remaining_month && *d.quota.messages_remaining_month == 0) ||
                               (d.quota.tokens_remaining_month && *d.quota.tokens_remaining_month == 0);
    if (month_used_up) d.resets_at = d.quota.monthly_resets_at;
  }
  if (kind == limit_kind::none) {
    d.retry_after = std::chrono::seconds{0};
    return;
  }
  const auto wait = std::chrono::ceil<std::chrono::seconds>(d.resets_at - now);
  d.retry_after = std::max(wait, std::chrono::seconds{1});
}

}  // namespace kauri_quota::detail
