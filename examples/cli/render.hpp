// Human-readable views of kauri_quota values for the kauri-quota CLI.
//
// Every function returns text ending with a newline (or nothing), so that
// commands and the demo can print or indent it. Instants are shown in the
// quota time zone when the zone is known, else in UTC with a "Z".
#pragma once

#include <kauri_quota/kauri_quota.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kauri_quota_cli {

/// "7,000".
std::string group_digits(std::int64_t n);
/// "5", "3,000", or "unlimited".
std::string show_limit(const kauri_quota::limit& l);
/// "2025-11-08 00:00 UTC" in `zone`.
std::string show_instant(kauri_quota::sys_time t, const std::string& zone);
/// A 20-cell bar for `used` out of `max` (a zero limit is a full bar).
std::string usage_bar(std::int64_t used, std::int64_t max);

std::string render_tiers(const std::vector<kauri_quota::tier>& tiers);
std::string render_tier(const kauri_quota::tier& t);
std::string render_subscription(const kauri_quota::subscription& s, const std::string& zone);
std::string render_payment(const kauri_quota::payment& p, const std::string& zone);
/// One line per payment, newest first as given.
std::string render_payments(const std::vector<kauri_quota::payment>& list, const std::string& zone);
/// One line per day with a bar scaled to the busiest day.
std::string render_history(const std::vector<kauri_quota::day_usage>& days);
std::string render_monthly(const std::vector<kauri_quota::month_usage>& months);
/// The quota view with bars; `warnings` are shown below it.
std::string render_quota(const kauri_quota::quota_info& q, const std::vector<std::string>& warnings,
                         const std::string& zone);
std::string render_stats(const kauri_quota::usage_stats& s, const std::string& zone);
/// One line: what is left after an allowed consume or reserve.
std::string render_remaining(const kauri_quota::quota_info& q);
std::string render_usage(const kauri_quota::usage& u);
std::string render_reservation(const kauri_quota::reservation& r, const std::string& zone);
std::string render_events(const std::vector<kauri_quota::usage_event>& events, const std::string& zone);

/// Every line of `text` prefixed with `prefix`.
std::string indent(std::string_view text, std::string_view prefix);

}  // namespace kauri_quota_cli
