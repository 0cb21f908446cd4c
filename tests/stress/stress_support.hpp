// Shared pieces of the stress suites: load processes (stress_worker.cpp)
// and the invariants checked on the database afterwards, with SQL run
// directly on the database rather than through the library.
#pragma once

#include "support/fixtures.hpp"

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace kauri_quota::testing {

using sql_rows = std::vector<std::vector<std::optional<std::string>>>;

/// Rows of `sql` on the test database (either backend).
sql_rows query(const test_db& db, const std::string& sql);

/// How much load a suite runs: KQ_STRESS_SCALE (a factor, default 1).
double stress_scale();

struct load_process {
  pid_t pid = -1;
  std::filesystem::path out, err, log;
};

struct load_counts {
  int exit_status = -1;
  std::int64_t attempts = 0, allowed = 0, denied = 0, errors = 0, replay_mismatches = 0;
  std::string stderr_text;
};

/// Starts a load process (see stress_worker.cpp for the arguments).
load_process spawn_load(const std::string& url, int index, int threads, std::int64_t ops, std::int64_t seed,
                        sys_time start, int days, const std::string& mode, const std::filesystem::path& dir);
/// Waits for it and reads its counts.
load_counts wait_load(const load_process& p);
/// SIGKILLs it and reaps it.
void kill_load(const load_process& p);

/// A request a crash-mode log shows as sent: how to send it again.
struct sent_request {
  std::string id, operation, user;
  std::int64_t tokens = 0;
};

/// What a crash-mode log shows as sent and as answered.
struct request_log {
  std::vector<sent_request> sent;
  std::set<std::string> answered;
};
request_log read_request_log(const std::filesystem::path& log);

/// The users and tiers of the contention scenario: the hot user on `free`
/// with `daily_limit` messages a day (no monthly or token limit), and 50
/// background users.
void set_up_scenario(service_fixture& f, std::int64_t daily_limit);

/// How many audit rows carry each of `ids` (ids absent from the map have none).
std::map<std::string, std::int64_t> audit_rows_per_request(const test_db& db, const std::set<std::string>& ids);

struct invariant_report {
  std::int64_t day_rows = 0, audit_rows = 0, denials_checked = 0, keyed_requests = 0;
};

/// Checks, with direct SQL: per user and day, the counters equal the sum of
/// the audit rows; the month-to-date totals of the latest day of each
/// month equal the sum of its days; the hot user never has more than
/// `daily_limit` messages on a day; each request id was applied at most
/// once; and every denial of the hot user really did not fit (the usage it
/// saw plus the request exceeds the limit).
invariant_report check_invariants(const test_db& db, std::int64_t daily_limit);

}  // namespace kauri_quota::testing
