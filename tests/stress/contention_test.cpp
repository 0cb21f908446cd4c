// Contention: several processes x several threads hammer one hot user and
// 50 background users with a mix of every operation, over several days at
// once. The invariants hold afterwards, and the counts are printed.
#include "stress/stress_support.hpp"

#include <doctest/doctest.h>

using namespace kauri_quota;
using namespace kauri_quota::testing;

TEST_CASE("stress: processes x threads mixing every operation keep every invariant") {
  service_fixture f;  // the backend of KQ_TEST_BACKEND
  constexpr std::int64_t daily_limit = 40;
  set_up_scenario(f, daily_limit);
  constexpr int processes = 4;
  constexpr int threads = 4;
  const auto ops = static_cast<std::int64_t>(6'250 * stress_scale());  // 100,000 attempts at scale 1
  temp_dir dir;
  std::vector<load_process> loads;
  for (int p = 0; p < processes; ++p)
    loads.push_back(spawn_load(f.db.url, p, threads, ops, 42, f.now(), 6, "mix", dir.path()));
  load_counts total;
  for (const auto& l : loads) {
    const auto c = wait_load(l);
    INFO("stderr: " << c.stderr_text);
    CHECK(c.exit_status == 0);
    CHECK(c.errors == 0);
    CHECK(c.replay_mismatches == 0);
    total.attempts += c.attempts;
    total.allowed += c.allowed;
    total.denied += c.denied;
    total.errors += c.errors;
  }
  CHECK(total.attempts == processes * threads * ops);
  const auto rep = check_invariants(f.db, daily_limit);
  MESSAGE("contention on " << f.db.backend << ": " << total.attempts << " attempts, " << total.allowed << " allowed, "
                           << total.denied << " denied, " << total.errors << " errors; " << rep.day_rows
                           << " day rows and " << rep.audit_rows << " audit rows reconciled, " << rep.denials_checked
                           << " denials checked, " << rep.keyed_requests << " request ids");
  // The hot user was saturated on every day: the limit was reached.
  for (const auto& r : query(f.db, "SELECT usage_date, messages_today FROM user_usage WHERE user_id = 'hot'"))
    CHECK_MESSAGE(std::stoll(*r[1]) <= daily_limit, *r[0]);
}
