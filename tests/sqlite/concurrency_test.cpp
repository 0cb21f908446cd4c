// Exactness under concurrency on SQLite: many threads and many processes
// consuming for one user never admit more than the limit, never fail, and
// leave counters equal to the audit rows.
#include "support/fixtures.hpp"
#include "support/worker_process.hpp"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace kauri_quota;
using namespace kauri_quota::testing;

namespace {

constexpr std::int64_t daily_limit = 50;

}  // namespace

TEST_CASE("4 processes x 4 threads consuming for one user admit exactly the daily limit of 50") {
  service_fixture f(make_test_db("sqlite"));
  f.set_limits("free", limit{daily_limit}, std::nullopt, std::nullopt);
  const auto u = f.add_user("contended");
  constexpr int processes = 4;
  constexpr int threads = 4;
  constexpr int attempts = 20;  // 320 attempts in all for 50 places

  temp_dir out_dir;
  std::vector<worker_run> runs;
  for (int p = 0; p < processes; ++p)
    runs.push_back(spawn_worker(f.db.file.string(), u, threads, attempts, f.now(), out_dir.path(), p));
  std::int64_t allowed = 0, denied = 0, errors = 0, per_thread_allowed = 0;
  for (int p = 0; p < processes; ++p) {
    const auto r = wait_worker(runs[static_cast<std::size_t>(p)]);
    INFO("worker " << p << " exit " << r.exit_status << "\nstdout:\n" << r.stdout_text << "stderr:\n" << r.stderr_text);
    REQUIRE(r.exit_status == 0);
    REQUIRE(r.allowed >= 0);
    CHECK(r.thread_lines == threads);
    CHECK(r.thread_allowed_sum == r.allowed);
    CHECK(r.errors == 0);
    CHECK(r.allowed + r.denied + r.errors == threads * attempts);
    allowed += r.allowed;
    denied += r.denied;
    errors += r.errors;
    per_thread_allowed += r.thread_allowed_sum;
  }
  CHECK(errors == 0);
  CHECK(allowed == daily_limit);
  CHECK(per_thread_allowed == daily_limit);
  CHECK(denied == processes * threads * attempts - daily_limit);

  const auto q = f.quota(u);
  CHECK(q.messages_today == daily_limit);
  CHECK(q.messages_this_month == daily_limit);
  CHECK(f.count_events(u, "message_sent") == static_cast<std::size_t>(daily_limit));
  CHECK(f.count_events(u, "quota_exceeded") == static_cast<std::size_t>(denied));
  f.check_audit(u);
}

TEST_CASE("4 processes mixing consume, reserve/commit and reserve/release keep the daily limit and the audit exact") {
  service_fixture f(make_test_db("sqlite"));
  f.set_limits("free", limit{daily_limit}, std::nullopt, std::nullopt);
  const auto u = f.add_user("contended");
  constexpr int processes = 4;
  constexpr int threads = 3;
  constexpr int attempts = 15;

  temp_dir out_dir;
  std::vector<worker_run> runs;
  for (int p = 0; p < processes; ++p) {
    runs.push_back(spawn_worker(f.db.file.string(), u, threads, attempts, f.now(), out_dir.path(), p, "mixed"));
  }
  std::int64_t kept = 0, errors = 0;
  for (int p = 0; p < processes; ++p) {
    const auto r = wait_worker(runs[static_cast<std::size_t>(p)]);
    INFO("worker " << p << " exit " << r.exit_status << "\nstdout:\n" << r.stdout_text << "stderr:\n" << r.stderr_text);
    REQUIRE(r.exit_status == 0);
    REQUIRE(r.allowed >= 0);
    CHECK(r.errors == 0);
    kept += r.allowed;
    errors += r.errors;
  }
  CHECK(errors == 0);
  const auto q = f.quota(u);
  CHECK(q.messages_today <= daily_limit);
  CHECK(q.messages_today == kept);
  CHECK(must(f.svc.expire_reservations()) == 0);
  f.check_audit(u);
}

TEST_CASE("processes on both sides of midnight keep each day's counters and the month-to-date totals exact") {
  service_fixture f(make_test_db("sqlite"), {}, "2025-11-06T12:00:00Z");
  const auto u = f.add_user("night-owl", "enterprise");
  REQUIRE(f.consume(u, 1).allowed);
  constexpr int threads = 3;
  constexpr int attempts = 15;
  const auto before_midnight = at("2025-11-07T23:59:59Z");
  const auto after_midnight = at("2025-11-08T00:00:01Z");

  temp_dir out_dir;
  std::vector<worker_run> runs;
  for (int p = 0; p < 4; ++p) {
    runs.push_back(spawn_worker(f.db.file.string(), u, threads, attempts, p % 2 == 0 ? before_midnight : after_midnight,
                                out_dir.path(), p));
  }
  std::int64_t allowed_d = 0, allowed_d1 = 0;
  for (int p = 0; p < 4; ++p) {
    const auto r = wait_worker(runs[static_cast<std::size_t>(p)]);
    INFO("worker " << p << " exit " << r.exit_status << "\nstdout:\n" << r.stdout_text << "stderr:\n" << r.stderr_text);
    REQUIRE(r.exit_status == 0);
    CHECK(r.errors == 0);
    CHECK(r.allowed == threads * attempts);
    (p % 2 == 0 ? allowed_d : allowed_d1) += r.allowed;
  }
  const auto d = f.usage_on(u, date("2025-11-07"));
  const auto d1 = f.usage_on(u, date("2025-11-08"));
  CHECK(d.messages_today == allowed_d);
  CHECK(d.tokens_today == allowed_d);
  CHECK(d1.messages_today == allowed_d1);
  CHECK(d1.tokens_today == allowed_d1);
  CHECK(d1.messages_this_month == 1 + allowed_d + allowed_d1);
  CHECK(d1.tokens_this_month == 1 + allowed_d + allowed_d1);
  f.check_month_to_date(u, date("2025-11-08"));
  f.set_time("2025-11-08T00:00:02Z");
  f.check_audit(u, {date("2025-11-06"), date("2025-11-07")});
}

