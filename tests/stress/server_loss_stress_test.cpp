// Server loss under load (PostgreSQL): while load processes run, the server
// is stopped immediately and restarted several times, and backends are
// terminated mid-transaction again and again. Clients reconnect; with
// request ids nothing acknowledged is lost and nothing counts twice; no
// call hangs.
#include "stress/stress_support.hpp"
#include "support/postgres_server.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <random>
#include <thread>

using namespace kauri_quota;
using namespace kauri_quota::testing;

TEST_CASE("stress: restarts and terminated backends under load lose nothing and double nothing") {
  service_fixture f(make_test_db("postgresql"));
  constexpr std::int64_t daily_limit = 40;
  set_up_scenario(f, daily_limit);
  const int restarts = static_cast<int>(5 * stress_scale());
  const int terminations_wanted = static_cast<int>(100 * stress_scale());
  temp_dir dir;
  std::vector<load_process> loads;
  for (int p = 0; p < 4; ++p)
    loads.push_back(spawn_load(f.db.url, p, 4, static_cast<std::int64_t>(1500 * stress_scale()), 3, f.now(), 3, "retry",
                               dir.path()));

  std::mt19937 rng(11);
  int terminated = 0;
  int rounds = 0;
  for (int r = 0; r < restarts; ++r) {
    // Between restarts, terminate backends mid-transaction.
    for (int i = 0; i < terminations_wanted / restarts + 1; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(5, 40)(rng)));
      try {
        terminated += std::stoi(
            kq_test::pg_query("SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '" +
                                  f.db.pg_database + "' AND pid <> pg_backend_pid() AND state = 'active'",
                              "postgres"));
        ++rounds;
      } catch (const std::exception&) {
        // The server may be starting up.
      }
    }
    kq_test::pg_stop_immediate();
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    kq_test::pg_start();
  }
  // Keep terminating until the load is done or enough backends were hit.
  while (terminated < terminations_wanted) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    terminated +=
        std::stoi(kq_test::pg_query("SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE "
                                    "datname = '" +
                                        f.db.pg_database + "' AND pid <> pg_backend_pid()",
                                    "postgres"));
    ++rounds;
  }
  load_counts total;
  std::set<std::string> answered;
  for (const auto& l : loads) {
    const auto c = wait_load(l);
    INFO("stderr: " << c.stderr_text);
    CHECK(c.exit_status == 0);
    CHECK(c.errors == 0);
    total.attempts += c.attempts;
    total.allowed += c.allowed;
    total.denied += c.denied;
    const auto log = read_request_log(l.log);
    answered.insert(log.answered.begin(), log.answered.end());
    CHECK(log.answered.size() == log.sent.size());  // every keyed request was answered in the end
  }
  const auto rows = audit_rows_per_request(f.db, answered);
  for (const auto& id : answered) {
    const auto it = rows.find(id);
    CHECK_MESSAGE((it != rows.end() && it->second == 1), id << " is not in the audit log exactly once");
  }
  const auto rep = check_invariants(f.db, daily_limit);
  CHECK(terminated >= terminations_wanted);
  MESSAGE("server loss: " << restarts << " immediate stops and restarts, " << terminated << " backends terminated (in "
                          << rounds << " rounds), " << total.attempts << " attempts, " << answered.size()
                          << " keyed requests answered and each in the audit log once, " << rep.audit_rows
                          << " audit rows reconciled");
}
