// kauri_quota_scale: how the library behaves as a deployment grows, on
// SQLite (synchronous=FULL) and on a throw-away durable PostgreSQL server,
// both with group commit on (the default):
//
//   callers   decisions per second (try_consume) against 1, 2, 4, 8, 16 and
//             64 threads, each for a user of its own;
//   users     decisions per second of 8 threads picking users at random
//             among 1, 10,000 and 1,000,000 users that each have a day row;
//   reset     the time of reset_daily_quotas() over 10,000 and 1,000,000
//             users with counts today;
//   memory    the resident memory of this process after the callers' run;
//   bytes     the bytes one audit row and one user-day take on disk,
//             indexes included;
//   prune     the time prune_usage() takes over a month of 1,000,000 audit
//             rows, and the slowest consume of a writer running meanwhile.
//
// Users are created in bulk with SQL (the library's create_user would
// take a transaction each), on the Enterprise tier, whose limits are
// unlimited, so that every decision is an admission. Not a test; a tool
// whose figures go into the README's scale table.
//
// Usage: kauri_quota_scale [--quick] [--json] [--seconds S] [--max-users N] [--pg auto|none|only]
#include <kauri_quota/kauri_quota.hpp>

#include "bench_support.hpp"

#ifdef KAURI_QUOTA_BENCH_POSTGRES
#include <libpq-fe.h>
#endif

#include <fmt/format.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace kq = kauri_quota;
using clk = std::chrono::steady_clock;

namespace {

struct config {
  double seconds = 2.0;
  std::int64_t max_users = 1'000'000;
  bool json = false;
  std::string pg = "auto";
  std::string dir;
};

using kq::bench::die;
using kq::bench::must;

/// One line of output: a table row, or a JSON object with --json.
void report(const config& cfg, const std::string& backend, const std::string& what, const std::string& parameter,
            std::int64_t at, double value, const std::string& unit) {
  if (cfg.json) {
    fmt::print("{{\"name\":\"scale {}\",\"backend\":\"{}\",\"{}\":{},\"value\":{:.6g},\"unit\":\"{}\"}}\n", what,
               backend, parameter, at, value, unit);
  } else {
    fmt::print("{:<11} {:<8} {:>10} {:<8} {:>14.6g} {}\n", backend, what, at, parameter, value, unit);
  }
  std::fflush(stdout);
}

/// The resident memory of this process, in bytes (/proc/self/statm).
double resident_bytes() {
  std::ifstream in("/proc/self/statm");
  long pages = 0;
  long resident = 0;
  in >> pages >> resident;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE));
}

std::string today_text() {
  const auto day = std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now());
  const std::chrono::year_month_day ymd{day};
  return fmt::format("{:04}-{:02}-{:02}", static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                     static_cast<unsigned>(ymd.day()));
}

/// Runs `callers` threads, each calling try_consume for its user, for
/// `seconds`; returns decisions per second (errors abort the run).
double decisions_per_second(kq::quota_service& svc, const std::function<kq::user_id(int, std::mt19937&)>& pick,
                            int callers, double seconds) {
  std::atomic<bool> stop{false};
  std::atomic<std::int64_t> done{0};
  std::vector<std::thread> threads;
  const auto start = clk::now();
  for (int t = 0; t < callers; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t) * 7919U + 1U);
      std::int64_t n = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        auto d = svc.try_consume(pick(t, rng), 10);
        if (!d) die("try_consume: " + d.error().message);
        if (!d.value().allowed) die("try_consume: denied on an unlimited tier");
        ++n;
      }
      done += n;
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(clk::now() - start).count();
  return static_cast<double>(done.load()) / elapsed;
}

/// Where a backend's SQL for the bulk steps goes.
struct sql_runner {
  std::function<void(const std::string&)> exec;
  std::function<double(const std::string&)> number;
};

