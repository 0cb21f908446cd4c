// Group commit (batch_options), on every backend: writes of callers that
// queue while another write is under way share the next batch, each gets
// its own answer, a request that fails fails alone, and a lone caller's
// writes run one at a time as before.
#include "support/fixtures.hpp"
#include "support/write_lock.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

using namespace kauri_quota;
using namespace kauri_quota::testing;

TEST_CASE("batch: in a shared batch a request that fails, fails alone, and every other is counted once") {
  // One connection: one batch slot on PostgreSQL too.
  test_db_options o;
  o.open.pool_size = 1;
  service_fixture f(make_test_db(backend_from_env(), o));
  const auto a = f.add_user("batch-a");
  const auto b = f.add_user("batch-b", "pro");
  const auto c = f.add_user("batch-c", "pro");
  const auto d = f.add_user("batch-d");
  const auto full = f.add_user("batch-full");
  f.set_limits("free", 5, 150, 100000);
  for (int i = 0; i < 5; ++i) REQUIRE(f.consume(full).allowed);
  // Two reservations to settle inside the batch, and each statement used
  // once before (PostgreSQL prepares them on first use).
  const auto to_commit = must(f.svc.reserve(c, 40));
  const auto to_release = must(f.svc.reserve(c, 30));
  must(f.svc.commit(*must(f.svc.reserve(c, 1)).reservation, 1));
  must(f.svc.release(*must(f.svc.reserve(c, 1)).reservation));
  must(f.svc.increment_usage(d, 0, 0));
  const batch_stats before = f.store().write_batches();

  std::optional<result<decision>> first, consumed, ghost, denied, reserved, keyed_consume;
  std::optional<result<usage>> recorded, keyed_record;
  std::optional<result<reservation>> committed, released;
  queue_behind_held_lock(
      f.db, [&] { first.emplace(f.svc.try_consume(a, 1)); },
      {
          [&] { consumed.emplace(f.svc.try_consume(a, 2)); },
          [&] { ghost.emplace(f.svc.try_consume(user_id{"nobody"}, 1)); },
          [&] { denied.emplace(f.svc.try_consume(full, 1)); },
          [&] { reserved.emplace(f.svc.reserve(b, 50)); },
          [&] { recorded.emplace(f.svc.increment_usage(d, 1, 9)); },
          [&] { committed.emplace(f.svc.commit(*to_commit.reservation, 25)); },
          [&] { released.emplace(f.svc.release(*to_release.reservation)); },
          // One request_id for a consume and a record: whichever runs
          // second is refused, alone.
          [&] { keyed_consume.emplace(f.svc.try_consume(b, 3, with_request_id("shared-key"))); },
          [&] { keyed_record.emplace(f.svc.increment_usage(b, 1, 3, with_request_id("shared-key"))); },
      });
  const batch_stats after = f.store().write_batches();
  // The first alone, the nine that queued behind it together.
  CHECK(after.requests - before.requests == 10);
  CHECK(after.batches - before.batches == 2);
  CHECK(after.largest == 9);

  REQUIRE(first->has_value());
  CHECK(first->value().allowed);
  REQUIRE(consumed->has_value());
  CHECK(consumed->value().allowed);
  check_error(*ghost, errc::unknown_user);
  REQUIRE(denied->has_value());
  CHECK_FALSE(denied->value().allowed);
  REQUIRE(reserved->has_value());
  CHECK(reserved->value().allowed);
  REQUIRE(recorded->has_value());
  REQUIRE(committed->has_value());
  CHECK(committed->value().state == reservation_state::committed);
  REQUIRE(released->has_value());
  CHECK(released->value().state == reservation_state::released);
  const bool consume_won = keyed_consume->has_value();
  CHECK(consume_won != keyed_record->has_value());
  if (consume_won)
    check_error(*keyed_record, errc::idempotency_mismatch);
  else
    check_error(*keyed_consume, errc::idempotency_mismatch);

  CHECK(f.quota(a).messages_today == 2);
  CHECK(f.quota(a).tokens_today == 3);
  CHECK(f.quota(b).messages_today == 2);  // the reservation and the keyed request
  CHECK(f.quota(b).tokens_today == 53);
  CHECK(f.quota(c).messages_today == 2);  // two committed reservations; the released ones refunded
  CHECK(f.quota(c).tokens_today == 26);
  CHECK(f.quota(d).tokens_today == 9);
  CHECK(f.quota(full).messages_today == 5);
  CHECK(f.count_events(full, "quota_exceeded") == 1);
  for (const auto& u : {a, b, c, d, full}) f.check_audit(u);
}

TEST_CASE("batch: a lone caller's writes each run in a batch of their own") {
  service_fixture f;
  const auto u = f.add_user("alone", "pro");
  const batch_stats before = f.store().write_batches();
  for (int i = 0; i < 10; ++i) REQUIRE(f.consume(u, 5).allowed);
  const auto r = must(f.svc.reserve(u, 10));
  must(f.svc.commit(*r.reservation, 7));
  must(f.svc.increment_usage(u, 1, 1));
  const batch_stats after = f.store().write_batches();
  CHECK(after.batches - before.batches == 13);
  CHECK(after.requests - before.requests == 13);
  CHECK(after.largest == 1);
}

TEST_CASE("batch: 16 threads with batching on and off admit exactly the daily limit, and only batching groups") {
  for (bool enabled : {true, false}) {
    INFO("batching " << (enabled ? "on" : "off"));
    test_db_options o;
    o.open.batch.enabled = enabled;
    o.open.pool_size = 4;
    service_fixture f(make_test_db(backend_from_env(), o));
    f.set_limits("free", 60, std::nullopt, std::nullopt);
    std::vector<user_id> users;
    for (int i = 0; i < 4; ++i) users.push_back(f.add_user("many-" + std::to_string(i)));
    std::atomic<int> allowed{0}, errors{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> pool;
    for (int t = 0; t < 16; ++t)
      pool.emplace_back([&, t] {
        while (!go.load()) std::this_thread::yield();
        for (int k = 0; k < 20; ++k) {
          auto d = f.svc.try_consume(users[static_cast<std::size_t>((t + k) % 4)], 2);
          if (!d)
            ++errors;
          else if (d.value().allowed)
            ++allowed;
        }
      });
    go.store(true);
    for (auto& th : pool) th.join();
    CHECK(errors.load() == 0);
    CHECK(allowed.load() == 4 * 60);
    for (const auto& u : users) {
      CHECK(f.quota(u).messages_today == 60);
      CHECK(f.quota(u).tokens_today == 120);
      f.check_audit(u);
    }
    const batch_stats s = f.store().write_batches();
    if (enabled) {
      CHECK(s.requests == 16 * 20);
      CHECK(s.batches <= s.requests);
    } else {
      CHECK(s.batches == 0);
    }
  }
}

TEST_CASE("batch: options out of range are refused when opening") {
  for (auto [size, wait] : {std::pair{0, 0}, std::pair{1025, 0}, std::pair{8, -1}, std::pair{8, 10001}}) {
    INFO("max_size " << size << ", max_wait " << wait << " us");
    test_db db = make_test_db();
    open_options o;
    o.batch.max_size = size;
    o.batch.max_wait = std::chrono::microseconds{wait};
    check_error(open_storage(db.url, o), errc::invalid_argument);
  }
}
