// kauri-chat-gate: the piece of the chatbot that the quota exists for.
//
//   POST /api/v1/chat      reserve -> generate -> commit (200) / release (502); 429 on a denial
//   POST /api/v1/auth/login  forwarded to the user service, so the chat page logs in same-origin
//   GET  /chat, /static/*  the chat page (embedded, English and French)
//   GET  /api/v1/chat/quota   the caller's quota, with the RateLimit fields (the page's first view)
//   GET  /api/v1/chat/config  what the page needs to know (the pricing page's address)
//   GET  /metrics, /healthz
//
// Tokens are the user service's (HS256, same secret file). A sweeper
// thread settles abandoned reservations and prunes request ids.
#include "chat_gate.hpp"
#include "generator.hpp"
#include "http_url.hpp"
#include "sweeper.hpp"

#include "host_common/http_host.hpp"
#include "host_common/jwt.hpp"
#include "host_common/language.hpp"
#include "host_common/options.hpp"
#include "host_common/secret.hpp"

#include <kauri_quota/kauri_quota.hpp>

#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

extern const kauri_host::asset_bundle chat_gate_web;

namespace {

namespace kq = kauri_quota;
namespace kh = kauri_host;
using kauri_gate::response;

const std::vector<kh::option_spec> specs = {
    {"db", "KAURI_QUOTA_DB", true, "sqlite:kauri_quota.db", "storage URL (sqlite:PATH, postgresql://...)"},
    {"listen", "KAURI_CHAT_GATE_LISTEN", true, "127.0.0.1:8081", "HOST:PORT to serve on (port 0: any free port)"},
    {"tz", "KAURI_QUOTA_TZ", true, "UTC", "IANA time zone of the quota days and months"},
    {"jwt-secret-file", "KAURI_JWT_SECRET_FILE", true, "", "the user service's token secret (>= 32 bytes)"},
    {"threads", "KAURI_CHAT_GATE_THREADS", true, "8", "HTTP worker threads (1-256)"},
    {"migrate", "KAURI_CHAT_GATE_MIGRATE", false, "", "apply pending schema migrations at start"},
    {"shadow", "KAURI_CHAT_GATE_SHADOW", false, "", "compute and audit denials but admit every request"},
    {"deny-cache-ttl", "KAURI_CHAT_GATE_DENY_CACHE_TTL", true, "60s",
     "answer a denied user from memory this long (0: off)"},
    {"generator", "KAURI_CHAT_GATE_GENERATOR", true, "", "stub or upstream (default: upstream when --upstream is set)"},
    {"upstream", "KAURI_CHAT_GATE_UPSTREAM", true, "", "OpenAI-compatible base URL (POST BASE/v1/chat/completions)"},
    {"upstream-model", "KAURI_CHAT_GATE_UPSTREAM_MODEL", true, "kauri", "model name sent upstream"},
    {"upstream-key-file", "KAURI_CHAT_GATE_UPSTREAM_KEY_FILE", true, "", "file holding the upstream's API key"},
    {"upstream-timeout", "KAURI_CHAT_GATE_UPSTREAM_TIMEOUT", true, "30s", "longest wait for the upstream's answer"},
    {"stub-latency", "KAURI_CHAT_GATE_STUB_LATENCY", true, "0ms", "stub: time per reply (e.g. 50ms, 1s)"},
    {"stub-tokens", "KAURI_CHAT_GATE_STUB_TOKENS", true, "16", "stub: completion tokens per reply"},
    {"stub-failure-rate", "KAURI_CHAT_GATE_STUB_FAILURE_RATE", true, "0", "stub: fraction of replies that fail (0-1)"},
    {"default-max-tokens", "KAURI_CHAT_GATE_DEFAULT_MAX_TOKENS", true, "512",
     "estimate when a request has no max_tokens"},
    {"sweep-interval", "KAURI_CHAT_GATE_SWEEP_INTERVAL", true, "60s",
     "period of the reservation sweeper (e.g. 500ms, 60s)"},
    {"reservation-ttl", "KAURI_CHAT_GATE_RESERVATION_TTL", true, "300s",
     "an unsettled reservation is settled at its estimate after this"},
    {"request-id-ttl", "KAURI_CHAT_GATE_REQUEST_ID_TTL", true, "7d", "how long an Idempotency-Key is remembered"},
    {"grace-period", "KAURI_QUOTA_GRACE_PERIOD", true, "3d",
     "a subscription past its end keeps its tier this long (past_due), then expires (0-90d)"},
    {"user-service-url", "KAURI_USER_SERVICE_URL", true, "", "the user service (login, pricing page)"},
};

/// "250ms" or a kauri_host duration ("2s", "1m"); nullopt when malformed.
std::optional<std::chrono::milliseconds> parse_millis(const std::string& text, bool allow_zero) {
  if (text.size() > 2 && text.compare(text.size() - 2, 2, "ms") == 0) {
    auto n = kh::parse_integer(std::string_view(text).substr(0, text.size() - 2), allow_zero ? 0 : 1, 3600000);
    if (!n) return std::nullopt;
    return std::chrono::milliseconds(*n);
  }
  if (allow_zero && text == "0") return std::chrono::milliseconds(0);
  auto d = kh::parse_duration(text);
  if (!d) return std::nullopt;
  return std::chrono::duration_cast<std::chrono::milliseconds>(*d);
}

/// An API key file: its first line without the line end (1-4096 bytes of
/// visible ASCII, as it goes into an Authorization header), or nullopt.
/// Unlike the token secret, the length is the provider's business.
std::optional<std::string> read_key_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string key;
  if (!in || !std::getline(in, key)) return std::nullopt;
  if (!key.empty() && key.back() == '\r') key.pop_back();
  if (key.empty() || key.size() > 4096) return std::nullopt;
  for (char c : key)
    if (c < 0x21 || c > 0x7E) return std::nullopt;
  return key;
}

