#include "validate.hpp"

#include "core/error_text.hpp"
#include "core/period.hpp"
#include "core/utf8.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace kauri_quota::detail {

namespace {

error invalid(std::string message) { return make_error(errc::invalid_argument, std::move(message)); }

/// Checks that `value` is valid UTF-8 without NUL (and, when
/// `reject_controls`, without any control character).
result<void> check_characters(std::string_view field, std::string_view value, bool reject_controls) {
  const char* problem = nullptr;
  const std::size_t stop = utf8::for_each_code_point(value, [&](char32_t cp, std::size_t) {
    if (cp == 0) {
      problem = "contains a NUL byte";
    } else if (reject_controls && utf8::is_control(cp)) {
      problem = "contains a control character";
    }
    return problem == nullptr;
  });
  if (stop == value.size()) {
    return ok();
  }
  return invalid(fmt::format("{} {} at byte {}", field, problem != nullptr ? problem : "is not valid UTF-8", stop));
}

}  // namespace

result<void> check_id(std::string_view field, std::string_view value) {
  if (value.empty() || value.size() > max_id_bytes) {
    return invalid(fmt::format("{} must be 1-{} bytes (got {})", field, max_id_bytes, value.size()));
  }
  return check_characters(field, value, true);
}

result<void> check_user(const user_id& u) { return check_id("user_id", u.str()); }

result<void> check_request_id(const request_id& r) { return check_id("request_id", r.str()); }

result<void> check_provider(std::string_view provider) {
  constexpr std::size_t max_provider_bytes = 32;
  const auto allowed = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'; };
  if (provider.empty() || provider.size() > max_provider_bytes || !std::ranges::all_of(provider, allowed)) {
    return invalid(fmt::format("provider must be 1-{} characters of [a-z0-9_-] (got {})", max_provider_bytes,
                               quote_for_message(provider)));
  }
  return ok();
}

result<void> check_transaction_id(std::string_view id) {
  constexpr std::size_t max_transaction_bytes = 128;
  const auto allowed = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == ':' || c == '-';
  };
  if (id.empty() || id.size() > max_transaction_bytes || !std::ranges::all_of(id, allowed)) {
    return invalid(fmt::format("transaction_id must be 1-{} characters of [A-Za-z0-9._:-] (got {})",
                               max_transaction_bytes, quote_for_message(id)));
  }
  return ok();
}

result<void> check_months(std::int32_t months) {
  if (months < 1 || months > 36) return invalid(fmt::format("months must be 1-36 (got {})", months));
  return ok();
}

result<void> check_currency(std::string_view currency) {
  if (currency != "XOF" && currency != "XAF") {
    return invalid(fmt::format("currency must be \"XOF\" or \"XAF\" (got {})", quote_for_message(currency)));
  }
  return ok();
}

result<void> check_zone(std::string_view zone_name) {
  BOOST_OUTCOME_TRY(zone::locate(zone_name));
  return ok();
}

result<void> check_trial_length(std::chrono::seconds length) {
  if (length < std::chrono::hours{1} || length > std::chrono::days{90}) {
    return invalid(fmt::format("trial length must be 1 hour to 90 days (got {} s)", length.count()));
  }
  return ok();
}

result<void> check_grace_period(std::chrono::seconds grace) {
  if (grace < std::chrono::seconds{0} || grace > std::chrono::days{90}) {
    return invalid(fmt::format("grace_period must be 0 to 90 days (got {} s)", grace.count()));
  }
  return ok();
}

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
  const bool overflow = __builtin_add_overflow(a, b, &sum);
  if ((overflow && b > 0) || (!overflow && sum > max_count)) {
    return error_text::count_would_exceed(field, max_count);
  }
  if (overflow || sum < -max_count) {
    return invalid(fmt::format("{} must stay between -{} and {} (got {} + {})", field, max_count, max_count, a, b));
  }
  return sum;
}

}  // namespace kauri_quota::detail
