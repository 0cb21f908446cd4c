// POST /api/v1/chat without the HTTP server: validate the body, reserve
// the estimate, run the generator, then commit the actual tokens (200) or
// release the reservation (502); a denial is a 429.
//
// Idempotency-Key. The key is the library's request_id, so a retry is
// never counted twice, in this process or in any other sharing the
// database. In the process that answered first, the answer itself is kept
// (idempotency_record) and a retry gets the same bytes; a retry of a key
// still being processed waits for it. A key reused with another body is
// 422: the record sees it here; across processes the first request with a
// key writes a `chat_request` audit row with hashes of the key and the body
// right after its reservation, and a replayed reservation is checked
// against it. In another process the reply text itself is not available:
// the replay of a completed request is then a 200 with `reply` null, the
// usage it was settled with and "replayed": true; of a failed one a 502;
// of one still in progress a 409.
//
// Thread-safe: handle() is called from many request threads at once.
#pragma once

#include "generator.hpp"
#include "idempotency.hpp"
#include "response.hpp"

#include <kauri_quota/quota_service.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace kauri_gate {

struct chat_options {
  std::int64_t default_max_tokens = 512;      ///< the estimate when the body has no max_tokens
  std::int64_t max_tokens_limit = 32768;      ///< the largest max_tokens accepted
  std::size_t max_message_bytes = 32 * 1024;  ///< the longest message accepted
  /// How long a retry waits for the first request of its key to finish.
  std::chrono::milliseconds in_flight_wait{60000};
  /// Answers kept for exact replays, and for how long.
  std::size_t remembered_answers = 10000;
  std::chrono::seconds remembered_for{24 * 3600};
};

struct chat_request {
  kauri_quota::user_id user;
  std::string body;
  std::optional<std::string> idempotency_key;  ///< the raw header, when present
  std::string accept_language;
  std::optional<std::string> ip;
  std::optional<std::string> user_agent;
};

class chat_gate {
 public:
  chat_gate(kauri_quota::quota_service& service, generator& gen, chat_options opts);
  response handle(const chat_request& req);
  /// The user's quota (JSON quota info) with the RateLimit fields.
  response quota(const kauri_quota::user_id& user);

 private:
  struct parsed_body {
    std::string message;
    std::int64_t max_tokens = 0;
    std::string max_tokens_text;  ///< as given ("" when absent), for the fingerprint
  };
  std::optional<response> parse(const std::string& body, parsed_body& out) const;
  response process(const chat_request& req, const parsed_body& body, const std::optional<std::string>& key,
                   const std::string& fingerprint);
  response replay_elsewhere(const chat_request& req, const kauri_quota::decision& d, const std::string& key,
                            const std::string& fingerprint);
  response ok_answer(const kauri_quota::user_id& user, const generation& g, const kauri_quota::quota_info& fallback);

  kauri_quota::quota_service& service_;
  generator& gen_;
  chat_options opts_;
  idempotency_record record_;
};

/// True when `key` is a usable Idempotency-Key: 1-128 visible ASCII
/// characters (a UUID, a ULID, any client-chosen token).
bool valid_idempotency_key(const std::string& key) noexcept;

}  // namespace kauri_gate
