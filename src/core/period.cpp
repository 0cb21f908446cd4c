#include "period.hpp"

// date/tz.h stays in this file: no header of the library exposes date.
#include <date/tz.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <string>
#include <string_view>

namespace kauri_quota::detail {
namespace {

namespace chr = std::chrono;

constexpr std::size_t max_zone_name_bytes = 64;

const date::time_zone* as_tz(const void* p) noexcept { return static_cast<const date::time_zone*>(p); }

chr::sys_days to_sys_days(local_date d) { return chr::sys_days{d}; }

local_date to_local_date(chr::sys_days d) { return local_date{d}; }

/// The date library's local-day time point for a calendar day.
date::local_days to_local_days(local_date d) {
  return date::local_days{date::days{static_cast<int>(to_sys_days(d).time_since_epoch().count())}};
}

local_date from_local_days(date::local_days d) {
  return to_local_date(chr::sys_days{chr::days{d.time_since_epoch().count()}});
}

/// First instant whose local time is at or after local midnight of `d`.
/// For a nonexistent midnight (a gap, possibly a whole skipped day) the
/// date library answers the instant of the transition, which is exactly
/// the first instant of the first local day at or after `d` that exists.
sys_time start_of_day_impl(const date::time_zone& tz, local_date d) {
  const auto t = tz.to_sys(to_local_days(d), date::choose::earliest);
  return chr::time_point_cast<chr::microseconds>(t);
}

local_date day_of_impl(const date::time_zone& tz, sys_time t) {
  const auto local = tz.to_local(t);
  return from_local_days(date::floor<date::days>(local));
}

sys_time to_micros(date::sys_seconds t) { return chr::time_point_cast<chr::microseconds>(t); }

/// The first instant after which the local calendar never again shows day
/// `d` or an earlier one. Usually start_of_day(d + 1); it is later only when
/// a backward transition (clocks set back across midnight, or a repeated
/// day) brings day `d` back after day d + 1 has begun.
sys_time next_day_start_impl(const date::time_zone& tz, local_date d) {
  const local_date next = to_local_date(to_sys_days(d) + chr::days{1});
  const auto next_midnight = to_local_days(next).time_since_epoch();
  sys_time t = start_of_day_impl(tz, next);
  // Offsets differ by at most about a day, so only transitions in the next
  // few days can bring `d` back; a few offset segments cover them.
  const sys_time horizon = t + chr::days{3};
  sys_time cursor = t;
  for (int segment = 0; segment < 16 && cursor < horizon; ++segment) {
    const date::sys_info info = tz.get_info(cursor);
    const sys_time segment_end = info.end >= horizon ? horizon : to_micros(info.end);
    // Within one segment the offset is constant and the local day only
    // grows: the instants before `day_after` still show day `d` or earlier.
    const sys_time day_after{chr::duration_cast<chr::microseconds>(next_midnight - info.offset)};
    if (day_after > cursor) {
      t = day_after < segment_end ? day_after : segment_end;
    }
    cursor = segment_end;
  }
  return t;
}

bool printable_ascii(std::string_view s) noexcept {
  return std::ranges::all_of(s, [](char c) {
    const auto b = static_cast<unsigned char>(c);
    return b >= 0x20 && b < 0x7F;
  });
}

std::string quoted(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
    }
    out += c;
  }
  out += '"';
  return out;
}

}  // namespace

