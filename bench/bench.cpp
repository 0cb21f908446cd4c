// kauri_quota_bench: throughput of the library next to hand-written SQL
// doing the same work on the same database, in the same run.
//
//   consume: library try_consume vs. one BEGIN IMMEDIATE transaction that
//            reads the user's tier limits (falling back to the free tier
//            when the subscription has lapsed), upserts the day row only
//            while the daily, monthly and token limits hold, and appends the
//            audit row. The hand-written side does less than the library
//            (no month-to-date carry into a new day, no warnings, no
//            idempotency key), so the ratio flatters it a little.
//   quota:   library get_user_quota_info vs. one hand-written SELECT joining
//            users, subscription_tiers and user_usage.
//   denied:  denied answers per second for one user over the daily limit,
//            by a service with the denial cache vs. one without, on the same
//            storage (SQLite and PostgreSQL); the ratio's goal is 50x.
//
// The two sides alternate in short slices so that drift (other load, page
// cache, disk) affects both alike; the median slice rate of each side is
// reported.
//
// PostgreSQL (when built with it): consume on one connection next to one
// hand-written prepared statement doing the same work in one round trip,
// and next to a bare day-row upsert with an audit insert that reads no
// limits at all (for reference). Pooled: the library with 8 threads sharing
// a pool of 8 next to the library on one connection, and the hand-written
// statement on 8 connections next to 1: the second ratio is what the
// machine allows (on few cores, where client and server share the CPUs and
// commits are quick, no implementation scales much further).
// By default a throw-away server with durable settings is started for the
// run (scripts/pg-test-server.sh); --pg CONNINFO uses another one, given as
// a libpq keyword string or a postgresql:// URI (the benchmark creates and
// uses its own database, kauri_quota_bench, on that server).
//
// Concurrent callers (each its own user, all sharing one storage), in timed
// bursts whose order rotates from round to round, median per setting:
//   SQLite:     1, 8 and 64 threads at synchronous NORMAL and FULL, with
//               group commit on and off (batch_options::enabled).
//   PostgreSQL: 1, 8 and 64 threads on a pool of 8, batching on and off.
//
// Alternatives a user could pick instead, in the same run:
//   Redis 7:    a redis-server of the benchmark's own on 127.0.0.1 with an
//               append-only file (appendfsync always, then everysec), one
//               Lua script per request that checks and increments the
//               daily and monthly counters and appends the audit entry to
//               a stream, at 1, 8 and 64 client threads; next to SQLite
//               FULL with group commit at as many callers.
//   Python:     the original service's flow (bench/original_flow.py: the
//               SQLAlchemy ORM, SELECT ... FOR UPDATE, check, then
//               increment and audit) on the benchmark's PostgreSQL
//               database, at 1 and 8 processes; next to the library at 1
//               and 8 threads.
// Either one missing is an error (the run goes on and exits with status 1)
// unless --no-alternatives is given.
//
// --rtt DURATION (500us, 1ms) puts a proxy of the benchmark's own between
// every PostgreSQL client and the server, delaying each chunk by half the
// round trip in each direction, as a network would.
// --json prints one JSON object per line for every measurement: name, unit,
// library, baseline, ratio, goal and met (null without a goal), backend,
// synchronous, callers and rtt_us.
//
// Usage: kauri_quota_bench [--dir DIR] [--rounds N] [--quick] [--json]
//                          [--pg auto|none|CONNINFO] [--rtt DURATION]
//                          [--no-alternatives]
#include <kauri_quota/kauri_quota.hpp>

#include "bench_support.hpp"

#ifdef KAURI_QUOTA_BENCH_POSTGRES
#include <libpq-fe.h>
#endif

#ifdef KAURI_QUOTA_BENCH_REDIS
#include <hiredis/hiredis.h>
#endif

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <latch>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace kq = kauri_quota;
using clk = std::chrono::steady_clock;

namespace {

struct config {
  std::string dir;
  int rounds = 5;
  bool quick = false;
  std::string pg = "auto";
  bool json = false;
  /// Round trip added by the delaying proxy in front of PostgreSQL (0: none).
  std::chrono::microseconds rtt{0};
  bool alternatives = true;
  /// batch_options::max_wait of every batched storage the run opens.
  std::chrono::microseconds batch_wait{0};
  /// The parts to run (all when empty): sqlite (one caller), callers
  /// (SQLite, many callers), redis, postgres (with the original Python flow
  /// unless --no-alternatives).
  std::set<std::string> only;
  bool runs(const std::string& part) const { return only.empty() || only.count(part) != 0; }
};

using kq::bench::cleanup;
using kq::bench::die;
using kq::bench::must;

/// Hand-written SQLite access: raw prepared statements, nothing else.
class raw_sqlite {
 public:
  raw_sqlite(const std::string& path, const char* synchronous) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK)
      die("open " + path);
    sqlite3_busy_timeout(db_, 10000);
    exec(fmt::format("PRAGMA synchronous = {}", synchronous).c_str());
    exec("PRAGMA foreign_keys = ON");
    begin_ = prepare("BEGIN IMMEDIATE");
    commit_ = prepare("COMMIT");
    // The limits of the user's tier, or of the free tier when the
    // subscription has lapsed.
    limits_ = prepare(
        "SELECT t.tier_id, t.messages_per_day, t.messages_per_month, t.tokens_per_month"
        " FROM users u JOIN subscription_tiers t ON t.tier_id = CASE"
        "  WHEN u.subscription_status IN ('canceled', 'expired') OR u.subscription_end_date <= ?2"
        "   OR (u.subscription_status = 'trialing' AND u.trial_end_date <= ?2) THEN 'free'"
        "  ELSE u.subscription_tier END"
        " WHERE u.user_id = ?1");
    upsert_ = prepare(
        "INSERT INTO user_usage (user_id, usage_date, messages_today, tokens_today, messages_this_month,"
        " tokens_this_month, created_at, updated_at)"
        " SELECT ?1, ?2, 1, ?3, 1, ?3, ?4, ?4"
        "  WHERE (?5 IS NULL OR ?5 >= 1) AND (?6 IS NULL OR ?6 >= 1) AND (?7 IS NULL OR ?7 >= ?3)"
        " ON CONFLICT (user_id, usage_date) DO UPDATE SET messages_today = messages_today + 1,"
        " tokens_today = tokens_today + excluded.tokens_today, messages_this_month = messages_this_month + 1,"
        " tokens_this_month = tokens_this_month + excluded.tokens_today, updated_at = excluded.updated_at"
        " WHERE (?5 IS NULL OR messages_today + 1 <= ?5) AND (?6 IS NULL OR messages_this_month + 1 <= ?6)"
        "  AND (?7 IS NULL OR tokens_this_month + ?3 <= ?7)");
    audit_ = prepare(
        "INSERT INTO usage_logs (user_id, event_type, messages_count, tokens_count, quota_tier, event_timestamp,"
        " usage_date) VALUES (?1, ?2, ?3, ?4, ?7, ?5, ?6)");
    // The same question the library answers, with the same answer: the
    // subscription (tier, status, end dates), the applicable tier's names
    // and limits, the day's messages and tokens, and the month-to-date
    // totals, which live on the latest row of the month (a later day may
    // already have a row when clocks disagree around midnight).
    read_ = prepare(
        "SELECT u.subscription_tier, u.subscription_status, u.subscription_end_date, u.trial_end_date,"
        " t.tier_id, t.name, t.name_fr, t.messages_per_day, t.messages_per_month, t.tokens_per_month,"
        " m.messages_this_month, m.tokens_this_month,"
        " CASE WHEN m.usage_date = ?2 THEN m.messages_today"
        "  ELSE (SELECT messages_today FROM user_usage WHERE user_id = ?1 AND usage_date = ?2) END,"
        " CASE WHEN m.usage_date = ?2 THEN m.tokens_today"
        "  ELSE (SELECT tokens_today FROM user_usage WHERE user_id = ?1 AND usage_date = ?2) END"
        " FROM users u JOIN subscription_tiers t ON t.tier_id = u.subscription_tier"
        " LEFT JOIN user_usage m ON m.id = (SELECT id FROM user_usage WHERE user_id = ?1"
        "  AND usage_date >= ?3 AND usage_date < ?4 ORDER BY usage_date DESC LIMIT 1)"
        " WHERE u.user_id = ?1");
  }
  ~raw_sqlite() {
    for (auto* s : {begin_, commit_, limits_, upsert_, audit_, read_}) sqlite3_finalize(s);
    sqlite3_close(db_);
  }
  raw_sqlite(const raw_sqlite&) = delete;
  raw_sqlite& operator=(const raw_sqlite&) = delete;

  bool consume(const std::string& user, const std::string& day, const std::string& now, std::int64_t tokens) {
    step(begin_);
    sqlite3_bind_text(limits_, 1, user.c_str(), static_cast<int>(user.size()), SQLITE_STATIC);
    sqlite3_bind_text(limits_, 2, now.c_str(), static_cast<int>(now.size()), SQLITE_STATIC);
    if (sqlite3_step(limits_) != SQLITE_ROW) die("hand consume: unknown user");
    const std::string tier = reinterpret_cast<const char*>(sqlite3_column_text(limits_, 0));
    sqlite3_bind_text(upsert_, 1, user.c_str(), static_cast<int>(user.size()), SQLITE_STATIC);
    sqlite3_bind_text(upsert_, 2, day.c_str(), static_cast<int>(day.size()), SQLITE_STATIC);
    sqlite3_bind_int64(upsert_, 3, tokens);
    sqlite3_bind_text(upsert_, 4, now.c_str(), static_cast<int>(now.size()), SQLITE_STATIC);
    for (int i = 1; i <= 3; ++i) {
      if (sqlite3_column_type(limits_, i) == SQLITE_NULL)
        sqlite3_bind_null(upsert_, 4 + i);
      else
        sqlite3_bind_int64(upsert_, 4 + i, sqlite3_column_int64(limits_, i));
    }
    sqlite3_reset(limits_);
    step(upsert_);
    const bool allowed = sqlite3_changes(db_) == 1;
    sqlite3_bind_text(audit_, 1, user.c_str(), static_cast<int>(user.size()), SQLITE_STATIC);
    sqlite3_bind_text(audit_, 2, allowed ? "message_sent" : "quota_exceeded", -1, SQLITE_STATIC);
    sqlite3_bind_int64(audit_, 3, allowed ? 1 : 0);
    sqlite3_bind_int64(audit_, 4, allowed ? tokens : 0);
    sqlite3_bind_text(audit_, 5, now.c_str(), static_cast<int>(now.size()), SQLITE_STATIC);
    sqlite3_bind_text(audit_, 6, day.c_str(), static_cast<int>(day.size()), SQLITE_STATIC);
    sqlite3_bind_text(audit_, 7, tier.c_str(), static_cast<int>(tier.size()), SQLITE_TRANSIENT);
    step(audit_);
    step(commit_);
    return allowed;
  }

  std::int64_t read(const std::string& user, const std::string& day, const std::string& month_start,
                    const std::string& next_month) {
    sqlite3_bind_text(read_, 1, user.c_str(), static_cast<int>(user.size()), SQLITE_STATIC);
    sqlite3_bind_text(read_, 2, day.c_str(), static_cast<int>(day.size()), SQLITE_STATIC);
    sqlite3_bind_text(read_, 3, month_start.c_str(), static_cast<int>(month_start.size()), SQLITE_STATIC);
    sqlite3_bind_text(read_, 4, next_month.c_str(), static_cast<int>(next_month.size()), SQLITE_STATIC);
    if (sqlite3_step(read_) != SQLITE_ROW) die("read");
    // Read every column, as a caller building the quota view would.
    std::int64_t v = 0;
    for (int i = 0; i < sqlite3_column_count(read_); ++i) {
      if (sqlite3_column_type(read_, i) == SQLITE_TEXT)
        v += sqlite3_column_bytes(read_, i);
      else
        v += sqlite3_column_int64(read_, i);
    }
    sqlite3_reset(read_);
    return v;
  }

 private:
  sqlite3_stmt* prepare(const char* sql) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK)
      die(fmt::format("prepare: {}", sqlite3_errmsg(db_)));
    return s;
  }
  void step(sqlite3_stmt* s) {
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) die(fmt::format("step: {}", sqlite3_errmsg(db_)));
  }
  void exec(const char* sql) {
    if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK) die(sqlite3_errmsg(db_));
  }
  sqlite3* db_ = nullptr;
  sqlite3_stmt* begin_ = nullptr;
  sqlite3_stmt* commit_ = nullptr;
  sqlite3_stmt* limits_ = nullptr;
  sqlite3_stmt* upsert_ = nullptr;
  sqlite3_stmt* audit_ = nullptr;
  sqlite3_stmt* read_ = nullptr;
};

