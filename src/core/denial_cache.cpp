#include "core/denial_cache.hpp"

#include <algorithm>
#include <functional>

namespace kauri_quota::detail {

denial_cache::denial_cache(std::chrono::seconds ttl, std::size_t capacity)
    : ttl_(ttl), per_shard_(std::max<std::size_t>(1, capacity / shard_count)) {}

bool denial_cache::cacheable(const decision& d) noexcept {
  if (d.allowed || d.replayed || d.shadow) return false;
  switch (d.denied_by) {
    case limit_kind::daily:
    case limit_kind::monthly:
      return true;
    case limit_kind::tokens:
      return d.quota.tokens_remaining_month && *d.quota.tokens_remaining_month == 0;
    case limit_kind::none:
      break;
  }
  return false;
}

denial_cache::shard& denial_cache::shard_of(const user_id& user) {
  return shards_[std::hash<std::string>{}(user.str()) % shard_count];
}

const denial_cache::shard& denial_cache::shard_of(const user_id& user) const {
  return shards_[std::hash<std::string>{}(user.str()) % shard_count];
}

std::uint64_t denial_cache::ticket(const user_id& user) const {
  const shard& s = shard_of(user);
  const std::lock_guard lock(s.mutex);
  return s.generation;
}

std::optional<decision> denial_cache::find(const user_id& user, sys_time now) {
  shard& s = shard_of(user);
  const std::lock_guard lock(s.mutex);
  const auto it = s.entries.find(user.str());
  if (it == s.entries.end()) return std::nullopt;
  if (now < it->second.stored_at || now >= it->second.expires_at) {
    s.entries.erase(it);
    return std::nullopt;
  }
  return it->second.answer;
}

void denial_cache::make_room(shard& s, sys_time now) const {
  if (s.entries.size() < per_shard_) return;
  std::erase_if(s.entries, [now](const auto& kv) { return now >= kv.second.expires_at; });
  if (s.entries.size() < per_shard_) return;
  const auto soonest = std::min_element(s.entries.begin(), s.entries.end(), [](const auto& a, const auto& b) {
    return a.second.expires_at < b.second.expires_at;
  });
  s.entries.erase(soonest);
}

void denial_cache::insert(const user_id& user, const decision& d, sys_time now, std::uint64_t ticket) {
  if (!cacheable(d)) return;
  const sys_time expires = std::min(d.resets_at, now + std::chrono::duration_cast<std::chrono::microseconds>(ttl_));
  if (expires <= now) return;
  shard& s = shard_of(user);
  const std::lock_guard lock(s.mutex);
  if (s.generation != ticket) return;
  const auto it = s.entries.find(user.str());
  if (it == s.entries.end()) make_room(s, now);
  s.entries.insert_or_assign(user.str(), entry{d, now, expires});
}

void denial_cache::invalidate(const user_id& user) {
  shard& s = shard_of(user);
  const std::lock_guard lock(s.mutex);
  ++s.generation;
  s.entries.erase(user.str());
}

void denial_cache::invalidate_all() {
  for (shard& s : shards_) {
    const std::lock_guard lock(s.mutex);
    ++s.generation;
    s.entries.clear();
  }
}

std::size_t denial_cache::size() const {
  std::size_t n = 0;
  for (const shard& s : shards_) {
    const std::lock_guard lock(s.mutex);
    n += s.entries.size();
  }
  return n;
}

}  // namespace kauri_quota::detail
