// A worker process for the multi-process tests. It opens the database
// given on its command line (an SQLite file, or a storage URL) and runs THREADS threads, each making ATTEMPTS
// requests for USER at the fixed instant EPOCH_US (microseconds since
// 1970-01-01 UTC, so that the test decides which day each worker lives in).
//
// Usage: kauri_quota_test_worker DB USER THREADS ATTEMPTS EPOCH_US [MODE]
// MODE "consume" (default): each request is try_consume(USER, 1 token).
// MODE "mixed": requests rotate between try_consume (1 token), reserve (10)
// then commit (7), and reserve (10) then release; "allowed" then counts the
// messages that stay counted (consumed or committed). MODE "sweep": each
// request is sweep_subscriptions() (USER is unused); "allowed" counts the
// transitions it wrote.
// Output (stdout): one line per thread, `thread=<i> allowed=<n> denied=<n>
// errors=<n>`, then the totals `allowed=<n> denied=<n> errors=<n>`.
// Error messages go to stderr. Exit status 0 when the run completed (even
// with errors, which the totals report), 2 on bad usage or setup failure.
#include <kauri_quota/kauri_quota.hpp>

#include <atomic>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

bool parse_int(std::string_view s, std::int64_t& out) {
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && ptr == s.data() + s.size();
}

struct counts {
  std::int64_t allowed = 0;
  std::int64_t denied = 0;
  std::int64_t errors = 0;
};

}  // namespace

int main(int argc, char** argv) {
  std::int64_t threads = 0;
  std::int64_t attempts = 0;
  std::int64_t epoch_us = 0;
  const std::string_view mode = argc == 7 ? std::string_view{argv[6]} : std::string_view{"consume"};
  if (argc < 6 || argc > 7 || !parse_int(argv[3], threads) || !parse_int(argv[4], attempts) ||
      !parse_int(argv[5], epoch_us) || threads < 1 || threads > 256 || attempts < 0 ||
      (mode != "consume" && mode != "mixed" && mode != "sweep")) {
    std::fprintf(stderr, "usage: %s DB USER THREADS ATTEMPTS EPOCH_US [consume|mixed|sweep]\n",
                 argc > 0 ? argv[0] : "worker");
    return 2;
  }
  const std::string path = argv[1];
  const kauri_quota::user_id user{argv[2]};

  const bool is_url =
      path.rfind("sqlite:", 0) == 0 || path.find("://") != std::string::npos || path.find('=') != std::string::npos;
  kauri_quota::open_options oo;
  oo.create = false;
  auto opened = kauri_quota::open_storage(is_url ? path : "sqlite:" + path, oo);
  if (!opened) {
    std::fprintf(stderr, "cannot open %s: %s\n", path.c_str(), opened.error().message.c_str());
    return 2;
  }
  std::shared_ptr<kauri_quota::storage> store(std::move(opened).value());

  kauri_quota::service_options opts;
  opts.time_source =
      std::make_shared<kauri_quota::manual_clock>(kauri_quota::sys_time{std::chrono::microseconds{epoch_us}});
  auto made = kauri_quota::quota_service::create(store, opts);
  if (!made) {
    std::fprintf(stderr, "cannot create the service: %s\n", made.error().message.c_str());
    return 2;
  }
  auto& svc = made.value();

  std::vector<counts> per_thread(static_cast<std::size_t>(threads));
  std::atomic<bool> go{false};
  std::mutex err_mutex;
  std::vector<std::thread> pool;
  for (std::size_t t = 0; t < per_thread.size(); ++t) {
    pool.emplace_back([&, t] {
      while (!go.load()) std::this_thread::yield();
      auto& c = per_thread[t];
      auto report = [&](const char* what, const kauri_quota::error& e) {
        ++c.errors;
        std::lock_guard lock(err_mutex);
        std::fprintf(stderr, "thread %zu: %s failed: %s (%d)\n", t, what, e.message.c_str(), e.code.value());
      };
      for (std::int64_t k = 0; k < attempts; ++k) {
        if (mode == "sweep") {
          auto n = svc.sweep_subscriptions();
          if (!n)
            report("sweep_subscriptions", n.error());
          else
            c.allowed += n.value();
          continue;
        }
        const auto kind = mode == "mixed" ? (static_cast<std::int64_t>(t) + k) % 3 : 0;
        if (kind == 0) {
          auto d = svc.try_consume(user, 1);
          if (!d)
            report("try_consume", d.error());
          else if (d.value().allowed)
            ++c.allowed;
          else
            ++c.denied;
          continue;
        }
        auto d = svc.reserve(user, 10);
        if (!d) {
          report("reserve", d.error());
        } else if (!d.value().allowed) {
          ++c.denied;
        } else if (!d.value().reservation) {
          report("reserve", kauri_quota::make_error(kauri_quota::errc::internal, "allowed without a reservation"));
        } else if (kind == 1) {
          auto r = svc.commit(*d.value().reservation, 7);
          if (!r)
            report("commit", r.error());
          else
            ++c.allowed;
        } else {
          auto r = svc.release(*d.value().reservation);
          if (!r) report("release", r.error());
        }
      }
    });
  }
  go.store(true);
  for (auto& th : pool) th.join();

  counts total;
  for (std::size_t t = 0; t < per_thread.size(); ++t) {
    const auto& c = per_thread[t];
    std::printf("thread=%zu allowed=%lld denied=%lld errors=%lld\n", t, static_cast<long long>(c.allowed),
                static_cast<long long>(c.denied), static_cast<long long>(c.errors));
    total.allowed += c.allowed;
    total.denied += c.denied;
    total.errors += c.errors;
  }
  std::printf("allowed=%lld denied=%lld errors=%lld\n", static_cast<long long>(total.allowed),
              static_cast<long long>(total.denied), static_cast<long long>(total.errors));
  return 0;
}
