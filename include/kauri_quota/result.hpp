// Error handling for kauri_quota: every fallible function returns result<T>.
//
// A result holds either a value or an `error` (an std::error_code in the
// kauri_quota category plus a human-readable message). No exception ever
// crosses the library's API. A quota denial is not an error: see decision.
#pragma once

#include <boost/outcome/std_result.hpp>  // header-only; the result<T> vocabulary
#include <boost/outcome/try.hpp>

#include <string>
#include <system_error>
#include <type_traits>

namespace kauri_quota {

/// Error codes of the kauri_quota category. The numeric values are frozen:
/// they may be logged or sent over the wire, so never renumber them.
enum class errc : int {
  success = 0,
  invalid_argument = 1,        ///< bad input; nothing was changed
  unknown_user = 2,            ///< the user id is not in `users`
  unknown_tier = 3,            ///< the tier id is not in `subscription_tiers`
  user_exists = 4,             ///< create_user on an existing user
  storage_unavailable = 5,     ///< the database cannot be reached or opened
  storage_busy = 6,            ///< lock wait exceeded busy_timeout
  conflict = 7,                ///< serialization retries exhausted
  schema_mismatch = 8,         ///< the database schema is not the one expected
  migration_failed = 9,        ///< a migration step failed and was rolled back
  io_error = 10,               ///< the storage reported an I/O failure
  corrupt = 11,                ///< the database file is damaged
  idempotency_mismatch = 12,   ///< request_id reused with other arguments
  reservation_not_found = 13,  ///< no such reservation for that user
  reservation_closed = 14,     ///< already committed, released or expired
  unsupported = 15,            ///< the backend cannot do this
  internal = 16,               ///< a bug in kauri_quota; please report it
  subscription_conflict = 17,  ///< the subscription's state does not allow this (a second trial, no paid period)
  payment_not_found = 18,      ///< no payment with that provider and transaction id
};

/// The highest code. A new code takes the next value and becomes last_errc;
/// arrays indexed by errc (the metrics) are sized from it.
inline constexpr errc last_errc = errc::payment_not_found;
static_assert(static_cast<int>(last_errc) == 18,
              "a new errc must become last_errc (metrics_snapshot::errors is sized by it); then update this check");

/// The std::error_category of errc; its name() is "kauri_quota".
const std::error_category& quota_category() noexcept;

/// Makes errc usable as std::error_code.
std::error_code make_error_code(errc e) noexcept;

/// The short stable name of a code, e.g. "invalid_argument".
const char* to_string(errc e) noexcept;

/// What went wrong: a code to branch on and a message for humans. Messages
/// never contain passwords or full connection strings.
struct error {
  std::error_code code;
  std::string message;

  /// True when `code` is `e` in the kauri_quota category.
  bool is(errc e) const noexcept { return code == make_error_code(e); }
};

/// Builds an error of the kauri_quota category.
inline error make_error(errc e, std::string message) { return error{make_error_code(e), std::move(message)}; }

// Boost.Outcome customisation points, found by ADL: they let result<T>
// treat `error` as an error code carrying a message payload, so that
// calling value() on a failed result throws std::system_error whose what()
// includes the message.
inline const std::error_code& make_error_code(const error& e) noexcept { return e.code; }
[[noreturn]] void outcome_throw_as_system_error_with_payload(const error& e);

/// The library's result type: a T or an error.
template <class T>
using result = BOOST_OUTCOME_V2_NAMESPACE::std_result<T, error>;

/// Success for result<void>.
inline auto ok() noexcept { return BOOST_OUTCOME_V2_NAMESPACE::success(); }

}  // namespace kauri_quota

template <>
struct std::is_error_code_enum<kauri_quota::errc> : std::true_type {};
