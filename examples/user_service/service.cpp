#include "service.hpp"

#include "passwords.hpp"

#include "host_common/language.hpp"
#include "host_common/options.hpp"

#include <nlohmann/json.hpp>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace kauri_user_service {

namespace {

using json = nlohmann::json;
using kauri_host::send_error;
using kauri_host::send_json;
namespace kq = kauri_quota;

constexpr std::size_t min_password_chars = 8;
constexpr std::size_t max_password_bytes = 1024;
constexpr const char* bad_login = "Incorrect email or password";

// --- Answers ----------------------------------------------------------------

void unauthorized(httplib::Response& res, std::string_view detail, bool token_given) {
  // RFC 6750 §3: no error code when the request carried no token at all.
  res.set_header("WWW-Authenticate", token_given ? R"(Bearer error="invalid_token")" : "Bearer");
  send_error(res, 401, detail);
}

void unavailable(httplib::Response& res) {
  res.set_header("Retry-After", "1");
  send_error(res, 503, "Database unavailable");
}

// A library error as an HTTP answer: bad input is the client's, a database
// that cannot answer is 503, and the message of anything else stays in the
// log (its code only), never in the answer.
void send_library_error(httplib::Response& res, const kq::error& e) {
  using kq::errc;
  if (e.is(errc::unknown_user)) {
    unauthorized(res, "User not found", true);
  } else if (e.is(errc::unknown_tier)) {
    send_error(res, 404, "Tier not found");
  } else if (e.is(errc::invalid_argument)) {
    send_error(res, 422, e.message);
  } else if (e.is(errc::user_exists)) {
    send_error(res, 409, "Email already registered");
  } else if (e.is(errc::subscription_conflict)) {
    send_error(res, 409, e.message);
  } else if (e.is(errc::payment_not_found)) {
    send_error(res, 404, "Payment not found");
  } else if (e.is(errc::storage_unavailable) || e.is(errc::storage_busy) || e.is(errc::conflict) ||
             e.is(errc::io_error) || e.is(errc::corrupt) || e.is(errc::schema_mismatch)) {
    (void)std::fprintf(stderr, "database error: %s\n", kq::to_string(static_cast<errc>(e.code.value())));
    unavailable(res);
  } else {
    (void)std::fprintf(stderr, "library error: %s\n", kq::to_string(static_cast<errc>(e.code.value())));
    send_error(res, 500, "Internal server error");
  }
}

// --- Input ------------------------------------------------------------------

/// The body as a JSON object, or an answer already set (400 / 422).
std::optional<json> json_body(const httplib::Request& req, httplib::Response& res) {
  json body = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) {
    send_error(res, 400, "Request body is not valid JSON (UTF-8)");
    return std::nullopt;
  }
  if (!body.is_object()) {
    send_error(res, 422, "Request body must be a JSON object");
    return std::nullopt;
  }
  return body;
}

/// The string member `name`, or an answer already set (422).
std::optional<std::string> string_field(const json& body, const char* name, httplib::Response& res) {
  const auto it = body.find(name);
  if (it == body.end() || it->is_null()) {
    send_error(res, 422, std::string("Field required: ") + name);
    return std::nullopt;
  }
  if (!it->is_string()) {
    send_error(res, 422, std::string("Field must be a string: ") + name);
    return std::nullopt;
  }
  return it->get<std::string>();
}

bool atext(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
         std::string_view("!#$%&'*+/=?^_`{|}~.-").find(c) != std::string_view::npos;
}

/// A plain ASCII address: local@domain, the domain with a dot, no control
/// characters, no spaces, at most 254 bytes. Returned lower-cased.
std::optional<std::string> normalise_email(std::string_view s) {
  if (s.size() < 3 || s.size() > 254) return std::nullopt;
  const std::size_t at = s.find('@');
  if (at == std::string_view::npos || at == 0 || at > 64 || s.find('@', at + 1) != std::string_view::npos) {
    return std::nullopt;
  }
  const std::string_view local = s.substr(0, at);
  const std::string_view domain = s.substr(at + 1);
  for (const char c : local) {
    if (!atext(c)) return std::nullopt;
  }
  if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos) return std::nullopt;
  if (domain.find('.') == std::string_view::npos || domain.front() == '.' || domain.back() == '.' ||
      domain.find("..") != std::string_view::npos) {
    return std::nullopt;
  }
  std::size_t label = 0;
  for (const char c : domain) {
    if (c == '.') {
      label = 0;
      continue;
    }
    if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '-') return std::nullopt;
    if (++label > 63) return std::nullopt;
  }
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

