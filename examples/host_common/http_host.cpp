#include "host_common/http_host.hpp"

#include <nlohmann/json.hpp>

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <sys/socket.h>

#include <atomic>
#include <cstdio>
#include <exception>
#include <thread>

namespace kauri_host {

namespace {

using steady = std::chrono::steady_clock;

// What the access log and the metrics need to know about the request its
// worker thread is answering. cpp-httplib reads, routes and answers a
// request on one worker thread, so thread-local state set by the pre-routing handler and
// the route wrapper is the request's own.
struct request_state {
  steady::time_point start{};
  bool started = false;
  const char* route = nullptr;
};
thread_local request_state current;

sigset_t stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

const char* default_detail(int status) {
  switch (status) {
    case 400:
      return "Bad request";
    case 401:
      return "Not authenticated";
    case 404:
      return "Not found";
    case 405:
      return "Method not allowed";
    case 411:
      return "Length required";
    case 413:
      return "Request body too large";
    case 414:
      return "Request URI too long";
    case 416:
      return "Range not satisfiable";
    case 503:
      return "Service unavailable";
    default:
      return status >= 500 ? "Internal server error" : "Request refused";
  }
}

}  // namespace

const char* const page_security_policy =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

void block_stop_signals() {
  const sigset_t set = stop_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

void send_json(httplib::Response& res, int status, std::string body) {
  res.status = status;
  res.set_content(std::move(body), "application/json");
}

void send_error(httplib::Response& res, int status, std::string_view detail) {
  send_json(res, status, nlohmann::json{{"detail", std::string(detail)}}.dump());
}

bool serve_asset(httplib::Response& res, const asset_bundle& assets, std::string_view name, std::string_view lang) {
  const embedded_file* f = assets.find(name);
  if (f == nullptr) return false;
  const std::string_view type = content_type_for(name);
  std::string body(bytes_of(*f));
  if (type.rfind("text/html", 0) == 0) {
    constexpr std::string_view marker = "{{lang}}";
    for (std::size_t at = body.find(marker); at != std::string::npos; at = body.find(marker, at + lang.size())) {
      body.replace(at, marker.size(), lang);
    }
  }
  res.status = 200;
  res.set_header("Cache-Control", "no-store");
  res.set_header("Content-Security-Policy", page_security_policy);
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("Referrer-Policy", "no-referrer");
  res.set_header("Content-Language", std::string(lang));
  res.set_content(std::move(body), std::string(type).c_str());
  return true;
}

http_host::http_host(http_options opts) : opts_(std::move(opts)) {
  const int threads = opts_.threads;
  // The pool size must be set here: the .so computes its own default.
  server_.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<std::size_t>(threads)); };
  server_.set_payload_max_length(opts_.max_body_bytes);
  server_.set_read_timeout(opts_.read_timeout);
  server_.set_write_timeout(opts_.write_timeout);
  server_.set_keep_alive_timeout(opts_.keep_alive_timeout_seconds);
  server_.set_keep_alive_max_count(opts_.keep_alive_max_count);
  // The headers and the body of an answer are separate writes: without
  // TCP_NODELAY, Nagle's algorithm holds the body back until the client's
  // delayed ACK, about 40 ms per request on a keep-alive connection.
  server_.set_tcp_nodelay(true);
  // Remember the listening socket: run() raises its backlog.
  server_.set_socket_options([this](socket_t sock) {
    httplib::default_socket_options(sock);
    listen_socket_ = sock;
  });

  server_.set_pre_routing_handler([](const httplib::Request& req, httplib::Response& res) {
    current.start = steady::now();
    current.started = true;
    current.route = "unmatched";
    // 0.11 reads chunked bodies, and bodies without a length, with no
    // limit at all; only a Content-Length is checked against the payload
    // limit (and an oversized one is skipped, keeping the connection in
    // step). So a body must come with a Content-Length. The refused body
    // is not read: the answer asks the client to close the connection.
    const bool has_body_method = req.method == "POST" || req.method == "PUT" || req.method == "PATCH";
    if (req.has_header("Transfer-Encoding") || (has_body_method && !req.has_header("Content-Length"))) {
      current.route = "refused";
      res.set_header("Connection", "close");
      send_error(res, 411, "A request body must be sent with a Content-Length (no Transfer-Encoding)");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  // For every status >= 400: a JSON detail unless the handler wrote a body.
  // (The void overload would count as handled and overwrite our bodies.)
  server_.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    send_error(res, res.status, default_detail(res.status));
    return httplib::Server::HandlerResponse::Handled;
  }));

