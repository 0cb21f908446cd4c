// JSON views of the library's values, with the spec's field names. Limits
// that are unlimited are JSON null. Instants are RFC 3339 UTC strings
// ("2025-11-07T10:59:24.625159Z"); days are "YYYY-MM-DD".
#pragma once

#include <kauri_quota/types.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace kauri_quota {

std::string to_json(const quota_info& q);
std::string to_json(const tier& t);
std::string to_json(const std::vector<tier>& tiers);
std::string to_json(const subscription& s);
std::string to_json(const usage& u);
std::string to_json(const usage_stats& s);
std::string to_json(const usage_event& e);
std::string to_json(const std::vector<usage_event>& events);
std::string to_json(const reservation& r);
std::string to_json(const upgrade_result& u);
/// A payment: provider, transaction_id, user_id, tier_id, months, amount,
/// currency, status, effect, period_start, period_end, failure_reason,
/// created_at, updated_at.
std::string to_json(const payment& p);
std::string to_json(const std::vector<payment>& payments);
/// {"payment", "subscription", "replayed"}.
std::string to_json(const payment_outcome& o);
/// {"day", "messages", "tokens"}.
std::string to_json(const day_usage& d);
std::string to_json(const std::vector<day_usage>& days);
/// {"month" (its first day), "messages", "tokens"}.
std::string to_json(const month_usage& m);
std::string to_json(const std::vector<month_usage>& months);
/// The decision: allowed, denied_by, replayed, reservation and the quota.
std::string to_json(const decision& d);

/// The HTTP 429 body for a denied decision: error "quota_exceeded", which
/// limit, limit and usage, resets_at, retry_after_seconds, tier, suggested
/// tier, and a message in English and French.
std::string denial_payload_json(const decision& d);

/// `s` as a JSON string literal (quoted, escaped). Invalid UTF-8 is
/// replaced by U+FFFD so the output is always valid JSON.
std::string json_quote(std::string_view s);

/// "2025-11-07T10:59:24.625159Z".
std::string format_time(sys_time t);
/// "2025-11-07".
std::string format_date(local_date d);

}  // namespace kauri_quota
