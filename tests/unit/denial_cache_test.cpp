// The denial cache: what it keeps, how long, how it forgets, its bound, and
// its behaviour when many threads use it at once.
#include "core/denial_cache.hpp"
#include "support/fixtures.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace kauri_quota {
namespace {

using detail::denial_cache;
using testing::at;

/// A daily denial of `user` at 10:00 UTC resetting at the next midnight.
decision daily_denial(const std::string& user) {
  decision d;
  d.allowed = false;
  d.denied_by = limit_kind::daily;
  d.quota.user = user_id{user};
  d.quota.messages_remaining_today = 0;
  d.resets_at = at("2025-11-08T00:00:00Z");
  d.retry_after = 14h;
  return d;
}

}  // namespace

TEST_CASE("only denials that refuse every request until their reset are cacheable") {
  decision d = daily_denial("a");
  CHECK(denial_cache::cacheable(d));
  d.denied_by = limit_kind::monthly;
  CHECK(denial_cache::cacheable(d));

  d.denied_by = limit_kind::tokens;
  d.quota.tokens_remaining_month = 0;
  CHECK(denial_cache::cacheable(d));  // the budget is used up: every request is refused
  d.quota.tokens_remaining_month = 500;
  CHECK_FALSE(denial_cache::cacheable(d));  // only this request was too large

  decision replayed = daily_denial("a");
  replayed.replayed = true;  // an old answer, not the state now
  CHECK_FALSE(denial_cache::cacheable(replayed));
  decision admitted = daily_denial("a");
  admitted.allowed = true;
  CHECK_FALSE(denial_cache::cacheable(admitted));
  decision shadow = daily_denial("a");
  shadow.allowed = true;
  shadow.shadow = true;
  CHECK_FALSE(denial_cache::cacheable(shadow));
}

TEST_CASE("a cached denial lasts until the earlier of its reset and the TTL") {
  denial_cache cache(60s, 1000);
  const user_id u{"u"};
  const sys_time now = at("2025-11-07T10:00:00Z");
  cache.insert(u, daily_denial("u"), now, cache.ticket(u));
  REQUIRE(cache.find(u, now).has_value());
  CHECK(cache.find(u, now)->denied_by == limit_kind::daily);
  CHECK(cache.find(u, now + 59s).has_value());
  CHECK_FALSE(cache.find(u, now + 60s).has_value());  // the TTL
  CHECK(cache.size() == 0);                           // and the expired entry is gone

  const sys_time late = at("2025-11-07T23:59:30Z");
  cache.insert(u, daily_denial("u"), late, cache.ticket(u));
  CHECK(cache.find(u, late + 29s).has_value());
  CHECK_FALSE(cache.find(u, late + 30s).has_value());  // midnight comes first

  cache.insert(u, daily_denial("u"), now, cache.ticket(u));
  CHECK_FALSE(cache.find(u, now - 1s).has_value());  // a clock set backwards drops it

  // Nothing is kept past the reset, even when the denial is stored late.
  cache.insert(u, daily_denial("u"), at("2025-11-08T00:00:00Z"), cache.ticket(u));
  CHECK(cache.size() == 0);
}

TEST_CASE("invalidation drops entries and refuses answers read before it") {
  denial_cache cache(60s, 1000);
  const user_id a{"a"};
  const user_id b{"b"};
  const sys_time now = at("2025-11-07T10:00:00Z");
  cache.insert(a, daily_denial("a"), now, cache.ticket(a));
  cache.insert(b, daily_denial("b"), now, cache.ticket(b));
  cache.invalidate(a);
  CHECK_FALSE(cache.find(a, now).has_value());
  CHECK(cache.find(b, now).has_value());

  // A denial read from the storage before an upgrade must not be cached
  // after the upgrade's invalidation.
  const auto stale = cache.ticket(a);
  cache.invalidate(a);
  cache.insert(a, daily_denial("a"), now, stale);
  CHECK_FALSE(cache.find(a, now).has_value());

  const auto before_all = cache.ticket(b);
  cache.invalidate_all();
  CHECK(cache.size() == 0);
  cache.insert(b, daily_denial("b"), now, before_all);
  CHECK_FALSE(cache.find(b, now).has_value());
  cache.insert(b, daily_denial("b"), now, cache.ticket(b));
  CHECK(cache.find(b, now).has_value());
}

TEST_CASE("the cache holds at most its capacity, evicting expired entries first") {
  denial_cache cache(60s, 64);  // 4 per shard
  const sys_time now = at("2025-11-07T10:00:00Z");
  for (int i = 0; i < 2000; ++i) {
    const user_id u{"user-" + std::to_string(i)};
    cache.insert(u, daily_denial(u.str()), now + std::chrono::milliseconds{i}, cache.ticket(u));
  }
  CHECK(cache.size() <= 64);
  CHECK(cache.size() >= 16);
  // The most recent insert is always kept.
  CHECK(cache.find(user_id{"user-1999"}, now + 2s).has_value());
}

TEST_CASE("the cache stays consistent when many threads insert, find and invalidate at once") {
  denial_cache cache(60s, 256);
  const sys_time now = at("2025-11-07T10:00:00Z");
  constexpr int threads = 4;
  constexpr int rounds = 4000;
  std::atomic<int> wrong{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int i = 0; i < rounds; ++i) {
        const std::string name = "u-" + std::to_string((i * 7 + t) % 97);
        const user_id u{name};
        switch (i % 5) {
          case 0:
          case 1:
            cache.insert(u, daily_denial(name), now, cache.ticket(u));
            break;
          case 2:
          case 3:
            if (const auto hit = cache.find(u, now); hit && hit->quota.user != u) wrong.fetch_add(1);
            break;
          default:
            if (i % 500 == 4)
              cache.invalidate_all();
            else
              cache.invalidate(u);
        }
      }
    });
  }
  // A thread that invalidates one user and checks that it never sees a
  // denial inserted with a ticket older than its invalidation.
  pool.emplace_back([&] {
    const user_id u{"watched"};
    for (int i = 0; i < rounds; ++i) {
      const auto old = cache.ticket(u);
      cache.invalidate(u);
      cache.insert(u, daily_denial("watched"), now, old);
      if (cache.find(u, now).has_value()) wrong.fetch_add(1);
    }
  });
  for (auto& th : pool) th.join();
  CHECK(wrong.load() == 0);
  CHECK(cache.size() <= 256);
  cache.invalidate_all();
  CHECK(cache.size() == 0);
}

}  // namespace kauri_quota