/// Characters (UTF-8 code points) in `s`; the JSON parser has already
/// checked that it is valid UTF-8.
std::size_t utf8_length(std::string_view s) {
  std::size_t n = 0;
  for (const char c : s) n += (static_cast<unsigned char>(c) & 0xc0) != 0x80 ? 1 : 0;
  return n;
}

// --- Authentication ----------------------------------------------------------

/// The user of a valid bearer token, or an answer already set (401).
std::optional<kq::user_id> authenticate(const service_context& ctx, const httplib::Request& req,
                                        httplib::Response& res) {
  if (!req.has_header("Authorization")) {
    unauthorized(res, "Not authenticated", false);
    return std::nullopt;
  }
  const std::string header = req.get_header_value("Authorization");
  // The scheme is case-insensitive (RFC 9110 §11.1).
  constexpr std::string_view scheme = "bearer ";
  bool is_bearer = header.size() > scheme.size();
  for (std::size_t i = 0; is_bearer && i < scheme.size(); ++i) {
    is_bearer = std::tolower(static_cast<unsigned char>(header[i])) == scheme[i];
  }
  if (!is_bearer) {
    unauthorized(res, "Not authenticated", false);
    return std::nullopt;
  }
  const kauri_host::jwt_verification v =
      ctx.tokens->verify(std::string_view(header).substr(scheme.size()), static_cast<std::int64_t>(std::time(nullptr)));
  if (!v) {
    unauthorized(res, "Could not validate credentials", true);
    return std::nullopt;
  }
  return kq::user_id{v.claims.sub};
}

// --- Endpoints ----------------------------------------------------------------

json user_summary(const kq::subscription& s) {
  return {{"user_id", s.user.str()},
          {"email", s.email ? json(*s.email) : json(nullptr)},
          {"subscription_tier", s.tier.str()},
          {"subscription_status", kq::to_string(s.status)}};
}

void do_register(const service_context& ctx, const httplib::Request& req, httplib::Response& res) {
  const std::optional<json> body = json_body(req, res);
  if (!body) return;
  const std::optional<std::string> email_in = string_field(*body, "email", res);
  if (!email_in) return;
  const std::optional<std::string> password = string_field(*body, "password", res);
  if (!password) return;
  const std::optional<std::string> email = normalise_email(*email_in);
  if (!email) return send_error(res, 422, "Invalid email address");
  if (utf8_length(*password) < min_password_chars) {
    return send_error(res, 422, "Password must be at least 8 characters");
  }
  if (password->size() > max_password_bytes) return send_error(res, 422, "Password must be at most 1024 bytes");

  credential existing;
  store_status s = ctx.credentials->find_by_email(*email, existing);
  if (s == store_status::unavailable) return unavailable(res);
  if (s == store_status::ok) {
    // A registration that died between its two steps leaves a credential
    // without a user; the address is then free again.
    const kq::result<kq::subscription> sub = ctx.quota->get_subscription(kq::user_id{existing.user_id});
    if (sub) return send_error(res, 409, "Email already registered");
    if (!sub.error().is(kq::errc::unknown_user)) return send_library_error(res, sub.error());
    if (ctx.credentials->remove(existing.user_id) == store_status::unavailable) return unavailable(res);
  }
  s = ctx.credentials->find_original(*email, existing);
  if (s == store_status::unavailable) return unavailable(res);
  if (s == store_status::ok) return send_error(res, 409, "Email already registered");

  const std::optional<std::string> hash = hash_password(*password);
  if (!hash) return send_error(res, 503, "Server busy");
  const credential c{random_uuid(), *email, *hash};
  s = ctx.credentials->insert(c);
  if (s == store_status::exists) return send_error(res, 409, "Email already registered");
  if (s != store_status::ok) return unavailable(res);
  // The user row and its default subscription: one library transaction.
  const kq::result<kq::subscription> sub = ctx.quota->create_user(kq::user_id{c.user_id}, *email);
  if (!sub) {
    (void)ctx.credentials->remove(c.user_id);
    return send_library_error(res, sub.error());
  }
  send_json(res, 201, kq::to_json(sub.value()));
}

