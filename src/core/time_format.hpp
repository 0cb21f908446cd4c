// Writing days and instants as text (internal): the RFC 3339 form of the
// JSON views and the forms stored by the backends share one digit writer,
// so that they agree on every date, including years outside 0000-9999.
//
// The year rule: years 0 to 9999 are four digits ("0042", "2025"); any
// other year is ISO 8601's expanded form, a sign and at least four digits
// ("-0001", "+10000"), never a clamped or truncated year that would name a
// different day. parse_db_date and parse_db_time read both forms back.
#pragma once

#include <kauri_quota/types.hpp>

#include <string>

namespace kauri_quota::detail {

/// Appends "YYYY-MM-DD" (or the expanded year form) to `out`.
void append_date(std::string& out, local_date d);
/// Appends "HH:MM:SS.ffffff" of the time of day of `t` (UTC) to `out`.
void append_time_of_day(std::string& out, sys_time t);

/// "2025-11-07".
std::string format_iso_date(local_date d);
/// "2025-11-07T10:59:24.625159Z": RFC 3339, UTC, six fraction digits.
std::string format_rfc3339(sys_time t);
/// "2025-11-07 10:59:24.625159": the UTC text form stored by the backends.
std::string format_stored_time(sys_time t);

}  // namespace kauri_quota::detail
