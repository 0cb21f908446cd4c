// Worker processes for the multi-process tests (support/worker.cpp): each
// opens the database given to it and hammers one user from several threads.
#pragma once

#include "support/process.hpp"  // spawn_process, wait_process and slurp, which the suites also use

#include <kauri_quota/kauri_quota.hpp>

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace kauri_quota::testing {

struct worker_run {
  pid_t pid = -1;
  std::filesystem::path out;
  std::filesystem::path err;
};

struct worker_result {
  int exit_status = -1;
  std::int64_t allowed = -1;
  std::int64_t denied = -1;
  std::int64_t errors = -1;
  std::int64_t thread_allowed_sum = 0;
  int thread_lines = 0;
  std::string stdout_text;
  std::string stderr_text;
};

/// Starts a worker on `db` (an SQLite file or a storage URL) for `user`:
/// `threads` threads of `attempts` requests each at the fixed instant
/// `now`; mode "consume", "mixed" or "sweep" (see worker.cpp). Output goes to files
/// in `out_dir` named after `index`.
worker_run spawn_worker(const std::string& db, const user_id& user, int threads, int attempts, sys_time now,
                        const std::filesystem::path& out_dir, int index, const char* mode = "consume");

/// Waits for the worker and parses its counts.
worker_result wait_worker(const worker_run& run);

}  // namespace kauri_quota::testing
