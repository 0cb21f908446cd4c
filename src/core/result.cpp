#include <kauri_quota/result.hpp>

#include <string>
#include <system_error>

namespace kauri_quota {
namespace {

class quota_error_category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "kauri_quota"; }

  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::success:
        return "Success.";
      case errc::invalid_argument:
        return "An argument is invalid; nothing was changed.";
      case errc::unknown_user:
        return "The user does not exist.";
      case errc::unknown_tier:
        return "The subscription tier does not exist.";
      case errc::user_exists:
        return "The user already exists.";
      case errc::storage_unavailable:
        return "The storage cannot be reached or opened.";
      case errc::storage_busy:
        return "The storage stayed locked longer than the busy timeout.";
      case errc::conflict:
        return "The transaction kept conflicting with concurrent ones and was given up.";
      case errc::schema_mismatch:
        return "The database schema is not the one this library expects.";
      case errc::migration_failed:
        return "A migration step failed and was rolled back.";
      case errc::io_error:
        return "The storage reported an I/O error.";
      case errc::corrupt:
        return "The database is damaged.";
      case errc::idempotency_mismatch:
        return "The request id was already used with different arguments.";
      case errc::reservation_not_found:
        return "The reservation does not exist for this user.";
      case errc::reservation_closed:
        return "The reservation was already committed, released or expired.";
      case errc::unsupported:
        return "The storage backend does not support this operation.";
      case errc::internal:
        return "An internal error occurred in kauri_quota; please report it.";
      case errc::subscription_conflict:
        return "The subscription's current state does not allow this change.";
      case errc::payment_not_found:
        return "No payment has that provider and transaction id.";
    }
    return "Unknown kauri_quota error " + std::to_string(value) + ".";
  }
};

}  // namespace

const std::error_category& quota_category() noexcept {
  // A function-local static: one category object per process, so that
  // error_code comparisons (which compare category addresses) work.
  static const quota_error_category category;
  return category;
}

std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), quota_category()}; }

const char* to_string(errc e) noexcept {
  switch (e) {
    case errc::success:
      return "success";
    case errc::invalid_argument:
      return "invalid_argument";
    case errc::unknown_user:
      return "unknown_user";
    case errc::unknown_tier:
      return "unknown_tier";
    case errc::user_exists:
      return "user_exists";
    case errc::storage_unavailable:
      return "storage_unavailable";
    case errc::storage_busy:
      return "storage_busy";
    case errc::conflict:
      return "conflict";
    case errc::schema_mismatch:
      return "schema_mismatch";
    case errc::migration_failed:
      return "migration_failed";
    case errc::io_error:
      return "io_error";
    case errc::corrupt:
      return "corrupt";
    case errc::idempotency_mismatch:
      return "idempotency_mismatch";
    case errc::reservation_not_found:
      return "reservation_not_found";
    case errc::reservation_closed:
      return "reservation_closed";
    case errc::unsupported:
      return "unsupported";
    case errc::internal:
      return "internal";
    case errc::subscription_conflict:
      return "subscription_conflict";
    case errc::payment_not_found:
      return "payment_not_found";
  }
  return "unknown";
}

void outcome_throw_as_system_error_with_payload(const error& e) {
  // Only reached when a caller calls value() on a failed result: that
  // caller has opted into exceptions.
  throw std::system_error(e.code, e.message);
}

}  // namespace kauri_quota
