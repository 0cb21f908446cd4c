#include <kauri_quota/types.hpp>

#include <string_view>

namespace kauri_quota {

const char* to_string(subscription_status s) noexcept {
  // These names are stored in users.subscription_status: never change them.
  switch (s) {
    case subscription_status::active:
      return "active";
    case subscription_status::trialing:
      return "trialing";
    case subscription_status::past_due:
      return "past_due";
    case subscription_status::canceled:
      return "canceled";
    case subscription_status::expired:
      return "expired";
  }
  return "active";
}

std::optional<subscription_status> parse_subscription_status(std::string_view s) noexcept {
  for (auto status : {subscription_status::active, subscription_status::trialing, subscription_status::past_due,
                      subscription_status::canceled, subscription_status::expired}) {
    if (s == to_string(status)) {
      return status;
    }
  }
  return std::nullopt;
}

const char* to_string(limit_kind k) noexcept {
  switch (k) {
    case limit_kind::none:
      return "none";
    case limit_kind::daily:
      return "daily";
    case limit_kind::monthly:
      return "monthly";
    case limit_kind::tokens:
      return "tokens";
  }
  return "none";
}

const char* to_string(reservation_state s) noexcept {
  // Stored in the reservations table: never change them.
  switch (s) {
    case reservation_state::open:
      return "open";
    case reservation_state::committed:
      return "committed";
    case reservation_state::released:
      return "released";
    case reservation_state::expired:
      return "expired";
  }
  return "open";
}

const char* to_string(payment_status s) noexcept {
  // Stored in subscription_payments.status: never change them.
  switch (s) {
    case payment_status::pending:
      return "pending";
    case payment_status::applied:
      return "applied";
    case payment_status::failed:
      return "failed";
  }
  return "pending";
}

const char* to_string(payment_effect e) noexcept {
  // Stored in subscription_payments.effect: never change them.
  switch (e) {
    case payment_effect::none:
      return "none";
    case payment_effect::extended:
      return "extended";
    case payment_effect::started:
      return "started";
    case payment_effect::scheduled:
      return "scheduled";
  }
  return "none";
}

}  // namespace kauri_quota