double rate(int ops, clk::duration d) { return ops / std::chrono::duration<double>(d).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct pair_result {
  double lib = 0;
  double hand = 0;
};

/// Runs `lib` and `hand` for `ops` operations each per round, cfg.rounds
/// rounds, alternating in slices of a tenth of a round so that the
/// machine's drift (other load, disk, CPU frequency) falls on both sides
/// alike; reports the median slice rate of each side. A first slice of each
/// warms caches and is not counted.
pair_result measure(const config& cfg, int ops, const std::function<void()>& lib, const std::function<void()>& hand) {
  const int slice = std::max(1, ops / 10);
  for (int i = 0; i < slice; ++i) lib();
  for (int i = 0; i < slice; ++i) hand();
  std::vector<double> l;
  std::vector<double> h;
  for (int r = 0; r < cfg.rounds * 10; ++r) {
    // Which side goes first alternates too.
    const bool lib_first = r % 2 == 0;
    // A slice also ends after half a second, so that a slow disk, a slow
    // server or a long --rtt cannot stretch the run without bound.
    auto run = [&](const std::function<void()>& f, std::vector<double>& out) {
      const auto t0 = clk::now();
      const auto deadline = t0 + std::chrono::milliseconds(500);
      int i = 0;
      while (i < slice && (i % 16 != 0 || clk::now() < deadline)) {
        f();
        ++i;
      }
      out.push_back(rate(i, clk::now() - t0));
    };
    if (lib_first) {
      run(lib, l);
      run(hand, h);
    } else {
      run(hand, h);
      run(lib, l);
    }
  }
  return {median(l), median(h)};
}

/// One measurement: the library's figure next to its baseline (hand-written
/// SQL, another setting of the library, or an alternative a user could pick
/// instead), both from this run.
struct line {
  std::string name;
  double library = 0;
  double baseline = 0;
  /// The ratio library / baseline the line is meant to reach, if any.
  std::optional<double> goal;
  std::string backend;
  std::optional<std::string> synchronous;
  std::optional<int> callers;
  /// Set on PostgreSQL lines: the round trip added by --rtt (0 on loopback).
  std::optional<std::int64_t> rtt_us;
  /// What the two columns are, for the human table.
  std::string note;
  std::string unit = "ops/s";
};

bool g_json = false;
int g_errors = 0;

std::string json_string(std::string_view v) {
  std::string out = "\"";
  for (const char c : v) {
    if (c == '"' || c == '\\')
      out += fmt::format("\\{}", c);
    else if (static_cast<unsigned char>(c) < 0x20)
      out += fmt::format("\\u{:04x}", static_cast<int>(c));
    else
      out += c;
  }
  return out + "\"";
}

template <class T>
std::string json_or_null(const std::optional<T>& v) {
  if (!v) return "null";
  if constexpr (std::is_same_v<T, std::string>)
    return json_string(*v);
  else
    return fmt::format("{}", *v);
}

void report(const line& l) {
  const double ratio = l.baseline > 0 ? l.library / l.baseline : 0;
  const bool met = l.goal.has_value() && ratio >= *l.goal;
  if (g_json) {
    fmt::print(
        "{{\"name\":{},\"unit\":{},\"library\":{:.1f},\"baseline\":{:.1f},\"ratio\":{:.3f},\"goal\":{},\"met\":{},"
        "\"backend\":{},\"synchronous\":{},\"callers\":{},\"rtt_us\":{}}}\n",
        json_string(l.name), json_string(l.unit), l.library, l.baseline, ratio,
        l.goal ? fmt::format("{}", *l.goal) : "null", l.goal ? (met ? "true" : "false") : "null",
        json_string(l.backend), json_or_null(l.synchronous), json_or_null(l.callers), json_or_null(l.rtt_us));
  } else {
    std::string name = l.name;
    if (l.callers) name += fmt::format(", {} caller{}", *l.callers, *l.callers == 1 ? "" : "s");
    if (l.rtt_us && *l.rtt_us > 0) name += fmt::format(", rtt {} us", *l.rtt_us);
    std::string tail = l.note;
    if (l.goal) tail += fmt::format("{}goal >= {}x: {}", tail.empty() ? "" : "; ", *l.goal, met ? "met" : "NOT met");
    fmt::print("{:<68} {:>10.0f} {:>10.0f} {:>7.2f}x{}\n", name, l.library, l.baseline, ratio,
               tail.empty() ? "" : "   (" + tail + ")");
  }
  std::fflush(stdout);
}

/// A measurement that could not be made. The run goes on, so that the
/// other figures are not lost, but ends with a failure status.
void report_error(const std::string& name, const std::string& backend, const std::string& why) {
  ++g_errors;
  fmt::print(stderr, "error: {}: {}\n", name, why);
  if (g_json)
    fmt::print("{{\"name\":{},\"backend\":{},\"error\":{}}}\n", json_string(name), json_string(backend),
               json_string(why));
  else
    fmt::print("{:<68} ERROR: {}\n", name, why);
  std::fflush(stdout);
}

/// How long one timed burst of concurrent callers lasts.
clk::duration burst_window(const config& cfg) {
  return cfg.quick ? std::chrono::milliseconds(250) : std::chrono::milliseconds(400);
}

/// How many bursts of each setting burst_matrix takes turns with. The disk
/// and the other load on the machine drift within seconds, so many short
/// turns give a steadier median than a few long ones.
int burst_turns(const config& cfg) { return cfg.quick ? cfg.rounds : 2 * cfg.rounds; }

/// Runs `op(caller)` on `callers` threads released together, each until it
/// has done `max_ops` calls or the window has passed, and returns the calls
/// completed per second between the first start and the last finish.
double burst(int callers, clk::duration window, int max_ops, const std::function<void(int)>& op) {
  std::latch ready(callers);
  std::vector<clk::time_point> starts(static_cast<std::size_t>(callers));
  std::vector<clk::time_point> ends(static_cast<std::size_t>(callers));
  std::vector<long> counts(static_cast<std::size_t>(callers));
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(callers));
  for (int c = 0; c < callers; ++c)
    threads.emplace_back([&, c] {
      const auto i = static_cast<std::size_t>(c);
      ready.arrive_and_wait();
      starts[i] = clk::now();
      const auto deadline = starts[i] + window;
      long n = 0;
      while (n < max_ops && clk::now() < deadline) {
        op(c);
        ++n;
      }
      counts[i] = n;
      ends[i] = clk::now();
    });
  for (auto& t : threads) t.join();
  long total = 0;
  for (const long n : counts) total += n;
  const auto first = *std::min_element(starts.begin(), starts.end());
  const auto last = *std::max_element(ends.begin(), ends.end());
  return static_cast<double>(total) / std::chrono::duration<double>(last - first).count();
}