/// Creates users scale-<from>..scale-<to-1> on the Enterprise tier, each
/// with a day row for today with one message and 10 tokens.
void create_users(const std::string& backend, const sql_runner& sql, std::int64_t from, std::int64_t to) {
  if (to <= from) return;
  const std::string day = today_text();
  const std::string now = day + " 00:00:00.000000";
  if (backend == "sqlite") {
    sql.exec(fmt::format(
        "BEGIN; "
        "INSERT INTO users (user_id, email, created_at, subscription_tier, subscription_status, "
        "subscription_start_date) WITH RECURSIVE n(x) AS (SELECT {0} UNION ALL SELECT x + 1 FROM n WHERE x < {1}) "
        "SELECT 'scale-' || x, NULL, '{2}', 'enterprise', 'active', '{2}' FROM n; "
        "INSERT INTO user_usage (user_id, usage_date, messages_today, messages_this_month, tokens_today, "
        "tokens_this_month, created_at, updated_at) WITH RECURSIVE n(x) AS (SELECT {0} UNION ALL SELECT x + 1 FROM n "
        "WHERE x < {1}) SELECT 'scale-' || x, '{3}', 1, 1, 10, 10, '{2}', '{2}' FROM n; "
        "COMMIT;",
        from, to - 1, now, day));
  } else {
    sql.exec(fmt::format(
        "INSERT INTO users (user_id, email, created_at, subscription_tier, subscription_status, "
        "subscription_start_date) SELECT 'scale-' || x, NULL, '{2}', 'enterprise', 'active', '{2}' "
        "FROM generate_series({0}, {1}) x; "
        "INSERT INTO user_usage (user_id, usage_date, messages_today, messages_this_month, tokens_today, "
        "tokens_this_month, created_at, updated_at) SELECT 'scale-' || x, '{3}', 1, 1, 10, 10, '{2}', '{2}' "
        "FROM generate_series({0}, {1}) x; ANALYZE users; ANALYZE user_usage;",
        from, to - 1, now, day));
  }
}

/// The first day of the month `offset` months from the current one (UTC).
kq::local_date month_start(int offset) {
  const auto day = std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now());
  const std::chrono::year_month_day ymd{day};
  return kq::local_date{ymd.year() / ymd.month() / 1} + std::chrono::months{offset};
}

std::string text_of(kq::local_date d) {
  return fmt::format("{:04}-{:02}-{:02}", static_cast<int>(d.year()), static_cast<unsigned>(d.month()),
                     static_cast<unsigned>(d.day()));
}