void do_login(const service_context& ctx, const httplib::Request& req, httplib::Response& res) {
  const std::optional<json> body = json_body(req, res);
  if (!body) return;
  const std::optional<std::string> email_in = string_field(*body, "email", res);
  if (!email_in) return;
  const std::optional<std::string> password = string_field(*body, "password", res);
  if (!password) return;
  if (password->size() > max_password_bytes) return unauthorized(res, bad_login, false);
  const std::optional<std::string> email = normalise_email(*email_in);
  if (!email) {
    burn_verification(*password);
    return unauthorized(res, bad_login, false);
  }

  credential c;
  store_status s = ctx.credentials->find_by_email(*email, c);
  if (s == store_status::unavailable) return unavailable(res);
  if (s == store_status::ok) {
    if (!verify_password(c.password_hash, *password)) return unauthorized(res, bad_login, false);
    if (needs_rehash(c.password_hash)) {
      if (const std::optional<std::string> h = hash_password(*password))
        (void)ctx.credentials->update_hash(c.user_id, *h);
    }
  } else {
    // An original user: its bcrypt hash in users.hashed_password is checked
    // once, then replaced by an argon2id credential of the service's own.
    s = ctx.credentials->find_original(*email, c);
    if (s == store_status::unavailable) return unavailable(res);
    if (s != store_status::ok || !verify_bcrypt(c.password_hash, *password)) {
      if (s != store_status::ok) burn_verification(*password);
      return unauthorized(res, bad_login, false);
    }
    const std::optional<std::string> h = hash_password(*password);
    if (!h) return send_error(res, 503, "Server busy");
    c.email = *email;
    c.password_hash = *h;
    s = ctx.credentials->insert(c);
    if (s == store_status::unavailable) return unavailable(res);
    // exists: a concurrent first login already adopted it.
  }

  const kq::result<kq::subscription> sub = ctx.quota->get_subscription(kq::user_id{c.user_id});
  if (!sub) {
    if (sub.error().is(kq::errc::unknown_user)) return unauthorized(res, bad_login, false);
    return send_library_error(res, sub.error());
  }
  const std::string token = ctx.tokens->mint(c.user_id, static_cast<std::int64_t>(std::time(nullptr)), ctx.token_ttl);
  res.set_header("Cache-Control", "no-store");
  send_json(res, 200,
            json{{"access_token", token},
                 {"token_type", "bearer"},
                 {"expires_in", ctx.token_ttl.count()},
                 {"user", user_summary(sub.value())}}
                .dump());
}

void do_tiers(const service_context& ctx, const httplib::Request&, httplib::Response& res) {
  const kq::result<std::vector<kq::tier>> tiers = ctx.quota->get_all_tiers(/*visible_only=*/true);
  if (!tiers) return send_library_error(res, tiers.error());
  send_json(res, 200, kq::to_json(tiers.value()));
}

bool plausible_tier_id(std::string_view id) {
  if (id.empty() || id.size() > 20) return false;
  for (const char c : id) {
    if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '_' && c != '-') return false;
  }
  return true;
}

/// A visible tier, or an answer already set (404 for an unknown or hidden tier).
std::optional<kq::tier> visible_tier(const service_context& ctx, const std::string& id, httplib::Response& res) {
  if (!plausible_tier_id(id)) {
    send_error(res, 404, "Tier not found");
    return std::nullopt;
  }
  kq::result<kq::tier> t = ctx.quota->get_tier_config(kq::tier_id{id});
  if (!t) {
    // A tier id the library calls invalid names no tier either.
    if (t.error().is(kq::errc::invalid_argument)) {
      send_error(res, 404, "Tier not found");
      return std::nullopt;
    }
    send_library_error(res, t.error());
    return std::nullopt;
  }
  if (!t.value().is_visible) {
    send_error(res, 404, "Tier not found");
    return std::nullopt;
  }
  return std::move(t).value();
}

