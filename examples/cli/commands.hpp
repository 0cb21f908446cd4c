// The kauri-quota commands: each runs one library call (or a few, for
// demo) and prints its answer, human-readable or as JSON.
#pragma once

#include "args.hpp"

#include <kauri_quota/result.hpp>

#include <chrono>
#include <optional>
#include <string>

namespace kauri_quota_cli {

/// Exit statuses of kauri-quota.
enum exit_status : int {
  exit_ok = 0,      ///< done, or allowed
  exit_error = 1,   ///< an error; one line on stderr starting "error: "
  exit_usage = 2,   ///< a malformed command line
  exit_denied = 3,  ///< denied by quota
};

/// Settings resolved from the command line and the environment.
struct settings {
  std::string url;   ///< storage URL (may hold a password: show redact_url(url))
  std::string zone;  ///< quota time zone
  bool json = false;
  std::optional<std::chrono::seconds> grace;  ///< --grace; empty: the library's default
  std::string currency{"XOF"};                ///< --currency
};

/// Prints "error: <message>" as one line on stderr; returns exit_error.
int report(const kauri_quota::error& e);

/// Runs a parsed command other than help and version.
int run_command(const command& cmd, const settings& s);

/// Runs `demo` (on its own temporary database; s.url is not used).
int run_demo(const command& cmd, const settings& s);

}  // namespace kauri_quota_cli