/// Medians of timed bursts of several configurations at several caller
/// counts: for each count, `rounds` rounds in which every configuration
/// runs one burst, the order rotating from round to round so that drift
/// falls on all alike. Returns rates[configuration][callers].
std::vector<std::map<int, double>> burst_matrix(const config& cfg, const std::vector<int>& caller_counts,
                                                std::size_t configurations,
                                                const std::function<void(std::size_t, int)>& op,
                                                const std::function<void(std::size_t)>& before = {}) {
  std::vector<std::map<int, std::vector<double>>> samples(configurations);
  for (const int callers : caller_counts) {
    // A short burst of each first warms caches and connections.
    for (std::size_t k = 0; k < configurations; ++k) {
      if (before) before(k);
      (void)burst(callers, std::chrono::milliseconds(50), 1000000, [&](int c) { op(k, c); });
    }
    for (int r = 0; r < burst_turns(cfg); ++r)
      for (std::size_t j = 0; j < configurations; ++j) {
        const std::size_t k = (j + static_cast<std::size_t>(r)) % configurations;
        if (before) before(k);
        samples[k][callers].push_back(burst(callers, burst_window(cfg), 1000000, [&](int c) { op(k, c); }));
      }
  }
  std::vector<std::map<int, double>> out(configurations);
  for (std::size_t k = 0; k < configurations; ++k)
    for (auto& [callers, v] : samples[k]) out[k][callers] = median(v);
  return out;
}

/// Denied answers per second for one user refused by the daily limit: a
/// service with the denial cache next to one without it, on the same
/// storage and user, in the same run. Without the cache every denial is a
/// write transaction (its quota_exceeded audit row); with it a denial is a
/// memory lookup plus, on SQLite, the read of the change counter.
void bench_denials(const config& cfg, const std::shared_ptr<kq::storage>& store, line l, int ops) {
  kq::service_options with_cache;
  with_cache.deny_cache_ttl = kq::default_deny_cache_ttl;
  auto cached = must(kq::quota_service::create(store, with_cache), "service");
  auto plain = must(kq::quota_service::create(store, {}), "service");
  const kq::user_id user{"bench-denied"};
  must(plain.create_user(user, std::nullopt, kq::tier_id{"free"}), "user");
  kq::tier_update one_a_day;
  one_a_day.id = kq::tier_id{"free"};
  one_a_day.messages_per_day = kq::limit{1};
  must(plain.update_tier(one_a_day), "tier");
  if (!must(plain.try_consume(user, 0), "consume").allowed) die("the first message was refused");
  auto refused = [&](kq::quota_service& svc) {
    auto d = svc.try_consume(user, 0);
    if (!d || d.value().allowed) die("expected a denial");
  };
  auto r = measure(
      cfg, ops, [&] { refused(cached); }, [&] { refused(plain); });
  if (cached.metrics().cached_denials == 0) die("the denial cache answered nothing");
  l.library = r.lib;
  l.baseline = r.hand;
  l.goal = 50;
  l.note = "with the denial cache | without";
  report(l);
}

void bench_sqlite(const config& cfg, kq::sqlite_synchronous sync, const char* sync_name) {
  const std::string path = fmt::format("{}/bench-{}.db", cfg.dir, sync_name);
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
  kq::sqlite_options o;
  o.path = path;
  o.synchronous = sync;
  std::shared_ptr<kq::storage> store = must(kq::open_sqlite(o), "open");
  must(store->migrate({}), "migrate");
  kq::service_options so;
  auto svc = must(kq::quota_service::create(store, so), "service");
  const kq::user_id lib_user{"bench-lib"};
  const std::string hand_user = "bench-hand";
  must(svc.create_user(lib_user, std::nullopt, kq::tier_id{"enterprise"}), "user");
  must(svc.create_user(kq::user_id{hand_user}, std::nullopt, kq::tier_id{"enterprise"}), "user");
  raw_sqlite raw(path, sync_name);
  const auto today = svc.day_of(svc.now());
  const std::string day = kq::format_date(today);
  const auto first = std::chrono::year_month_day{today.year(), today.month(), std::chrono::day{1}};
  const std::string month_start = kq::format_date(first);
  const std::string next_month = kq::format_date(first + std::chrono::months{1});
  // The hand-written side formats its timestamp once per call, as the
  // library does.
  auto now_text = [] {
    auto t = std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
    return kq::format_time(t);
  };
  const int consume_ops = cfg.quick ? 200 : (sync == kq::sqlite_synchronous::full ? 1000 : 4000);
  const int read_ops = cfg.quick ? 2000 : 20000;

  auto consume = measure(
      cfg, consume_ops,
      [&] {
        auto d = svc.try_consume(lib_user, 10);
        if (!d || !d.value().allowed) die("library consume failed");
      },
      [&] {
        if (!raw.consume(hand_user, day, now_text(), 10)) die("hand consume denied");
      });
  const std::string sync_lower = sync == kq::sqlite_synchronous::full ? "full" : "normal";
  line l;
  l.backend = "sqlite";
  l.synchronous = sync_lower;
  l.callers = 1;
  l.name = fmt::format("sqlite consume {} vs hand-written SQL", sync_name);
  l.library = consume.lib;
  l.baseline = consume.hand;
  l.goal = 0.8;
  report(l);
  auto reads = measure(
      cfg, read_ops,
      [&] {
        if (!svc.get_user_quota_info(lib_user)) die("library read failed");
      },
      [&] { (void)raw.read(hand_user, day, month_start, next_month); });
  l.name = fmt::format("sqlite quota read {} vs hand-written SQL", sync_name);
  l.library = reads.lib;
  l.baseline = reads.hand;
  report(l);
  l.name = fmt::format("sqlite denied {} with vs without the denial cache", sync_name);
  l.goal.reset();
  bench_denials(cfg, store, l, consume_ops);
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
}

constexpr int max_callers = 64;
const std::vector<int> caller_counts{1, 8, 64};

