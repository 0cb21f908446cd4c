// The retention measurement shared by the SQLite and PostgreSQL timing
// cases: a million audit rows of September 2025 (and a hundred thousand of
// October, kept) written straight into the tables, then prune_usage before
// 2025-10-01 timed while another thread keeps consuming. It prints what it
// measured and asserts only what was deleted, never a time: run it by hand
// (doctest --no-skip), as the README's figure was.
#pragma once

#include "support/fixtures.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>

namespace kauri_quota::testing {

/// The SQL that fills the tables, in the backend's dialect.
struct retention_seed {
  std::string users;       ///< 1000 users p0..p999
  std::string audit_rows;  ///< 1,000,000 rows on 2025-09-01..30 and 100,000 on 2025-10-01..10
  std::string day_rows;    ///< the day rows those audit rows add up to, month-to-date totals included
};

inline void measure_retention(service_fixture& f, const retention_seed& seed,
                              const std::function<void(const std::string&)>& exec_sql,
                              const std::function<std::int64_t(const std::string&)>& count) {
  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  exec_sql(seed.users);
  exec_sql(seed.audit_rows);
  exec_sql(seed.day_rows);
  const auto seeded = clock::now();
  REQUIRE(count("SELECT count(*) FROM usage_logs") == 1'100'000);
  REQUIRE(count("SELECT count(*) FROM user_usage") == 40'000);

  f.set_time("2025-11-07T12:00:00Z");
  const auto live = f.add_user("live", "enterprise");
  std::atomic<bool> done{false};
  std::int64_t consumed = 0;
  clock::duration slowest{};
  // KQ_PRUNE_ALONE measures the prune without the concurrent writer.
  const bool alone = std::getenv("KQ_PRUNE_ALONE") != nullptr;
  std::thread writer([&] {
    while (!alone && !done.load()) {
      const auto s = clock::now();
      auto d = f.svc.try_consume(live, 1);
      slowest = std::max(slowest, clock::now() - s);
      if (d) ++consumed;
    }
  });
  const auto start = clock::now();
  // KQ_PRUNE_BATCH compares batch sizes by hand.
  const char* batch_env = std::getenv("KQ_PRUNE_BATCH");
  const std::int64_t batch = batch_env != nullptr ? std::atoll(batch_env) : default_prune_batch_size;
  auto report = f.svc.prune_usage(date("2025-10-01"), batch);
  const auto took = clock::now() - start;
  done.store(true);
  writer.join();
  REQUIRE(report.has_value());
  CHECK(report.value().audit_rows == 1'000'000);
  CHECK(report.value().day_rows == 30'000);
  CHECK(count("SELECT count(*) FROM usage_logs WHERE user_id <> 'live'") == 100'000);
  for (const char* u : {"p0", "p1", "p999"}) {
    f.check_audit(user_id{u}, {date("2025-10-01"), date("2025-10-05"), date("2025-10-10")});
    f.check_month_to_date(user_id{u}, date("2025-10-10"));
  }
  const auto ms = [](clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); };
  MESSAGE(f.db.backend << ": seeded 1.1M audit rows in " << ms(seeded - t0) / 1000 << " s; prune_usage deleted "
                       << report.value().audit_rows << " audit rows and " << report.value().day_rows << " day rows in "
                       << ms(took) / 1000 << " s (" << static_cast<double>(report.value().audit_rows) * 1000 / ms(took)
                       << " audit rows/s, batches of " << batch << "); meanwhile " << consumed
                       << " consumes, the slowest " << ms(slowest) << " ms");
}

}  // namespace kauri_quota::testing
