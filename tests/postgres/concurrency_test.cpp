// Exactness across processes on PostgreSQL: 4 processes x 8 threads
// consuming for one user never admit more than the limit, never deny
// falsely, and leave counters equal to the audit rows.
#include "support/fixtures.hpp"
#include "support/worker_process.hpp"

#include <doctest/doctest.h>

using namespace kauri_quota;
using namespace kauri_quota::testing;

TEST_CASE("4 processes x 8 threads consuming for one user admit exactly the daily limit of 100") {
  service_fixture f(make_test_db("postgresql"));
  f.set_limits("free", limit{100}, std::nullopt, std::nullopt);
  const auto u = f.add_user("contended");
  constexpr int processes = 4;
  constexpr int threads = 8;
  constexpr int attempts = 10;  // 320 attempts for 100 places

  temp_dir out_dir;
  std::vector<worker_run> runs;
  for (int p = 0; p < processes; ++p)
    runs.push_back(spawn_worker(f.db.url, u, threads, attempts, f.now(), out_dir.path(), p));
  std::int64_t allowed = 0, denied = 0, errors = 0;
  for (int p = 0; p < processes; ++p) {
    const auto r = wait_worker(runs[static_cast<std::size_t>(p)]);
    INFO("worker " << p << " exit " << r.exit_status << "\nstdout:\n" << r.stdout_text << "stderr:\n" << r.stderr_text);
    REQUIRE(r.exit_status == 0);
    CHECK(r.thread_lines == threads);
    CHECK(r.thread_allowed_sum == r.allowed);
    CHECK(r.allowed + r.denied + r.errors == threads * attempts);
    allowed += r.allowed;
    denied += r.denied;
    errors += r.errors;
  }
  CHECK(errors == 0);
  CHECK(allowed == 100);  // no more than the limit, and no false denial
  CHECK(denied == processes * threads * attempts - 100);
  const quota_info q = f.quota(u);
  CHECK(q.messages_today == 100);
  CHECK(f.count_events(u, "message_sent") == 100);
  CHECK(f.count_events(u, "quota_exceeded") == static_cast<std::size_t>(denied));
  f.check_audit(u);
}

TEST_CASE("4 processes mixing consume, reserve/commit and reserve/release stay exact") {
  service_fixture f(make_test_db("postgresql"));
  f.set_limits("free", limit{60}, std::nullopt, std::nullopt);
  const auto u = f.add_user("mixed");
  temp_dir out_dir;
  std::vector<worker_run> runs;
  for (int p = 0; p < 4; ++p) runs.push_back(spawn_worker(f.db.url, u, 4, 15, f.now(), out_dir.path(), p, "mixed"));
  std::int64_t kept = 0;
  for (int p = 0; p < 4; ++p) {
    const auto r = wait_worker(runs[static_cast<std::size_t>(p)]);
    INFO("stderr:\n" << r.stderr_text);
    REQUIRE(r.exit_status == 0);
    CHECK(r.errors == 0);
    kept += r.allowed;
  }
  CHECK(kept <= 60);
  CHECK(f.quota(u).messages_today == kept);
  f.check_audit(u);
}