/// Consume from many threads at once, each its own user, all sharing one
/// storage: SQLite at synchronous NORMAL and FULL, each with group commit
/// on and off (four databases, measured in rotation).
void bench_sqlite_callers(const config& cfg) {
  struct setting {
    kq::sqlite_synchronous sync;
    const char* name;
    bool batched;
  };
  const std::array<setting, 4> settings{{{kq::sqlite_synchronous::normal, "NORMAL", true},
                                         {kq::sqlite_synchronous::normal, "NORMAL", false},
                                         {kq::sqlite_synchronous::full, "FULL", true},
                                         {kq::sqlite_synchronous::full, "FULL", false}}};
  std::vector<kq::quota_service> services;
  std::vector<kq::user_id> users;
  for (int c = 0; c < max_callers; ++c) users.emplace_back(fmt::format("caller-{}", c));
  for (const auto& st : settings) {
    const std::string path = fmt::format("{}/callers-{}-{}.db", cfg.dir, st.name, st.batched ? "batched" : "single");
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
    kq::sqlite_options o;
    o.path = path;
    o.synchronous = st.sync;
    o.batch.enabled = st.batched;
    o.batch.max_wait = cfg.batch_wait;
    std::shared_ptr<kq::storage> store = must(kq::open_sqlite(o), "open");
    must(store->migrate({}), "migrate");
    services.push_back(must(kq::quota_service::create(store, {}), "service"));
    for (const auto& u : users) must(services.back().create_user(u, std::nullopt, kq::tier_id{"enterprise"}), "user");
  }
  auto rates = burst_matrix(cfg, caller_counts, settings.size(), [&](std::size_t k, int c) {
    auto d = services[k].try_consume(users[static_cast<std::size_t>(c)], 10);
    if (!d || !d.value().allowed)
      die("sqlite consume with many callers failed: " + (d ? std::string("denied") : d.error().message));
  });
  for (const int callers : caller_counts)
    for (const std::size_t batched_index : {std::size_t{0}, std::size_t{2}}) {
      const auto& st = settings[batched_index];
      line l;
      l.backend = "sqlite";
      l.synchronous = st.sync == kq::sqlite_synchronous::full ? "full" : "normal";
      l.callers = callers;
      l.name = fmt::format("sqlite consume {} batched vs {} unbatched", st.name, st.name);
      l.library = rates[batched_index].at(callers);
      l.baseline = rates[batched_index + 1].at(callers);
      l.note = "group commit on | off";
      // A lone caller must pay nothing for group commit; eight callers on
      // FULL must share their fsyncs.
      if (callers == 1) l.goal = 0.95;
      if (callers == 8 && st.sync == kq::sqlite_synchronous::full) l.goal = 4.0;
      report(l);
    }
  line l;
  l.backend = "sqlite";
  l.synchronous = "full";
  l.callers = max_callers;
  l.name = "sqlite consume FULL batched vs NORMAL unbatched";
  l.library = rates[2].at(max_callers);
  l.baseline = rates[1].at(max_callers);
  l.note = "durable with group commit | not durable without";
  l.goal = 2.0;
  report(l);
}

/// An SQLite FULL database with group commit and the users caller-0 to
/// caller-63, for measuring the library next to an alternative.
[[maybe_unused]] kq::quota_service full_batched_service(const config& cfg, const std::string& name) {
  const std::string path = fmt::format("{}/{}.db", cfg.dir, name);
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
  kq::sqlite_options o;
  o.path = path;
  o.synchronous = kq::sqlite_synchronous::full;
  o.batch.enabled = true;
  o.batch.max_wait = cfg.batch_wait;
  std::shared_ptr<kq::storage> store = must(kq::open_sqlite(o), "open");
  must(store->migrate({}), "migrate");
  auto svc = must(kq::quota_service::create(store, {}), "service");
  for (int c = 0; c < max_callers; ++c)
    must(svc.create_user(kq::user_id{fmt::format("caller-{}", c)}, std::nullopt, kq::tier_id{"enterprise"}), "user");
  return svc;
}

/// `argv[0]` found on PATH, or empty.
std::string find_program(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string_view rest = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  while (!rest.empty()) {
    const auto colon = rest.find(':');
    const std::string dir{rest.substr(0, colon)};
    rest = colon == std::string_view::npos ? std::string_view{} : rest.substr(colon + 1);
    const std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

/// Starts `argv` with its standard output going to `out_fd` (or /dev/null
/// when -1) and returns its process id.
pid_t spawn(const std::vector<std::string>& argv, int out_fd) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) {
    const int fd = out_fd >= 0 ? out_fd : open("/dev/null", O_WRONLY);
    dup2(fd, STDOUT_FILENO);
    execv(args[0], args.data());
    _exit(127);
  }
  return pid;
}

/// Runs `argv` to its end and returns its exit status (-1 when it did not
/// exit normally) and standard output.
std::pair<int, std::string> run_capture(const std::vector<std::string>& argv) {
  int fds[2];
  if (pipe(fds) != 0) die("pipe");
  const pid_t pid = spawn(argv, fds[1]);
  close(fds[1]);
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = read(fds[0], buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

/// A free TCP port on 127.0.0.1 (free when asked; the caller retries if
/// another process takes it first).
int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    die("no free port on 127.0.0.1");
  close(fd);
  return ntohs(a.sin_port);
}

#ifdef KAURI_QUOTA_BENCH_REDIS
/// The quota check a Redis deployment would run: one Lua script per
/// request that reads the user's daily message counter and monthly message
/// and token counters, increments them only while the limits hold, and
/// appends the audit entry to a stream, atomically.
constexpr const char* redis_consume_script = R"lua(
local tokens = tonumber(ARGV[1])
local per_day = tonumber(ARGV[2])
local per_month = tonumber(ARGV[3])
local tokens_per_month = tonumber(ARGV[4])
local day = tonumber(redis.call('GET', KEYS[1]) or '0')
local month = redis.call('HMGET', KEYS[2], 'messages', 'tokens')
local messages = tonumber(month[1] or '0')
local used = tonumber(month[2] or '0')
local allowed = day + 1 <= per_day and messages + 1 <= per_month and used + tokens <= tokens_per_month
if allowed then
  redis.call('INCR', KEYS[1])
  redis.call('EXPIRE', KEYS[1], 172800)
  redis.call('HINCRBY', KEYS[2], 'messages', 1)
  redis.call('HINCRBY', KEYS[2], 'tokens', tokens)
  redis.call('EXPIRE', KEYS[2], 3024000)
end
redis.call('XADD', KEYS[3], '*', 'user', ARGV[5], 'event', allowed and 'message_sent' or 'quota_exceeded',
           'messages', allowed and 1 or 0, 'tokens', allowed and tokens or 0, 'tier', ARGV[6], 'at', ARGV[7])
return allowed and 1 or 0
)lua";

struct redis_reply_deleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using redis_reply = std::unique_ptr<redisReply, redis_reply_deleter>;
struct redis_context_deleter {
  void operator()(redisContext* c) const { redisFree(c); }
};
using redis_context = std::unique_ptr<redisContext, redis_context_deleter>;

redis_context redis_connect(int port) {
  const timeval timeout{5, 0};
  redis_context c{redisConnectWithTimeout("127.0.0.1", port, timeout)};
  if (!c || c->err) return nullptr;
  redisSetTimeout(c.get(), timeout);
  return c;
}

redis_reply redis_command(redisContext* c, const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.c_str());
    lens.push_back(a.size());
  }
  return redis_reply{
      static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()))};
}

