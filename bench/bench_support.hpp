// What the benchmark and the scale program share: ending a run on an error
// without leaving a server behind, and the throw-away PostgreSQL server
// (scripts/pg-test-server.sh) they measure against. Header-only; each
// program includes it once.
#pragma once

#include <kauri_quota/result.hpp>

#include <fmt/format.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace kauri_quota::bench {

/// What must be undone when the run ends, early or not: child processes
/// (Redis, the PostgreSQL server) would otherwise outlive it.
class cleanup {
 public:
  static void add(std::function<void()> undo) {
    const std::lock_guard lock(mutex());
    actions().push_back(std::move(undo));
  }
  /// Runs every action added, newest first, once.
  static void run() {
    std::vector<std::function<void()>> todo;
    {
      const std::lock_guard lock(mutex());
      todo.swap(actions());
    }
    for (auto it = todo.rbegin(); it != todo.rend(); ++it) (*it)();
  }

 private:
  static std::mutex& mutex() {
    static std::mutex m;
    return m;
  }
  static std::vector<std::function<void()>>& actions() {
    static std::vector<std::function<void()>> a;
    return a;
  }
};

/// Prints the error, undoes what cleanup holds, and exits 1.
[[noreturn]] inline void die(const std::string& what) {
  fmt::print(stderr, "error: {}\n", what);
  cleanup::run();
  std::exit(1);
}

/// The value of `r`, or die() with `what` and its error.
template <class T>
T must(result<T> r, const char* what) {
  if (!r) die(fmt::format("{}: {}", what, r.error().message));
  return std::move(r).value();
}

/// Starts a durable throw-away PostgreSQL server in `dir` (stopped by
/// cleanup::run()) and returns its TCP connection string without a dbname.
/// `source_dir` is the repository, which holds scripts/pg-test-server.sh.
inline std::string start_postgres(const std::string& source_dir, const std::string& dir, bool quiet) {
  const std::string script = fmt::format("bash '{}/scripts/pg-test-server.sh'", source_dir);
  if (std::system(fmt::format("{} start '{}' --durable{}", script, dir, quiet ? " >/dev/null" : "").c_str()) != 0)
    die("could not start a PostgreSQL server (use --pg none)");
  cleanup::add([script, dir] { (void)std::system(fmt::format("{} stop '{}' >/dev/null", script, dir).c_str()); });
  std::string conninfo;
  std::ifstream in(dir + "/tcp-conninfo");
  std::getline(in, conninfo);
  if (conninfo.empty()) die("the PostgreSQL server in " + dir + " wrote no connection string");
  return conninfo.substr(0, conninfo.find(" dbname="));
}

}  // namespace kauri_quota::bench
