#include "quota_fields.hpp"

#include <kauri_quota/http_answer.hpp>

namespace kauri_gate {
namespace {

void add_fields(response& r, const kauri_quota::rate_limit_fields& f) {
  // Both empty when every quota is unlimited: neither field is sent then.
  if (f.policy.empty()) return;
  r.headers.emplace_back("RateLimit-Policy", f.policy);
  r.headers.emplace_back("RateLimit", f.state);
}

}  // namespace

void add_rate_limit_fields(response& r, const kauri_quota::quota_info& q, kauri_quota::sys_time now) {
  add_fields(r, kauri_quota::rate_limit_fields_for(q, now));
}

response denial_response(const kauri_quota::decision& d, std::string_view accept_language, kauri_quota::sys_time now) {
  const kauri_quota::http_answer a = kauri_quota::http_answer_for(d, now, accept_language);
  response r;
  r.status = a.status;
  r.body = a.body;
  if (a.retry_after) r.headers.emplace_back("Retry-After", std::to_string(*a.retry_after));
  r.headers.emplace_back("Content-Language", kauri_quota::to_string(a.content_language));
  add_fields(r, a.rate_limit);
  return r;
}

}  // namespace kauri_gate
