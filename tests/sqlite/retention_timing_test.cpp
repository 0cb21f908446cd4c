// The retention measurement on SQLite (see support/retention_timing.hpp);
// skipped unless run by hand with --no-skip.
#include "support/retention_timing.hpp"
#include "sqlite/raw_sqlite.hpp"
#include "support/fixtures.hpp"

#include <string>

using namespace kauri_quota;
using namespace kauri_quota::testing;

TEST_CASE("timing: prune_usage of 1M audit rows on SQLite" * doctest::skip()) {
  service_fixture f{make_test_db("sqlite"), service_options{}, "2025-11-07T10:00:00Z"};
  retention_seed seed;
  seed.users =
      "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 999)"
      " INSERT INTO users (user_id) SELECT 'p' || i FROM n";
  seed.audit_rows =
      "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 1099999)"
      " INSERT INTO usage_logs (user_id, event_type, messages_count, tokens_count, quota_tier, usage_date,"
      " event_timestamp)"
      " SELECT 'p' || (i % 1000), 'message_sent', 1, 10, 'free', d, d || ' 12:00:00.000000' FROM"
      " (SELECT i, CASE WHEN i < 1000000 THEN date('2025-09-01', '+' || ((i / 1000) % 30) || ' days')"
      " ELSE date('2025-10-01', '+' || ((i / 1000) % 10) || ' days') END AS d FROM n)";
  seed.day_rows =
      "INSERT INTO user_usage (user_id, usage_date, messages_today, tokens_today, messages_this_month,"
      " tokens_this_month)"
      " SELECT user_id, usage_date, m, t,"
      " SUM(m) OVER (PARTITION BY user_id, substr(usage_date, 1, 7) ORDER BY usage_date),"
      " SUM(t) OVER (PARTITION BY user_id, substr(usage_date, 1, 7) ORDER BY usage_date)"
      " FROM (SELECT user_id, usage_date, count(*) AS m, sum(tokens_count) AS t FROM usage_logs"
      " GROUP BY user_id, usage_date)";
  raw_sqlite raw(f.db.file);
  measure_retention(
      f, seed, [&](const std::string& sql) { raw.exec(sql); },
      [&](const std::string& sql) { return std::stoll(*raw.rows(sql).at(0).at(0)); });
}
