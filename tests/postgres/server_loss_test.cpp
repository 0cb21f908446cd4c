// The server goes away mid-load (pg_ctl stop -m immediate) and comes back:
// calls fail promptly with storage_unavailable instead of hanging, work
// again once the server is back, and with request ids nothing acknowledged
// is lost or counted twice.
#include "support/fixtures.hpp"
#include "support/postgres_server.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

using namespace kauri_quota;
using namespace kauri_quota::testing;
using std::chrono::steady_clock;

TEST_CASE("a stopped server makes calls fail promptly, and nothing is lost or doubled") {
  const std::string db = kq_test::pg_create_database();
  postgres_options po;
  po.conninfo = kq_test::pg_server_conninfo() + " dbname=" + db;
  po.pool_size = 4;
  po.connect_timeout = std::chrono::milliseconds(2000);
  po.statement_timeout = std::chrono::milliseconds(2000);
  po.max_retries = 2;
  std::shared_ptr<storage> store = must(open_postgres(po));
  must(store->migrate({}));
  service_options opts;
  opts.time_source = std::make_shared<manual_clock>(at("2025-11-07T10:00:00Z"));
  quota_service svc = must(quota_service::create(store, opts));
  const user_id u{"loss-user"};
  must(svc.create_user(u, std::nullopt, tier_id{"enterprise"}));

  constexpr int threads = 4;
  constexpr int per_thread = 150;
  std::atomic<int> progress{0};
  std::atomic<int> failures{0};
  std::atomic<long long> slowest_ms{0};
  std::mutex m;
  std::set<std::string> acknowledged;
  std::vector<std::string> wrong_errors;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int k = 0; k < per_thread; ++k) {
        const std::string id = "t" + std::to_string(t) + "-" + std::to_string(k);
        // The caller's retry loop: the same request id until an answer.
        const auto give_up = steady_clock::now() + std::chrono::seconds(60);
        for (;;) {
          const auto t0 = steady_clock::now();
          auto d = svc.try_consume(u, 1, with_request_id(id));
          const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(steady_clock::now() - t0).count();
          long long prev = slowest_ms.load();
          while (ms > prev && !slowest_ms.compare_exchange_weak(prev, ms)) {
          }
          if (d) {
            std::lock_guard lock(m);
            if (d.value().allowed) acknowledged.insert(id);
            break;
          }
          ++failures;
          if (!d.error().is(errc::storage_unavailable) && !d.error().is(errc::storage_busy)) {
            std::lock_guard lock(m);
            wrong_errors.push_back(d.error().message);
          }
          if (steady_clock::now() > give_up) {
            std::lock_guard lock(m);
            wrong_errors.push_back("gave up on " + id);
            break;
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        ++progress;
      }
    });
  }
  constexpr int restarts = 2;
  for (int i = 1; i <= restarts; ++i) {
    while (progress.load() < i * threads * per_thread / (restarts + 1))
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    kq_test::pg_stop_immediate();
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    kq_test::pg_start();
  }
  for (auto& th : pool) th.join();

  INFO("failed calls while the server was away: " << failures.load());
  CHECK(wrong_errors.empty());
  for (const auto& w : wrong_errors) MESSAGE(w);
  CHECK(failures.load() > 0);
  // Bounded by connect_timeout + statement_timeout per attempt and the retries.
  CHECK(slowest_ms.load() < 15000);
  // Every request was answered once; counters equal the acknowledged requests.
  CHECK(acknowledged.size() == static_cast<std::size_t>(threads * per_thread));
  const quota_info q = must(svc.get_user_quota_info(u));
  CHECK(q.messages_today == static_cast<std::int64_t>(acknowledged.size()));
  CHECK(q.tokens_today == static_cast<std::int64_t>(acknowledged.size()));
  check_audit_matches_counters(*store, u, opts.time_source->now(), tier_id{"free"});
  store.reset();
  kq_test::pg_drop_database(db);
}

namespace {

/// Sends `sig` to the test server's postmaster and all its children.
void signal_server(const char* sig) {
  std::string pid;
  std::ifstream(kq_test::pg_server_dir() + "/data/postmaster.pid") >> pid;
  REQUIRE_FALSE(pid.empty());
  const std::string cmd = std::string("pkill -") + sig + " -P " + pid + "; kill -" + sig + " " + pid;
  REQUIRE(std::system(cmd.c_str()) == 0);
}

}  // namespace

TEST_CASE("a server that stops answering makes calls fail within the timeout, then work again") {
  const std::string db = kq_test::pg_create_database();
  postgres_options po;
  po.conninfo = kq_test::pg_server_conninfo() + " dbname=" + db;
  po.pool_size = 2;
  po.connect_timeout = std::chrono::milliseconds(2000);
  po.statement_timeout = std::chrono::milliseconds(1000);
  po.max_retries = 0;
  std::shared_ptr<storage> store = must(open_postgres(po));
  must(store->migrate({}));
  quota_service svc = must(quota_service::create(store));
  const user_id u{"frozen"};
  must(svc.create_user(u));
  CHECK(must(svc.try_consume(u, 1, with_request_id("before"))).allowed);

  signal_server("STOP");
  const auto t0 = steady_clock::now();
  auto d = svc.try_consume(u, 1, with_request_id("during"));
  const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(steady_clock::now() - t0);
  // A new connection cannot be made either; it fails within connect_timeout.
  const auto t1 = steady_clock::now();
  auto q = svc.get_user_quota_info(u);
  const auto waited2 = std::chrono::duration_cast<std::chrono::milliseconds>(steady_clock::now() - t1);
  signal_server("CONT");

  REQUIRE_FALSE(d.has_value());
  CHECK(d.error().is(errc::storage_unavailable));
  CHECK(waited < std::chrono::milliseconds(5000));
  REQUIRE_FALSE(q.has_value());
  CHECK(q.error().is(errc::storage_unavailable));
  CHECK(waited2 < std::chrono::milliseconds(7000));
  MESSAGE("a frozen server was reported after " << waited.count() << " ms, a new connection after " << waited2.count()
                                                << " ms");

  // Back: the same request id resolves the in-doubt call exactly once.
  auto again = svc.try_consume(u, 1, with_request_id("during"));
  for (int i = 0; i < 20 && !again; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    again = svc.try_consume(u, 1, with_request_id("during"));
  }
  REQUIRE(again.has_value());
  CHECK(again.value().allowed);
  CHECK(must(svc.get_user_quota_info(u)).messages_today == 2);
  check_audit_matches_counters(*store, u, svc.now(), tier_id{"free"});
  store.reset();
  kq_test::pg_drop_database(db);
}
