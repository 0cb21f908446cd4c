// Input validation (internal). Each check returns invalid_argument with a
// message that names the field and says what is allowed.
#pragma once

#include <kauri_quota/result.hpp>
#include <kauri_quota/types.hpp>

#include "core/quote.hpp"
#include "core/utf8.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace kauri_quota::detail {

inline constexpr std::size_t max_id_bytes = 128;
inline constexpr std::size_t max_text_bytes = 1024;           // user agent, names
inline constexpr std::size_t max_ip_bytes = 45;               // INET6_ADDRSTRLEN - 1
inline constexpr std::int64_t max_count = 1'000'000'000'000;  // 10^12: far below overflow

/// True when `s` is well-formed UTF-8 (no overlongs, no surrogates).
inline bool valid_utf8(std::string_view s) noexcept { return utf8::valid(s); }

/// 1-128 bytes of valid UTF-8 without control characters (C0, DEL, C1).
result<void> check_id(std::string_view field, std::string_view value);
result<void> check_user(const user_id& u);
result<void> check_request_id(const request_id& r);
/// Tier ids: 1-20 characters of [a-z0-9_-].
result<void> check_tier_id(const tier_id& t);
/// 0 <= v <= max_count.
result<void> check_count(std::string_view field, std::int64_t v);
/// Optional free text: valid UTF-8, at most `max` bytes, no NUL.
result<void> check_text(std::string_view field, std::string_view value, std::size_t max);
/// Display text (email, tier names, user agent): as check_text, and no
/// control characters, which could drive a terminal or a log viewer.
result<void> check_label(std::string_view field, std::string_view value, std::size_t max);
/// ip, user agent and request id of a context.
result<void> check_context(const request_context& ctx);
/// Payment providers: 1-32 characters of [a-z0-9_-] ("cinetpay", "manual").
result<void> check_provider(std::string_view provider);
/// A provider's transaction id: 1-128 characters of [A-Za-z0-9._:-].
result<void> check_transaction_id(std::string_view id);
/// Months of a payment: 1 to 36.
result<void> check_months(std::int32_t months);
/// The currencies payments are taken in: "XOF" or "XAF".
result<void> check_currency(std::string_view currency);
/// An IANA zone name the tz database knows (core/period's zone::locate).
result<void> check_zone(std::string_view zone);
/// A trial's length: 1 hour to 90 days.
result<void> check_trial_length(std::chrono::seconds length);
/// The grace period after a paid period: 0 to 90 days.
result<void> check_grace_period(std::chrono::seconds grace);

/// a + b, or invalid_argument on overflow past max_count.
result<std::int64_t> checked_add(std::string_view field, std::int64_t a, std::int64_t b);

}  // namespace kauri_quota::detail
