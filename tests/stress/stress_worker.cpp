// A load process for the stress suites. It opens the storage given on its
// command line and runs THREADS threads, each doing OPS operations drawn
// from a mix, on one hot user (whose tier never changes) and on background
// users (which are also reset and moved between tiers). Each thread has
// its own manual clock and picks, per operation, one of DAYS consecutive
// days starting at START (a UTC instant), so that several periods are in
// play at once.
//
// Usage: kauri_quota_stress_worker URL INDEX THREADS OPS SEED START_EPOCH_US DAYS MODE [LOG]
// MODE  mix     the contention mix; every request carries a unique
//               request_id and one in ten is sent twice (the second answer
//               must be a replay of the first).
//       retry   like mix, but every failed call is retried with the same
//               request_id until it is answered (for server-loss tests).
//       crash   like retry; before each keyed call it appends
//               "S <id> <operation> <user> <tokens>" to LOG and after its
//               answer "A <id>": a process killed in between leaves the
//               request in doubt, and the line says how to retry it.
// Output: "attempts=N allowed=N denied=N errors=N replay_mismatches=N" on
// stdout; one line per error on stderr.
#include <kauri_quota/kauri_quota.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace kq = kauri_quota;

namespace {

bool parse(std::string_view s, std::int64_t& out) {
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && p == s.data() + s.size();
}

struct totals {
  std::atomic<std::int64_t> attempts{0}, allowed{0}, denied{0}, errors{0}, replay_mismatches{0};
};

int log_fd = -1;

void log_line(const std::string& line) {
  if (log_fd < 0) return;
  const std::string l = line + "\n";
  // One write per line, O_APPEND: a kill leaves whole lines (or a torn last
  // line, which the reader ignores).
  (void)::write(log_fd, l.data(), l.size());
}

}  // namespace