/// Redis 7 with an append-only file, the same consume at 1, 8 and 64
/// client threads (a connection each), first with appendfsync always (each
/// acknowledged write is on disk, as with SQLite FULL) and then everysec
/// (up to a second of acknowledged writes can be lost), next to the
/// library's SQLite FULL with group commit at the same caller counts, the
/// three taking turns burst by burst so that the disk's drift (its flush
/// time can change several-fold within a run) falls on all alike.
void bench_redis(const config& cfg) {
  const std::string server = find_program("redis-server");
  if (server.empty()) {
    report_error("redis consume", "redis",
                 "redis-server not found (apt-get install redis-server, or --no-alternatives)");
    return;
  }
  const std::string dir = cfg.dir + "/redis";
  std::filesystem::create_directories(dir);
  auto pid = std::make_shared<std::atomic<pid_t>>(0);
  auto stop = [pid] {
    const pid_t p = pid->exchange(0);
    if (p > 0) {
      kill(p, SIGKILL);
      waitpid(p, nullptr, 0);
    }
  };
  cleanup::add(stop);
  int port = 0;
  redis_context admin;
  // The free port may be taken by another process before the server binds
  // it; then the server exits and another port is tried.
  for (int attempt = 0; attempt < 5 && !admin; ++attempt) {
    port = free_port();
    pid->store(spawn({server, "--bind", "127.0.0.1", "--port", std::to_string(port), "--dir", dir, "--save", "",
                      "--appendonly", "yes", "--appendfsync", "always", "--protected-mode", "yes", "--daemonize", "no",
                      "--logfile", dir + "/redis.log"},
                     -1));
    const auto deadline = clk::now() + std::chrono::seconds(10);
    while (clk::now() < deadline) {
      if (waitpid(pid->load(), nullptr, WNOHANG) != 0) {
        pid->store(0);
        break;
      }
      if (auto c = redis_connect(port)) {
        if (redis_reply r = redis_command(c.get(), {"PING"}); r && r->type == REDIS_REPLY_STATUS) {
          admin = std::move(c);
          break;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (!admin) stop();
  }
  if (!admin) {
    report_error("redis consume", "redis", fmt::format("could not start redis-server (see {}/redis.log)", dir));
    return;
  }
  redis_reply loaded = redis_command(admin.get(), {"SCRIPT", "LOAD", redis_consume_script});
  if (!loaded || loaded->type != REDIS_REPLY_STRING) die("redis SCRIPT LOAD failed");
  const std::string sha(loaded->str, loaded->len);
  std::vector<redis_context> clients;
  for (int c = 0; c < max_callers; ++c) {
    clients.push_back(redis_connect(port));
    if (!clients.back()) die("cannot connect to redis-server");
  }
  const auto now = std::chrono::system_clock::now();
  const std::string day = kq::format_date(kq::local_date{std::chrono::floor<std::chrono::days>(now)});
  const std::string month = day.substr(0, 7);
  const std::array<const char*, 2> modes{"always", "everysec"};
  // Limits that hold for the whole run, so that every request is allowed
  // and does the whole work, as on the library's side.
  const std::string no_limit = "1000000000000";
  auto library = full_batched_service(cfg, "next-to-redis");
  std::vector<kq::user_id> users;
  for (int c = 0; c < max_callers; ++c) users.emplace_back(fmt::format("caller-{}", c));
  auto rates = burst_matrix(
      cfg, caller_counts, modes.size() + 1,
      [&](std::size_t k, int c) {
        if (k == modes.size()) {
          auto d = library.try_consume(users[static_cast<std::size_t>(c)], 10);
          if (!d || !d.value().allowed)
            die("sqlite consume next to redis failed: " + (d ? std::string("denied") : d.error().message));
          return;
        }
        redisContext* ctx = clients[static_cast<std::size_t>(c)].get();
        const std::string user = fmt::format("caller-{}", c);
        const std::string at =
            kq::format_time(std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now()));
        redis_reply r = redis_command(
            ctx, {"EVALSHA", sha, "3", "quota:" + user + ":day:" + day, "quota:" + user + ":month:" + month,
                  "usage_logs", "10", no_limit, no_limit, no_limit, user, "enterprise", at});
        if (!r || r->type != REDIS_REPLY_INTEGER || r->integer != 1)
          die(fmt::format("redis consume failed: {}", r && r->type == REDIS_REPLY_ERROR ? r->str : "no answer"));
      },
      [&](std::size_t k) {
        if (k == modes.size()) return;
        redis_reply r = redis_command(admin.get(), {"CONFIG", "SET", "appendfsync", modes[k]});
        if (!r || r->type != REDIS_REPLY_STATUS) die("redis CONFIG SET appendfsync failed");
      });
  stop();
  for (const int callers : caller_counts)
    for (std::size_t k = 0; k < modes.size(); ++k) {
      line l;
      l.backend = "sqlite";
      l.synchronous = "full";
      l.callers = callers;
      l.name = fmt::format("sqlite consume FULL batched vs redis appendfsync {}", modes[k]);
      l.library = rates[modes.size()].at(callers);
      l.baseline = rates[k].at(callers);
      l.note = fmt::format("library | Redis 7 Lua script, {} client{}", callers, callers == 1 ? "" : "s");
      // Only appendfsync always makes every acknowledged request durable,
      // as SQLite FULL does; everysec is shown for what it costs.
      if (callers == max_callers && k == 0) l.goal = 1.0;
      report(l);
    }
}
#endif
#ifdef KAURI_QUOTA_BENCH_POSTGRES
/// A TCP proxy on 127.0.0.1 that delays every chunk by a fixed time in each
/// direction, so that PostgreSQL on loopback looks like a server across a
/// network with the given round trip. Each connection has a forwarding
/// thread and a delivering thread per direction, joined by a queue of
/// chunks stamped with their delivery time: order is kept, and connections
/// never wait for each other.
class delay_proxy {
 public:
  delay_proxy(int target_port, std::chrono::microseconds one_way) : target_port_(target_port), delay_(one_way) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    if (listen_fd_ < 0 || bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        listen(listen_fd_, 256) != 0 || getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      die("delay proxy: cannot listen on 127.0.0.1");
    port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~delay_proxy() {
    stopping_ = true;
    acceptor_.join();
    close(listen_fd_);
    const std::lock_guard lock(mutex_);
    for (auto& c : connections_) {
      shutdown(c->client, SHUT_RDWR);
      shutdown(c->server, SHUT_RDWR);
      for (auto* q : {&c->up, &c->down}) {
        const std::lock_guard ql(q->m);
        q->closed = true;
        q->cv.notify_all();
      }
      for (auto& t : c->threads) t.join();
      close(c->client);
      close(c->server);
    }
  }
  delay_proxy(const delay_proxy&) = delete;
  delay_proxy& operator=(const delay_proxy&) = delete;

  int port() const { return port_; }

 private:
  struct chunk_queue {
    std::mutex m;
    std::condition_variable cv;
    std::deque<std::pair<clk::time_point, std::string>> chunks;
    bool eof = false;
    bool closed = false;
  };
  struct connection {
    int client = -1;
    int server = -1;
    chunk_queue up;    // client to server
    chunk_queue down;  // server to client
    std::vector<std::thread> threads;
  };

  static void no_delay(int fd) {
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }

  void accept_loop() {
    while (!stopping_) {
      pollfd p{listen_fd_, POLLIN, 0};
      // The stop flag is looked at every 100 ms.
      if (poll(&p, 1, 100) <= 0) continue;
      const int client = accept(listen_fd_, nullptr, nullptr);
      if (client < 0) continue;
      const int server = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      a.sin_port = htons(static_cast<std::uint16_t>(target_port_));
      if (server < 0 || connect(server, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        close(client);
        if (server >= 0) close(server);
        continue;
      }
      no_delay(client);
      no_delay(server);
      auto c = std::make_unique<connection>();
      c->client = client;
      c->server = server;
      connection* raw = c.get();
      raw->threads.emplace_back([this, raw] { forward(raw->client, raw->up); });
      raw->threads.emplace_back([raw] { deliver(raw->up, raw->server, raw); });
      raw->threads.emplace_back([this, raw] { forward(raw->server, raw->down); });
      raw->threads.emplace_back([raw] { deliver(raw->down, raw->client, raw); });
      const std::lock_guard lock(mutex_);
      connections_.push_back(std::move(c));
    }
  }

  /// Reads what `from` sends and queues it for delivery one delay later.
  void forward(int from, chunk_queue& q) const {
    std::vector<char> buf(65536);
    for (;;) {
      const ssize_t n = read(from, buf.data(), buf.size());
      const std::lock_guard lock(q.m);
      if (n <= 0) {
        q.eof = true;
        q.cv.notify_all();
        return;
      }
      q.chunks.emplace_back(clk::now() + delay_, std::string(buf.data(), static_cast<std::size_t>(n)));
      q.cv.notify_all();
    }
  }

  /// Writes the queued chunks to `to`, each at its delivery time.
  static void deliver(chunk_queue& q, int to, connection* c) {
    // Linux lets a sleep overrun by 50 us by default (timer slack), which
    // would add 100 us to every round trip; the delay should be what was
    // asked for.
    prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
    for (;;) {
      std::pair<clk::time_point, std::string> next;
      {
        std::unique_lock lock(q.m);
        q.cv.wait(lock, [&] { return q.closed || q.eof || !q.chunks.empty(); });
        if (q.closed) return;
        if (q.chunks.empty()) {
          // The sender closed its side: pass the end on.
          shutdown(to, SHUT_WR);
          return;
        }
        next = std::move(q.chunks.front());
        q.chunks.pop_front();
      }
      std::this_thread::sleep_until(next.first);
      std::size_t sent = 0;
      while (sent < next.second.size()) {
        const ssize_t n = send(to, next.second.data() + sent, next.second.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) {
          // The peer is gone: end both directions of this connection.
          shutdown(c->client, SHUT_RDWR);
          shutdown(c->server, SHUT_RDWR);
          return;
        }
        sent += static_cast<std::size_t>(n);
      }
    }
  }

  int target_port_;
  std::chrono::microseconds delay_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<connection>> connections_;
};

/// Hand-written PostgreSQL access: one prepared statement per consume.
class raw_pg {
 public:
  explicit raw_pg(const std::string& conninfo) : c_(PQconnectdb(conninfo.c_str())) {
    if (PQstatus(c_) != CONNECTION_OK) die(std::string("connect: ") + PQerrorMessage(c_));
    // The same work as the library's consume, in one round trip: the limits
    // of the user's tier (the free tier when the subscription has lapsed),
    // the day row upserted only while the daily, monthly and token limits
    // hold, and the audit row.
    prepare("consume",
            "WITH s AS ("
            " SELECT u.user_id, t.tier_id, t.messages_per_day AS per_day, t.messages_per_month AS per_month,"
            "  t.tokens_per_month AS tok"
            " FROM users u JOIN subscription_tiers t ON t.tier_id = CASE"
            "  WHEN u.subscription_status IN ('canceled', 'expired') OR u.subscription_end_date <= $4"
            "   OR (u.subscription_status = 'trialing' AND u.trial_end_date <= $4) THEN 'free'"
            "  ELSE u.subscription_tier END"
            " WHERE u.user_id = $1"
            "), up AS ("
            " INSERT INTO user_usage AS d (user_id, usage_date, messages_today, tokens_today, messages_this_month,"
            "  tokens_this_month, created_at, updated_at)"
            " SELECT s.user_id, $2, 1, $3, 1, $3, $4, $4 FROM s"
            "  WHERE (s.per_day IS NULL OR s.per_day >= 1) AND (s.per_month IS NULL OR s.per_month >= 1)"
            "   AND (s.tok IS NULL OR s.tok >= $3)"
            " ON CONFLICT (user_id, usage_date) DO UPDATE SET messages_today = d.messages_today + 1,"
            "  tokens_today = d.tokens_today + excluded.tokens_today,"
            "  messages_this_month = d.messages_this_month + 1,"
            "  tokens_this_month = d.tokens_this_month + excluded.tokens_today, updated_at = excluded.updated_at"
            " WHERE (SELECT (s.per_day IS NULL OR d.messages_today + 1 <= s.per_day)"
            "   AND (s.per_month IS NULL OR d.messages_this_month + 1 <= s.per_month)"
            "   AND (s.tok IS NULL OR d.tokens_this_month + excluded.tokens_today <= s.tok) FROM s)"
            " RETURNING 1)"
            " INSERT INTO usage_logs (user_id, event_type, messages_count, tokens_count, quota_tier, event_timestamp,"
            "  usage_date)"
            " SELECT s.user_id, CASE WHEN EXISTS (SELECT 1 FROM up) THEN 'message_sent' ELSE 'quota_exceeded' END,"
            "  CASE WHEN EXISTS (SELECT 1 FROM up) THEN 1 ELSE 0 END,"
            "  CASE WHEN EXISTS (SELECT 1 FROM up) THEN $3 ELSE 0 END, s.tier_id, $4, $2 FROM s"
            " RETURNING (SELECT count(*) FROM up)");
    // For reference only: a day-row upsert and an audit insert that read no
    // limits (the limit is a constant), which is less work than a quota
    // check can be.
    prepare(
        "bare",
        "WITH up AS ("
        " INSERT INTO user_usage (user_id, usage_date, messages_today, tokens_today, messages_this_month,"
        "  tokens_this_month, created_at, updated_at) VALUES ($1, $2, 1, $3, 1, $3, $4, $4)"
        " ON CONFLICT (user_id, usage_date) DO UPDATE SET messages_today = user_usage.messages_today + 1,"
        "  tokens_today = user_usage.tokens_today + excluded.tokens_today,"
        "  messages_this_month = user_usage.messages_this_month + 1,"
        "  tokens_this_month = user_usage.tokens_this_month + excluded.tokens_today,"
        "  updated_at = excluded.updated_at"
        " WHERE user_usage.messages_today < 1000000000 RETURNING 1)"
        " INSERT INTO usage_logs (user_id, event_type, messages_count, tokens_count, quota_tier, event_timestamp,"
        "  usage_date) SELECT $1, CASE WHEN EXISTS (SELECT 1 FROM up) THEN 'message_sent' ELSE 'quota_exceeded' END,"
        "  CASE WHEN EXISTS (SELECT 1 FROM up) THEN 1 ELSE 0 END, $3, 'enterprise', $4, $2"
        " RETURNING (SELECT count(*) FROM up)");
  }
  ~raw_pg() { PQfinish(c_); }
  raw_pg(const raw_pg&) = delete;
  raw_pg& operator=(const raw_pg&) = delete;

  bool consume(const std::string& user, const std::string& day, const std::string& now, const std::string& tokens,
               const char* statement = "consume") {
    const char* v[] = {user.c_str(), day.c_str(), tokens.c_str(), now.c_str()};
    PGresult* r = PQexecPrepared(c_, statement, 4, v, nullptr, nullptr, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) die(std::string("consume: ") + PQerrorMessage(c_));
    const bool allowed = std::string(PQgetvalue(r, 0, 0)) == "1";
    PQclear(r);
    return allowed;
  }

 private:
  void prepare(const char* name, const char* sql) {
    PGresult* r = PQprepare(c_, name, sql, 4, nullptr);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) die(std::string("prepare: ") + PQerrorMessage(c_));
    PQclear(r);
  }
  PGconn* c_;
};

/// `conninfo` (a libpq keyword string or a postgresql:// URI) with the
/// given keywords replaced, as a keyword string. Appending " dbname=..."
/// works only for keyword strings, so the text is parsed by libpq itself
/// and written back without the keywords replaced.
std::string conninfo_with(const std::string& conninfo, const std::map<std::string, std::string>& replaced) {
  char* why = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &why);
  if (options == nullptr) {
    const std::string message = why != nullptr ? why : "out of memory";
    PQfreemem(why);
    die("--pg: " + message);
  }
  const auto quoted = [](std::string_view v) {
    std::string out = "'";
    for (const char c : v) {
      if (c == '\\' || c == '\'') out += '\\';
      out += c;
    }
    return out + "'";
  };
  std::string out;
  for (const PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val == nullptr || *o->val == '\0' || replaced.contains(o->keyword)) continue;
    out += fmt::format("{}={} ", o->keyword, quoted(o->val));
  }
  PQconninfoFree(options);
  for (const auto& [k, v] : replaced) out += fmt::format("{}={} ", k, quoted(v));
  out.pop_back();
  return out;
}

std::string for_database(const std::string& conninfo, const std::string& dbname) {
  return conninfo_with(conninfo, {{"dbname", dbname}});
}

/// The value of `keyword` in `conninfo`, or empty.
std::string conninfo_value(const std::string& conninfo, std::string_view keyword) {
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), nullptr);
  if (options == nullptr) return {};
  std::string out;
  for (const PQconninfoOption* o = options; o->keyword != nullptr; ++o)
    if (keyword == o->keyword && o->val != nullptr) out = o->val;
  PQconninfoFree(options);
  return out;
}

