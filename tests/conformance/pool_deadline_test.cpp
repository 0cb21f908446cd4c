// A storage whose connection pool stays exhausted answers storage_busy
// within its configured timeout (SQLite: busy_timeout; PostgreSQL:
// statement_timeout) instead of queueing every caller behind the one that
// holds the connection.
#include "support/fixtures.hpp"
#include "support/write_lock.hpp"

#include <algorithm>
#include <chrono>
#include <latch>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using namespace kauri_quota;
using namespace kauri_quota::testing;
using namespace std::chrono_literals;

namespace {

using steady = std::chrono::steady_clock;

constexpr auto deadline = 300ms;

/// The database of `db` opened again with one pooled connection, a short
/// timeout and no group commit: every caller needs the one connection for
/// itself (with group commit, callers that arrive together may all share
/// the batch that holds it, and none waits for the pool; the batches'
/// own wait is bounded by the same timeout, see unit/batcher_test.cpp).
std::shared_ptr<storage> open_one_connection(const test_db& db) {
  if (db.backend == "sqlite") {
    sqlite_options o;
    o.path = db.file.string();
    o.pool_size = 1;
    o.busy_timeout = deadline;
    o.batch.enabled = false;
    return must(open_sqlite(o));
  }
  postgres_options o;
  o.conninfo = db.url;
  o.pool_size = 1;
  o.statement_timeout = deadline;
  o.batch.enabled = false;
  return must(open_postgres(o));
}

}  // namespace

TEST_CASE("an exhausted connection pool answers storage_busy within the timeout instead of queueing") {
  service_fixture f;
  const auto u = f.add_user("pool-user");
  auto store = open_one_connection(f.db);
  auto svc = must(quota_service::create(store, [&] {
    service_options o;
    o.time_source = f.clock;
    return o;
  }()));
  REQUIRE(must(svc.try_consume(u)).allowed);  // the one connection is open and warm

  constexpr int callers = 6;
  std::vector<std::chrono::milliseconds> took(callers);
  std::vector<std::optional<error>> failed(callers);
  {
    held_write_lock lock(f.db);  // what every consume needs, held by another program
    std::vector<std::thread> threads;
    // All at once: a caller that started much later than the one holding
    // the connection could get it before its own deadline.
    std::latch go(callers);
    for (int i = 0; i < callers; ++i) {
      threads.emplace_back([&, i] {
        go.arrive_and_wait();
        const auto start = steady::now();
        auto d = svc.try_consume(u);
        took[static_cast<std::size_t>(i)] =
            std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - start);
        if (!d) failed[static_cast<std::size_t>(i)] = d.error();
      });
    }
    for (auto& t : threads) t.join();
  }

  int pool_waits = 0;
  for (int i = 0; i < callers; ++i) {
    const auto& e = failed[static_cast<std::size_t>(i)];
    INFO("caller " << i << " took " << took[static_cast<std::size_t>(i)].count() << " ms");
    REQUIRE(e.has_value());  // the lock was held throughout
    CHECK(e->is(errc::storage_busy));
    if (e->message.find("no database connection became free") != std::string::npos) ++pool_waits;
  }
  const auto longest = *std::max_element(took.begin(), took.end());
  MESSAGE(f.db.backend << ": " << pool_waits << " of " << callers << " callers timed out waiting for the pool;"
                       << " the longest call took " << longest.count() << " ms");
  CHECK(pool_waits >= 1);
  // Queued one after another, the last caller would wait callers x the
  // timeout; bounded, no call waits much more than the lock wait plus its
  // own wait for the pool. With group commit a caller may also wait for the
  // statement ahead of it in its batch: on PostgreSQL a batch whose
  // statement timed out is abandoned and each caller behind it retries by
  // itself, so the bound is its wait for a batch, one timeout of its batch
  // and its own attempt.
  CHECK(longest < 4 * deadline);

  // The pool is usable again once the lock is gone.
  CHECK(must(svc.try_consume(u)).allowed);
}