/// `rows` message_sent audit rows spread over the 28 first days of the
/// month two months back, for 1,000 users, with the day rows they add up to.
void seed_old_month(const std::string& backend, const sql_runner& sql, std::int64_t rows) {
  const std::string first = text_of(month_start(-2));
  const std::int64_t per_day = std::max<std::int64_t>(rows / 28, 1);
  if (backend == "sqlite") {
    sql.exec(fmt::format(
        "BEGIN; INSERT INTO users (user_id, created_at, subscription_tier, subscription_status, "
        "subscription_start_date) WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 999) "
        "SELECT 'old-' || i, '{0} 00:00:00.000000', 'enterprise', 'active', '{0} 00:00:00.000000' FROM n; "
        "INSERT INTO usage_logs (user_id, event_type, messages_count, tokens_count, quota_tier, usage_date, "
        "event_timestamp) WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {1}) "
        "SELECT 'old-' || (i % 1000), 'message_sent', 1, 10, 'enterprise', d, d || ' 12:00:00.000000' FROM "
        "(SELECT i, date('{0}', '+' || ((i / {2}) % 28) || ' days') AS d FROM n); "
        "INSERT INTO user_usage (user_id, usage_date, messages_today, tokens_today, messages_this_month, "
        "tokens_this_month) SELECT user_id, usage_date, m, t, SUM(m) OVER (PARTITION BY user_id ORDER BY "
        "usage_date), SUM(t) OVER (PARTITION BY user_id ORDER BY usage_date) FROM (SELECT user_id, usage_date, "
        "count(*) AS m, sum(tokens_count) AS t FROM usage_logs WHERE user_id LIKE 'old-%' GROUP BY user_id, "
        "usage_date); COMMIT;",
        first, rows - 1, per_day));
  } else {
    sql.exec(fmt::format(
        "INSERT INTO users (user_id, created_at, subscription_tier, subscription_status, subscription_start_date) "
        "SELECT 'old-' || i, '{0}', 'enterprise', 'active', '{0}' FROM generate_series(0, 999) i; "
        "INSERT INTO usage_logs (user_id, event_type, messages_count, tokens_count, quota_tier, usage_date, "
        "event_timestamp) SELECT 'old-' || (i % 1000), 'message_sent', 1, 10, 'enterprise', d, d + time '12:00' "
        "FROM (SELECT i, date '{0}' + ((i / {2}) % 28)::int AS d FROM generate_series(0, {1}) i) s; "
        "INSERT INTO user_usage (user_id, usage_date, messages_today, tokens_today, messages_this_month, "
        "tokens_this_month) SELECT user_id, usage_date, m, t, SUM(m) OVER (PARTITION BY user_id ORDER BY "
        "usage_date), SUM(t) OVER (PARTITION BY user_id ORDER BY usage_date) FROM (SELECT user_id, usage_date, "
        "count(*) AS m, sum(tokens_count) AS t FROM usage_logs WHERE user_id LIKE 'old-%' GROUP BY user_id, "
        "usage_date) g; ANALYZE usage_logs; ANALYZE user_usage;",
        first, rows - 1, per_day));
  }
}