/// The round trip of an empty query through the delaying proxy next to the
/// same query straight to the server, in microseconds, so that the run
/// shows the delay it really added (a loaded machine oversleeps).
void report_round_trips(const std::string& proxied, const std::string& direct, line l) {
  PGconn* via = PQconnectdb(proxied.c_str());
  PGconn* straight = PQconnectdb(direct.c_str());
  if (PQstatus(via) != CONNECTION_OK || PQstatus(straight) != CONNECTION_OK)
    die(std::string("connect: ") + PQerrorMessage(via) + PQerrorMessage(straight));
  std::vector<double> through;
  std::vector<double> plain;
  auto once = [](PGconn* c, std::vector<double>& out) {
    const auto t0 = clk::now();
    PGresult* r = PQexec(c, "SELECT 1");
    out.push_back(std::chrono::duration<double, std::micro>(clk::now() - t0).count());
    if (PQresultStatus(r) != PGRES_TUPLES_OK) die(std::string("SELECT 1: ") + PQerrorMessage(c));
    PQclear(r);
  };
  // At most 200 of each, and at most two seconds.
  const auto deadline = clk::now() + std::chrono::seconds(2);
  for (int i = 0; i < 200 && clk::now() < deadline; ++i) {
    once(via, through);
    once(straight, plain);
  }
  PQfinish(via);
  PQfinish(straight);
  l.name = "postgresql round trip through the --rtt proxy vs direct";
  l.unit = "us";
  l.callers = 1;
  l.library = median(through);
  l.baseline = median(plain);
  l.note = "median SELECT 1, microseconds";
  report(l);
}

