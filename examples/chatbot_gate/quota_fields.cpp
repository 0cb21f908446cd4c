#include "quota_fields.hpp"

#include <kauri_quota/json.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <optional>
#include <vector>

namespace kauri_gate {
namespace {

using namespace std::chrono;

std::int64_t seconds_until(kauri_quota::sys_time t, kauri_quota::sys_time now) {
  // Rounded up and at least 1: a client told "0" would retry at once.
  const auto d = t - now;
  return std::max<std::int64_t>(1, ceil<seconds>(d).count());
}

struct policy_item {
  const char* name;
  std::int64_t quota;
  std::int64_t window;
  std::int64_t remaining;
  std::int64_t reset;
  bool tokens;
};

std::vector<policy_item> items_of(const kauri_quota::quota_info& q, kauri_quota::sys_time now) {
  std::vector<policy_item> items;
  const std::int64_t day_reset = seconds_until(q.daily_resets_at, now);
  const std::int64_t month_reset = seconds_until(q.monthly_resets_at, now);
  auto remaining = [](const kauri_quota::limit& l) { return std::max<std::int64_t>(0, l.value_or(0)); };
  if (q.messages_per_day_limit)
    items.push_back(
        {"daily", *q.messages_per_day_limit, 86400, remaining(q.messages_remaining_today), day_reset, false});
  if (q.messages_per_month_limit)
    items.push_back(
        {"monthly", *q.messages_per_month_limit, 2592000, remaining(q.messages_remaining_month), month_reset, false});
  if (q.tokens_per_month_limit)
    items.push_back(
        {"tokens", *q.tokens_per_month_limit, 2592000, remaining(q.tokens_remaining_month), month_reset, true});
  return items;
}

/// "fr" when French is preferred over English by the Accept-Language value
/// (RFC 9110 §12.5.4: q-values, region subtags, "*"); "en" otherwise.
std::string_view preferred_language(std::string_view header) {
  double en = -1, fr = -1, any = -1;
  std::size_t pos = 0;
  while (pos <= header.size()) {
    std::size_t end = header.find(',', pos);
    if (end == std::string_view::npos) end = header.size();
    std::string_view item = header.substr(pos, end - pos);
    pos = end + 1;
    std::string tag;
    double weight = 1;
    std::size_t semi = item.find(';');
    for (char c : item.substr(0, semi))
      if (!std::isspace(static_cast<unsigned char>(c))) tag.push_back(static_cast<char>(std::tolower(c)));
    if (semi != std::string_view::npos) {
      std::string_view params = item.substr(semi + 1);
      auto qpos = params.find("q=");
      if (qpos != std::string_view::npos) {
        try {
          weight = std::stod(std::string(params.substr(qpos + 2)));
        } catch (...) {
          weight = 0;
        }
      }
    }
    const std::string primary = tag.substr(0, tag.find('-'));
    if (primary == "en") en = std::max(en, weight);
    if (primary == "fr") fr = std::max(fr, weight);
    if (primary == "*") any = std::max(any, weight);
    if (end == header.size()) break;
  }
  if (en < 0) en = any;
  return fr > 0 && fr > en ? "fr" : "en";
}

}  // namespace

void add_rate_limit_fields(response& r, const kauri_quota::quota_info& q, kauri_quota::sys_time now) {
  const auto items = items_of(q, now);
  if (items.empty()) return;
  // draft-ietf-httpapi-ratelimit-headers-10 §3 and §4, e.g.
  //   RateLimit-Policy: "burst";q=100;w=60,"daily";q=1000;w=86400
  //   RateLimit: "default";r=50;t=30
  // Calendar periods are not fixed windows: w is the nominal length and t
  // the exact delay to the next local midnight (or first of the month).
  std::string policy, state;
  for (const auto& i : items) {
    if (!policy.empty()) {
      policy += ", ";
      state += ", ";
    }
    policy += "\"" + std::string(i.name) + "\";q=" + std::to_string(i.quota) + ";w=" + std::to_string(i.window);
    if (i.tokens) policy += ";kq-unit=\"tokens\"";
    state += "\"" + std::string(i.name) + "\";r=" + std::to_string(i.remaining) + ";t=" + std::to_string(i.reset);
  }
  r.headers.emplace_back("RateLimit-Policy", policy);
  r.headers.emplace_back("RateLimit", state);
}

response denial_response(const kauri_quota::decision& d, std::string_view accept_language, kauri_quota::sys_time now) {
  response r;
  r.status = 429;
  auto body = nlohmann::json::parse(kauri_quota::denial_payload_json(d));
  body["message_en"] = body["message"];
  if (preferred_language(accept_language) == "fr") body["message"] = body["message_fr"];
  body["language"] = preferred_language(accept_language);
  r.body = body.dump();
  const std::int64_t retry = std::max<std::int64_t>({1, d.retry_after.count(), seconds_until(d.resets_at, now)});
  r.headers.emplace_back("Retry-After", std::to_string(retry));
  add_rate_limit_fields(r, d.quota, now);
  return r;
}

}  // namespace kauri_gate