void do_tier(const service_context& ctx, const httplib::Request& req, httplib::Response& res) {
  const std::optional<kq::tier> t = visible_tier(ctx, req.matches[1].str(), res);
  if (t) send_json(res, 200, kq::to_json(*t));
}

void do_quota(const service_context& ctx, const httplib::Request& req, httplib::Response& res) {
  const std::optional<kq::user_id> user = authenticate(ctx, req, res);
  if (!user) return;
  const kq::result<kq::quota_info> q = ctx.quota->get_user_quota_info(*user);
  if (!q) return send_library_error(res, q.error());
  res.set_header("Cache-Control", "no-store");
  send_json(res, 200, kq::to_json(q.value()));
}

void do_usage_stats(const service_context& ctx, const httplib::Request& req, httplib::Response& res) {
  const std::optional<kq::user_id> user = authenticate(ctx, req, res);
  if (!user) return;
  const kq::result<kq::usage_stats> s = ctx.quota->get_usage_stats(*user);
  if (!s) return send_library_error(res, s.error());
  res.set_header("Cache-Control", "no-store");
  send_json(res, 200, kq::to_json(s.value()));
}

kq::request_context context_of(const httplib::Request& req) {
  kq::request_context rc;
  rc.ip = req.remote_addr;
  if (req.has_header("User-Agent")) rc.user_agent = req.get_header_value("User-Agent").substr(0, 500);
  return rc;
}

json time_or_null(const std::optional<kq::sys_time>& t) { return t ? json(kq::format_time(*t)) : json(nullptr); }

/// The subscription with its lifecycle: what the account page shows.
json subscription_json(const service_context& ctx, const kq::subscription& s) {
  return {{"user_id", s.user.str()},
          {"email", s.email ? json(*s.email) : json(nullptr)},
          {"subscription_tier", s.tier.str()},
          {"subscription_status", kq::to_string(s.status)},
          {"subscription_start_date", time_or_null(s.start_date)},
          {"subscription_end_date", time_or_null(s.end_date)},
          {"trial_end_date", time_or_null(s.trial_end_date)},
          {"scheduled_tier", s.scheduled_tier ? json(s.scheduled_tier->str()) : json(nullptr)},
          {"scheduled_end_date", time_or_null(s.scheduled_end_date)},
          {"cancel_at_period_end", s.cancel_at_period_end},
          {"time_zone", s.time_zone ? json(*s.time_zone) : json(nullptr)},
          {"service_time_zone", ctx.quota->options().time_zone},
          {"default_tier", ctx.quota->options().default_tier.str()},
          {"grace_period_seconds", ctx.quota->options().grace_period.count()},
          {"payments_enabled", ctx.cinetpay != nullptr},
          {"currency", ctx.quota->options().currency}};
}

json payment_json(const kq::payment& p) {
  return {{"provider", p.provider},
          {"transaction_id", p.transaction_id},
          {"tier", p.tier.str()},
          {"months", p.months},
          {"amount", p.amount},
          {"currency", p.currency},
          {"status", kq::to_string(p.status)},
          {"effect", kq::to_string(p.effect)},
          {"period_start", time_or_null(p.period_start)},
          {"period_end", time_or_null(p.period_end)},
          {"failure_reason", p.failure_reason ? json(*p.failure_reason) : json(nullptr)},
          {"created_at", kq::format_time(p.created_at)},
          {"updated_at", kq::format_time(p.updated_at)}};
}

constexpr const char* cinetpay_provider = "cinetpay";
constexpr int max_months = 36;