result<zone> zone::locate(std::string_view name) {
  if (name.empty() || name.size() > max_zone_name_bytes) {
    return make_error(errc::invalid_argument, "time zone must be 1-" + std::to_string(max_zone_name_bytes) +
                                                  " bytes (got " + std::to_string(name.size()) + ")");
  }
  if (!printable_ascii(name)) {
    return make_error(errc::invalid_argument,
                      "time zone must be an IANA name of printable ASCII characters (e.g. \"Europe/Paris\")");
  }
  if (name.find("..") != std::string_view::npos) {
    return make_error(errc::invalid_argument, "time zone must not contain \"..\" (got " + quoted(name) + ")");
  }
  if (name == "localtime") {
    // The system's tz directory may alias the host's own zone under this
    // name; quota periods must not silently depend on host configuration.
    return make_error(errc::invalid_argument,
                      R"(time zone "localtime" is not an IANA zone name; name the zone (e.g. "Europe/Paris"))");
  }
  if (name == "UTC") {
    // The default zone needs no tz database, so that hosts without tzdata
    // (minimal containers) still work.
    return zone{std::string{name}, nullptr};
  }
  try {
    (void)date::get_tzdb();
  } catch (const std::exception& e) {
    return make_error(errc::invalid_argument,
                      "cannot load the system time zone database for " + quoted(name) + ": " + e.what());
  } catch (...) {
    return make_error(errc::invalid_argument, "cannot load the system time zone database for " + quoted(name));
  }
  const date::time_zone* tz = nullptr;
  try {
    tz = date::locate_zone(name);
  } catch (...) {
    tz = nullptr;  // date reports an unknown name by throwing
  }
  if (tz == nullptr) {
    return make_error(errc::invalid_argument, "unknown time zone " + quoted(name));
  }
  try {
    // The zone's rules are loaded lazily and loading may throw: load them
    // here, once, so that the period functions below never meet an error.
    (void)tz->get_info(date::sys_seconds{});
  } catch (const std::exception& e) {
    return make_error(errc::invalid_argument, "cannot load time zone " + quoted(name) + ": " + e.what());
  } catch (...) {
    return make_error(errc::invalid_argument, "cannot load time zone " + quoted(name));
  }
  return zone{std::string{name}, tz};
}

// A null tz_ is UTC. Otherwise the functions below cannot fail once
// locate() has loaded the zone; the catch blocks only keep an exception
// from escaping should the tz database misbehave, falling back to UTC.

local_date zone::day_of(sys_time t) const {
  if (tz_ == nullptr) {
    return local_date{chr::floor<chr::days>(t)};
  }
  try {
    return day_of_impl(*as_tz(tz_), t);
  } catch (...) {
    return local_date{chr::floor<chr::days>(t)};
  }
}

sys_time zone::start_of_day(local_date d) const {
  if (tz_ == nullptr) {
    return sys_time{to_sys_days(d)};
  }
  try {
    return start_of_day_impl(*as_tz(tz_), d);
  } catch (...) {
    return sys_time{to_sys_days(d)};
  }
}

sys_time zone::next_day_start(local_date d) const {
  if (tz_ == nullptr) {
    return sys_time{to_sys_days(d) + chr::days{1}};
  }
  try {
    return next_day_start_impl(*as_tz(tz_), d);
  } catch (...) {
    return sys_time{to_sys_days(d) + chr::days{1}};
  }
}

sys_time zone::next_month_start(local_date d) const {
  // The month ends where its last day ends, which also covers a first day
  // of the next month that is skipped or a last day that comes back.
  const local_date last = to_local_date(to_sys_days(first_of_month(d) + chr::months{1}) - chr::days{1});
  return next_day_start(last);
}

sys_time zone::wall_of(sys_time t) const {
  if (tz_ == nullptr) return t;
  try {
    const auto local = as_tz(tz_)->to_local(t);
    return sys_time{local.time_since_epoch()};
  } catch (...) {
    return t;
  }
}

sys_time zone::from_wall(sys_time wall) const {
  if (tz_ == nullptr) return wall;
  try {
    const date::local_seconds whole{chr::floor<chr::seconds>(wall.time_since_epoch())};
    const date::local_info info = as_tz(tz_)->get_info(whole);
    // In a gap, `first` is the offset in force before it: the reading is
    // then taken as that many seconds after the gap's start, i.e. moved
    // forward by the gap. When ambiguous, `first` is the earlier instant.
    return wall - chr::duration_cast<chr::microseconds>(info.first.offset);
  } catch (...) {
    return wall;
  }
}

zone own_zone_or(const std::optional<std::string>& own, const zone& fallback) {
  if (own) {
    if (auto z = zone::locate(*own)) return std::move(z).value();
  }
  return fallback;
}

local_date own_day_or(const std::optional<std::string>& own, sys_time now, local_date service_day) {
  if (!own) return service_day;
  auto z = zone::locate(*own);
  return z ? z.value().day_of(now) : service_day;
}

local_date first_of_month(local_date d) { return d.year() / d.month() / chr::day{1}; }

bool same_month(local_date a, local_date b) { return a.year() == b.year() && a.month() == b.month(); }

}  // namespace kauri_quota::detail