int main(int argc, char** argv) {
  std::int64_t index = 0, threads = 0, ops = 0, seed = 0, start_us = 0, days = 0;
  if (argc < 9 || argc > 10 || !parse(argv[2], index) || !parse(argv[3], threads) || !parse(argv[4], ops) ||
      !parse(argv[5], seed) || !parse(argv[6], start_us) || !parse(argv[7], days) || threads < 1 || days < 1) {
    std::fprintf(stderr, "usage: %s URL INDEX THREADS OPS SEED START_EPOCH_US DAYS mix|retry|crash [LOG]\n", argv[0]);
    return 2;
  }
  const std::string url = argv[1];
  const std::string mode = argv[8];
  if (mode != "mix" && mode != "retry" && mode != "crash") return 2;
  if (argc == 10) {
    log_fd = ::open(argv[9], O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (log_fd < 0) return 2;
  }
  kq::open_options oo;
  oo.create = false;
  oo.synchronous = kq::sqlite_synchronous::normal;  // exactness is under test here, not power loss
  auto opened = kq::open_storage(url, oo);
  if (!opened) {
    std::fprintf(stderr, "open: %s\n", opened.error().message.c_str());
    return 2;
  }
  std::shared_ptr<kq::storage> store = std::move(opened).value();
  const kq::sys_time start{std::chrono::microseconds{start_us}};
  const bool keep_trying = mode != "mix";

  totals t;
  std::mutex err_mutex;
  auto report = [&](const std::string& what, const kq::error& e) {
    ++t.errors;
    std::lock_guard lock(err_mutex);
    std::fprintf(stderr, "%s: %s (%s)\n", what.c_str(), e.message.c_str(),
                 kq::to_string(static_cast<kq::errc>(e.code.value())));
  };

  std::vector<std::thread> pool;
  for (std::int64_t th = 0; th < threads; ++th) {
    pool.emplace_back([&, th] {
      std::mt19937_64 rng(static_cast<std::uint64_t>(seed * 1000 + index * 100 + th));
      auto clock = std::make_shared<kq::manual_clock>(start);
      kq::service_options so;
      so.time_source = clock;
      auto made = kq::quota_service::create(store, so);
      if (!made) return;
      kq::quota_service& svc = made.value();
      const kq::user_id hot{"hot"};
      auto pick = [&](std::int64_t n) { return static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(n)); };
      std::int64_t serial = 0;
      auto next_id = [&] {
        return "w" + std::to_string(index) + "-t" + std::to_string(th) + "-" + std::to_string(serial++);
      };
      // Runs `call` (which takes a request context) until it is answered
      // when keep_trying, else once.
      auto keyed = [&](const std::string& what, const kq::user_id& user, std::int64_t tokens, auto&& call) {
        const std::string id = next_id();
        kq::request_context ctx;
        ctx.id = kq::request_id{id};
        log_line("S " + id + " " + what + " " + user.str() + " " + std::to_string(tokens));
        const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(90);
        for (;;) {
          const auto t0 = std::chrono::steady_clock::now();
          auto r = call(ctx);
          // No call may hang: each attempt is bounded by the storage's
          // timeouts and retries.
          const auto took = std::chrono::steady_clock::now() - t0;
          if (took > std::chrono::seconds(30)) {
            report(what + " " + id + " took " +
                       std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()) + " ms",
                   kq::make_error(kq::errc::internal, "call hung"));
          }
          if (r) {
            log_line("A " + id);
            return r;
          }
          if (!keep_trying || std::chrono::steady_clock::now() > give_up) {
            report(what + " " + id, r.error());
            return r;
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
      };
      // Settles a reservation, retrying (when keep_trying) until answered;
      // reservation_closed after a retry means an earlier attempt landed.
      auto settle = [&](const std::string& what, auto&& call) {
        const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(90);
        bool retried = false;
        for (;;) {
          auto r = call();
          if (r || (retried && r.error().is(kq::errc::reservation_closed))) return;
          if (!keep_trying || std::chrono::steady_clock::now() > give_up) {
            report(what, r.error());
            return;
          }
          retried = true;
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
      };
      for (std::int64_t k = 0; k < ops; ++k) {
        clock->set(start + std::chrono::days{pick(days)} + std::chrono::seconds{pick(86400)});
        ++t.attempts;
        const auto roll = pick(100);
        const kq::user_id bg{"bg-" + std::to_string(pick(50))};
        if (roll < 40) {  // the hot user
          const std::int64_t tokens = pick(20);
          auto d = keyed("consume", hot, tokens,
                         [&](const kq::request_context& c) { return svc.try_consume(hot, tokens, c); });
          if (!d) continue;
          d.value().allowed ? ++t.allowed : ++t.denied;
          if (pick(10) == 0 && mode == "mix") {  // a duplicate submission
            kq::request_context c;
            c.id = kq::request_id{"w" + std::to_string(index) + "-t" + std::to_string(th) + "-" +
                                  std::to_string(serial - 1)};
            auto again = svc.try_consume(hot, tokens, c);
            if (!again)
              report("replay", again.error());
            else if (!again.value().replayed || again.value().allowed != d.value().allowed)
              ++t.replay_mismatches;
          }
        } else if (roll < 50) {  // the hot user through a reservation
          auto d = keyed("reserve", hot, 10, [&](const kq::request_context& c) { return svc.reserve(hot, 10, c); });
          if (!d) continue;
          if (!d.value().allowed) {
            ++t.denied;
            continue;
          }
          ++t.allowed;
          const auto res = *d.value().reservation;
          if (pick(2) == 0) {
            const std::int64_t actual = pick(30);
            settle("commit", [&] { return svc.commit(res, actual); });
          } else {
            settle("release", [&] { return svc.release(res); });
          }
        } else if (roll < 65) {
          const std::int64_t tokens = pick(50);
          auto d = keyed("consume", bg, tokens,
                         [&](const kq::request_context& c) { return svc.try_consume(bg, tokens, c); });
          if (d) d.value().allowed ? ++t.allowed : ++t.denied;
        } else if (roll < 75) {
          const std::int64_t tokens = pick(100);
          (void)keyed("record", bg, tokens,
                      [&](const kq::request_context& c) { return svc.increment_usage(bg, 1, tokens, c); });
        } else if (roll < 85) {
          auto q = svc.get_user_quota_info(pick(2) == 0 ? hot : bg);
          if (!q && !keep_trying) report("quota", q.error());
        } else if (roll < 90) {
          auto r = svc.reset_daily_quotas(bg);
          if (!r && !keep_trying) report("reset", r.error());
        } else if (roll < 95) {
          static const char* tiers[] = {"free", "pro", "max"};
          auto r = svc.upgrade_subscription(bg, kq::tier_id{tiers[pick(3)]});
          if (!r && !keep_trying) report("upgrade", r.error());
        } else {
          auto d = keyed("reserve", bg, 20, [&](const kq::request_context& c) { return svc.reserve(bg, 20, c); });
          if (d && d.value().allowed) {
            const auto res = *d.value().reservation;
            const std::int64_t actual = pick(40);
            if (pick(2) == 0)
              settle("commit bg", [&] { return svc.commit(res, actual); });
            else
              settle("release bg", [&] { return svc.release(res); });
          }
        }
      }
    });
  }
  for (auto& th : pool) th.join();
  std::printf("attempts=%lld allowed=%lld denied=%lld errors=%lld replay_mismatches=%lld\n",
              static_cast<long long>(t.attempts.load()), static_cast<long long>(t.allowed.load()),
              static_cast<long long>(t.denied.load()), static_cast<long long>(t.errors.load()),
              static_cast<long long>(t.replay_mismatches.load()));
  return 0;
}