/// Opens a pending payment of `months` of `t` and creates it at CinetPay;
/// answers `status` with where to send the customer, or 502 (the payment
/// is then marked failed) when CinetPay does not create it.
void start_checkout(const service_context& ctx, const kq::user_id& user, const kq::tier& t, int months,
                    const httplib::Request& req, httplib::Response& res, int status) {
  if (t.price_fcfa <= 0) return send_error(res, 422, "Tier " + t.id.str() + " is not sold");
  // CinetPay takes integer amounts in multiples of 5 only.
  if ((t.price_fcfa * months) % 5 != 0) {
    return send_error(res, 422, "The amount must be a multiple of 5 for CinetPay");
  }
  kq::payment order;
  order.provider = cinetpay_provider;
  order.transaction_id = kauri_user_service::new_transaction_id();
  if (order.transaction_id.empty()) return send_error(res, 503, "Server busy");
  order.user = user;
  order.tier = t.id;
  order.months = months;
  const kq::result<kq::payment> opened = ctx.quota->open_payment(order);
  if (!opened) return send_library_error(res, opened.error());
  const kq::payment& p = opened.value();

  const std::string_view lang = kauri_host::choose_language(req.get_header_value("Accept-Language"));
  init_request ir;
  ir.transaction_id = p.transaction_id;
  ir.amount = p.amount;
  ir.currency = p.currency;
  ir.description = "Kauri " + t.name + " " + std::to_string(months) + (months == 1 ? " month" : " months");
  ir.lang = std::string(lang);
  ir.metadata = user.str();
  const init_answer a = ctx.cinetpay->initialise(ir);
  if (!a.ok) {
    (void)std::fprintf(stderr, "cinetpay: initialisation of %s failed: %s\n", p.transaction_id.c_str(),
                       a.detail.c_str());
    const kq::result<kq::payment> failed = ctx.quota->fail_payment(
        cinetpay_provider, p.transaction_id, ("initialisation failed: " + a.detail).substr(0, 500));
    if (!failed) {
      (void)std::fprintf(stderr, "cinetpay: cannot mark %s failed: %s\n", p.transaction_id.c_str(),
                         kq::to_string(static_cast<kq::errc>(failed.error().code.value())));
    }
    return send_error(res, 502, "The payment provider did not create the payment: " + a.detail);
  }
  res.set_header("Cache-Control", "no-store");
  send_json(res, status,
            json{{"transaction_id", p.transaction_id},
                 {"payment_url", a.payment_url},
                 {"amount", p.amount},
                 {"currency", p.currency},
                 {"tier", p.tier.str()},
                 {"months", p.months},
                 {"status", kq::to_string(p.status)}}
                .dump());
}

/// `months` of the body: absent means 1; else an integer 1-36, or an
/// answer already set (422).
std::optional<int> months_field(const json& body, httplib::Response& res) {
  const auto it = body.find("months");
  if (it == body.end() || it->is_null()) return 1;
  if (!it->is_number_integer() || it->get<std::int64_t>() < 1 || it->get<std::int64_t>() > max_months) {
    send_error(res, 422, "months must be an integer from 1 to 36");
    return std::nullopt;
  }
  return static_cast<int>(it->get<std::int64_t>());
}

void do_checkout(const service_context& ctx, const httplib::Request& req, httplib::Response& res) {
  const std::optional<kq::user_id> user = authenticate(ctx, req, res);
  if (!user) return;
  if (ctx.cinetpay == nullptr) return send_error(res, 404, "Payments are not enabled on this service");
  const std::optional<json> body = json_body(req, res);
  if (!body) return;
  const std::optional<std::string> target = string_field(*body, "tier", res);
  if (!target) return;
  const std::optional<int> months = months_field(*body, res);
  if (!months) return;
  const kq::result<kq::subscription> before = ctx.quota->get_subscription(*user);
  if (!before) return send_library_error(res, before.error());
  const std::optional<kq::tier> t = visible_tier(ctx, *target, res);
  if (!t) return;
  start_checkout(ctx, *user, *t, *months, req, res, 201);
}

