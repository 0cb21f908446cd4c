// The retention measurement on PostgreSQL (see
// support/retention_timing.hpp); skipped unless run by hand with --no-skip.
#include "support/retention_timing.hpp"
#include "support/fixtures.hpp"
#include "support/postgres_server.hpp"

#include <string>

using namespace kauri_quota;
using namespace kauri_quota::testing;

TEST_CASE("timing: prune_usage of 1M audit rows on PostgreSQL" * doctest::skip()) {
  service_fixture f{make_test_db("postgresql"), service_options{}, "2025-11-07T10:00:00Z"};
  retention_seed seed;
  seed.users = "INSERT INTO users (user_id) SELECT 'p' || i FROM generate_series(0, 999) AS i";
  seed.audit_rows =
      "INSERT INTO usage_logs (user_id, event_type, messages_count, tokens_count, quota_tier, usage_date,"
      " event_timestamp)"
      " SELECT 'p' || (i % 1000), 'message_sent', 1, 10, 'free', d, d + time '12:00' FROM"
      " (SELECT i, CASE WHEN i < 1000000 THEN date '2025-09-01' + (i / 1000) % 30"
      " ELSE date '2025-10-01' + (i / 1000) % 10 END AS d FROM generate_series(0, 1099999) AS i) AS s;"
      "ANALYZE usage_logs";
  seed.day_rows =
      "INSERT INTO user_usage (user_id, usage_date, messages_today, tokens_today, messages_this_month,"
      " tokens_this_month)"
      " SELECT user_id, usage_date, m, t,"
      " SUM(m) OVER (PARTITION BY user_id, date_trunc('month', usage_date) ORDER BY usage_date),"
      " SUM(t) OVER (PARTITION BY user_id, date_trunc('month', usage_date) ORDER BY usage_date)"
      " FROM (SELECT user_id, usage_date, count(*) AS m, sum(tokens_count) AS t FROM usage_logs"
      " GROUP BY user_id, usage_date) AS g;"
      "ANALYZE user_usage";
  measure_retention(
      f, seed, [&](const std::string& sql) { kq_test::pg_exec(sql, f.db.pg_database); },
      [&](const std::string& sql) { return std::stoll(kq_test::pg_query(sql, f.db.pg_database)); });
}
