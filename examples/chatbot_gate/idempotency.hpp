// What this gate process remembers of the chat requests that carried an
// Idempotency-Key: the body they came with and the answer they got, so
// that a retry is answered with the very same bytes (the reply included)
// and a reuse of the key with another body is refused.
//
// The record is per process and bounded; it is the fast, exact path. The
// counting itself never depends on it: the key is also the library's
// request_id, so a retry that reaches another gate process (or this one
// after a restart) is still never counted twice (see chat_gate).
//
// Thread-safe. begin() of a key whose first request is still being
// processed waits for that request to finish (bounded), so concurrent
// retries of one key get one outcome.
#pragma once

#include "response.hpp"

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <map>
#include <mutex>
#include <string>

namespace kauri_gate {

/// The hex SHA-256 of a request body's meaning: the fields the gate acts
/// on, in a fixed order, so that the same request spelt with other
/// whitespace or member order is the same request.
std::string body_fingerprint(const std::string& message, const std::string& max_tokens_text);

class idempotency_record {
 public:
  /// Keeps at most `capacity` finished answers, each for at most `ttl`.
  idempotency_record(std::size_t capacity, std::chrono::seconds ttl);

  enum class verdict {
    fresh,     ///< first time here: process it, then finish() or abandon()
    replay,    ///< answered before: send `answer`
    mismatch,  ///< the key came with another body: 422
    busy,      ///< still being processed after the wait: 409
  };
  struct claim {
    verdict what = verdict::fresh;
    response answer;  ///< for replay
  };

  /// Registers (user, key) as in flight with `fingerprint`, or says what is
  /// known of it. Waits at most `wait` for an in-flight request of the same
  /// key and body.
  claim begin(const std::string& user, const std::string& key, const std::string& fingerprint,
              std::chrono::milliseconds wait);
  /// Stores the answer of a fresh claim and wakes its waiters.
  void finish(const std::string& user, const std::string& key, const response& answer);
  /// Forgets a fresh claim whose answer must not be replayed (a 503: the
  /// retry should try again); a waiter then processes the request itself.
  void abandon(const std::string& user, const std::string& key);

  std::size_t size() const;

 private:
  struct entry {
    std::string fingerprint;
    bool done = false;
    response answer;
    std::chrono::steady_clock::time_point finished_at;
  };
  void evict_locked(std::chrono::steady_clock::time_point now);
  static std::string slot(const std::string& user, const std::string& key);

  const std::size_t capacity_;
  const std::chrono::seconds ttl_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::string, entry> entries_;
  std::deque<std::pair<std::chrono::steady_clock::time_point, std::string>> finished_order_;
};

}  // namespace kauri_gate
