#include "idempotency.hpp"

#include <nlohmann/json.hpp>
#include <openssl/sha.h>

#include <array>
#include <cstdio>

namespace kauri_gate {

response response::error(int status, std::string_view detail) {
  response r;
  r.status = status;
  r.body = nlohmann::json{{"detail", detail}}.dump();
  return r;
}

std::string body_fingerprint(const std::string& message, const std::string& max_tokens_text) {
  // Length-prefixed fields: no two different requests share an encoding.
  std::string canonical = std::to_string(message.size()) + ":" + message + "|" + max_tokens_text;
  std::array<unsigned char, SHA256_DIGEST_LENGTH> digest{};
  SHA256(reinterpret_cast<const unsigned char*>(canonical.data()), canonical.size(), digest.data());
  std::string hex;
  hex.reserve(digest.size() * 2);
  static constexpr char digits[] = "0123456789abcdef";
  for (unsigned char b : digest) {
    hex.push_back(digits[b >> 4]);
    hex.push_back(digits[b & 0xF]);
  }
  return hex;
}

idempotency_record::idempotency_record(std::size_t capacity, std::chrono::seconds ttl)
    : capacity_(capacity), ttl_(ttl) {}

std::string idempotency_record::slot(const std::string& user, const std::string& key) {
  // User ids are valid UTF-8 without control characters, so '\n' cannot
  // occur in them: the slot is unambiguous.
  return user + '\n' + key;
}

idempotency_record::claim idempotency_record::begin(const std::string& user, const std::string& key,
                                                    const std::string& fingerprint, std::chrono::milliseconds wait) {
  const std::string s = slot(user, key);
  const auto deadline = std::chrono::steady_clock::now() + wait;
  std::unique_lock lock(mutex_);
  evict_locked(std::chrono::steady_clock::now());
  for (;;) {
    auto it = entries_.find(s);
    if (it == entries_.end()) {
      entries_.emplace(s, entry{fingerprint, false, {}, {}});
      return {verdict::fresh, {}};
    }
    if (it->second.fingerprint != fingerprint) return {verdict::mismatch, {}};
    if (it->second.done) return {verdict::replay, it->second.answer};
    if (changed_.wait_until(lock, deadline) == std::cv_status::timeout) {
      it = entries_.find(s);
      if (it != entries_.end() && it->second.fingerprint == fingerprint && it->second.done)
        return {verdict::replay, it->second.answer};
      if (it == entries_.end()) continue;
      return {verdict::busy, {}};
    }
  }
}

void idempotency_record::finish(const std::string& user, const std::string& key, const response& answer) {
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(slot(user, key));
    if (it != entries_.end()) {
      it->second.done = true;
      it->second.answer = answer;
      it->second.finished_at = now;
      finished_order_.emplace_back(now, it->first);
      evict_locked(now);
    }
  }
  changed_.notify_all();
}

void idempotency_record::abandon(const std::string& user, const std::string& key) {
  {
    std::lock_guard lock(mutex_);
    entries_.erase(slot(user, key));
  }
  changed_.notify_all();
}

std::size_t idempotency_record::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

void idempotency_record::evict_locked(std::chrono::steady_clock::time_point now) {
  // finished_order_ lists finished entries oldest first; an entry is
  // dropped once past its TTL or when over capacity. In-flight entries are
  // never dropped (there are at most as many as request threads).
  while (!finished_order_.empty() &&
         (finished_order_.size() > capacity_ || now - finished_order_.front().first >= ttl_)) {
    auto it = entries_.find(finished_order_.front().second);
    if (it != entries_.end() && it->second.done && it->second.finished_at == finished_order_.front().first)
      entries_.erase(it);
    finished_order_.pop_front();
  }
}

}  // namespace kauri_gate