/// The original Python service's flow (bench/original_flow.py) against
/// the same database, through the same path (the proxy with --rtt), at
/// `processes` processes; its rate, or the reason it could not run.
std::pair<double, std::string> python_rate(const config& cfg, const std::string& db, int processes) {
  const std::string python = "/usr/bin/python3";
  if (access(python.c_str(), X_OK) != 0) return {0, python + " not found (apt-get install python3)"};
  auto [status, out] =
      run_capture({python, std::string(KAURI_QUOTA_SOURCE_DIR) + "/bench/original_flow.py", "--dsn", db, "--processes",
                   std::to_string(processes), "--seconds", cfg.quick ? "2" : "5", "--user-prefix", "py-"});
  const auto at = out.find("\"rate\": ");
  if (status != 0 || at == std::string::npos)
    return {0, fmt::format("bench/original_flow.py failed (exit {}; it needs python3-sqlalchemy and python3-psycopg2)",
                           status)};
  return {std::strtod(out.c_str() + at + 8, nullptr), {}};
}

/// Consume from 1, 8 and 64 threads, each its own user, sharing a pool of
/// 8 connections, with batching on and off; then the library next to the
/// original Python service's flow doing the same work on the same server.
void bench_postgres_callers(const config& cfg, const std::string& db, line l) {
  std::vector<kq::quota_service> services;
  std::vector<kq::user_id> users;
  for (int c = 0; c < max_callers; ++c) users.emplace_back(fmt::format("caller-{}", c));
  for (const bool batched : {true, false}) {
    kq::postgres_options po;
    po.conninfo = db;
    po.pool_size = 8;
    po.batch.enabled = batched;
    po.batch.max_wait = cfg.batch_wait;
    std::shared_ptr<kq::storage> store = must(kq::open_postgres(po), "open postgres");
    services.push_back(must(kq::quota_service::create(store, {}), "service"));
  }
  for (const auto& u : users) must(services[0].create_user(u, std::nullopt, kq::tier_id{"enterprise"}), "user");
  auto rates = burst_matrix(cfg, caller_counts, services.size(), [&](std::size_t k, int c) {
    auto d = services[k].try_consume(users[static_cast<std::size_t>(c)], 10);
    if (!d || !d.value().allowed)
      die("postgresql consume with many callers failed: " + (d ? std::string("denied") : d.error().message));
  });
  l.note = "pool of 8; batching on | off";
  for (const int callers : caller_counts) {
    l.name = "postgresql consume batched vs unbatched";
    l.callers = callers;
    l.library = rates[0].at(callers);
    l.baseline = rates[1].at(callers);
    l.goal.reset();
    // Across a network each round trip costs more, and batching saves more.
    if (callers == max_callers) l.goal = l.rtt_us.value_or(0) > 0 ? 5.0 : 3.0;
    report(l);
  }
  if (!cfg.alternatives) return;
  for (int p = 0; p < 8; ++p)
    must(services[0].create_user(kq::user_id{fmt::format("py-{}", p)}, std::nullopt, kq::tier_id{"enterprise"}),
         "user");
  for (const int n : {1, 8}) {
    l.name = "postgresql consume vs original Python flow";
    l.callers = n;
    // The library's bursts come right before and right after the Python
    // run, so that both sides see the same state of the disk and server.
    std::vector<double> library;
    auto library_bursts = [&] {
      for (int r = 0; r < cfg.rounds; ++r)
        library.push_back(burst(n, burst_window(cfg), 1000000, [&](int c) {
          auto d = services[0].try_consume(users[static_cast<std::size_t>(c)], 10);
          if (!d || !d.value().allowed) die("postgresql consume next to python failed");
        }));
    };
    library_bursts();
    auto [py, why] = python_rate(cfg, db, n);
    if (!why.empty()) {
      report_error(fmt::format("{}, {} caller{}", l.name, n, n == 1 ? "" : "s"), "postgresql", why);
      continue;
    }
    library_bursts();
    l.library = median(library);
    l.baseline = py;
    l.note =
        fmt::format("library, {} thread{} | SQLAlchemy ORM, {} process{}", n, n == 1 ? "" : "s", n, n == 1 ? "" : "es");
    l.goal = n == 1 ? 10.0 : 20.0;
    report(l);
  }
}

void bench_postgres(const config& cfg, const std::string& conninfo, const std::string& sqlite_dir) {
  // A database of its own, created through the server's maintenance db.
  {
    PGconn* admin = PQconnectdb(conninfo.c_str());
    if (PQstatus(admin) != CONNECTION_OK) die(std::string("connect: ") + PQerrorMessage(admin));
    PQclear(PQexec(admin, "DROP DATABASE IF EXISTS kauri_quota_bench"));
    PGresult* r = PQexec(admin, "CREATE DATABASE kauri_quota_bench");
    if (PQresultStatus(r) != PGRES_COMMAND_OK) die(std::string("createdb: ") + PQerrorMessage(admin));
    PQclear(r);
    PQfinish(admin);
  }
  const std::string direct = for_database(conninfo, "kauri_quota_bench");
  {
    kq::postgres_options mo;
    mo.conninfo = direct;
    mo.pool_size = 1;
    must(must(kq::open_postgres(mo), "open postgres")->migrate({}), "migrate postgres");
  }
  // With --rtt every measurement goes through the delaying proxy, which
  // reaches the server over loopback TCP.
  std::unique_ptr<delay_proxy> proxy;
  std::string db = direct;
  const std::int64_t rtt_us = cfg.rtt.count();
  if (rtt_us > 0) {
    const std::string host = conninfo_value(direct, "host");
    const std::string port = conninfo_value(direct, "port");
    if (host != "127.0.0.1" && host != "localhost")
      die("--rtt needs a PostgreSQL server reached over TCP on 127.0.0.1 (host=127.0.0.1 in --pg)");
    proxy = std::make_unique<delay_proxy>(port.empty() ? 5432 : std::stoi(port), cfg.rtt / 2);
    db = conninfo_with(direct,
                       {{"host", "127.0.0.1"}, {"hostaddr", "127.0.0.1"}, {"port", std::to_string(proxy->port())}});
  }
  line l;
  l.backend = "postgresql";
  l.rtt_us = rtt_us;
  if (proxy) report_round_trips(db, direct, l);
  kq::postgres_options po;
  po.conninfo = db;
  po.pool_size = 8;
  std::shared_ptr<kq::storage> pooled = must(kq::open_postgres(po), "open postgres");
  po.pool_size = 1;
  std::shared_ptr<kq::storage> single = must(kq::open_postgres(po), "open postgres");
  auto svc1 = must(kq::quota_service::create(single, {}), "service");
  auto svc8 = must(kq::quota_service::create(pooled, {}), "service");
  for (int i = 0; i < 8; ++i)
    must(svc8.create_user(kq::user_id{fmt::format("bench-{}", i)}, std::nullopt, kq::tier_id{"enterprise"}), "user");
  must(svc8.create_user(kq::user_id{"bench-hand"}, std::nullopt, kq::tier_id{"enterprise"}), "user");
  raw_pg raw(db);
  const std::string day = kq::format_date(svc1.day_of(svc1.now()));
  const int ops = cfg.quick ? 300 : 2000;
  auto now_text = [] {
    return kq::format_time(std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now()));
  };
  auto one = measure(
      cfg, ops,
      [&] {
        auto d = svc1.try_consume(kq::user_id{"bench-0"}, 10);
        if (!d || !d.value().allowed) die("library consume failed: " + (d ? std::string("denied") : d.error().message));
      },
      [&] {
        if (!raw.consume("bench-hand", day, now_text(), "10")) die("hand consume denied");
      });
  l.name = "postgresql consume vs hand-written SQL";
  l.callers = 1;
  l.library = one.lib;
  l.baseline = one.hand;
  l.goal = 0.8;
  report(l);
  auto bare = measure(
      cfg, ops,
      [&] {
        if (!raw.consume("bench-hand", day, now_text(), "10")) die("hand consume denied");
      },
      [&] {
        if (!raw.consume("bench-hand", day, now_text(), "10", "bare")) die("bare consume denied");
      });
  l.name = "postgresql reference: hand-written SQL vs bare upsert";
  l.library = bare.lib;
  l.baseline = bare.hand;
  l.goal.reset();
  l.note = "hand-written same work | bare upsert reading no limits";
  report(l);

  // 8 threads, each its own user, sharing the pool of 8.
  std::vector<double> pooled_rates;
  const std::array<kq::user_id, 8> pool_users{kq::user_id{"bench-0"}, kq::user_id{"bench-1"}, kq::user_id{"bench-2"},
                                              kq::user_id{"bench-3"}, kq::user_id{"bench-4"}, kq::user_id{"bench-5"},
                                              kq::user_id{"bench-6"}, kq::user_id{"bench-7"}};
  for (int r = 0; r < cfg.rounds; ++r)
    pooled_rates.push_back(burst(8, burst_window(cfg), ops / 2, [&](int t) {
      auto d = svc8.try_consume(pool_users[static_cast<std::size_t>(t)], 10);
      if (!d || !d.value().allowed) die("pooled consume failed");
    }));
  l.name = "postgresql consume 8 connections vs 1";
  l.callers = 8;
  l.library = median(pooled_rates);
  l.baseline = one.lib;
  l.goal = 3.0;
  l.note = "8 threads on a pool of 8 | 1 thread on 1 connection";
  report(l);

  // The same scaling for the hand-written statement: 8 threads, each with
  // its own connection and user, next to 1 connection. This is the ceiling
  // the machine allows.
  std::vector<double> hand_pooled;
  {
    std::vector<std::unique_ptr<raw_pg>> conns;
    for (int t = 0; t < 8; ++t) {
      must(svc8.create_user(kq::user_id{fmt::format("bench-hand-{}", t)}, std::nullopt, kq::tier_id{"enterprise"}),
           "user");
      conns.push_back(std::make_unique<raw_pg>(db));
    }
    for (int r = 0; r < cfg.rounds; ++r)
      hand_pooled.push_back(burst(8, burst_window(cfg), ops / 2, [&](int t) {
        if (!conns[static_cast<std::size_t>(t)]->consume(fmt::format("bench-hand-{}", t), day, now_text(), "10"))
          die("hand consume denied");
      }));
  }
  l.name = "postgresql hand-written SQL 8 connections vs 1";
  l.library = median(hand_pooled);
  l.baseline = one.hand;
  l.goal.reset();
  l.note = "the machine's ceiling for 8 connections";
  report(l);

  auto reads = measure(
      cfg, ops * 2,
      [&] {
        if (!svc1.get_user_quota_info(kq::user_id{"bench-0"})) die("library read failed");
      },
      [&] {
        if (!svc1.get_user_quota_info(kq::user_id{"bench-1"})) die("library read failed");
      });
  l.name = "postgresql quota read, two users on 1 connection";
  l.callers = 1;
  l.library = reads.lib;
  l.baseline = reads.hand;
  l.note = "user 0 | user 1, the same work";
  report(l);

  // The same consume on SQLite, for a side-by-side view of the backends.
  kq::sqlite_options so;
  so.path = sqlite_dir + "/side-by-side.db";
  std::shared_ptr<kq::storage> lite = must(kq::open_sqlite(so), "open sqlite");
  must(lite->migrate({}), "migrate sqlite");
  auto svcl = must(kq::quota_service::create(lite, {}), "service");
  must(svcl.create_user(kq::user_id{"bench-0"}, std::nullopt, kq::tier_id{"enterprise"}), "user");
  auto side = measure(
      cfg, ops,
      [&] {
        if (!svc1.try_consume(kq::user_id{"bench-0"}, 10)) die("postgres consume failed");
      },
      [&] {
        if (!svcl.try_consume(kq::user_id{"bench-0"}, 10)) die("sqlite consume failed");
      });
  l.name = "postgresql consume vs sqlite FULL";
  l.library = side.lib;
  l.baseline = side.hand;
  l.note = "PostgreSQL 1 connection | SQLite FULL";
  report(l);
  l.name = "postgresql denied with vs without the denial cache";
  l.note.clear();
  bench_denials(cfg, single, l, ops);
  bench_postgres_callers(cfg, db, l);
}
#endif

}  // namespace

