#include "core/time_format.hpp"

#include <chrono>
#include <cstdint>

namespace kauri_quota::detail {
namespace {

namespace chr = std::chrono;

// Hot path: formatting runs several times per operation, so it writes
// digits directly instead of going through a format string.
void put_digits(char* p, unsigned v, int width) noexcept {
  for (int i = width - 1; i >= 0; --i) {
    p[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
}

void append_digits(std::string& out, unsigned v, int width) {
  const std::size_t at = out.size();
  out.append(static_cast<std::size_t>(width), '0');
  put_digits(out.data() + at, v, width);
}

void append_year(std::string& out, int y) {
  if (y >= 0 && y <= 9999) {
    append_digits(out, static_cast<unsigned>(y), 4);
    return;
  }
  out += y < 0 ? '-' : '+';
  // std::chrono::year is within [-32767, 32767], so the magnitude fits.
  const auto magnitude = static_cast<unsigned>(y < 0 ? -static_cast<std::int64_t>(y) : y);
  append_digits(out, magnitude, magnitude > 9999 ? 5 : 4);
}

}  // namespace

void append_date(std::string& out, local_date d) {
  append_year(out, static_cast<int>(d.year()));
  out += '-';
  append_digits(out, static_cast<unsigned>(d.month()), 2);
  out += '-';
  append_digits(out, static_cast<unsigned>(d.day()), 2);
}

void append_time_of_day(std::string& out, sys_time t) {
  const auto day = chr::floor<chr::days>(t);
  const chr::hh_mm_ss<chr::microseconds> tod{t - day};
  char buf[15];  // "HH:MM:SS.ffffff"
  put_digits(buf, static_cast<unsigned>(tod.hours().count()), 2);
  buf[2] = ':';
  put_digits(buf + 3, static_cast<unsigned>(tod.minutes().count()), 2);
  buf[5] = ':';
  put_digits(buf + 6, static_cast<unsigned>(tod.seconds().count()), 2);
  buf[8] = '.';
  put_digits(buf + 9, static_cast<unsigned>(tod.subseconds().count()), 6);
  out.append(buf, sizeof buf);
}

std::string format_iso_date(local_date d) {
  std::string out;
  out.reserve(10);
  append_date(out, d);
  return out;
}

std::string format_rfc3339(sys_time t) {
  std::string out;
  out.reserve(27);
  append_date(out, chr::year_month_day{chr::floor<chr::days>(t)});
  out += 'T';
  append_time_of_day(out, t);
  out += 'Z';
  return out;
}

std::string format_stored_time(sys_time t) {
  std::string out;
  out.reserve(26);
  append_date(out, chr::year_month_day{chr::floor<chr::days>(t)});
  out += ' ';
  append_time_of_day(out, t);
  return out;
}

}  // namespace kauri_quota::detail
