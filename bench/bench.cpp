// kauri_quota_bench: throughput of the library next to hand-written SQL
// doing the same work on the same database, in the same run.
//
//   consume: library try_consume vs. one BEGIN IMMEDIATE transaction with a
//            day-row upsert that checks the limit, and an audit insert.
//   quota:   library get_user_quota_info vs. one hand-written SELECT joining
//            users, subscription_tiers and user_usage.
//
// Rounds alternate between the two sides so that drift (page cache, disk)
// affects both alike; the median round rate of each side is reported.
//
// Usage: kauri_quota_bench [--dir DIR] [--rounds N] [--quick]
#include <kauri_quota/kauri_quota.hpp>

#include <fmt/format.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace kq = kauri_quota;
using clk = std::chrono::steady_clock;

namespace {

struct config {
  std::string dir;
  int rounds = 5;
  bool quick = false;
};

[[noreturn]] void die(const std::string& what) {
  fmt::print(stderr, "error: {}\n", what);
  std::exit(1);
}

template <class T>
T must(kq::result<T> r, const char* what) {
  if (!r) die(fmt::format("{}: {}", what, r.error().message));
  return std::move(r).value();
}

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
    upsert_ = prepare(
        "INSERT INTO user_usage (user_id, usage_date, messages_today, tokens_today, messages_this_month,"
        " tokens_this_month, created_at, updated_at) VALUES (?1, ?2, 1, ?3, 1, ?3, ?4, ?4)"
        " ON CONFLICT (user_id, usage_date) DO UPDATE SET messages_today = messages_today + 1,"
        " tokens_today = tokens_today + excluded.tokens_today, messages_this_month = messages_this_month + 1,"
        " tokens_this_month = tokens_this_month + excluded.tokens_today, updated_at = excluded.updated_at"
        " WHERE messages_today < ?5");
    audit_ = prepare(
        "INSERT INTO usage_logs (user_id, event_type, messages_count, tokens_count, quota_tier, event_timestamp,"
        " usage_date) VALUES (?1, ?2, ?3, ?4, 'enterprise', ?5, ?6)");
    read_ = prepare(
        "SELECT u.subscription_tier, t.messages_per_day, t.messages_per_month, t.tokens_per_month,"
        " COALESCE(d.messages_today, 0), COALESCE(d.messages_this_month, 0), COALESCE(d.tokens_this_month, 0)"
        " FROM users u JOIN subscription_tiers t ON t.tier_id = u.subscription_tier"
        " LEFT JOIN user_usage d ON d.user_id = u.user_id AND d.usage_date = ?2 WHERE u.user_id = ?1");
  }
  ~raw_sqlite() {
    for (auto* s : {begin_, commit_, upsert_, audit_, read_}) sqlite3_finalize(s);
    sqlite3_close(db_);
  }
  raw_sqlite(const raw_sqlite&) = delete;
  raw_sqlite& operator=(const raw_sqlite&) = delete;

  bool consume(const std::string& user, const std::string& day, const std::string& now, std::int64_t tokens,
               std::int64_t limit) {
    step(begin_);
    sqlite3_bind_text(upsert_, 1, user.c_str(), static_cast<int>(user.size()), SQLITE_STATIC);
    sqlite3_bind_text(upsert_, 2, day.c_str(), static_cast<int>(day.size()), SQLITE_STATIC);
    sqlite3_bind_int64(upsert_, 3, tokens);
    sqlite3_bind_text(upsert_, 4, now.c_str(), static_cast<int>(now.size()), SQLITE_STATIC);
    sqlite3_bind_int64(upsert_, 5, limit);
    step(upsert_);
    const bool allowed = sqlite3_changes(db_) == 1;
    sqlite3_bind_text(audit_, 1, user.c_str(), static_cast<int>(user.size()), SQLITE_STATIC);
    sqlite3_bind_text(audit_, 2, allowed ? "message_sent" : "quota_exceeded", -1, SQLITE_STATIC);
    sqlite3_bind_int64(audit_, 3, allowed ? 1 : 0);
    sqlite3_bind_int64(audit_, 4, allowed ? tokens : 0);
    sqlite3_bind_text(audit_, 5, now.c_str(), static_cast<int>(now.size()), SQLITE_STATIC);
    sqlite3_bind_text(audit_, 6, day.c_str(), static_cast<int>(day.size()), SQLITE_STATIC);
    step(audit_);
    step(commit_);
    return allowed;
  }

  std::int64_t read(const std::string& user, const std::string& day) {
    sqlite3_bind_text(read_, 1, user.c_str(), static_cast<int>(user.size()), SQLITE_STATIC);
    sqlite3_bind_text(read_, 2, day.c_str(), static_cast<int>(day.size()), SQLITE_STATIC);
    if (sqlite3_step(read_) != SQLITE_ROW) die("read");
    std::int64_t v = sqlite3_column_int64(read_, 4);
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

/// Alternates `lib` and `hand` for cfg.rounds rounds of `ops` operations.
pair_result measure(const config& cfg, int ops, const std::function<void()>& lib, const std::function<void()>& hand) {
  std::vector<double> l;
  std::vector<double> h;
  for (int r = 0; r < cfg.rounds; ++r) {
    auto t0 = clk::now();
    for (int i = 0; i < ops; ++i) lib();
    auto t1 = clk::now();
    for (int i = 0; i < ops; ++i) hand();
    auto t2 = clk::now();
    l.push_back(rate(ops, t1 - t0));
    h.push_back(rate(ops, t2 - t1));
  }
  return {median(l), median(h)};
}

void print_row(const std::string& what, const pair_result& r) {
  fmt::print("{:<34} {:>12.0f} {:>12.0f} {:>8.2f}x\n", what, r.lib, r.hand, r.lib / r.hand);
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
  const std::string day = kq::format_date(svc.day_of(svc.now()));
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
        if (!raw.consume(hand_user, day, now_text(), 10, 1'000'000'000)) die("hand consume denied");
      });
  print_row(fmt::format("sqlite {:<6} consume/s", sync_name), consume);
  auto reads = measure(
      cfg, read_ops,
      [&] {
        if (!svc.get_user_quota_info(lib_user)) die("library read failed");
      },
      [&] { (void)raw.read(hand_user, day); });
  print_row(fmt::format("sqlite {:<6} quota reads/s", sync_name), reads);
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
}

}  // namespace

int main(int argc, char** argv) {
  config cfg;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--dir" && i + 1 < argc) {
      cfg.dir = argv[++i];
    } else if (a == "--rounds" && i + 1 < argc) {
      cfg.rounds = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--quick") {
      cfg.quick = true;
      cfg.rounds = 3;
    } else {
      fmt::print(stderr, "usage: kauri_quota_bench [--dir DIR] [--rounds N] [--quick]\n");
      return 2;
    }
  }
  if (cfg.dir.empty()) {
    char tmpl[] = "/tmp/kauri-quota-bench-XXXXXX";
    if (!mkdtemp(tmpl)) die("mkdtemp");
    cfg.dir = tmpl;
  }
  fmt::print("kauri_quota {} benchmark ({} rounds, median)\n", KAURI_QUOTA_VERSION_STRING, cfg.rounds);
  fmt::print("{:<34} {:>12} {:>12} {:>9}\n", "operation", "library", "hand SQL", "ratio");
  bench_sqlite(cfg, kq::sqlite_synchronous::normal, "NORMAL");
  bench_sqlite(cfg, kq::sqlite_synchronous::full, "FULL");
  std::filesystem::remove_all(cfg.dir);
  return 0;
}