void measure(const config& cfg, const std::string& backend, const std::string& url, const sql_runner& sql) {
  kq::open_options o;
  o.auto_migrate = true;
  o.synchronous = kq::sqlite_synchronous::full;
  o.pool_size = 8;
  std::shared_ptr<kq::storage> store = must(kq::open_storage(url, o), "open");
  kq::quota_service svc = must(kq::quota_service::create(store, {}), "service");

  // Decisions per second against callers, each for a user of its own.
  std::int64_t users = 0;
  create_users(backend, sql, 0, 64);
  users = 64;
  for (int callers : {1, 2, 4, 8, 16, 64}) {
    const auto before = store->write_batches();
    const double rate = decisions_per_second(
        svc, [](int t, std::mt19937&) { return kq::user_id{"scale-" + std::to_string(t)}; }, callers, cfg.seconds);
    report(cfg, backend, "callers", "callers", callers, rate, "decisions/s");
    // The batches of this run alone.
    const auto after = store->write_batches();
    if (after.batches > before.batches)
      report(
          cfg, backend, "batch", "callers", callers,
          static_cast<double>(after.requests - before.requests) / static_cast<double>(after.batches - before.batches),
          "writes per batch (mean)");
  }
  report(cfg, backend, "memory", "callers", 64, resident_bytes() / (1024.0 * 1024.0), "MiB resident");

  // Decisions per second and the daily reset against users with rows.
  for (std::int64_t target : {std::int64_t{1}, std::int64_t{10'000}, std::int64_t{1'000'000}}) {
    if (target > cfg.max_users) break;
    const auto created = clk::now();
    create_users(backend, sql, users, std::max(users, target));
    users = std::max(users, target);
    const double create_s = std::chrono::duration<double>(clk::now() - created).count();
    const std::int64_t population = target;
    const double rate = decisions_per_second(
        svc,
        [population](int, std::mt19937& rng) {
          return kq::user_id{"scale-" + std::to_string(std::uniform_int_distribution<std::int64_t>(
                                            0, std::max<std::int64_t>(population - 1, 0))(rng))};
        },
        8, cfg.seconds);
    report(cfg, backend, "users", "users", target, rate, "decisions/s");
    if (target >= 10'000) {
      (void)create_s;
      const auto start = clk::now();
      const auto touched = must(svc.reset_daily_quotas(), "reset_daily_quotas");
      const double s = std::chrono::duration<double>(clk::now() - start).count();
      report(cfg, backend, "reset", "users", touched, s, "s (reset_daily_quotas)");
      // Counts today again for the next, larger population.
      sql.exec("UPDATE user_usage SET messages_today = 1, tokens_today = 10");
    }
  }

  // Bytes on disk per audit row and per user-day, indexes included (before
  // the prune below removes most of them).

  double audit_bytes = 0;
  double day_bytes = 0;
  const double audit_rows = sql.number("SELECT count(*) FROM usage_logs");
  const double day_rows = sql.number("SELECT count(*) FROM user_usage");
  if (backend == "sqlite") {
    auto table_bytes = [&](const char* table) {
      return sql.number(
          fmt::format("SELECT SUM(pgsize) FROM dbstat WHERE name = '{0}' OR name IN (SELECT name FROM "
                      "sqlite_master WHERE type = 'index' AND tbl_name = '{0}')",
                      table));
    };
    audit_bytes = table_bytes("usage_logs");
    day_bytes = table_bytes("user_usage");
  } else {
    audit_bytes = sql.number("SELECT pg_total_relation_size('usage_logs')");
    day_bytes = sql.number("SELECT pg_total_relation_size('user_usage')");
  }
  report(cfg, backend, "bytes", "rows", static_cast<std::int64_t>(audit_rows), audit_bytes / audit_rows,
         "bytes per audit row");
  report(cfg, backend, "bytes", "rows", static_cast<std::int64_t>(day_rows), day_bytes / day_rows,
         "bytes per user-day");

  // Retention: prune_usage over a month of audit rows written straight
  // into the tables (1,000 users, a thousand rows a day each... up to
  // max_users rows in all), while another thread keeps consuming.
  const std::int64_t audit_target = std::min<std::int64_t>(cfg.max_users, 1'000'000);
  seed_old_month(backend, sql, audit_target);
  std::atomic<bool> done{false};
  double slowest = 0;
  std::thread writer([&] {
    while (!done.load()) {
      const auto t = clk::now();
      if (!svc.try_consume(kq::user_id{"scale-0"}, 1)) die("try_consume during the prune");
      slowest = std::max(slowest, std::chrono::duration<double>(clk::now() - t).count());
    }
  });
  const auto start = clk::now();
  const auto pruned = must(svc.prune_usage(month_start(-1)), "prune_usage");
  const double took = std::chrono::duration<double>(clk::now() - start).count();
  done = true;
  writer.join();
  report(cfg, backend, "prune", "rows", pruned.audit_rows, took, "s (prune_usage, batches of 5000)");
  report(cfg, backend, "prune", "rows", pruned.audit_rows, slowest * 1000, "ms (slowest consume meanwhile)");
}

void run_sqlite(const config& cfg) {
  const std::string file = cfg.dir + "/scale.db";
  {
    kq::open_options o;
    o.auto_migrate = true;
    (void)must(kq::open_storage("sqlite:" + file, o), "migrate");
  }
  sqlite3* db = nullptr;
  if (sqlite3_open(file.c_str(), &db) != SQLITE_OK) die("sqlite3_open");
  sqlite3_busy_timeout(db, 60000);
  sql_runner sql;
  sql.exec = [db](const std::string& text) {
    char* msg = nullptr;
    if (sqlite3_exec(db, text.c_str(), nullptr, nullptr, &msg) != SQLITE_OK) {
      const std::string why = msg ? msg : "?";
      sqlite3_free(msg);
      die("SQLite: " + why);
    }
  };
  sql.number = [db](const std::string& text) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, text.c_str(), -1, &st, nullptr) != SQLITE_OK) die(sqlite3_errmsg(db));
    double v = 0;
    if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    return v;
  };
  measure(cfg, "sqlite", "sqlite:" + file, sql);
  sqlite3_close(db);
}