TEST_CASE("8 threads on one SQLite storage consuming for one user admit exactly the daily limit of 50") {
  service_fixture f(make_test_db("sqlite"));
  f.set_limits("free", limit{daily_limit}, std::nullopt, std::nullopt);
  const auto u = f.add_user("contended");
  constexpr int threads = 8;
  constexpr int attempts = 20;

  std::atomic<bool> go{false};
  std::vector<std::int64_t> allowed(threads, 0), denied(threads, 0), errors(threads, 0);
  std::vector<std::string> first_error(threads);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      const auto i = static_cast<std::size_t>(t);
      while (!go.load()) std::this_thread::yield();
      for (int k = 0; k < attempts; ++k) {
        auto d = f.svc.try_consume(u, 3);
        if (!d) {
          if (errors[i]++ == 0) first_error[i] = describe(d.error());
        } else if (d.value().allowed) {
          ++allowed[i];
        } else {
          ++denied[i];
        }
      }
    });
  }
  go.store(true);
  for (auto& th : pool) th.join();

  std::int64_t total_allowed = 0, total_denied = 0, total_errors = 0;
  for (std::size_t i = 0; i < static_cast<std::size_t>(threads); ++i) {
    INFO("thread " << i << ": first error: " << first_error[i]);
    CHECK(errors[i] == 0);
    total_allowed += allowed[i];
    total_denied += denied[i];
    total_errors += errors[i];
  }
  CHECK(total_errors == 0);
  CHECK(total_allowed == daily_limit);
  CHECK(total_denied == threads * attempts - daily_limit);
  const auto q = f.quota(u);
  CHECK(q.messages_today == daily_limit);
  CHECK(q.tokens_today == 3 * daily_limit);
  f.check_audit(u);
}

TEST_CASE("threads mixing consume, reserve/commit and reserve/release on SQLite keep the limit and the audit exact") {
  service_fixture f(make_test_db("sqlite"));
  f.set_limits("free", limit{daily_limit}, std::nullopt, std::nullopt);
  const auto u = f.add_user("contended");
  constexpr int threads = 6;
  constexpr int attempts = 25;

  std::atomic<bool> go{false};
  std::atomic<std::int64_t> errors{0}, kept{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      while (!go.load()) std::this_thread::yield();
      for (int k = 0; k < attempts; ++k) {
        switch ((t + k) % 3) {
          case 0: {
            auto d = f.svc.try_consume(u, 1);
            if (!d)
              ++errors;
            else if (d.value().allowed)
              ++kept;
            break;
          }
          case 1: {
            auto d = f.svc.reserve(u, 10);
            if (!d) {
              ++errors;
            } else if (d.value().allowed) {
              if (d.value().reservation && f.svc.commit(*d.value().reservation, 7))
                ++kept;
              else
                ++errors;
            }
            break;
          }
          default: {
            auto d = f.svc.reserve(u, 10);
            if (!d) {
              ++errors;
            } else if (d.value().allowed) {
              if (!d.value().reservation || !f.svc.release(*d.value().reservation)) ++errors;
            }
            break;
          }
        }
      }
    });
  }
  go.store(true);
  for (auto& th : pool) th.join();

  CHECK(errors.load() == 0);
  const auto q = f.quota(u);
  CHECK(q.messages_today <= daily_limit);
  CHECK(q.messages_today == kept.load());
  f.check_audit(u);
}

TEST_CASE("concurrent retries of one request_id on SQLite count once") {
  service_fixture f(make_test_db("sqlite"));
  const auto u = f.add_user("retrying", "pro");
  constexpr int threads = 8;
  std::atomic<bool> go{false};
  std::atomic<int> allowed{0}, replayed{0}, errors{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      while (!go.load()) std::this_thread::yield();
      auto d = f.svc.try_consume(u, 42, with_request_id("the-one-request"));
      if (!d) {
        ++errors;
        return;
      }
      if (d.value().allowed) ++allowed;
      if (d.value().replayed) ++replayed;
    });
  }
  go.store(true);
  for (auto& th : pool) th.join();
  CHECK(errors.load() == 0);
  CHECK(allowed.load() == threads);
  CHECK(replayed.load() == threads - 1);
  const auto q = f.quota(u);
  CHECK(q.messages_today == 1);
  CHECK(q.tokens_today == 42);
  CHECK(f.count_events(u, "message_sent") == 1);
  f.check_audit(u);
}
