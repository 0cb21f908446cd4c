// The error category, its names and messages, and result<T> behaviour.
#include <kauri_quota/result.hpp>

#include <doctest/doctest.h>

#include <ostream>  // doctest prints std::error_code through operator<<
#include <string>
#include <system_error>

namespace kauri_quota {

TEST_CASE("the error category is named kauri_quota") {
  CHECK(std::string{quota_category().name()} == "kauri_quota");
  CHECK(make_error_code(errc::unknown_user).category() == quota_category());
  CHECK(make_error_code(errc::unknown_user).value() == 2);
}

TEST_CASE("errc converts implicitly to std::error_code") {
  const std::error_code code = errc::storage_busy;
  CHECK(code == make_error_code(errc::storage_busy));
  CHECK(code != make_error_code(errc::conflict));
  CHECK_FALSE(make_error_code(errc::success));
}

TEST_CASE("every error code has a stable name and a readable message") {
  CHECK(std::string{to_string(errc::invalid_argument)} == "invalid_argument");
  CHECK(std::string{to_string(errc::idempotency_mismatch)} == "idempotency_mismatch");
  CHECK(std::string{to_string(errc::internal)} == "internal");
  for (int v = 0; v <= static_cast<int>(errc::internal); ++v) {
    CAPTURE(v);
    const std::string name = to_string(static_cast<errc>(v));
    CHECK(name != "unknown");
    const std::string message = quota_category().message(v);
    CHECK(message.size() > 5);
    CHECK(message.back() == '.');
  }
  CHECK(std::string{to_string(static_cast<errc>(999))} == "unknown");
  CHECK(quota_category().message(999).find("999") != std::string::npos);
}

TEST_CASE("error::is compares code and category") {
  const error e = make_error(errc::unknown_tier, "tier \"gold\" does not exist");
  CHECK(e.is(errc::unknown_tier));
  CHECK_FALSE(e.is(errc::unknown_user));
  CHECK(e.message == "tier \"gold\" does not exist");
}

TEST_CASE("value() of a failed result throws system_error carrying the message") {
  const result<int> r = make_error(errc::unknown_user, "user \"u1\" does not exist");
  REQUIRE_FALSE(r.has_value());
  try {
    (void)r.value();
    FAIL("value() did not throw");
  } catch (const std::system_error& e) {
    CHECK(e.code() == make_error_code(errc::unknown_user));
    CHECK(std::string{e.what()}.find("user \"u1\" does not exist") != std::string::npos);
  }
}

TEST_CASE("result<void> succeeds with ok()") {
  const result<void> r = ok();
  CHECK(r.has_value());
}

}  // namespace kauri_quota