  // Without this, 0.11 puts e.what() into an EXCEPTION_WHAT header.
  server_.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    res.headers.clear();
    send_error(res, 500, "Internal server error");
    (void)std::fprintf(stderr, "error: unexpected exception in a handler\n");
  });

  // Counted and logged once the answer is final but before it is written
  // (0.11 runs its logger after the write): a client that reads /metrics
  // right after an answer finds that answer counted.
  server_.set_post_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    const double seconds = current.started ? std::chrono::duration<double>(steady::now() - current.start).count() : 0.0;
    const char* route = current.route != nullptr ? current.route : "-";
    metrics_.record(req.method, route, res.status, seconds);
    // One fprintf: stdio locks the stream, so lines from workers never mix.
    (void)std::fprintf(stderr, "%s %s %d %.3fms\n", req.method.empty() ? "-" : req.method.c_str(), route, res.status,
                       seconds * 1000.0);
    current = request_state{};
  });
}

http_host::~http_host() = default;

void http_host::add(const std::string& method, std::string route, const std::string& regex, handler h) {
  metrics_.add_route(method, route);
  // The pattern string lives as long as the server: its handler owns it.
  auto name = std::make_shared<const std::string>(std::move(route));
  auto wrapped = [name, h = std::move(h)](const httplib::Request& req, httplib::Response& res) {
    current.route = name->c_str();
    h(req, res);
  };
  if (method == "GET") {
    server_.Get(regex, std::move(wrapped));
  } else {
    server_.Post(regex, std::move(wrapped));
  }
}

void http_host::get(std::string route, const std::string& regex, handler h) {
  add("GET", std::move(route), regex, std::move(h));
}

void http_host::post(std::string route, const std::string& regex, handler h) {
  add("POST", std::move(route), regex, std::move(h));
}

request_metrics& http_host::metrics() noexcept { return metrics_; }

int http_host::run() {
  const std::string& host = opts_.listen.host;
  int port = opts_.listen.port;
  if (port == 0) {
    port = server_.bind_to_any_port(host);
  } else if (!server_.bind_to_port(host, port)) {
    port = -1;
  }
  if (port <= 0) {
    (void)std::fprintf(stderr, "error: cannot listen on %s:%d\n", host.c_str(), opts_.listen.port);
    return 1;
  }
  // The .so listens with a backlog of 5 (compiled in). A burst of clients
  // then overflows the accept queue, and with SYN cookies the kernel
  // answers the overflow with resets; listen() again raises it.
  if (listen_socket_ != INVALID_SOCKET) (void)::listen(listen_socket_, listen_backlog);
  const bool v6 = host.find(':') != std::string::npos;
  (void)std::printf("listening on http://%s%s%s:%d\n", v6 ? "[" : "", host.c_str(), v6 ? "]" : "", port);
  (void)std::fflush(stdout);

  std::atomic<bool> listen_returned{false};
  std::atomic<bool> signalled{false};
  std::thread waiter([&] {
    const sigset_t set = stop_signals();
    int sig = 0;
    sigwait(&set, &sig);
    if (listen_returned.load()) return;
    signalled.store(true);
    // stop() before listen has started is a no-op (cpp-httplib #1645).
    while (!server_.is_running() && !listen_returned.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    server_.stop();
  });
  const bool ok = server_.listen_after_bind();
  listen_returned.store(true);
  if (!signalled.load()) {
    // Wake the waiter: a process-directed signal reaches its sigwait.
    kill(getpid(), SIGTERM);
  }
  waiter.join();
  if (signalled.load()) {
    (void)std::fprintf(stderr, "stopped\n");
    return 0;
  }
  return ok ? 0 : 1;
}

}  // namespace kauri_host
