#include "support/process.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

extern char** environ;

namespace kauri_quota::testing {

namespace {

/// Closes a file descriptor on scope exit.
struct fd_guard {
  int fd = -1;
  explicit fd_guard(int f) : fd(f) {}
  fd_guard(const fd_guard&) = delete;
  fd_guard& operator=(const fd_guard&) = delete;
  ~fd_guard() { reset(); }
  void reset() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

/// posix_spawn_file_actions_t, destroyed on scope exit.
struct file_actions {
  posix_spawn_file_actions_t actions{};
  file_actions() { posix_spawn_file_actions_init(&actions); }
  file_actions(const file_actions&) = delete;
  file_actions& operator=(const file_actions&) = delete;
  ~file_actions() { posix_spawn_file_actions_destroy(&actions); }
};

/// A NULL-terminated char* array over strings that outlive it.
std::vector<char*> c_array(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

pid_t spawn(std::vector<std::string>& args, const file_actions& fa, char* const* envp) {
  const auto argv = c_array(args);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, argv[0], &fa.actions, nullptr, argv.data(), envp);
  if (rc != 0) FAIL("posix_spawn(" << args[0] << ") failed: " << std::strerror(rc));
  return pid;
}

void make_pipe(std::array<int, 2>& fds) {
  if (::pipe(fds.data()) != 0) FAIL("pipe() failed: " << std::strerror(errno));
}

}  // namespace

run_result run_program(const std::string& program, const std::vector<std::string>& args,
                       const std::map<std::string, std::string>& env) {
  std::array<int, 2> out_pipe{};
  make_pipe(out_pipe);
  fd_guard out_read{out_pipe[0]};
  fd_guard out_write{out_pipe[1]};
  std::array<int, 2> err_pipe{};
  make_pipe(err_pipe);
  fd_guard err_read{err_pipe[0]};
  fd_guard err_write{err_pipe[1]};

  file_actions fa;
  posix_spawn_file_actions_addopen(&fa.actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa.actions, out_pipe[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&fa.actions, err_pipe[1], STDERR_FILENO);
  posix_spawn_file_actions_addclose(&fa.actions, out_pipe[0]);
  posix_spawn_file_actions_addclose(&fa.actions, err_pipe[0]);

  std::vector<std::string> argv{program};
  argv.insert(argv.end(), args.begin(), args.end());

  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view entry(*e);
    const std::string name(entry.substr(0, entry.find('=')));
    if (name == "KAURI_QUOTA_DB" || env.contains(name)) continue;
    env_strings.emplace_back(entry);
  }
  for (const auto& [name, value] : env) env_strings.push_back(name + "=" + value);
  const auto envp = c_array(env_strings);

  const pid_t pid = spawn(argv, fa, envp.data());
  out_write.reset();
  err_write.reset();

  // Read both pipes until both are closed, so that neither can fill up
  // and block the child.
  run_result r;
  std::array<pollfd, 2> fds{pollfd{out_read.fd, POLLIN, 0}, pollfd{err_read.fd, POLLIN, 0}};
  std::array<std::string*, 2> sinks{&r.out, &r.err};
  int open_count = 2;
  std::array<char, 4096> buffer{};
  while (open_count > 0) {
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      FAIL("poll() failed: " << std::strerror(errno));
    }
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      const ssize_t n = ::read(fds[i].fd, buffer.data(), buffer.size());
      if (n > 0) {
        sinks[i]->append(buffer.data(), static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        fds[i].fd = -1;
        --open_count;
      }
    }
  }
  r.exit_code = wait_process(pid);
  return r;
}

pid_t spawn_process(std::vector<std::string> args, const std::filesystem::path& out, const std::filesystem::path& err) {
  file_actions fa;
  posix_spawn_file_actions_addopen(&fa.actions, STDOUT_FILENO, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa.actions, STDERR_FILENO, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  return spawn(args, fa, environ);
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

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> lines_of(std::string_view text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    lines.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

}  // namespace kauri_quota::testing