#ifdef KAURI_QUOTA_BENCH_POSTGRES
void run_postgres(const config& cfg) {
  const std::string conninfo = kq::bench::start_postgres(KAURI_QUOTA_SOURCE_DIR, cfg.dir + "/pg", true);
  {
    PGconn* admin = PQconnectdb((conninfo + " dbname=postgres").c_str());
    if (PQstatus(admin) != CONNECTION_OK) die(PQerrorMessage(admin));
    PQclear(PQexec(admin, "CREATE DATABASE kauri_quota_scale"));
    PQfinish(admin);
  }
  const std::string url = conninfo + " dbname=kauri_quota_scale";
  {
    kq::open_options o;
    o.auto_migrate = true;
    (void)must(kq::open_storage(url, o), "migrate");
  }
  PGconn* c = PQconnectdb(url.c_str());
  if (PQstatus(c) != CONNECTION_OK) die(PQerrorMessage(c));
  sql_runner sql;
  sql.exec = [c](const std::string& text) {
    PGresult* r = PQexec(c, text.c_str());
    const auto st = PQresultStatus(r);
    PQclear(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) die(std::string("PostgreSQL: ") + PQerrorMessage(c));
  };
  sql.number = [c](const std::string& text) {
    PGresult* r = PQexec(c, text.c_str());
    if (PQresultStatus(r) != PGRES_TUPLES_OK) die(std::string("PostgreSQL: ") + PQerrorMessage(c));
    const double v = PQntuples(r) > 0 ? std::atof(PQgetvalue(r, 0, 0)) : 0.0;
    PQclear(r);
    return v;
  };
  measure(cfg, "postgresql", url, sql);
  PQfinish(c);
  kq::bench::cleanup::run();  // stops the server
}
#endif

}  // namespace

int main(int argc, char** argv) {
  config cfg;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") {
      cfg.seconds = 0.5;
      cfg.max_users = 10'000;
    } else if (a == "--json") {
      cfg.json = true;
    } else if (a == "--seconds" && i + 1 < argc) {
      cfg.seconds = std::atof(argv[++i]);
      if (cfg.seconds <= 0 || cfg.seconds > 600) die("--seconds takes a number from 0 to 600");
    } else if (a == "--max-users" && i + 1 < argc) {
      cfg.max_users = std::atoll(argv[++i]);
      if (cfg.max_users < 1) die("--max-users takes a positive number");
    } else if (a == "--pg" && i + 1 < argc) {
      cfg.pg = argv[++i];
      if (cfg.pg != "auto" && cfg.pg != "none" && cfg.pg != "only") die("--pg takes auto, none or only");
    } else {
      fmt::print(stderr,
                 "usage: kauri_quota_scale [--quick] [--json] [--seconds S] [--max-users N] [--pg auto|none|only]\n");
      return 2;
    }
  }
  char tmpl[] = "/tmp/kauri-quota-scale-XXXXXX";
  if (!mkdtemp(tmpl)) die("mkdtemp");
  cfg.dir = tmpl;
  // A PostgreSQL server started as root runs as another user, which must
  // be able to reach its data directory below this one.
  std::filesystem::permissions(cfg.dir, std::filesystem::perms::owner_all | std::filesystem::perms::group_exec |
                                            std::filesystem::perms::others_exec);
  if (!cfg.json) fmt::print("{:<11} {:<8} {:>10} {:<8} {:>14} {}\n", "backend", "measure", "at", "", "value", "unit");
  if (cfg.pg != "only") run_sqlite(cfg);
#ifdef KAURI_QUOTA_BENCH_POSTGRES
  if (cfg.pg != "none") run_postgres(cfg);
#endif
  std::filesystem::remove_all(cfg.dir);
  return 0;
}
