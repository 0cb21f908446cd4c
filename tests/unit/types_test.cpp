// Names of the persisted enumerations and the clocks.
#include <kauri_quota/clock.hpp>
#include <kauri_quota/types.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <string>

using namespace std::chrono_literals;

namespace kauri_quota {

using std::chrono::days;
using std::chrono::hours;
using std::chrono::microseconds;
using std::chrono::November;
using std::chrono::sys_days;

TEST_CASE("subscription statuses round-trip through their stored names") {
  for (auto s : {subscription_status::active, subscription_status::trialing, subscription_status::past_due,
                 subscription_status::canceled, subscription_status::expired}) {
    CAPTURE(to_string(s));
    CHECK(parse_subscription_status(to_string(s)) == s);
  }
  CHECK(std::string{to_string(subscription_status::past_due)} == "past_due");
  CHECK_FALSE(parse_subscription_status("Active").has_value());
  CHECK_FALSE(parse_subscription_status("").has_value());
  CHECK_FALSE(parse_subscription_status("cancelled").has_value());
}

TEST_CASE("limit kinds are named none, daily, monthly and tokens") {
  CHECK(std::string{to_string(limit_kind::none)} == "none");
  CHECK(std::string{to_string(limit_kind::daily)} == "daily");
  CHECK(std::string{to_string(limit_kind::monthly)} == "monthly");
  CHECK(std::string{to_string(limit_kind::tokens)} == "tokens");
}

TEST_CASE("reservation states are named open, committed, released and expired") {
  CHECK(std::string{to_string(reservation_state::open)} == "open");
  CHECK(std::string{to_string(reservation_state::committed)} == "committed");
  CHECK(std::string{to_string(reservation_state::released)} == "released");
  CHECK(std::string{to_string(reservation_state::expired)} == "expired");
}

TEST_CASE("system_clock is one shared clock close to the system time") {
  const auto a = system_clock();
  const auto b = system_clock();
  CHECK(a.get() == b.get());
  const auto before = std::chrono::floor<microseconds>(std::chrono::system_clock::now());
  const sys_time t = a->now();
  const auto after = std::chrono::system_clock::now();
  CHECK(before <= t);
  CHECK(t <= after);
}

TEST_CASE("manual_clock stands still until moved, and may go backwards") {
  const sys_time start = sys_time{sys_days{2025y / November / 7d}};
  manual_clock c{start};
  CHECK(c.now() == start);
  c.advance(hours{14});
  CHECK(c.now() == start + hours{14});
  c.set(start - days{1});
  CHECK(c.now() == start - days{1});
}

}  // namespace kauri_quota

TEST_CASE("payment statuses and effects have their stored names") {
  using namespace kauri_quota;
  CHECK(std::string(to_string(payment_status::pending)) == "pending");
  CHECK(std::string(to_string(payment_status::applied)) == "applied");
  CHECK(std::string(to_string(payment_status::failed)) == "failed");
  CHECK(std::string(to_string(payment_effect::none)) == "none");
  CHECK(std::string(to_string(payment_effect::extended)) == "extended");
  CHECK(std::string(to_string(payment_effect::started)) == "started");
  CHECK(std::string(to_string(payment_effect::scheduled)) == "scheduled");
}
