#include "stress/stress_support.hpp"

#include "sqlite/raw_sqlite.hpp"
#include "support/worker_process.hpp"
#ifdef KAURI_QUOTA_TEST_POSTGRES
#include "support/postgres_server.hpp"
#endif

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

extern char** environ;

#ifndef KAURI_QUOTA_STRESS_WORKER
#error "KAURI_QUOTA_STRESS_WORKER must name the load process executable"
#endif

namespace kauri_quota::testing {

sql_rows query(const test_db& db, const std::string& sql) {
  if (db.backend == "sqlite") {
    raw_sqlite raw(db.file);
    return raw.rows(sql);
  }
#ifdef KAURI_QUOTA_TEST_POSTGRES
  return kq_test::pg_rows(sql, db.pg_database);
#else
  FAIL("no PostgreSQL in this build");
  return {};
#endif
}

double stress_scale() {
  const char* s = std::getenv("KQ_STRESS_SCALE");
  if (!s || !*s) return 1.0;
  const double v = std::atof(s);
  return v > 0 ? v : 1.0;
}

load_process spawn_load(const std::string& url, int index, int threads, std::int64_t ops, std::int64_t seed,
                        sys_time start, int days, const std::string& mode, const std::filesystem::path& dir) {
  load_process p;
  p.out = dir / ("load-" + std::to_string(index) + ".out");
  p.err = dir / ("load-" + std::to_string(index) + ".err");
  p.log = dir / ("load-" + std::to_string(index) + ".log");
  p.pid = spawn_process({KAURI_QUOTA_STRESS_WORKER, url, std::to_string(index), std::to_string(threads),
                         std::to_string(ops), std::to_string(seed), std::to_string(start.time_since_epoch().count()),
                         std::to_string(days), mode, p.log.string()},
                        p.out, p.err);
  return p;
}

load_counts wait_load(const load_process& p) {
  load_counts c;
  c.exit_status = wait_process(p.pid);
  long long a = 0, al = 0, d = 0, e = 0, r = 0;
  if (std::sscanf(slurp(p.out).c_str(), "attempts=%lld allowed=%lld denied=%lld errors=%lld replay_mismatches=%lld", &a,
                  &al, &d, &e, &r) == 5) {
    c.attempts = a;
    c.allowed = al;
    c.denied = d;
    c.errors = e;
    c.replay_mismatches = r;
  }
  c.stderr_text = slurp(p.err);
  if (c.stderr_text.size() > 4000) c.stderr_text.resize(4000);
  return c;
}

void kill_load(const load_process& p) {
  ::kill(p.pid, SIGKILL);
  int status = 0;
  while (::waitpid(p.pid, &status, 0) < 0 && errno == EINTR) {
  }
}

request_log read_request_log(const std::filesystem::path& log) {
  request_log r;
  std::ifstream in(log);
  std::string line;
  while (std::getline(in, line)) {
    if (in.eof()) break;  // a torn last line (no newline) is not a whole record
    if (line.size() > 2 && line[0] == 'S' && line[1] == ' ') {
      std::istringstream fields(line.substr(2));
      sent_request s;
      if (fields >> s.id >> s.operation >> s.user >> s.tokens) r.sent.push_back(std::move(s));
    }
    if (line.size() > 2 && line[0] == 'A' && line[1] == ' ') r.answered.insert(line.substr(2));
  }
  return r;
}

void set_up_scenario(service_fixture& f, std::int64_t daily_limit) {
  f.set_limits("free", limit{daily_limit}, std::nullopt, std::nullopt);
  f.add_user("hot");
  for (int i = 0; i < 50; ++i) f.add_user("bg-" + std::to_string(i));
}

namespace {
std::int64_t num(const std::optional<std::string>& s) { return s ? std::stoll(*s) : 0; }
}  // namespace

std::map<std::string, std::int64_t> audit_rows_per_request(const test_db& db, const std::set<std::string>& ids) {
  std::map<std::string, std::int64_t> out;
  std::vector<std::string> batch;
  auto flush = [&] {
    if (batch.empty()) return;
    std::string list;
    for (const auto& id : batch) list += (list.empty() ? "'" : ",'") + id + "'";  // ids are [a-z0-9-]
    for (const auto& r : query(
             db, "SELECT request_id, COUNT(*) FROM usage_logs WHERE request_id IN (" + list + ") GROUP BY request_id"))
      out[*r[0]] = std::stoll(*r[1]);
    batch.clear();
  };
  for (const auto& id : ids) {
    batch.push_back(id);
    if (batch.size() == 500) flush();
  }
  flush();
  return out;
}

invariant_report check_invariants(const test_db& db, std::int64_t daily_limit) {
  invariant_report rep;
  // Day rows, in order, and what the audit rows add up to per user and day.
  const auto days = query(db,
                          "SELECT user_id, usage_date, messages_today, tokens_today, messages_this_month,"
                          " tokens_this_month FROM user_usage ORDER BY user_id, usage_date");
  const auto audit = query(db,
                           "SELECT user_id, usage_date, SUM(messages_count), SUM(tokens_count), COUNT(*)"
                           " FROM usage_logs WHERE usage_date IS NOT NULL GROUP BY user_id, usage_date");
  std::map<std::pair<std::string, std::string>, std::pair<std::int64_t, std::int64_t>> sums;
  for (const auto& r : audit) {
    sums[{*r[0], r[1]->substr(0, 10)}] = {num(r[2]), num(r[3])};
    rep.audit_rows += num(r[4]);
  }
  std::map<std::pair<std::string, std::string>, std::pair<std::int64_t, std::int64_t>> month_sum;
  std::map<std::pair<std::string, std::string>, std::pair<std::int64_t, std::int64_t>> month_latest;
  for (const auto& r : days) {
    ++rep.day_rows;
    const std::string user = *r[0];
    const std::string day = r[1]->substr(0, 10);
    const auto it = sums.find({user, day});
    const auto expected = it == sums.end() ? std::pair<std::int64_t, std::int64_t>{0, 0} : it->second;
    CHECK_MESSAGE(num(r[2]) == expected.first, "messages of " << user << " on " << day << " vs audit");
    CHECK_MESSAGE(num(r[3]) == expected.second, "tokens of " << user << " on " << day << " vs audit");
    if (it != sums.end()) sums.erase(it);
    if (user == "hot") CHECK_MESSAGE(num(r[2]) <= daily_limit, "hot user over the limit on " << day);
    const std::string month = day.substr(0, 7);
    auto& ms = month_sum[{user, month}];
    ms.first += num(r[2]);
    ms.second += num(r[3]);
    month_latest[{user, month}] = {num(r[4]), num(r[5])};  // rows come in date order
  }
  for (const auto& [key, s] : sums)
    CHECK_MESSAGE((s.first == 0 && s.second == 0),
                  "audit rows of " << key.first << " on " << key.second << " without a day row");
  for (const auto& [key, latest] : month_latest) {
    const bool same = latest == month_sum[key];
    CHECK_MESSAGE(same, "month-to-date of " << key.first << " in " << key.second);
  }
  // Each request id applied (or denied) at most once.
  const auto dup = query(db,
                         "SELECT request_id, COUNT(*) FROM usage_logs WHERE request_id IS NOT NULL AND event_type IN"
                         " ('message_sent', 'usage_recorded', 'reservation_created', 'quota_exceeded')"
                         " GROUP BY request_id HAVING COUNT(*) > 1");
  CHECK_MESSAGE(dup.empty(),
                dup.size() << " request ids were applied more than once, e.g. " << (dup.empty() ? "" : *dup[0][0]));
  rep.keyed_requests = num(query(db, "SELECT COUNT(DISTINCT request_id) FROM usage_logs")[0][0]);
  // Denials of the hot user: the usage it saw plus the request did not fit.
  const auto denials = query(db,
                             "SELECT event_metadata FROM usage_logs WHERE user_id = 'hot' AND"
                             " event_type = 'quota_exceeded'");
  for (const auto& r : denials) {
    const json_value m = parse_json(*r[0]);
    ++rep.denials_checked;
    CHECK_MESSAGE(m["limit"].as_string() == "daily", "an unexpected limit denied the hot user");
    const bool did_not_fit = m["usage"].as_int() + m["requested_messages"].as_int() > m["limit_value"].as_int();
    CHECK_MESSAGE(did_not_fit, "a false denial: " << *r[0]);
  }
  return rep;
}

}  // namespace kauri_quota::testing