void do_upgrade(const service_context& ctx, const httplib::Request& req, httplib::Response& res) {
  const std::optional<kq::user_id> user = authenticate(ctx, req, res);
  if (!user) return;
  const std::optional<json> body = json_body(req, res);
  if (!body) return;
  const std::optional<std::string> target = string_field(*body, "target_tier", res);
  if (!target) return;
  // The user must exist before anything else is said about the tier.
  const kq::result<kq::subscription> before = ctx.quota->get_subscription(*user);
  if (!before) return send_library_error(res, before.error());
  const std::optional<kq::tier> t = visible_tier(ctx, *target, res);
  if (!t) return;
  const kq::request_context rc = context_of(req);
  if (ctx.cinetpay != nullptr) {
    // With payments on, a paid tier is bought, never granted: the answer
    // is a checkout (202), and the tier changes when CinetPay confirms.
    if (t->price_fcfa > 0) return start_checkout(ctx, *user, *t, 1, req, res, 202);
    // Back to the default tier: the paid period is kept to its end. Without
    // a paid period running (a trial, no end date) it applies at once below.
    if (t->id == ctx.quota->options().default_tier) {
      const kq::result<kq::subscription> c = ctx.quota->cancel_at_period_end(*user, rc);
      if (c) {
        json out = subscription_json(ctx, c.value());
        out["success"] = true;
        out["message"] = "The subscription ends at the end of the paid period";
        return send_json(res, 200, out.dump());
      }
      if (!c.error().is(kq::errc::subscription_conflict)) return send_library_error(res, c.error());
    }
  }
  const kq::result<kq::upgrade_result> up = ctx.quota->upgrade_subscription(*user, t->id, rc);
  if (!up) return send_library_error(res, up.error());
  // The spec's SubscriptionUpgradeResponse: success, message, the new tier
  // and status; then the whole subscription as the library writes it.
  json out = json::parse(kq::to_json(up.value()));
  out["subscription_tier"] = up.value().sub.tier.str();
  out["subscription_status"] = kq::to_string(up.value().sub.status);
  send_json(res, 200, out.dump());
}

void do_subscription(const service_context& ctx, const httplib::Request& req, httplib::Response& res) {
  const std::optional<kq::user_id> user = authenticate(ctx, req, res);
  if (!user) return;
  const kq::result<kq::subscription> s = ctx.quota->get_subscription(*user);
  if (!s) return send_library_error(res, s.error());
  res.set_header("Cache-Control", "no-store");
  send_json(res, 200, subscription_json(ctx, s.value()).dump());
}

void do_payments(const service_context& ctx, const httplib::Request& req, httplib::Response& res) {
  const std::optional<kq::user_id> user = authenticate(ctx, req, res);
  if (!user) return;
  const kq::result<std::vector<kq::payment>> list = ctx.quota->get_payments(*user);
  if (!list) return send_library_error(res, list.error());
  json out = json::array();
  for (const kq::payment& p : list.value()) out.push_back(payment_json(p));
  res.set_header("Cache-Control", "no-store");
  send_json(res, 200, out.dump());
}

void do_usage_history(const service_context& ctx, const httplib::Request& req, httplib::Response& res) {
  const std::optional<kq::user_id> user = authenticate(ctx, req, res);
  if (!user) return;
  long long days = 30;
  if (req.has_param("days")) {
    const std::optional<long long> d = kauri_host::parse_integer(req.get_param_value("days"), 1, 400);
    if (!d) return send_error(res, 422, "days must be an integer from 1 to 400");
    days = *d;
  }
  // Today in the user's own zone (the service's when it has none): the
  // quota's usage date says which day counts now.
  const kq::result<kq::quota_info> q = ctx.quota->get_user_quota_info(*user);
  if (!q) return send_library_error(res, q.error());
  const kq::local_date to = q.value().usage_date;
  const kq::local_date from{std::chrono::sys_days{to} - std::chrono::days{days - 1}};
  const kq::result<std::vector<kq::day_usage>> h = ctx.quota->get_usage_history(*user, from, to);
  if (!h) return send_library_error(res, h.error());
  json list = json::array();
  for (const kq::day_usage& d : h.value()) {
    list.push_back({{"date", kq::format_date(d.day)}, {"messages", d.messages}, {"tokens", d.tokens}});
  }
  res.set_header("Cache-Control", "no-store");
  send_json(res, 200, json{{"from", kq::format_date(from)}, {"to", kq::format_date(to)}, {"days", list}}.dump());
}

