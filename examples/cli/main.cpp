// kauri-quota: the command line of kauri_quota. See `kauri-quota --help`.

#include "args.hpp"
#include "commands.hpp"

#include <kauri_quota/kauri_quota.hpp>

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <variant>
#include <vector>

namespace {

namespace cli = kauri_quota_cli;

int run(const std::vector<std::string>& args) {
  cli::parse_result parsed = cli::parse_args(args);
  if (const auto* e = std::get_if<cli::usage_error>(&parsed)) {
    fmt::print(stderr, "usage error: {}\nRun `kauri-quota --help` for usage.\n", e->message);
    return cli::exit_usage;
  }
  const cli::command& cmd = std::get<cli::command>(parsed);

  if (cmd.kind == cli::command_kind::help) {
    fmt::print("{}", cli::usage_text());
    return cli::exit_ok;
  }
  if (cmd.kind == cli::command_kind::version) {
    if (cmd.global.json) {
      fmt::print("{{\"version\":{}}}\n", kauri_quota::json_quote(KAURI_QUOTA_VERSION_STRING));
    } else {
      fmt::print("kauri-quota {}\n", KAURI_QUOTA_VERSION_STRING);
    }
    return cli::exit_ok;
  }

  cli::settings s;
  if (cmd.global.db) {
    s.url = *cmd.global.db;
  } else if (const char* env = std::getenv("KAURI_QUOTA_DB");  // NOLINT(concurrency-mt-unsafe): one thread
             env != nullptr && *env != '\0') {
    s.url = env;
  } else {
    s.url = "sqlite:kauri_quota.db";
  }
  s.zone = cmd.global.tz.value_or("UTC");
  s.grace = cmd.global.grace;
  s.currency = cmd.global.currency.value_or("XOF");
  s.json = cmd.global.json;
  return cli::run_command(cmd, s);
}

}  // namespace

int main(int argc, char** argv) {
  int status = cli::exit_error;
  try {
    const std::vector<std::string> args(argv + (argc > 0 ? 1 : 0), argv + argc);
    status = run(args);
  } catch (const std::exception& e) {
    // The library reports through result<T>; this catches what remains
    // (out of memory, a failed write to a closed pipe...).
    (void)std::fflush(stdout);
    (void)std::fprintf(stderr, "error: %s\n", cli::printable(e.what(), 1000).c_str());
    return cli::exit_error;
  }
  if (std::fflush(stdout) != 0 || std::ferror(stdout) != 0) {
    (void)std::fprintf(stderr, "error: cannot write to standard output\n");
    return cli::exit_error;
  }
  return status;
}
