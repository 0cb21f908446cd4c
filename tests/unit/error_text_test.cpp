// The errors built from a fact: their codes and their words, the same on
// every backend.
#include "core/error_text.hpp"
#include "core/sql_support.hpp"
#include "core/validate.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <limits>
#include <string>

namespace kauri_quota::detail {

TEST_CASE("error texts: unknown user, unknown tier and a missing default tier") {
  const error u = error_text::unknown_user("u1");
  CHECK(u.is(errc::unknown_user));
  CHECK(u.message == R"(unknown user "u1")");
  const error t = error_text::unknown_tier("gold");
  CHECK(t.is(errc::unknown_tier));
  CHECK(t.message == R"(unknown tier "gold")");
  const error d = error_text::missing_default_tier("free");
  CHECK(d.is(errc::unknown_tier));
  CHECK(d.message == R"(default tier "free" is not in subscription_tiers)");
  const error e = error_text::user_exists("u1");
  CHECK(e.is(errc::user_exists));
  CHECK(e.message == R"(user "u1" already exists)");
}

TEST_CASE("error texts: a reservation that is missing, closed or expired") {
  const error n = error_text::no_such_reservation("r_1");
  CHECK(n.is(errc::reservation_not_found));
  CHECK(n.message == R"(no reservation "r_1")");
  const error c = error_text::reservation_already_closed("r_1", reservation_state::committed);
  CHECK(c.is(errc::reservation_closed));
  CHECK(c.message == R"(reservation "r_1" is already committed)");
  const sys_time at = sys_time{std::chrono::sys_days{std::chrono::year{2025} / 11 / 7}.time_since_epoch()} +
                      std::chrono::hours{10} + std::chrono::microseconds{625'159};
  const error x = error_text::reservation_expired("r_1", at, 500);
  CHECK(x.is(errc::reservation_closed));
  CHECK(x.message ==
        R"(reservation "r_1" expired at 2025-11-07 10:00:00.625159 and is settled at its estimate of 500 tokens)");
}

TEST_CASE("error texts: a request id reused with other arguments") {
  const error m = error_text::request_id_reused("req-1", "consume");
  CHECK(m.is(errc::idempotency_mismatch));
  CHECK(
      m.message ==
      R"(request_id "req-1" was already used for a different consume request; a retry must repeat the original arguments)");
  CHECK(mismatch_error(request_id{"req-1"}, "consume").message == m.message);
}

TEST_CASE("error texts: a counter that would pass its bound, worded as the PostgreSQL functions do") {
  const error e = error_text::count_would_exceed("messages_this_month", max_count);
  CHECK(e.is(errc::invalid_argument));
  CHECK(e.message == "messages_this_month would exceed 1000000000000");
  CHECK(checked_add("messages_this_month", max_count, 1).error().message == e.message);
  CHECK(checked_add("messages_this_month", std::numeric_limits<std::int64_t>::max(), 1).error().message == e.message);
  CHECK(checked_add("tokens", -max_count, -1).error().message.find("must stay between") != std::string::npos);
}

TEST_CASE("error texts quote hostile facts on one short line") {
  const std::string hostile = std::string("a\nb\"") + std::string(100, 'x');
  const std::string text = error_text::unknown_user(hostile).message;
  CHECK(text.find('\n') == std::string::npos);
  CHECK(text.find("(first 40 of 104 bytes)") != std::string::npos);
  CHECK(error_text::no_such_reservation(hostile).message.find('\n') == std::string::npos);
}

TEST_CASE("check_settleable words a closed and an expired reservation with the error texts") {
  reservation r;
  r.id = reservation_id{"r_1"};
  r.estimated_tokens = 500;
  r.expires_at = sys_time{std::chrono::seconds{100}};
  r.state = reservation_state::released;
  CHECK(check_settleable(r, sys_time{}).error().message ==
        error_text::reservation_already_closed("r_1", reservation_state::released).message);
  r.state = reservation_state::open;
  CHECK(check_settleable(r, sys_time{}).has_value());
  CHECK(check_settleable(r, r.expires_at).error().message ==
        error_text::reservation_expired("r_1", r.expires_at, 500).message);
}

}  // namespace kauri_quota::detail
