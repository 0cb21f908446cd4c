// Quota policy shared by every backend and the service (internal): limit
// evaluation, warnings, quota info and usage stats (which tier applies is
// the lifecycle's: lifecycle.hpp).
// Pure functions: no I/O, no clock.
#pragma once

#include "period.hpp"

#include <kauri_quota/storage.hpp>
#include <kauri_quota/types.hpp>

#include <optional>
#include <vector>

namespace kauri_quota::detail {

/// Which limit admitting `messages` more messages and `tokens` more tokens
/// would break, or none. Messages must fit the daily and the monthly limit;
/// tokens must fit the monthly token limit, and a user whose token limit is
/// exhausted is refused even when `tokens` is 0. Unlimited never refuses; a
/// zero limit always refuses a message.
limit_kind evaluate(const tier& t, const usage& u, std::int64_t messages, std::int64_t tokens);

/// True when any limit is used at or above `threshold` (a fraction).
bool at_warning(const tier& t, const usage& u, double threshold);

/// Limits whose usage went from below `threshold` to at or above it
/// between `before` and `after` (each is audited once as quota_warning).
std::vector<limit_kind> warnings_crossed(const tier& t, const usage& before, const usage& after, double threshold);

/// The spec's UserQuotaInfo for a snapshot.
quota_info make_quota_info(const usage_snapshot& s, const zone& z, double threshold);

/// Percentages and warning sentences for a quota.
usage_stats make_usage_stats(const quota_info& q, double threshold);

/// The next visible tier by display_order whose `kind` limit is higher than
/// `current`'s (unlimited being highest), if any.
std::optional<tier_id> suggest_tier(const tier& current, limit_kind kind, const std::vector<tier>& all);

/// Fills a decision's resets_at, retry_after and denied_by for `kind` at `now`.
void fill_denial(decision& d, limit_kind kind, sys_time now);

}  // namespace kauri_quota::detail