/// "500us", "1ms", "0.5ms" or "2s" as microseconds; nullopt when malformed.
std::optional<std::chrono::microseconds> parse_duration(const std::string& text) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  const std::string unit = end != nullptr ? end : "";
  double scale = 0;
  if (unit == "us")
    scale = 1;
  else if (unit == "ms")
    scale = 1e3;
  else if (unit == "s")
    scale = 1e6;
  if (end == text.c_str() || scale == 0 || !(v >= 0) || v * scale > 10e6) return std::nullopt;
  return std::chrono::microseconds(static_cast<std::int64_t>(v * scale + 0.5));
}

constexpr const char* usage_text =
    "usage: kauri_quota_bench [--dir DIR] [--rounds N] [--quick] [--json] [--pg auto|none|CONNINFO]\n"
    "                         [--rtt DURATION] [--no-alternatives] [--batch-wait DURATION]\n"
    "                         [--only sqlite|callers|redis|postgres]...\n";

int main(int argc, char** argv) {
  config cfg;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--dir" && i + 1 < argc) {
      cfg.dir = argv[++i];
    } else if (a == "--rounds" && i + 1 < argc) {
      cfg.rounds = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--pg" && i + 1 < argc) {
      cfg.pg = argv[++i];
    } else if (a == "--quick") {
      cfg.quick = true;
      cfg.rounds = 3;
    } else if (a == "--json") {
      cfg.json = true;
    } else if (a == "--no-alternatives") {
      cfg.alternatives = false;
    } else if (a == "--rtt" && i + 1 < argc) {
      const auto d = parse_duration(argv[++i]);
      if (!d) {
        fmt::print(stderr, "--rtt: expected a duration such as 500us or 1ms, at most 10s\n");
        return 2;
      }
      cfg.rtt = *d;
    } else if (a == "--batch-wait" && i + 1 < argc) {
      const auto d = parse_duration(argv[++i]);
      if (!d || *d > std::chrono::milliseconds(10)) {
        fmt::print(stderr, "--batch-wait: expected a duration such as 200us, at most 10ms\n");
        return 2;
      }
      cfg.batch_wait = *d;
    } else if (a == "--only" && i + 1 < argc) {
      const std::string part = argv[++i];
      if (part != "sqlite" && part != "callers" && part != "redis" && part != "postgres") {
        fmt::print(stderr, "--only: expected sqlite, callers, redis or postgres\n");
        return 2;
      }
      cfg.only.insert(part);
    } else {
      fmt::print(stderr, "{}", usage_text);
      return 2;
    }
  }
  if (cfg.dir.empty()) {
    char tmpl[] = "/tmp/kauri-quota-bench-XXXXXX";
    if (!mkdtemp(tmpl)) die("mkdtemp");
    cfg.dir = tmpl;
    // A PostgreSQL server started as root runs as another user, which must
    // be able to reach its data directory below this one.
    std::filesystem::permissions(cfg.dir, std::filesystem::perms::owner_all | std::filesystem::perms::group_exec |
                                              std::filesystem::perms::others_exec);
  }
  if (cfg.rtt.count() > 0 && !cfg.runs("postgres")) {
    fmt::print(stderr, "--rtt delays the PostgreSQL measurements, which --only leaves out\n");
    return 2;
  }
  if (cfg.rtt.count() > 0 && cfg.pg == "none") {
    fmt::print(stderr, "--rtt delays the PostgreSQL measurements, which --pg none leaves out\n");
    return 2;
  }
  g_json = cfg.json;
  if (!cfg.json) {
    fmt::print("kauri_quota {} benchmark ({} rounds, median)\n", KAURI_QUOTA_VERSION_STRING, cfg.rounds);
    fmt::print("{:<68} {:>10} {:>10} {:>8}\n", "operation", "library", "baseline", "ratio");
  }
  if (cfg.runs("sqlite")) {
    bench_sqlite(cfg, kq::sqlite_synchronous::normal, "NORMAL");
    bench_sqlite(cfg, kq::sqlite_synchronous::full, "FULL");
  }
  if (cfg.runs("callers")) bench_sqlite_callers(cfg);
  if (cfg.alternatives && cfg.runs("redis")) {
#ifdef KAURI_QUOTA_BENCH_REDIS
    bench_redis(cfg);
#else
    report_error("redis consume", "redis",
                 "built without hiredis (apt-get install libhiredis-dev and configure again, or --no-alternatives)");
#endif
  }
  const std::string python_line = "postgresql consume vs original Python flow";
#ifndef KAURI_QUOTA_BENCH_POSTGRES
  if (cfg.alternatives && cfg.runs("postgres"))
    report_error(python_line, "postgresql", "built without PostgreSQL (or give --no-alternatives)");
#else
  if (cfg.pg == "none" && cfg.alternatives && cfg.runs("postgres"))
    report_error(python_line, "postgresql", "needs PostgreSQL (--pg none was given; or give --no-alternatives)");
  if (cfg.pg != "none" && cfg.runs("postgres")) {
    std::string conninfo = cfg.pg;
    if (cfg.pg == "auto")  // bench_postgres adds its own dbname
      conninfo = kq::bench::start_postgres(KAURI_QUOTA_SOURCE_DIR, cfg.dir + "/pg", false);
    bench_postgres(cfg, conninfo, cfg.dir);
  }
#endif
  cleanup::run();
  std::filesystem::remove_all(cfg.dir);
  return g_errors == 0 ? 0 : 1;
}
