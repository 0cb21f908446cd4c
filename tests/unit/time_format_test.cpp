// Days and instants as text: the RFC 3339 form of the JSON views and the
// stored forms come from one writer and agree on every year, and the
// stored forms read back.
#include "core/time_format.hpp"
#include "core/sql_support.hpp"

#include <kauri_quota/json.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <string>

namespace kauri_quota::detail {

namespace {

namespace chr = std::chrono;

sys_time at(local_date d, int h = 0, int m = 0, int s = 0, int us = 0) {
  return sys_time{chr::sys_days{d}.time_since_epoch()} + chr::hours{h} + chr::minutes{m} + chr::seconds{s} +
         chr::microseconds{us};
}

local_date ymd(int y, unsigned m, unsigned d) { return chr::year{y} / chr::month{m} / chr::day{d}; }

}  // namespace

TEST_CASE("the RFC 3339 and the stored forms of an instant differ only in the separator and the Z") {
  const sys_time t = at(ymd(2025, 11, 7), 10, 59, 24, 625'159);
  CHECK(format_rfc3339(t) == "2025-11-07T10:59:24.625159Z");
  CHECK(format_stored_time(t) == "2025-11-07 10:59:24.625159");
  CHECK(kauri_quota::format_time(t) == format_rfc3339(t));
  CHECK(format_db_time(t) == format_stored_time(t));
}

TEST_CASE("years 0 to 9999 are written with four digits") {
  CHECK(format_iso_date(ymd(0, 1, 1)) == "0000-01-01");
  CHECK(format_iso_date(ymd(42, 3, 4)) == "0042-03-04");
  CHECK(format_iso_date(ymd(9999, 12, 31)) == "9999-12-31");
  CHECK(format_stored_time(at(ymd(9999, 12, 31), 23, 59, 59, 999'999)) == "9999-12-31 23:59:59.999999");
}

TEST_CASE("years outside 0 to 9999 take the expanded form in every writer, never a clamped year") {
  struct row {
    local_date day;
    const char* text;
  };
  const row rows[] = {{ymd(-1, 12, 31), "-0001-12-31"},
                      {ymd(-44, 3, 15), "-0044-03-15"},
                      {ymd(-12345, 6, 7), "-12345-06-07"},
                      {ymd(10000, 1, 1), "+10000-01-01"},
                      {ymd(32767, 12, 31), "+32767-12-31"}};
  for (const row& r : rows) {
    CAPTURE(r.text);
    CHECK(format_iso_date(r.day) == r.text);
    CHECK(kauri_quota::format_date(r.day) == r.text);
    CHECK(format_db_date(r.day) == r.text);
    CHECK(format_rfc3339(at(r.day, 1, 2, 3, 4)) == std::string(r.text) + "T01:02:03.000004Z");
    CHECK(format_stored_time(at(r.day, 1, 2, 3, 4)) == std::string(r.text) + " 01:02:03.000004");
  }
}

TEST_CASE("stored days and instants read back in both year forms") {
  for (const local_date d : {ymd(2025, 2, 28), ymd(0, 1, 1), ymd(-1, 12, 31), ymd(10000, 1, 1), ymd(-32767, 1, 1)}) {
    CAPTURE(format_iso_date(d));
    CHECK(parse_db_date(format_db_date(d)) == d);
    const sys_time t = at(d, 23, 59, 58, 123'456);
    CHECK(parse_db_time(format_db_time(t)) == t);
    CHECK(parse_db_time(format_rfc3339(t)) == t);
  }
}

TEST_CASE("PostgreSQL's five-digit years and offsets read back") {
  CHECK(parse_db_time("10000-01-01 00:00:00+00") == at(ymd(10000, 1, 1)));
  CHECK(parse_db_time("2025-11-07 12:00:00+01:00") == at(ymd(2025, 11, 7), 11));
}

TEST_CASE("text that is not a stored day is refused") {
  CHECK_FALSE(parse_db_date("25-11-07"));
  CHECK_FALSE(parse_db_date("2025-13-01"));
  CHECK_FALSE(parse_db_date("+123456-01-01"));
  CHECK_FALSE(parse_db_date("-"));
  CHECK_FALSE(parse_db_date(""));
  CHECK_FALSE(parse_db_time("2025-11-07X10:00:00"));
}

}  // namespace kauri_quota::detail
