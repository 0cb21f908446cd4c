// What the gate sends with a decision: the draft IETF rate-limit fields on
// every chat answer, Retry-After and the localized denial body on a 429.
//
// A thin adapter from the library's HTTP answer helpers
// (<kauri_quota/http_answer.hpp>) to the gate's response, so that every
// Kauri host answers a decision alike.
#pragma once

#include "response.hpp"

#include <kauri_quota/types.hpp>

#include <string>
#include <string_view>

namespace kauri_gate {

/// Adds RateLimit-Policy and RateLimit for the limits of `q` (unlimited
/// ones omitted) as they stand at `now`.
void add_rate_limit_fields(response& r, const kauri_quota::quota_info& q, kauri_quota::sys_time now);

/// The 429 answer to a denial: Retry-After, the rate-limit fields and the
/// library's denial payload with `message` in the language Accept-Language
/// prefers (both languages stay in the body).
response denial_response(const kauri_quota::decision& d, std::string_view accept_language, kauri_quota::sys_time now);

}  // namespace kauri_gate