void log_notify(const std::string& transaction_id, const std::string& what) {
  // The id comes from the request: only a plausible one reaches the log.
  bool plain = !transaction_id.empty() && transaction_id.size() <= 128;
  for (const char c : transaction_id) {
    plain = plain && (std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '_' || c == ':' || c == '-');
  }
  (void)std::fprintf(stderr, "cinetpay notify %s: %s\n", plain ? transaction_id.c_str() : "(malformed id)",
                     what.c_str());
}

/// The library could not answer: CinetPay is told to notify again.
void notify_later(httplib::Response& res) {
  res.set_header("Retry-After", "60");
  send_error(res, 503, "Try again later");
}

bool storage_trouble(const kq::error& e) {
  using kq::errc;
  return e.is(errc::storage_unavailable) || e.is(errc::storage_busy) || e.is(errc::conflict) || e.is(errc::io_error);
}

/// A provider's message as a stored failure reason: printable ASCII only
/// (anything else becomes '?'), at most 500 bytes.
std::string printable_reason(std::string text) {
  if (text.size() > 500) text.resize(500);
  for (char& c : text) {
    if (c < 0x20 || c > 0x7E) c = '?';
  }
  return text;
}

void notify_received(httplib::Response& res) { send_json(res, 200, R"({"status":"received"})"); }

// CinetPay's notification: verified, then confirmed with the check API;
// only the check's ACCEPTED with the stored amount and currency applies the
// payment. Every outcome but a bad token (401) and a check or database
// that cannot answer (503, so that CinetPay notifies again) is a 200: a
// repeat changes nothing, and the library's idempotency on the transaction
// id makes concurrent repeats apply it once.
void do_notify(const service_context& ctx, const httplib::Request& req, httplib::Response& res) {
  if (ctx.cinetpay == nullptr) return send_error(res, 404, "Payments are not enabled on this service");
  std::map<std::string, std::string> form;
  // A body that does not decode cannot carry a valid token either.
  if (!parse_form(req.body, form)) return send_error(res, 401, "Invalid notification token");
  const std::string given = req.get_header_value("x-token");
  if (given.empty() || !notification_token_valid(ctx.cinetpay->config().secret_key, form, given)) {
    (void)std::fprintf(stderr, "cinetpay notify: bad or missing x-token; ignored\n");
    return send_error(res, 401, "Invalid notification token");
  }
  const std::string id = form["cpm_trans_id"];
  const kq::result<kq::payment> stored = ctx.quota->get_payment(cinetpay_provider, id);
  if (!stored) {
    if (storage_trouble(stored.error())) return notify_later(res);
    log_notify(id, "unknown transaction; ignored");
    return notify_received(res);
  }
  const kq::payment& p = stored.value();
  // Applied is final. A refused payment is asked about again: CinetPay
  // notifies every status change, and a later confirmation supersedes a
  // refusal (the library applies a failed order that is then confirmed).
  if (p.status == kq::payment_status::applied) return notify_received(res);

  const check_answer check = ctx.cinetpay->check(id);
  switch (check.verdict) {
    case check_verdict::unreachable:
      log_notify(id, "the check API did not answer (" + check.message + "); CinetPay will notify again");
      return notify_later(res);
    case check_verdict::waiting:
      log_notify(id, "not final yet: " + check.message);
      return notify_received(res);
    case check_verdict::refused: {
      const kq::result<kq::payment> failed =
          ctx.quota->fail_payment(cinetpay_provider, id, printable_reason("refused: " + check.message));
      if (!failed && storage_trouble(failed.error())) return notify_later(res);
      log_notify(id, failed ? "refused: " + check.message : std::string("refused, but it was applied already"));
      return notify_received(res);
    }
    case check_verdict::accepted:
      break;
  }
  if (!check.amount || *check.amount != p.amount || check.currency != p.currency) {
    log_notify(id, "the check says " + (check.amount ? std::to_string(*check.amount) : std::string("no amount")) + " " +
                       check.currency + ", the order is " + std::to_string(p.amount) + " " + p.currency +
                       "; not applied");
    return notify_received(res);
  }
  const kq::result<kq::payment_outcome> applied = ctx.quota->apply_payment(p);
  if (!applied) {
    if (storage_trouble(applied.error())) return notify_later(res);
    log_notify(id, std::string("not applied: ") + kq::to_string(static_cast<kq::errc>(applied.error().code.value())) +
                       " " + applied.error().message);
    return notify_received(res);
  }
  log_notify(id, applied.value().replayed ? "already applied" : "applied");
  notify_received(res);
}

