// Period boundaries in IANA time zones: days, months, DST and skipped days.
#include "core/period.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <string>

using namespace std::chrono_literals;

namespace kauri_quota::detail {

using std::chrono::April;
using std::chrono::days;
using std::chrono::December;
using std::chrono::February;
using std::chrono::hours;
using std::chrono::January;
using std::chrono::March;
using std::chrono::microseconds;
using std::chrono::minutes;
using std::chrono::November;
using std::chrono::October;
using std::chrono::seconds;
using std::chrono::September;
using std::chrono::sys_days;

namespace {

zone zone_of(const char* name) {
  auto z = zone::locate(name);
  REQUIRE_MESSAGE(z.has_value(), name);
  return z.value();
}

/// An instant given as UTC calendar fields.
sys_time utc(local_date d, int h = 0, int m = 0, int s = 0, int us = 0) {
  return sys_time{sys_days{d}} + hours{h} + minutes{m} + seconds{s} + microseconds{us};
}

std::string error_message(const char* name) {
  auto z = zone::locate(name);
  REQUIRE_FALSE(z.has_value());
  CHECK(z.error().is(errc::invalid_argument));
  return z.error().message;
}

}  // namespace

TEST_CASE("UTC days start at midnight UTC") {
  const zone z = zone_of("UTC");
  CHECK(z.name() == "UTC");
  CHECK(z.day_of(utc(2025y / November / 7d)) == 2025y / November / 7d);
  CHECK(z.day_of(utc(2025y / November / 7d, 23, 59, 59, 999999)) == 2025y / November / 7d);
  CHECK(z.day_of(utc(2025y / November / 8d)) == 2025y / November / 8d);
  CHECK(z.start_of_day(2025y / November / 7d) == utc(2025y / November / 7d));
  CHECK(z.next_day_start(2025y / November / 7d) == utc(2025y / November / 8d));
}

TEST_CASE("UTC without the tz database agrees with Etc/UTC from it") {
  const zone plain = zone_of("UTC");
  const zone etc = zone_of("Etc/UTC");
  for (sys_time t = utc(2023y / December / 30d); t < utc(2024y / March / 2d); t += hours{7}) {
    const local_date d = plain.day_of(t);
    REQUIRE(d == etc.day_of(t));
    REQUIRE(plain.start_of_day(d) == etc.start_of_day(d));
    REQUIRE(plain.next_day_start(d) == etc.next_day_start(d));
    REQUIRE(plain.next_month_start(d) == etc.next_month_start(d));
  }
}

TEST_CASE("UTC months start on the first at midnight UTC") {
  const zone z = zone_of("UTC");
  CHECK(z.next_month_start(2025y / November / 7d) == utc(2025y / December / 1d));
  CHECK(z.next_month_start(2025y / November / 30d) == utc(2025y / December / 1d));
  CHECK(z.next_month_start(2025y / November / 1d) == utc(2025y / December / 1d));
}

TEST_CASE("the year ends at the first instant of January 1st") {
  const zone z = zone_of("UTC");
  CHECK(z.next_day_start(2025y / December / 31d) == utc(2026y / January / 1d));
  CHECK(z.next_month_start(2025y / December / 31d) == utc(2026y / January / 1d));
  CHECK(z.day_of(utc(2025y / December / 31d, 23, 59, 59, 999999)) == 2025y / December / 31d);
  CHECK(z.day_of(utc(2026y / January / 1d)) == 2026y / January / 1d);
}

TEST_CASE("leap years have a February 29th and March starts after it") {
  const zone z = zone_of("UTC");
  CHECK(z.next_day_start(2024y / February / 28d) == utc(2024y / February / 29d));
  CHECK(z.next_day_start(2024y / February / 29d) == utc(2024y / March / 1d));
  CHECK(z.next_month_start(2024y / February / 29d) == utc(2024y / March / 1d));
  CHECK(z.next_month_start(2024y / February / 1d) == utc(2024y / March / 1d));
  CHECK(z.next_day_start(2025y / February / 28d) == utc(2025y / March / 1d));
  CHECK(z.day_of(utc(2024y / February / 29d, 12)) == 2024y / February / 29d);
}

TEST_CASE("next_month_start of 2024-02-29 in Paris is local midnight of 2024-03-01") {
  const zone z = zone_of("Europe/Paris");
  CHECK(z.next_month_start(2024y / February / 29d) == utc(2024y / February / 29d, 23));
}

TEST_CASE("Africa/Douala days start at 23:00 UTC the day before") {
  const zone z = zone_of("Africa/Douala");
  CHECK(z.day_of(utc(2025y / November / 7d, 22, 59, 59)) == 2025y / November / 7d);
  CHECK(z.day_of(utc(2025y / November / 7d, 23)) == 2025y / November / 8d);
  CHECK(z.start_of_day(2025y / November / 8d) == utc(2025y / November / 7d, 23));
  CHECK(z.next_day_start(2025y / November / 7d) == utc(2025y / November / 7d, 23));
  CHECK(z.next_month_start(2025y / November / 7d) == utc(2025y / November / 30d, 23));
}

TEST_CASE("Europe/Paris 2025-03-30 lasts 23 hours") {
  const zone z = zone_of("Europe/Paris");
  const local_date d = 2025y / March / 30d;
  CHECK(z.start_of_day(d) == utc(2025y / March / 29d, 23));
  CHECK(z.next_day_start(d) == utc(2025y / March / 30d, 22));
  CHECK(z.next_day_start(d) - z.start_of_day(d) == hours{23});
  // 00:59:59 UTC is 01:59:59 CET and 01:00 UTC is 03:00 CEST: the same day.
  CHECK(z.day_of(utc(2025y / March / 30d, 0, 59, 59)) == d);
  CHECK(z.day_of(utc(2025y / March / 30d, 1)) == d);
  CHECK(z.day_of(utc(2025y / March / 30d, 21, 59, 59)) == d);
  CHECK(z.day_of(utc(2025y / March / 30d, 22)) == 2025y / March / 31d);
}

TEST_CASE("Europe/Paris 2025-10-26 lasts 25 hours") {
  const zone z = zone_of("Europe/Paris");
  const local_date d = 2025y / October / 26d;
  CHECK(z.start_of_day(d) == utc(2025y / October / 25d, 22));
  CHECK(z.next_day_start(d) == utc(2025y / October / 26d, 23));
  CHECK(z.next_day_start(d) - z.start_of_day(d) == hours{25});
  // 02:30 local happens twice, both on the 26th.
  CHECK(z.day_of(utc(2025y / October / 26d, 0, 30)) == d);
  CHECK(z.day_of(utc(2025y / October / 26d, 1, 30)) == d);
  CHECK(z.next_month_start(d) == utc(2025y / October / 31d, 23));
}

TEST_CASE("America/New_York DST days last 23 and 25 hours") {
  const zone z = zone_of("America/New_York");
  const local_date spring = 2025y / March / 9d;
  CHECK(z.start_of_day(spring) == utc(2025y / March / 9d, 5));
  CHECK(z.next_day_start(spring) == utc(2025y / March / 10d, 4));
  CHECK(z.next_day_start(spring) - z.start_of_day(spring) == hours{23});

  const local_date fall = 2025y / November / 2d;
  CHECK(z.start_of_day(fall) == utc(2025y / November / 2d, 4));
  CHECK(z.next_day_start(fall) == utc(2025y / November / 3d, 5));
  CHECK(z.next_day_start(fall) - z.start_of_day(fall) == hours{25});
  CHECK(z.day_of(utc(2025y / November / 3d, 4, 59, 59)) == fall);
  CHECK(z.day_of(utc(2025y / November / 3d, 5)) == 2025y / November / 3d);
}

TEST_CASE("America/Santiago 2024-09-08 starts at the DST transition because local midnight does not exist") {
  const zone z = zone_of("America/Santiago");
  const local_date d = 2024y / September / 8d;
  // Clocks jump from 2024-09-07 23:59:59 -04 to 2024-09-08 01:00 -03 at 04:00 UTC.
  CHECK(z.start_of_day(d) == utc(2024y / September / 8d, 4));
  CHECK(z.next_day_start(2024y / September / 7d) == utc(2024y / September / 8d, 4));
  CHECK(z.day_of(utc(2024y / September / 8d, 3, 59, 59, 999999)) == 2024y / September / 7d);
  CHECK(z.day_of(utc(2024y / September / 8d, 4)) == d);
  CHECK(z.next_day_start(d) == utc(2024y / September / 9d, 3));
  CHECK(z.next_day_start(d) - z.start_of_day(d) == hours{23});
}

TEST_CASE("America/Santiago 2024-04-06 ends after its repeated last hour") {
  const zone z = zone_of("America/Santiago");
  const local_date d = 2024y / April / 6d;
  // At 03:00 UTC clocks go back from 24:00 -03 to 23:00 -04.
  CHECK(z.start_of_day(d) == utc(2024y / April / 6d, 3));
  CHECK(z.day_of(utc(2024y / April / 7d, 3, 30)) == d);
  CHECK(z.next_day_start(d) == utc(2024y / April / 7d, 4));
  CHECK(z.next_day_start(d) - z.start_of_day(d) == hours{25});
}

TEST_CASE("Pacific/Apia skipped 2011-12-30 entirely") {
  const zone z = zone_of("Pacific/Apia");
  // 2011-12-29 23:59:59 -10 was followed by 2011-12-31 00:00:00 +14.
  CHECK(z.day_of(utc(2011y / December / 30d, 9, 59, 59)) == 2011y / December / 29d);
  CHECK(z.day_of(utc(2011y / December / 30d, 10)) == 2011y / December / 31d);
  CHECK(z.start_of_day(2011y / December / 29d) == utc(2011y / December / 29d, 10));
  CHECK(z.start_of_day(2011y / December / 31d) == utc(2011y / December / 30d, 10));
  CHECK(z.start_of_day(2011y / December / 30d) == z.start_of_day(2011y / December / 31d));
  CHECK(z.next_day_start(2011y / December / 29d) == z.start_of_day(2011y / December / 31d));
  CHECK(z.next_day_start(2011y / December / 31d) == utc(2011y / December / 31d, 10));
}

TEST_CASE("next_day_start is after every instant of a day that comes back") {
  const zone z = zone_of("America/Sitka");
  // In 1867 Sitka moved from Russian to American time: on 1867-10-19 at
  // 15:30 local the clocks were set back to 1867-10-18 15:30.
  const local_date d = 1867y / October / 18d;
  const sys_time ends = z.next_day_start(d);
  CHECK(z.day_of(ends - microseconds{1}) == d);
  CHECK(z.day_of(ends) == 1867y / October / 19d);
  CHECK(ends > z.start_of_day(1867y / October / 19d));
  for (sys_time t = ends; t < ends + days{3}; t += minutes{30}) {
    REQUIRE(z.day_of(t) > d);
  }
}

TEST_CASE("next_day_start is strictly after every instant of the day in many zones") {
  for (const char* name : {"UTC", "Europe/Paris", "America/New_York", "America/Santiago", "Pacific/Apia",
                           "Australia/Lord_Howe", "Asia/Kolkata", "America/Havana", "Africa/Casablanca"}) {
    CAPTURE(name);
    const zone z = zone_of(name);
    // Walk a year every half hour: each instant is within [start, next start) of its day.
    const sys_time from = utc(2024y / January / 1d);
    for (sys_time t = from; t < from + days{366}; t += minutes{30}) {
      const local_date d = z.day_of(t);
      REQUIRE(z.start_of_day(d) <= t);
      REQUIRE(t < z.next_day_start(d));
      REQUIRE(t < z.next_month_start(d));
    }
  }
}

TEST_CASE("month helpers compare and truncate calendar days") {
  CHECK(first_of_month(2024y / February / 29d) == 2024y / February / 1d);
  CHECK(same_month(2024y / February / 1d, 2024y / February / 29d));
  CHECK_FALSE(same_month(2024y / February / 29d, 2024y / March / 1d));
  CHECK_FALSE(same_month(2024y / March / 1d, 2025y / March / 1d));
}

TEST_CASE("zone::locate accepts IANA names") {
  for (const char* name : {"UTC", "Etc/UTC", "Europe/Paris", "Africa/Douala", "America/Argentina/Buenos_Aires"}) {
    CAPTURE(name);
    CHECK(zone::locate(name).has_value());
  }
}

TEST_CASE("zone::locate rejects unknown and malformed names") {
  CHECK(error_message("Mars/Base") == "unknown time zone \"Mars/Base\"");
  CHECK(error_message("").find("1-64 bytes") != std::string::npos);
  CHECK(error_message("../etc/passwd").find("..") != std::string::npos);
  CHECK(error_message("Europe/../UTC").find("..") != std::string::npos);
  CHECK(error_message("/etc/localtime").find("unknown time zone") != std::string::npos);
  CHECK(error_message("localtime").find("IANA") != std::string::npos);
  CHECK(error_message("Europe/Paris\n").find("printable") != std::string::npos);
  CHECK(error_message("Europe/Paris ").find("unknown time zone") != std::string::npos);
  CHECK(error_message("Europe/Paris/").find("unknown time zone") != std::string::npos);
  CHECK(error_message("europe/paris").find("unknown time zone") != std::string::npos);
  const std::string long_name(65, 'A');
  CHECK(error_message(long_name.c_str()).find("(got 65)") != std::string::npos);
  CHECK_FALSE(zone::locate(std::string_view{"UTC\0x", 5}).has_value());
  CHECK_FALSE(zone::locate("Europe/Par\xC3\xA9s").has_value());
}

}  // namespace kauri_quota::detail
