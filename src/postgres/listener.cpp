// The change feed of the PostgreSQL backend: one dedicated connection (not
// from the pool) that LISTENs on kauri_quota_changes, where the triggers of
// migration 0010 announce every change that can turn a denial into an
// admission, whoever commits it.
//
// A background thread reads the notifications with a bounded poll and
// passes each on: a user id, or '*' for everyone. Every few seconds of
// silence it sends a query of its own, so that a connection that died
// without a word is noticed within the statement timeout. On a lost
// connection the feed reports nullopt (drop everything: notifications may
// be lost) and says it is not live until it has reconnected with backoff,
// LISTENs again and reported nullopt once more (the notifications of the
// gap are lost). The thread is stopped and joined by the destructor.
#include "postgres/backend.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <thread>

namespace kauri_quota::detail::postgres {
namespace {

using clock_type = std::chrono::steady_clock;

constexpr std::chrono::milliseconds first_backoff{50};
constexpr std::chrono::milliseconds last_backoff{2000};
constexpr std::chrono::milliseconds heartbeat_after{5000};

class listener final : public change_feed {
 public:
  listener(pq::connect_options opts, std::string password, change_handler on_change)
      : opts_(std::move(opts)), password_(std::move(password)), on_change_(std::move(on_change)) {
    if (::pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0) wake_[0] = wake_[1] = -1;
    // The first connection is made here, so that a service is live as soon
    // as it is built; a failure is retried by the thread.
    connect();
    thread_ = std::thread([this] { loop(); });
  }

  ~listener() override {
    stop_.store(true, std::memory_order_release);
    if (wake_[1] >= 0) {
      const char b = 1;
      [[maybe_unused]] const auto n = ::write(wake_[1], &b, 1);
    }
    thread_.join();
    for (int fd : wake_)
      if (fd >= 0) ::close(fd);
  }

  bool sync() override { return live_.load(std::memory_order_acquire); }

 private:
  /// Sleeps up to `d`, or until the destructor wakes the thread.
  void pause(std::chrono::milliseconds d) {
    pollfd p{wake_[0], POLLIN, 0};
    ::poll(&p, wake_[0] >= 0 ? 1 : 0, static_cast<int>(d.count()));
  }

  bool connect() {
    auto c = pq::connection::open(opts_, password_);
    if (!c) return false;
    auto r = c.value()->exec_simple("SET application_name = 'kauri_quota_listener'; LISTEN kauri_quota_changes");
    if (std::holds_alternative<pq::failure>(r)) return false;
    conn_ = std::move(c).value();
    // LISTEN first, drop after: a change committed after the LISTEN is
    // announced, one committed before it is covered by the drop.
    on_change_(std::nullopt);
    live_.store(true, std::memory_order_release);
    last_heard_ = clock_type::now();
    heartbeat_sent_.reset();
    return true;
  }

  void lose() {
    live_.store(false, std::memory_order_release);
    on_change_(std::nullopt);
    conn_.reset();
  }

  void deliver() {
    while (PGnotify* n = PQnotifies(conn_->raw())) {
      const std::string_view payload = n->extra ? n->extra : "";
      if (payload.empty() || payload == "*") {
        on_change_(std::nullopt);
      } else {
        on_change_(user_id{std::string(payload)});
      }
      PQfreemem(n);
    }
  }

  /// Reads what the server sent; false when the connection is lost.
  bool read() {
    PGconn* raw = conn_->raw();
    if (PQconsumeInput(raw) == 0 || PQstatus(raw) == CONNECTION_BAD) return false;
    deliver();
    while (!PQisBusy(raw)) {
      PGresult* r = PQgetResult(raw);
      if (!r) break;
      const auto st = PQresultStatus(r);
      PQclear(r);
      if (st == PGRES_FATAL_ERROR || st == PGRES_BAD_RESPONSE) return false;
      heartbeat_sent_.reset();  // the heartbeat was answered
    }
    if (PQstatus(raw) == CONNECTION_BAD) return false;
    last_heard_ = clock_type::now();
    deliver();
    return true;
  }

  void loop() {
    std::chrono::milliseconds backoff = first_backoff;
    while (!stop_.load(std::memory_order_acquire)) {
      if (!conn_) {
        if (connect()) {
          backoff = first_backoff;
        } else {
          pause(backoff);
          backoff = std::min(backoff * 2, last_backoff);
        }
        continue;
      }
      PGconn* raw = conn_->raw();
      const auto now = clock_type::now();
      if (!heartbeat_sent_ && now - last_heard_ >= heartbeat_after) {
        if (PQsendQuery(raw, "SELECT 1") == 0) {
          lose();
          continue;
        }
        heartbeat_sent_ = now;
      }
      if (heartbeat_sent_ && now - *heartbeat_sent_ > opts_.statement_timeout + std::chrono::milliseconds(2000)) {
        lose();  // the server stopped answering
        continue;
      }
      const int flushed = PQflush(raw);
      if (flushed < 0) {
        lose();
        continue;
      }
      pollfd p[2] = {{PQsocket(raw), static_cast<short>(POLLIN | (flushed == 1 ? POLLOUT : 0)), 0},
                     {wake_[0], POLLIN, 0}};
      const int n = ::poll(p, wake_[0] >= 0 ? 2 : 1, 250);
      if (n < 0 && errno != EINTR) {
        lose();
        continue;
      }
      if (n > 0 && (p[0].revents & (POLLIN | POLLERR | POLLHUP)) != 0 && !read()) lose();
    }
  }

  const pq::connect_options opts_;
  const std::string password_;
  const change_handler on_change_;
  int wake_[2] = {-1, -1};
  std::atomic<bool> stop_{false};
  std::atomic<bool> live_{false};
  // Used by the thread only (and by the constructor before it starts).
  std::unique_ptr<pq::connection> conn_;
  clock_type::time_point last_heard_{};
  std::optional<clock_type::time_point> heartbeat_sent_;
  std::thread thread_;  ///< last: started once everything above is ready
};

}  // namespace

std::unique_ptr<change_feed> postgres_storage::watch_changes(change_handler on_change) {
  return std::make_unique<listener>(conn_opts_, password_, std::move(on_change));
}

}  // namespace kauri_quota::detail::postgres
