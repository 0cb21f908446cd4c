// The HTTP side every Kauri host program shares, on cpp-httplib 0.11
// (Debian's split build: the server's defaults are compiled into the .so,
// so everything here is set through the runtime setters).
//
// An http_host owns one httplib::Server configured with bounded workers, a
// body limit, read/write and keep-alive timeouts, JSON errors
// ({"detail": ...}) for every 4xx/5xx, an exception barrier that never
// leaks internals, one stderr log line per request (method, route
// PATTERN, status, duration: never a header value, a query or a body) and
// per-route request metrics. run() serves until SIGTERM or SIGINT, then
// finishes the requests in flight and returns 0.
//
// Register routes before run(); handlers run concurrently on the worker
// threads.
#pragma once

#include "host_common/assets.hpp"
#include "host_common/options.hpp"
#include "host_common/request_metrics.hpp"

#include <httplib.h>

#include <chrono>
#include <cstddef>
#include <ctime>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace kauri_host {

struct http_options {
  host_port listen{"127.0.0.1", 8080};
  /// Worker threads; each connection holds one for its keep-alive life.
  int threads = 8;
  /// Largest request body accepted (413 above it).
  std::size_t max_body_bytes = 64 * 1024;
  /// Bounds on each recv / send of a connection.
  std::chrono::seconds read_timeout{5};
  std::chrono::seconds write_timeout{5};
  /// An idle keep-alive connection is closed after this, which frees its worker.
  std::time_t keep_alive_timeout_seconds = 2;
  std::size_t keep_alive_max_count = 100;
};

/// Blocks SIGTERM and SIGINT in the calling thread and in every thread it
/// creates afterwards, so that only run()'s signal thread receives them.
/// Call it first thing in main(), before any thread exists.
void block_stop_signals();

/// Sets `status` and a JSON body.
void send_json(httplib::Response& res, int status, std::string body);
/// Sets `status` and {"detail": detail}.
void send_error(httplib::Response& res, int status, std::string_view detail);

/// Serves `name` from `assets` with its Content-Type, `Cache-Control:
/// no-store`, a same-origin-only Content-Security-Policy, nosniff and
/// no-referrer. In .html files the literal {{lang}} becomes `lang`.
/// False (nothing set) when the bundle has no such file.
bool serve_asset(httplib::Response& res, const asset_bundle& assets, std::string_view name, std::string_view lang);

/// The Content-Security-Policy serve_asset sends.
extern const char* const page_security_policy;

class http_host {
 public:
  using handler = std::function<void(const httplib::Request&, httplib::Response&)>;

  explicit http_host(http_options opts);
  ~http_host();
  http_host(const http_host&) = delete;
  http_host& operator=(const http_host&) = delete;

  /// Registers a route. `route` is the pattern as logged and labelled
  /// ("/api/v1/subscription/tier/{tier_id}"); `regex` must match the whole
  /// path (std::regex, capture groups in req.matches).
  void get(std::string route, const std::string& regex, handler h);
  void post(std::string route, const std::string& regex, handler h);

  request_metrics& metrics() noexcept;

  /// Binds, prints `listening on http://HOST:PORT` (the real port) as the
  /// first line of stdout, and serves until SIGTERM or SIGINT. Returns the
  /// exit status: 0 after a signal, 1 when the address cannot be bound.
  int run();

 private:
  void add(const std::string& method, std::string route, const std::string& regex, handler h);
  static constexpr int listen_backlog = 512;
  http_options opts_;
  socket_t listen_socket_ = INVALID_SOCKET;
  httplib::Server server_;
  request_metrics metrics_;
};

}  // namespace kauri_host
