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
// Usage: kauri_quota_bench [--dir DIR] [--rounds N] [--quick] [--pg auto|none|CONNINFO]
#include <kauri_quota/kauri_quota.hpp>

#ifdef KAURI_QUOTA_BENCH_POSTGRES
#include <libpq-fe.h>
#endif

#include <fmt/format.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
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
    auto run = [&](const std::function<void()>& f, std::vector<double>& out) {
      auto t0 = clk::now();
      for (int i = 0; i < slice; ++i) f();
      out.push_back(rate(slice, clk::now() - t0));
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

void print_row(const std::string& what, const pair_result& r) {
  fmt::print("{:<34} {:>12.0f} {:>12.0f} {:>8.2f}x\n", what, r.lib, r.hand, r.lib / r.hand);
}

/// Denied answers per second for one user refused by the daily limit: a
/// service with the denial cache next to one without it, on the same
/// storage and user, in the same run. Without the cache every denial is a
/// write transaction (its quota_exceeded audit row); with it a denial is a
/// memory lookup plus, on SQLite, the read of the change counter.
void bench_denials(const config& cfg, const std::shared_ptr<kq::storage>& store, const std::string& label, int ops) {
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
  fmt::print("{:<34} {:>12.0f} {:>12.0f} {:>8.1f}x   (with the denial cache | without; goal >= 50x)\n", label, r.lib,
             r.hand, r.lib / r.hand);
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
  print_row(fmt::format("sqlite {:<6} consume/s", sync_name), consume);
  auto reads = measure(
      cfg, read_ops,
      [&] {
        if (!svc.get_user_quota_info(lib_user)) die("library read failed");
      },
      [&] { (void)raw.read(hand_user, day, month_start, next_month); });
  print_row(fmt::format("sqlite {:<6} quota reads/s", sync_name), reads);
  bench_denials(cfg, store, fmt::format("sqlite {:<6} denied/s", sync_name), consume_ops);
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
}

#ifdef KAURI_QUOTA_BENCH_POSTGRES
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

/// `conninfo` (a libpq keyword string or a postgresql:// URI) for the
/// database `dbname` instead of the one it names, as a keyword string.
/// Appending " dbname=..." works only for keyword strings, so the text is
/// parsed by libpq itself and written back without its own dbname.
std::string for_database(const std::string& conninfo, const std::string& dbname) {
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
    if (o->val == nullptr || *o->val == '\0' || std::string_view{o->keyword} == "dbname") continue;
    out += fmt::format("{}={} ", o->keyword, quoted(o->val));
  }
  PQconninfoFree(options);
  return out + "dbname=" + quoted(dbname);
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
  const std::string db = for_database(conninfo, "kauri_quota_bench");
  kq::postgres_options po;
  po.conninfo = db;
  po.pool_size = 8;
  std::shared_ptr<kq::storage> pooled = must(kq::open_postgres(po), "open postgres");
  must(pooled->migrate({}), "migrate postgres");
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
  print_row("postgresql consume/s, 1 connection", one);
  auto bare = measure(
      cfg, ops,
      [&] {
        if (!raw.consume("bench-hand", day, now_text(), "10")) die("hand consume denied");
      },
      [&] {
        if (!raw.consume("bench-hand", day, now_text(), "10", "bare")) die("bare consume denied");
      });
  fmt::print("{:<34} {:>12.0f} {:>12.0f} {:>8.2f}x   (hand-written same work | bare upsert reading no limits)\n",
             "postgresql reference", bare.lib, bare.hand, bare.lib / bare.hand);

  // 8 threads, each its own user, sharing the pool of 8.
  std::vector<double> pooled_rates;
  for (int r = 0; r < cfg.rounds; ++r) {
    std::vector<std::thread> threads;
    auto t0 = clk::now();
    for (int t = 0; t < 8; ++t)
      threads.emplace_back([&, t] {
        const kq::user_id u{fmt::format("bench-{}", t)};
        for (int i = 0; i < ops / 2; ++i) {
          auto d = svc8.try_consume(u, 10);
          if (!d || !d.value().allowed) die("pooled consume failed");
        }
      });
    for (auto& th : threads) th.join();
    pooled_rates.push_back(rate(8 * (ops / 2), clk::now() - t0));
  }
  pair_result p{median(pooled_rates), one.lib};
  fmt::print("{:<34} {:>12.0f} {:>12.0f} {:>8.2f}x   (8 threads, pool of 8, vs. library on 1 connection)\n",
             "postgresql consume/s, pooled", p.lib, p.hand, p.lib / p.hand);

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
    for (int r = 0; r < cfg.rounds; ++r) {
      std::vector<std::thread> threads;
      auto t0 = clk::now();
      for (int t = 0; t < 8; ++t)
        threads.emplace_back([&, t] {
          const std::string u = fmt::format("bench-hand-{}", t);
          for (int i = 0; i < ops / 2; ++i)
            if (!conns[static_cast<std::size_t>(t)]->consume(u, day, now_text(), "10")) die("hand consume denied");
        });
      for (auto& th : threads) th.join();
      hand_pooled.push_back(rate(8 * (ops / 2), clk::now() - t0));
    }
  }
  pair_result hp{median(hand_pooled), one.hand};
  fmt::print("{:<34} {:>12.0f} {:>12.0f} {:>8.2f}x   (hand-written: 8 connections vs. 1, the machine's ceiling)\n",
             "postgresql hand-written, pooled", hp.lib, hp.hand, hp.lib / hp.hand);

  auto reads = measure(
      cfg, ops * 2,
      [&] {
        if (!svc1.get_user_quota_info(kq::user_id{"bench-0"})) die("library read failed");
      },
      [&] {
        if (!svc1.get_user_quota_info(kq::user_id{"bench-1"})) die("library read failed");
      });
  fmt::print("{:<34} {:>12.0f}\n", "postgresql quota reads/s, 1 conn", reads.lib);

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
  fmt::print("{:<34} {:>12.0f} {:>12.0f}   (PostgreSQL 1 connection | SQLite FULL)\n", "side by side consume/s",
             side.lib, side.hand);
  bench_denials(cfg, single, "postgresql denied/s", ops);
}
#endif

}  // namespace

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
    } else {
      fmt::print(stderr, "usage: kauri_quota_bench [--dir DIR] [--rounds N] [--quick] [--pg auto|none|CONNINFO]\n");
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
  fmt::print("kauri_quota {} benchmark ({} rounds, median)\n", KAURI_QUOTA_VERSION_STRING, cfg.rounds);
  fmt::print("{:<34} {:>12} {:>12} {:>9}\n", "operation", "library", "hand SQL", "ratio");
  bench_sqlite(cfg, kq::sqlite_synchronous::normal, "NORMAL");
  bench_sqlite(cfg, kq::sqlite_synchronous::full, "FULL");
#ifdef KAURI_QUOTA_BENCH_POSTGRES
  if (cfg.pg != "none") {
    std::string conninfo = cfg.pg;
    const std::string server_dir = cfg.dir + "/pg";
    if (cfg.pg == "auto") {
      const std::string start =
          fmt::format("bash '{}/scripts/pg-test-server.sh' start '{}' --durable", KAURI_QUOTA_SOURCE_DIR, server_dir);
      if (std::system(start.c_str()) != 0) die("could not start a PostgreSQL server (use --pg CONNINFO or --pg none)");
      std::ifstream in(server_dir + "/tcp-conninfo");
      std::getline(in, conninfo);
      // The maintenance database; bench_postgres adds its own dbname.
      conninfo = conninfo.substr(0, conninfo.find(" dbname="));
    }
    bench_postgres(cfg, conninfo, cfg.dir);
    if (cfg.pg == "auto")
      (void)std::system(
          fmt::format("bash '{}/scripts/pg-test-server.sh' stop '{}'", KAURI_QUOTA_SOURCE_DIR, server_dir).c_str());
  }
#endif
  std::filesystem::remove_all(cfg.dir);
  return 0;
}
