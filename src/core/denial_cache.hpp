// The denial cache behind service_options::deny_cache_ttl (internal): the
// last denial of a user, answered from memory while it must still hold.
//
// A denial by the daily or monthly message limit, or by an exhausted token
// budget, refuses every request of that user until its period rolls over,
// unless something outside consume changes the user's state: an upgrade, a
// reset, a tier update, a refund by release or commit. The cache keeps such
// a denial until the earlier of its resets_at and the TTL; the service
// drops it at once when it makes one of those changes itself, and other
// processes' changes are bounded by the TTL.
//
// Thread-safe: the entries are spread over shards, each behind its own
// mutex, so that lookups of different users rarely wait for each other.
// Bounded: each shard holds at most capacity / shard_count entries and
// evicts the expired ones, then the one expiring first, to make room.
#pragma once

#include <kauri_quota/types.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace kauri_quota::detail {

class denial_cache {
 public:
  static constexpr std::size_t shard_count = 16;

  /// Entries live at most `ttl`; at most `capacity` (>= 1) are kept.
  denial_cache(std::chrono::seconds ttl, std::size_t capacity);
  denial_cache(const denial_cache&) = delete;
  denial_cache& operator=(const denial_cache&) = delete;

  /// True when `d` refuses every request of its user until d.resets_at, so
  /// that it may be cached: a fresh (not replayed) denial by the daily or
  /// monthly limit, or by a token budget used up entirely. A token denial
  /// of a request merely too large for what is left is not cacheable: a
  /// smaller request would be admitted.
  static bool cacheable(const decision& d) noexcept;

  /// Taken before asking the storage; insert() refuses the answer when an
  /// invalidation touched the user's shard since, so that a denial read
  /// before an upgrade is never cached after the upgrade dropped the entry.
  std::uint64_t ticket(const user_id& user) const;

  /// The cached denial of `user` if it still holds at `now`; an entry that
  /// has expired, or was stored at a later instant than `now` (a clock set
  /// backwards), is dropped.
  std::optional<decision> find(const user_id& user, sys_time now);

  /// Keeps `d` (cacheable) until the earlier of d.resets_at and now + ttl,
  /// unless the shard was invalidated after `ticket` was taken.
  void insert(const user_id& user, const decision& d, sys_time now, std::uint64_t ticket);

  /// Drops the entry of `user`.
  void invalidate(const user_id& user);
  /// Drops every entry.
  void invalidate_all();

  /// Entries held (expired ones included until they are found or evicted).
  std::size_t size() const;

 private:
  struct entry {
    decision answer;
    sys_time stored_at{};
    sys_time expires_at{};
  };
  struct shard {
    mutable std::mutex mutex;
    std::unordered_map<std::string, entry> entries;
    std::uint64_t generation = 0;  ///< bumped by every invalidation of the shard
  };

  shard& shard_of(const user_id& user);
  const shard& shard_of(const user_id& user) const;
  /// Makes room for one more entry in `s` (its mutex held).
  void make_room(shard& s, sys_time now) const;

  std::chrono::seconds ttl_;
  std::size_t per_shard_;
  std::array<shard, shard_count> shards_;
};

}  // namespace kauri_quota::detail
