// What an HTTP host sends for a decision or a quota read: the status, the
// Retry-After seconds, the RateLimit-Policy and RateLimit fields of
// draft-ietf-httpapi-ratelimit-headers-10, and the 429 body in the
// language the client asked for.
//
// Pure functions of their arguments (no clock, no I/O, no HTTP library):
// the host passes the instant it answers at, normally quota_service::now(),
// and copies the strings into whatever HTTP library it uses. Safe to call
// from any thread.
#pragma once

#include <kauri_quota/types.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kauri_quota {

/// The languages of the library's messages.
enum class language { en, fr };

/// "en" or "fr", the value of a Content-Language field.
const char* to_string(language l) noexcept;

/// The language an Accept-Language field value (RFC 9110 section 12.5.4)
/// prefers among English and French. A range matches a language by its
/// primary subtag ("fr-CM" and "FR" are French), "*" stands for every
/// language not named, q=0 refuses a language, and a tie goes to the range
/// listed first. English when the value is empty, malformed, or accepts
/// neither language.
language negotiate_language(std::string_view accept_language) noexcept;

/// The values of the two rate-limit fields, without their names. One
/// policy per limited quota, in this order: "daily" (messages per day, a
/// nominal window of 86400 s), "monthly" (messages per month, 2592000 s)
/// and "tokens" (tokens per month, 2592000 s, with the vendor parameter
/// kq-unit="tokens"). Unlimited quotas are omitted; a zero limit is sent
/// as q=0. Both strings are empty when every quota is unlimited: the host
/// then sends neither field.
struct rate_limit_fields {
  std::string policy;  ///< RateLimit-Policy, e.g. "daily";q=5;w=86400
  std::string state;   ///< RateLimit, e.g. "daily";r=0;t=46800
};

/// The rate-limit fields of `q` at `now`: `r` is the quota left and `t`
/// the whole seconds, rounded up, until the period of that quota rolls
/// over in the service's time zone (0 once it has).
rate_limit_fields rate_limit_fields_for(const quota_info& q, sys_time now);

/// Seconds, rounded up and at least 1, until the period that denied `d`
/// rolls over (d.resets_at); 0 when `d` admitted the request.
std::int64_t retry_after_seconds(const decision& d, sys_time now);

/// The 429 body of a denied decision: denial_payload_json() with the
/// retry_after_seconds of `now`, with `message` in `lang`, and with both
/// languages kept as `message_en` and `message_fr`.
std::string denial_body_json(const decision& d, sys_time now, language lang);

/// Everything a host sends for one answer.
struct http_answer {
  int status = 200;  ///< 200, or 429 for a denial
  /// Retry-After in delay-seconds (>= 1); set on a 429 only.
  std::optional<std::int64_t> retry_after;
  rate_limit_fields rate_limit;
  /// The language of the body's message (Content-Language of a 429).
  language content_language = language::en;
  /// The 429 body (application/json); empty on a 200, whose body the host
  /// writes itself.
  std::string body;
};

/// The answer to a try_consume or reserve decision at `now`. A request
/// admitted in shadow mode is a 200 like any other admission.
http_answer http_answer_for(const decision& d, sys_time now, std::string_view accept_language = {});

/// The answer to a quota read at `now`: a 200 with the rate-limit fields.
http_answer http_answer_for(const quota_info& q, sys_time now);

}  // namespace kauri_quota
