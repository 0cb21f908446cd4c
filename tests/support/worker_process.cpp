#include "support/worker_process.hpp"

#include <doctest/doctest.h>

#include <cstdio>
#include <sstream>
#include <string>

#ifndef KAURI_QUOTA_TEST_WORKER
#error "KAURI_QUOTA_TEST_WORKER must name the worker executable"
#endif

namespace kauri_quota::testing {

worker_run spawn_worker(const std::string& db, const user_id& user, int threads, int attempts, sys_time now,
                        const std::filesystem::path& out_dir, int index, const char* mode) {
  worker_run run;
  run.out = out_dir / ("worker-" + std::to_string(index) + ".out");
  run.err = out_dir / ("worker-" + std::to_string(index) + ".err");
  run.pid = spawn_process({KAURI_QUOTA_TEST_WORKER, db, user.str(), std::to_string(threads), std::to_string(attempts),
                           std::to_string(now.time_since_epoch().count()), mode},
                          run.out, run.err);
  return run;
}

worker_result wait_worker(const worker_run& run) {
  worker_result r;
  r.exit_status = wait_process(run.pid);
  r.stdout_text = slurp(run.out);
  r.stderr_text = slurp(run.err);
  std::istringstream lines(r.stdout_text);
  std::string line;
  while (std::getline(lines, line)) {
    long long a = 0, d = 0, e = 0;
    int t = 0;
    if (std::sscanf(line.c_str(), "thread=%d allowed=%lld denied=%lld errors=%lld", &t, &a, &d, &e) == 4) {
      r.thread_allowed_sum += a;
      ++r.thread_lines;
    } else if (std::sscanf(line.c_str(), "allowed=%lld denied=%lld errors=%lld", &a, &d, &e) == 3) {
      r.allowed = a;
      r.denied = d;
      r.errors = e;
    }
  }
  return r;
}

}  // namespace kauri_quota::testing
