// Child processes for the tests: programs run to completion with their
// output captured (the kauri-quota binary), and processes started in the
// background with their output sent to files (the multi-process workers).
// Failures to start or wait fail the test.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace kauri_quota::testing {

/// What one run of a program produced.
struct run_result {
  int exit_code = -1;  ///< exit status, or 128 + signal number
  std::string out;
  std::string err;
};

/// Runs `program` with `args` (argv[1...]), stdin from /dev/null, and the
/// environment of this process minus KAURI_QUOTA_DB (so that no test can
/// reach a developer's own database through it) plus `env`; waits for it
/// and returns what it wrote on stdout and stderr.
run_result run_program(const std::string& program, const std::vector<std::string>& args,
                       const std::map<std::string, std::string>& env = {});

/// Starts `args` (args[0] is the executable) with stdout and stderr sent to
/// the given files, in this process's environment; fails the test when it
/// cannot.
pid_t spawn_process(std::vector<std::string> args, const std::filesystem::path& out, const std::filesystem::path& err);
/// Waits for a child; its exit status, or 128 + the signal that ended it.
int wait_process(pid_t pid);
/// The whole content of a file ("" when it cannot be read).
std::string slurp(const std::filesystem::path& p);

/// The lines of `text` (without their newlines).
std::vector<std::string> lines_of(std::string_view text);

}  // namespace kauri_quota::testing
