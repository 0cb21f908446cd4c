#include "chat_gate.hpp"

#include "quota_fields.hpp"

#include <kauri_quota/json.hpp>

#include <nlohmann/json.hpp>

#include <thread>

namespace kauri_gate {
namespace {

namespace kq = kauri_quota;
using nlohmann::json;

constexpr const char* mismatch_detail = "This Idempotency-Key was already used with a different request body";
constexpr const char* audit_event = "chat_request";

response storage_error(const kq::error& e) {
  if (e.is(kq::errc::unknown_user)) {
    auto r = response::error(401, "Unknown user");
    r.headers.emplace_back("WWW-Authenticate", "Bearer error=\"invalid_token\"");
    return r;
  }
  if (e.is(kq::errc::idempotency_mismatch)) return response::error(422, mismatch_detail);
  if (e.is(kq::errc::invalid_argument)) return response::error(422, "Invalid request");
  if (e.is(kq::errc::internal)) return response::error(500, "Internal error");
  auto r = response::error(503, "Database unavailable");
  r.headers.emplace_back("Retry-After", "1");
  return r;
}

/// A short hex digest, so that the audit log holds no client-chosen text.
std::string key_digest(const std::string& key) { return body_fingerprint(key, "key").substr(0, 32); }

bool replayable(int status) { return status == 200 || status == 429 || status == 502 || status == 422; }

}  // namespace

bool valid_idempotency_key(const std::string& key) noexcept {
  if (key.empty() || key.size() > 128) return false;
  for (char c : key)
    if (c < 0x21 || c > 0x7E) return false;
  return true;
}

chat_gate::chat_gate(kq::quota_service& service, generator& gen, chat_options opts)
    : service_(service), gen_(gen), opts_(opts), record_(opts.remembered_answers, opts.remembered_for) {}

std::optional<response> chat_gate::parse(const std::string& body, parsed_body& out) const {
  auto doc = json::parse(body, nullptr, false);
  if (doc.is_discarded()) return response::error(400, "The body is not valid JSON");
  if (!doc.is_object()) return response::error(422, "The body must be a JSON object");
  for (const auto& [name, value] : doc.items()) {
    if (name != "message" && name != "max_tokens")
      return response::error(422, "Unknown field in the body: only message and max_tokens are accepted");
  }
  auto m = doc.find("message");
  if (m == doc.end()) return response::error(422, "message is required");
  if (!m->is_string()) return response::error(422, "message must be a string");
  out.message = m->get<std::string>();
  if (out.message.find_first_not_of(" \t\r\n") == std::string::npos)
    return response::error(422, "message must not be empty");
  if (out.message.size() > opts_.max_message_bytes)
    return response::error(422, "message is longer than " + std::to_string(opts_.max_message_bytes) + " bytes");
  out.max_tokens = opts_.default_max_tokens;
  if (auto t = doc.find("max_tokens"); t != doc.end()) {
    if (!t->is_number_integer()) return response::error(422, "max_tokens must be an integer");
    const auto v = t->get<std::int64_t>();
    if (t->is_number_unsigned() && t->get<std::uint64_t>() > static_cast<std::uint64_t>(opts_.max_tokens_limit))
      return response::error(422, "max_tokens must be between 1 and " + std::to_string(opts_.max_tokens_limit));
    if (v < 1 || v > opts_.max_tokens_limit)
      return response::error(422, "max_tokens must be between 1 and " + std::to_string(opts_.max_tokens_limit));
    out.max_tokens = v;
    out.max_tokens_text = std::to_string(v);
  }
  return std::nullopt;
}

response chat_gate::handle(const chat_request& req) {
  parsed_body body;
  if (auto bad = parse(req.body, body)) return *bad;
  if (!req.idempotency_key) return process(req, body, std::nullopt, {});

  const std::string& key = *req.idempotency_key;
  if (!valid_idempotency_key(key))
    return response::error(400, "Idempotency-Key must be 1-128 visible ASCII characters");
  const std::string fp = body_fingerprint(body.message, body.max_tokens_text);
  auto claim = record_.begin(req.user.str(), key, fp, opts_.in_flight_wait);
  switch (claim.what) {
    case idempotency_record::verdict::mismatch:
      return response::error(422, mismatch_detail);
    case idempotency_record::verdict::replay:
      return claim.answer;
    case idempotency_record::verdict::busy: {
      auto r = response::error(409, "A request with this Idempotency-Key is still being processed");
      r.headers.emplace_back("Retry-After", "1");
      return r;
    }
    case idempotency_record::verdict::fresh:
      break;
  }
  response r = process(req, body, key, fp);
  if (replayable(r.status)) {
    record_.finish(req.user.str(), key, r);
  } else {
    record_.abandon(req.user.str(), key);
  }
  return r;
}

response chat_gate::process(const chat_request& req, const parsed_body& body, const std::optional<std::string>& key,
                            const std::string& fingerprint) {
  kq::request_context ctx;
  if (key) ctx.id = kq::request_id{*key};
  ctx.ip = req.ip;
  ctx.user_agent = req.user_agent;

  auto reserved = service_.reserve(req.user, body.max_tokens, ctx);
  if (!reserved) return storage_error(reserved.error());
  const kq::decision& d = reserved.value();
  if (key && d.replayed) return replay_elsewhere(req, d, *key, fingerprint);
  if (key) {
    // The record that lets another process see which body this key came
    // with. A failure to write it costs only that cross-process check.
    json meta = {{"idempotency_key_sha256", key_digest(*key)},
                 {"body_sha256", fingerprint},
                 {"reservation_id", d.reservation ? json(d.reservation->str()) : json(nullptr)}};
    (void)service_.log_usage_event(req.user, audit_event, 0, 0,
                                   kq::request_context{std::nullopt, req.ip, req.user_agent}, meta.dump());
  }
  if (!d.allowed) return denial_response(d, req.accept_language, service_.now());

  auto g = gen_.generate(body.message, body.max_tokens);
  // Every admission carries its reservation, shadow-mode ones included (the
  // storage admits those in the decision's own transaction); the checks on
  // d.reservation below only guard against a storage that gave none.
  if (!g.value) {
    // The reservation is refunded: a failed generation costs nothing. If
    // the release itself fails, the sweeper settles it at the estimate.
    if (d.reservation) (void)service_.release(*d.reservation);
    return response::error(502, d.reservation ? "The reply could not be generated; this request was not counted"
                                              : "The reply could not be generated");
  }
  // A commit that fails (the reservation expired meanwhile, or the
  // database is down) leaves the reservation counted at its estimate: the
  // user still gets the reply they were counted for.
  if (d.reservation) (void)service_.commit(*d.reservation, g.value->total_tokens());
  return ok_answer(req.user, *g.value, d.quota);
}

response chat_gate::ok_answer(const kq::user_id& user, const generation& g, const kq::quota_info& fallback) {
  // The quota after the commit, so the fields tell the tokens actually used.
  auto fresh = service_.get_user_quota_info(user);
  const kq::quota_info& q = fresh ? fresh.value() : fallback;
  response r;
  r.status = 200;
  json out = {{"reply", g.reply},
              {"usage",
               {{"prompt_tokens", g.prompt_tokens},
                {"completion_tokens", g.completion_tokens},
                {"total_tokens", g.total_tokens()}}},
              {"quota", json::parse(kq::to_json(q))}};
  r.body = out.dump();
  add_rate_limit_fields(r, q, service_.now());
  return r;
}

response chat_gate::quota(const kq::user_id& user) {
  auto q = service_.get_user_quota_info(user);
  if (!q) return storage_error(q.error());
  response r;
  r.body = kq::to_json(q.value());
  add_rate_limit_fields(r, q.value(), service_.now());
  return r;
}

response chat_gate::replay_elsewhere(const chat_request& req, const kq::decision& d, const std::string& key,
                                     const std::string& fingerprint) {
  // The first request with this key was answered by another process (or by
  // this one before a restart): its counting is replayed by the library;
  // its body is checked against the audit row it wrote after reserving.
  // That row may lag the reservation by a moment, hence the short wait.
  const std::string digest = key_digest(key);
  std::optional<std::string> first_body;
  for (int attempt = 0; attempt < 20 && !first_body; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    kq::event_query q;
    q.user = req.user;
    q.event_type = audit_event;
    q.limit = 1000;
    auto events = service_.get_events(q);
    if (!events) return storage_error(events.error());
    for (const auto& e : events.value()) {  // newest first: the last match is the first request
      if (!e.event_metadata) continue;
      auto meta = json::parse(*e.event_metadata, nullptr, false);
      if (!meta.is_object() || meta.value("idempotency_key_sha256", "") != digest) continue;
      first_body = meta.value("body_sha256", "");
    }
  }
  if (first_body && *first_body != fingerprint) return response::error(422, mismatch_detail);

  if (!d.allowed) return denial_response(d, req.accept_language, service_.now());
  if (!d.reservation) {
    // An admission without a reservation to replay: answer its quota only.
    json out = {{"reply", nullptr},
                {"replayed", true},
                {"usage", {{"prompt_tokens", nullptr}, {"completion_tokens", nullptr}, {"total_tokens", nullptr}}},
                {"quota", json::parse(kq::to_json(d.quota))}};
    response r;
    r.body = out.dump();
    add_rate_limit_fields(r, d.quota, service_.now());
    return r;
  }
  auto res = service_.get_reservation(*d.reservation);
  if (!res) return storage_error(res.error());
  switch (res.value().state) {
    case kq::reservation_state::open: {
      auto r = response::error(409, "A request with this Idempotency-Key is still being processed");
      r.headers.emplace_back("Retry-After", "1");
      return r;
    }
    case kq::reservation_state::released:
      return response::error(502, "The reply could not be generated; this request was not counted");
    case kq::reservation_state::expired:
      return response::error(502, "This request was interrupted; it was counted at its estimate");
    case kq::reservation_state::committed:
      break;
  }
  auto fresh = service_.get_user_quota_info(req.user);
  const kq::quota_info& q = fresh ? fresh.value() : d.quota;
  const std::int64_t total = res.value().actual_tokens.value_or(res.value().estimated_tokens);
  json out = {{"reply", nullptr},
              {"replayed", true},
              {"usage", {{"prompt_tokens", nullptr}, {"completion_tokens", nullptr}, {"total_tokens", total}}},
              {"quota", json::parse(kq::to_json(q))}};
  response r;
  r.status = 200;
  r.body = out.dump();
  add_rate_limit_fields(r, q, service_.now());
  return r;
}

}  // namespace kauri_gate