void do_healthz(const service_context& ctx, const httplib::Request&, httplib::Response& res) {
  const bool db_ok = ctx.quota->store().schema_version().has_value() && ctx.credentials->ping() == store_status::ok;
  res.set_header("Cache-Control", "no-store");
  if (!db_ok) return unavailable(res);
  send_json(res, 200, R"({"status":"ok"})");
}

void do_page(const service_context& ctx, const char* asset, const httplib::Request& req, httplib::Response& res) {
  const std::string_view lang = kauri_host::choose_language(req.get_header_value("Accept-Language"));
  if (!kauri_host::serve_asset(res, *ctx.assets, asset, lang)) send_error(res, 404, "Not found");
}

}  // namespace

void register_routes(kauri_host::http_host& host, const service_context& ctx) {
  const service_context* c = &ctx;
  using kauri_host::http_host;
  const auto bind = [c](void (*f)(const service_context&, const httplib::Request&, httplib::Response&)) {
    return [c, f](const httplib::Request& req, httplib::Response& res) { f(*c, req, res); };
  };
  host.post("/api/v1/auth/register", "/api/v1/auth/register", bind(do_register));
  host.post("/api/v1/auth/login", "/api/v1/auth/login", bind(do_login));
  host.get("/api/v1/subscription/tiers", "/api/v1/subscription/tiers", bind(do_tiers));
  host.get("/api/v1/subscription/tier/{tier_id}", "/api/v1/subscription/tier/([^/]+)", bind(do_tier));
  host.get("/api/v1/subscription/quota", "/api/v1/subscription/quota", bind(do_quota));
  host.post("/api/v1/subscription/upgrade", "/api/v1/subscription/upgrade", bind(do_upgrade));
  host.get("/api/v1/subscription/usage/stats", "/api/v1/subscription/usage/stats", bind(do_usage_stats));
  host.get("/api/v1/subscription", "/api/v1/subscription", bind(do_subscription));
  host.get("/api/v1/usage/history", "/api/v1/usage/history", bind(do_usage_history));
  host.get("/api/v1/payments", "/api/v1/payments", bind(do_payments));
  host.post("/api/v1/payments/checkout", "/api/v1/payments/checkout", bind(do_checkout));
  // CinetPay checks that the notify_url answers GET (no data) with 200.
  host.get("/api/v1/payments/cinetpay/notify", "/api/v1/payments/cinetpay/notify",
           [](const httplib::Request&, httplib::Response& res) { send_json(res, 200, R"({"status":"ok"})"); });
  host.post("/api/v1/payments/cinetpay/notify", "/api/v1/payments/cinetpay/notify", bind(do_notify));
  host.get("/healthz", "/healthz", bind(do_healthz));
  kauri_host::http_host* h = &host;
  host.get("/metrics", "/metrics", [c, h](const httplib::Request&, httplib::Response& res) {
    std::string text = kauri_quota::to_prometheus(c->quota->metrics());
    text += h->metrics().to_prometheus();
    res.set_header("Cache-Control", "no-store");
    res.status = 200;
    res.set_content(std::move(text), "text/plain; version=0.0.4; charset=utf-8");
  });
  host.get("/", "/",
           [c](const httplib::Request& req, httplib::Response& res) { do_page(*c, "pricing.html", req, res); });
  host.get("/account", "/account",
           [c](const httplib::Request& req, httplib::Response& res) { do_page(*c, "account.html", req, res); });
  host.get("/static/{name}", "/static/([A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)*)",
           [c](const httplib::Request& req, httplib::Response& res) {
             const std::string name = req.matches[1].str();
             // No "." or ".." segments (the bundle has none, but say 404 plainly).
             if (name.find("..") != std::string::npos || name.front() == '.') return send_error(res, 404, "Not found");
             do_page(*c, name.c_str(), req, res);
           });
}

}  // namespace kauri_user_service
