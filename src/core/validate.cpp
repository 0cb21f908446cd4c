#include "validate.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace kauri_quota::detail {
namespace {

/// Decodes the UTF-8 sequence starting at s[i]. On success stores the code
/// point and the sequence length; fails on overlongs, surrogates, code
/// points above U+10FFFF, stray continuation bytes and truncation.
bool decode_utf8(std::string_view s, std::size_t i, char32_t& cp, std::size_t& len) noexcept {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b0 = byte(i);
  if (b0 < 0x80) {
    cp = b0;
    len = 1;
    return true;
  }
  unsigned char lo = 0x80;
  unsigned char hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
    cp = b0 & 0x1Fu;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    cp = b0 & 0x0Fu;
    if (b0 == 0xE0) lo = 0xA0;  // overlong below U+0800
    if (b0 == 0xED) hi = 0x9F;  // U+D800-U+DFFF are surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    cp = b0 & 0x07u;
    if (b0 == 0xF0) lo = 0x90;  // overlong below U+10000
    if (b0 == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return false;  // continuation byte, C0/C1 overlong lead, or F5-FF
  }
  if (s.size() - i < len) {
    return false;
  }
  for (std::size_t k = 1; k < len; ++k) {
    const unsigned char b = byte(i + k);
    const unsigned char min = k == 1 ? lo : 0x80;
    const unsigned char max = k == 1 ? hi : 0xBF;
    if (b < min || b > max) {
      return false;
    }
    cp = (cp << 6) | (b & 0x3Fu);
  }
  return true;
}

bool is_control(char32_t cp) noexcept { return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F); }

}  // namespace

std::string quote_for_message(std::string_view s) {
  constexpr std::size_t max_quoted = 40;
  std::string out = "\"";
  std::size_t i = 0;
  while (i < s.size()) {
    char32_t cp = 0;
    std::size_t len = 1;
    const bool valid = decode_utf8(s, i, cp, len);
    if (i + (valid ? len : 1) > max_quoted) {
      break;
    }
    if (!valid || is_control(cp)) {
      const std::size_t n = valid ? len : 1;
      for (std::size_t k = 0; k < n; ++k) {
        out += fmt::format("\\x{:02X}", static_cast<unsigned char>(s[i + k]));
      }
      i += n;
      continue;
    }
    if (cp == '"' || cp == '\\') {
      out += '\\';
    }
    out.append(s.substr(i, len));
    i += len;
  }
  out += '"';
  if (i < s.size()) {
    out += fmt::format(" (first {} of {} bytes)", i, s.size());
  }
  return out;
}

namespace {

error invalid(std::string message) { return make_error(errc::invalid_argument, std::move(message)); }

/// Checks that `value` is valid UTF-8 without NUL (and, when
/// `reject_controls`, without any control character).
result<void> check_characters(std::string_view field, std::string_view value, bool reject_controls) {
  std::size_t i = 0;
  while (i < value.size()) {
    char32_t cp = 0;
    std::size_t len = 0;
    if (!decode_utf8(value, i, cp, len)) {
      return invalid(fmt::format("{} is not valid UTF-8 at byte {}", field, i));
    }
    if (cp == 0) {
      return invalid(fmt::format("{} contains a NUL byte at byte {}", field, i));
    }
    if (reject_controls && is_control(cp)) {
      return invalid(fmt::format("{} contains a control character at byte {}", field, i));
    }
    i += len;
  }
  return ok();
}

}  // namespace

bool valid_utf8(std::string_view s) noexcept {
  std::size_t i = 0;
  while (i < s.size()) {
    char32_t cp = 0;
    std::size_t len = 0;
    if (!decode_utf8(s, i, cp, len)) {
      return false;
    }
    i += len;
  }
  return true;
}

result<void> check_id(std::string_view field, std::string_view value) {
  if (value.empty() || value.size() > max_id_bytes) {
    return invalid(fmt::format("{} must be 1-{} bytes (got {})", field, max_id_bytes, value.size()));
  }
  return check_characters(field, value, true);
}

result<void> check_user(const user_id& u) { return check_id("user_id", u.str()); }

result<void> check_request_id(const request_id& r) { return check_id("request_id", r.str()); }

result<void> check_tier_id(const tier_id& t) {
  constexpr std::size_t max_tier_bytes = 20;
  const std::string& s = t.str();
  const auto allowed = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'; };
  if (s.empty() || s.size() > max_tier_bytes || !std::ranges::all_of(s, allowed)) {
    return invalid(
        fmt::format("tier_id must be 1-{} characters of [a-z0-9_-] (got {})", max_tier_bytes, quote_for_message(s)));
  }
  return ok();
}

result<void> check_count(std::string_view field, std::int64_t v) {
  if (v < 0 || v > max_count) {
    return invalid(fmt::format("{} must be between 0 and {} (got {})", field, max_count, v));
  }
  return ok();
}

result<void> check_text(std::string_view field, std::string_view value, std::size_t max) {
  if (value.size() > max) {
    return invalid(fmt::format("{} must be at most {} bytes (got {})", field, max, value.size()));
  }
  return check_characters(field, value, false);
}

result<void> check_label(std::string_view field, std::string_view value, std::size_t max) {
  if (value.size() > max) {
    return invalid(fmt::format("{} must be at most {} bytes (got {})", field, max, value.size()));
  }
  return check_characters(field, value, true);
}

result<void> check_context(const request_context& ctx) {
  if (ctx.ip) {
    const std::string& ip = *ctx.ip;
    if (ip.empty() || ip.size() > max_ip_bytes) {
      return invalid(fmt::format("ip must be 1-{} bytes (got {})", max_ip_bytes, ip.size()));
    }
    for (std::size_t i = 0; i < ip.size(); ++i) {
      // An address (IPv4, IPv6, with zone id) is printable ASCII without spaces.
      const auto c = static_cast<unsigned char>(ip[i]);
      if (c <= 0x20 || c >= 0x7F) {
        return invalid(
            fmt::format("ip must be printable ASCII without spaces (got {}; bad byte {})", quote_for_message(ip), i));
      }
    }
  }
  if (ctx.user_agent) {
    auto checked = check_label("user_agent", *ctx.user_agent, max_text_bytes);
    if (!checked) {
      return checked;
    }
  }
  if (ctx.id) {
    auto checked = check_request_id(*ctx.id);
    if (!checked) {
      return checked;
    }
  }
  return ok();
}

result<std::int64_t> checked_add(std::string_view field, std::int64_t a, std::int64_t b) {
  std::int64_t sum = 0;
  if (__builtin_add_overflow(a, b, &sum) || sum > max_count || sum < -max_count) {
    return invalid(fmt::format("{} must stay between -{} and {} (got {} + {})", field, max_count, max_count, a, b));
  }
  return sum;
}

}  // namespace kauri_quota::detail
