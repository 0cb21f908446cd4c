#include "support/worker_process.hpp"

#include <doctest/doctest.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

#ifndef KAURI_QUOTA_TEST_WORKER
#error "KAURI_QUOTA_TEST_WORKER must name the worker executable"
#endif

namespace kauri_quota::testing {
namespace {}  // namespace

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

pid_t spawn_process(std::vector<std::string> args, const std::filesystem::path& out, const std::filesystem::path& err) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) FAIL("posix_spawn(" << args[0] << ") failed: " << std::strerror(rc));
  return pid;
}

int wait_process(pid_t pid) {
  int status = 0;
  pid_t got = -1;
  do {
    got = ::waitpid(pid, &status, 0);
  } while (got < 0 && errno == EINTR);
  REQUIRE(got == pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

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
