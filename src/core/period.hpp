// Period arithmetic in an IANA time zone (internal). Days and months are
// calendar periods of the quota zone; all instants are UTC. DST-safe: a day
// may last 23 or 25 hours, a local midnight may not exist (the day then
// starts at the transition), and a whole local day may be skipped.
#pragma once

#include <kauri_quota/result.hpp>
#include <kauri_quota/types.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace kauri_quota::detail {

class zone {
 public:
  /// Looks the zone up in the system tz database; invalid_argument when
  /// unknown or malformed (e.g. "", "Mars/Base", "../etc/passwd").
  static result<zone> locate(std::string_view name);

  const std::string& name() const noexcept { return name_; }
  /// The local calendar day on which instant `t` falls.
  local_date day_of(sys_time t) const;
  /// The first instant of local day `d` (if `d` was skipped, the first
  /// instant of the next day that exists).
  sys_time start_of_day(local_date d) const;
  /// The first instant of the local day after `d`.
  sys_time next_day_start(local_date d) const;
  /// The first instant of the month after the one containing `d`.
  sys_time next_month_start(local_date d) const;
  /// The local wall-clock reading of instant `t`, carried in a sys_time
  /// (its "UTC" fields are the local date and time of day).
  sys_time wall_of(sys_time t) const;
  /// The instant whose local wall-clock reading is `wall` (as wall_of
  /// gives it). A reading that does not exist (a DST gap) moves forward by
  /// the gap; an ambiguous one (clocks set back) takes the earlier instant.
  sys_time from_wall(sys_time wall) const;

 private:
  zone(std::string name, const void* tz) : name_(std::move(name)), tz_(tz) {}
  std::string name_;
  const void* tz_;  // const date::time_zone*, owned by the tz database
};

/// A user's own zone (subscription::time_zone) when it is set and the tz
/// database knows it, else `fallback` (the service's zone).
zone own_zone_or(const std::optional<std::string>& own, const zone& fallback);
/// The day of `now` in a user's own zone when it is set and known, else
/// `service_day` (the day of `now` in the service's zone).
local_date own_day_or(const std::optional<std::string>& own, sys_time now, local_date service_day);

/// The first day of `d`'s month.
local_date first_of_month(local_date d);
/// True when a and b are in the same calendar month.
bool same_month(local_date a, local_date b);

}  // namespace kauri_quota::detail
