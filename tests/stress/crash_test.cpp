// Process crashes: load processes are killed with SIGKILL at random points
// mid-load, again and again. After each kill the database is intact, the
// counters equal the audit rows, every acknowledged request is in the audit
// log, and requests left in doubt, retried with their ids, count once.
#include "stress/stress_support.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <random>
#include <thread>

using namespace kauri_quota;
using namespace kauri_quota::testing;

TEST_CASE("stress: SIGKILL at random points loses nothing acknowledged and counts nothing twice") {
  service_fixture f;
  constexpr std::int64_t daily_limit = 40;
  set_up_scenario(f, daily_limit);
  const int kills = static_cast<int>(100 * stress_scale());
  std::mt19937 rng(7);
  temp_dir dir;
  std::set<std::string> answered;
  std::int64_t in_doubt = 0, resolved_as_applied = 0;
  for (int k = 0; k < kills; ++k) {
    const auto sub = dir.path() / std::to_string(k);
    std::filesystem::create_directory(sub);
    auto load = spawn_load(f.db.url, k, 2, 1'000'000, k, f.now(), 3, "crash", sub);
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(30, 250)(rng)));
    kill_load(load);
    if (f.db.backend == "sqlite") {
      const auto ok = query(f.db, "PRAGMA integrity_check");
      REQUIRE(ok.size() == 1);
      CHECK(*ok[0][0] == "ok");
    }
    const auto log = read_request_log(load.log);
    answered.insert(log.answered.begin(), log.answered.end());
    // Every acknowledged request is in the audit log, once.
    const auto rows = audit_rows_per_request(f.db, log.answered);
    for (const auto& id : log.answered) {
      const auto it = rows.find(id);
      CHECK_MESSAGE((it != rows.end() && it->second == 1),
                    "acknowledged request " << id << " is not in the audit log once");
    }
    // Requests in doubt: sent again with their ids, as a client would. One
    // that had landed is answered as a replay; either way it counts once.
    std::set<std::string> retried;
    for (const auto& s : log.sent) {
      if (log.answered.count(s.id)) continue;
      retried.insert(s.id);
      ++in_doubt;
      request_context ctx;
      ctx.id = request_id{s.id};
      const user_id u{s.user};
      bool replayed = false;
      if (s.operation == "consume") {
        replayed = must(f.svc.try_consume(u, s.tokens, ctx)).replayed;
      } else if (s.operation == "reserve") {
        replayed = must(f.svc.reserve(u, s.tokens, ctx)).replayed;
      } else if (s.operation == "record") {
        must(f.svc.increment_usage(u, 1, s.tokens, ctx));
      }
      if (replayed) ++resolved_as_applied;
    }
    const auto after = audit_rows_per_request(f.db, retried);
    for (const auto& id : retried) {
      const auto it = after.find(id);
      CHECK_MESSAGE((it != after.end() && it->second == 1), id << " is not in the audit log exactly once");
    }
  }
  const auto rep = check_invariants(f.db, daily_limit);
  MESSAGE("crashes on " << f.db.backend << ": " << kills << " kills, " << answered.size()
                        << " acknowledged requests all in the audit log, " << in_doubt << " in doubt at a kill ("
                        << resolved_as_applied << " had landed, none twice); " << rep.audit_rows
                        << " audit rows reconciled");
}
