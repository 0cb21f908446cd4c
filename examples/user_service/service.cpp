#include "service.hpp"

#include "passwords.hpp"

#include "host_common/language.hpp"

#include <nlohmann/json.hpp>

#include <cctype>
#include <cstdio>
#include <ctime>
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
  if (!visible_tier(ctx, *target, res)) return;
  kq::request_context rc;
  rc.ip = req.remote_addr;
  if (req.has_header("User-Agent")) rc.user_agent = req.get_header_value("User-Agent").substr(0, 500);
  const kq::result<kq::upgrade_result> up = ctx.quota->upgrade_subscription(*user, kq::tier_id{*target}, rc);
  if (!up) return send_library_error(res, up.error());
  // The spec's SubscriptionUpgradeResponse: success, message, the new tier
  // and status; then the whole subscription as the library writes it.
  json out = json::parse(kq::to_json(up.value()));
  out["subscription_tier"] = up.value().sub.tier.str();
  out["subscription_status"] = kq::to_string(up.value().sub.status);
  send_json(res, 200, out.dump());
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
