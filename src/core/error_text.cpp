#include "core/error_text.hpp"

#include "core/quote.hpp"
#include "core/time_format.hpp"

#include <fmt/format.h>

namespace kauri_quota::detail::error_text {

// Every fact that came from a caller is quoted with quote_for_message, so
// that a message stays one short line whatever the input.

error unknown_user(std::string_view user) {
  return make_error(errc::unknown_user, fmt::format("unknown user {}", quote_for_message(user)));
}

error unknown_tier(std::string_view tier) {
  return make_error(errc::unknown_tier, fmt::format("unknown tier {}", quote_for_message(tier)));
}

error missing_default_tier(std::string_view tier) {
  return make_error(errc::unknown_tier,
                    fmt::format("default tier {} is not in subscription_tiers", quote_for_message(tier)));
}

error user_exists(std::string_view user) {
  return make_error(errc::user_exists, fmt::format("user {} already exists", quote_for_message(user)));
}

error no_such_reservation(std::string_view id) {
  return make_error(errc::reservation_not_found, fmt::format("no reservation {}", quote_for_message(id)));
}

error reservation_already_closed(std::string_view id, reservation_state state) {
  return make_error(errc::reservation_closed,
                    fmt::format("reservation {} is already {}", quote_for_message(id), to_string(state)));
}

error reservation_expired(std::string_view id, sys_time expired_at, std::int64_t estimated_tokens) {
  return make_error(errc::reservation_closed,
                    fmt::format("reservation {} expired at {} and is settled at its estimate of {} tokens",
                                quote_for_message(id), format_stored_time(expired_at), estimated_tokens));
}

error count_would_exceed(std::string_view counter, std::int64_t max) {
  return make_error(errc::invalid_argument, fmt::format("{} would exceed {}", counter, max));
}

error request_id_reused(std::string_view id, std::string_view stored_operation) {
  return make_error(errc::idempotency_mismatch,
                    fmt::format("request_id {} was already used for a different {} request; a retry must repeat "
                                "the original arguments",
                                quote_for_message(id), stored_operation));
}

}  // namespace kauri_quota::detail::error_text
