// The errors built from a fact (internal): one function per fact, so that
// both backends word the same fact the same way. The PostgreSQL functions
// raise a KQ code and the facts; the C++ side words them here.
#pragma once

#include <kauri_quota/result.hpp>
#include <kauri_quota/types.hpp>

#include <cstdint>
#include <string_view>

namespace kauri_quota::detail::error_text {

/// unknown_user: `unknown user "u1"`.
error unknown_user(std::string_view user);
/// unknown_tier: `unknown tier "gold"`.
error unknown_tier(std::string_view tier);
/// unknown_tier: the configured default tier is missing, `default tier
/// "free" is not in subscription_tiers`.
error missing_default_tier(std::string_view tier);
/// user_exists: `user "u1" already exists`.
error user_exists(std::string_view user);
/// reservation_not_found: `no reservation "r_..."`.
error no_such_reservation(std::string_view id);
/// reservation_closed: `reservation "r_..." is already committed`.
error reservation_already_closed(std::string_view id, reservation_state state);
/// reservation_closed: `reservation "r_..." expired at 2025-11-07
/// 10:59:24.625159 and is settled at its estimate of 500 tokens`.
error reservation_expired(std::string_view id, sys_time expired_at, std::int64_t estimated_tokens);
/// invalid_argument: a counter would pass its bound,
/// `messages_this_month would exceed 1000000000000` (the wording of the
/// PostgreSQL functions' KQ007).
error count_would_exceed(std::string_view counter, std::int64_t max);
/// idempotency_mismatch: the request id was first used by another
/// operation or with other arguments.
error request_id_reused(std::string_view id, std::string_view stored_operation);

}  // namespace kauri_quota::detail::error_text