int usage_error(const std::string& message) {
  std::cerr << "error: " << message << "\n" << kh::usage_text("kauri-chat-gate", specs);
  return 2;
}

/// The bearer token of the request, or empty.
std::string bearer_token(const httplib::Request& req) {
  const std::string auth = req.get_header_value("Authorization");
  if (auth.size() < 7) return {};
  std::string scheme = auth.substr(0, 7);
  for (auto& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (scheme != "bearer ") return {};
  std::string token = auth.substr(7);
  while (!token.empty() && token.front() == ' ') token.erase(token.begin());
  return token;
}

void send(httplib::Response& res, const response& r) {
  for (const auto& [name, value] : r.headers) res.set_header(name.c_str(), value);
  kh::send_json(res, r.status, r.body);
}

std::string gauge(const char* name, const char* help, const char* type, double value) {
  std::string out = std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name + " ";
  char buf[64];
  (void)std::snprintf(buf, sizeof buf, "%.17g", value);
  return out + buf + "\n";
}

}  // namespace

int main(int argc, char** argv) {
  kh::block_stop_signals();
  const auto opts =
      kh::parse_options(specs, std::vector<std::string>(argv + 1, argv + argc), kh::process_environment());
  if (opts.help) {
    std::cout << kh::usage_text("kauri-chat-gate", specs);
    return 0;
  }
  if (!opts.error.empty()) return usage_error(opts.error);

  // --- Flags --------------------------------------------------------------
  kh::http_options http;
  auto listen = kh::parse_host_port(opts.get("listen"));
  if (!listen) return usage_error("--listen must be HOST:PORT");
  http.listen = *listen;
  auto threads = kh::parse_integer(opts.get("threads"), 1, 256);
  if (!threads) return usage_error("--threads must be 1-256");
  http.threads = static_cast<int>(*threads);

  if (opts.get("jwt-secret-file").empty()) return usage_error("--jwt-secret-file is required");
  auto secret = kh::load_secret_file(opts.get("jwt-secret-file"));
  if (!kh::is_secret(secret)) {
    std::cerr << "error: " << std::get<1>(secret) << "\n";
    return 1;
  }
  const kh::jwt_hs256 verifier(std::get<0>(secret));

  kq::service_options sopts;
  sopts.time_zone = opts.get("tz");
  auto ttl = kh::parse_duration(opts.get("reservation-ttl"));
  if (!ttl) return usage_error("--reservation-ttl must be a duration (e.g. 300s)");
  sopts.reservation_ttl = *ttl;
  if (opts.get("request-id-ttl") == "forever") {
    sopts.request_id_ttl.reset();
  } else {
    auto rttl = kh::parse_duration(opts.get("request-id-ttl"));
    if (!rttl) return usage_error("--request-id-ttl must be a duration (e.g. 7d) or forever");
    sopts.request_id_ttl = *rttl;
  }
  const std::optional<std::chrono::seconds> grace = kh::parse_grace_period(opts.get("grace-period"));
  if (!grace) return usage_error("--grace-period must be a duration from 0 to 90d (e.g. 3d, 12h, 0)");
  sopts.grace_period = *grace;
  sopts.shadow = opts.has("shadow");
  // The denial cache is on by default in the gate (the library's default is
  // off): a user who keeps pressing Send after a 429 costs no database call.
  if (opts.get("deny-cache-ttl") != "0") {
    auto ttl_value = kh::parse_duration(opts.get("deny-cache-ttl"));
    if (!ttl_value || *ttl_value > std::chrono::hours{1})
      return usage_error("--deny-cache-ttl must be a duration up to 1h (e.g. 60s), or 0 for off");
    sopts.deny_cache_ttl = *ttl_value;
  }

  kauri_gate::chat_options chat;
  auto dmt = kh::parse_integer(opts.get("default-max-tokens"), 1, chat.max_tokens_limit);
  if (!dmt) return usage_error("--default-max-tokens must be 1-" + std::to_string(chat.max_tokens_limit));
  chat.default_max_tokens = *dmt;
  auto sweep = parse_millis(opts.get("sweep-interval"), false);
  if (!sweep) return usage_error("--sweep-interval must be a duration (e.g. 60s, 500ms)");

  std::string generator_kind = opts.get("generator");
  if (generator_kind.empty()) generator_kind = opts.get("upstream").empty() ? "stub" : "upstream";
  std::unique_ptr<kauri_gate::generator> gen;
  if (generator_kind == "stub") {
    kauri_gate::stub_options stub;
    auto latency = parse_millis(opts.get("stub-latency"), true);
    if (!latency) return usage_error("--stub-latency must be a duration (e.g. 50ms)");
    stub.latency = *latency;
    auto tokens = kh::parse_integer(opts.get("stub-tokens"), 0, 1000000);
    if (!tokens) return usage_error("--stub-tokens must be 0-1000000");
    stub.tokens = *tokens;
    try {
      std::size_t used = 0;
      const std::string rate = opts.get("stub-failure-rate");
      stub.failure_rate = std::stod(rate, &used);
      if (used != rate.size() || !(stub.failure_rate >= 0 && stub.failure_rate <= 1)) throw std::invalid_argument(rate);
    } catch (const std::exception&) {
      return usage_error("--stub-failure-rate must be a number from 0 to 1");
    }
    gen = kauri_gate::make_stub_generator(stub);
  } else if (generator_kind == "upstream") {
    kauri_gate::upstream_options up;
    up.url = opts.get("upstream");
    if (up.url.empty()) return usage_error("--generator upstream needs --upstream URL");
    up.model = opts.get("upstream-model");
    auto timeout = parse_millis(opts.get("upstream-timeout"), false);
    if (!timeout) return usage_error("--upstream-timeout must be a duration (e.g. 30s)");
    up.read_timeout = *timeout;
    if (!opts.get("upstream-key-file").empty()) {
      auto key = read_key_file(opts.get("upstream-key-file"));
      if (!key) {
        std::cerr << "error: --upstream-key-file must name a readable file of 1-4096 bytes on one line\n";
        return 1;
      }
      up.api_key = *key;
    }
    std::string why;
    gen = kauri_gate::make_upstream_generator(up, why);
    if (!gen) return usage_error(why);
  } else {
    return usage_error("--generator must be stub or upstream");
  }

  std::optional<kauri_gate::http_url> user_service;
  if (!opts.get("user-service-url").empty()) {
    user_service = kauri_gate::parse_http_url(opts.get("user-service-url"));
    if (!user_service) return usage_error("--user-service-url must be http(s)://host[:port][/base]");
  }

  // --- The quota service -------------------------------------------------
  kq::open_options oo;
  oo.auto_migrate = opts.has("migrate");
  auto store = kq::open_storage(opts.get("db"), oo);
  if (!store) {
    std::cerr << "error: cannot open " << kq::redact_url(opts.get("db")) << ": " << store.error().message << "\n";
    return 1;
  }
  auto created = kq::quota_service::create(std::shared_ptr<kq::storage>(std::move(store).value()), sopts);
  if (!created) {
    std::cerr << "error: " << created.error().message << "\n";
    return 1;
  }
  kq::quota_service service = std::move(created).value();
  kauri_gate::chat_gate gate(service, *gen, chat);

  // --- Routes -------------------------------------------------------------
  kh::http_host host(http);

  // The user the bearer token names, or nullopt after answering 401.
  auto authenticate = [&](const httplib::Request& req, httplib::Response& res) -> std::optional<kq::user_id> {
    const std::string token = bearer_token(req);
    if (token.empty()) {
      res.set_header("WWW-Authenticate", "Bearer");
      kh::send_error(res, 401, "Not authenticated");
      return std::nullopt;
    }
    auto verified = verifier.verify(token, static_cast<std::int64_t>(std::time(nullptr)));
    if (!verified) {
      res.set_header("WWW-Authenticate", "Bearer error=\"invalid_token\"");
      kh::send_error(res, 401, "Could not validate credentials");
      return std::nullopt;
    }
    return kq::user_id{verified.claims.sub};
  };

  host.post("/api/v1/chat", "/api/v1/chat", [&](const httplib::Request& req, httplib::Response& res) {
    auto user = authenticate(req, res);
    if (!user) return;
    kauri_gate::chat_request cr;
    cr.user = *user;
    cr.body = req.body;
    if (req.has_header("Idempotency-Key")) cr.idempotency_key = req.get_header_value("Idempotency-Key");
    cr.accept_language = req.get_header_value("Accept-Language");
    if (!req.remote_addr.empty()) cr.ip = req.remote_addr;
    if (req.has_header("User-Agent")) cr.user_agent = req.get_header_value("User-Agent").substr(0, 512);
    send(res, gate.handle(cr));
  });

  host.get("/api/v1/chat/quota", "/api/v1/chat/quota", [&](const httplib::Request& req, httplib::Response& res) {
    auto user = authenticate(req, res);
    if (!user) return;
    send(res, gate.quota(*user));
  });

  host.post("/api/v1/auth/login", "/api/v1/auth/login", [&](const httplib::Request& req, httplib::Response& res) {
    if (!user_service) {
      kh::send_error(res, 503, "No user service is configured (--user-service-url)");
      return;
    }
    httplib::Client client(user_service->origin);
    client.set_connection_timeout(std::chrono::seconds(2));
    client.set_read_timeout(std::chrono::seconds(10));
    client.set_write_timeout(std::chrono::seconds(5));
    client.set_keep_alive(false);
    auto answer = client.Post((user_service->base + "/api/v1/auth/login").c_str(), req.body, "application/json");
    if (!answer) {
      kh::send_error(res, 502, "The user service cannot be reached");
      return;
    }
    if (answer->has_header("WWW-Authenticate"))
      res.set_header("WWW-Authenticate", answer->get_header_value("WWW-Authenticate"));
    kh::send_json(res, answer->status, answer->body.empty() ? std::string("{}") : answer->body);
  });

  host.get("/api/v1/chat/config", "/api/v1/chat/config", [&](const httplib::Request&, httplib::Response& res) {
    nlohmann::json cfg = {{"login", user_service.has_value()}};
    if (user_service) {
      cfg["pricing_url"] = opts.get("user-service-url") + (opts.get("user-service-url").back() == '/' ? "" : "/");
    } else {
      cfg["pricing_url"] = nullptr;
    }
    res.set_header("Cache-Control", "no-store");
    kh::send_json(res, 200, cfg.dump());
  });

  host.get("/chat", "/chat", [&](const httplib::Request& req, httplib::Response& res) {
    if (!kh::serve_asset(res, chat_gate_web, "chat.html", kh::choose_language(req.get_header_value("Accept-Language"))))
      kh::send_error(res, 404, "Not found");
  });
  host.get("/static/{name}", R"(/static/([A-Za-z0-9._-]+))", [&](const httplib::Request& req, httplib::Response& res) {
    const std::string name = req.matches[1];
    if (name.front() == '.' ||
        !kh::serve_asset(res, chat_gate_web, name, kh::choose_language(req.get_header_value("Accept-Language"))))
      kh::send_error(res, 404, "Not found");
  });

  std::unique_ptr<kauri_gate::sweeper> sweeper;
  host.get("/healthz", "/healthz", [&](const httplib::Request&, httplib::Response& res) {
    if (service.get_all_tiers(true)) {
      kh::send_json(res, 200, R"({"status":"ok"})");
    } else {
      res.set_header("Retry-After", "1");
      kh::send_error(res, 503, "Database unavailable");
    }
  });
  host.get("/metrics", "/metrics", [&](const httplib::Request&, httplib::Response& res) {
    std::string text = kq::to_prometheus(service.metrics());
    text += host.metrics().to_prometheus();
    if (sweeper) {
      text += gauge("kauri_gate_reservations_expired_total",
                    "Abandoned reservations this gate's sweeper settled at their estimate.", "counter",
                    static_cast<double>(sweeper->expired_total()));
      text +=
          gauge("kauri_gate_subscription_transitions_total",
                "Subscription transitions (trial end, past_due, expiry, scheduled change) this gate's sweeper wrote.",
                "counter", static_cast<double>(sweeper->transitions_total()));
      text += gauge("kauri_gate_sweep_failures_total", "Sweeper runs that failed (the database was unavailable).",
                    "counter", static_cast<double>(sweeper->failed_runs()));
    }
    res.set_content(text, "text/plain; version=0.0.4; charset=utf-8");
    res.status = 200;
  });

  sweeper = std::make_unique<kauri_gate::sweeper>(
      service, *sweep, [](const std::string& line) { (void)std::fprintf(stderr, "%s\n", line.c_str()); });
  const int status = host.run();
  sweeper->stop();
  return status;
}
