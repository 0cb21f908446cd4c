// Roles and secrets: every runtime operation works under a role with the
// narrow grants the README documents, and no password ever appears in an
// error message, whatever fails.
#include "support/fixtures.hpp"
#include "support/postgres_server.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

using namespace kauri_quota;
using namespace kauri_quota::testing;

namespace {

const std::string canary = "Canary-7f3e9b-Secret";

// The runtime role of the README: reads and writes counters, appends to the
// audit log, and nothing else.
std::string runtime_grants(const std::string& role) {
  return "GRANT CONNECT ON DATABASE current_database_placeholder TO " + role +
         ";"
         "GRANT USAGE ON SCHEMA public TO " +
         role +
         ";"
         "GRANT SELECT ON subscription_tiers, kauri_quota_migrations, kauri_quota_function_set TO " +
         role +
         ";"
         "GRANT SELECT, INSERT, UPDATE ON users, user_usage, kauri_quota_reservations TO " +
         role +
         ";"
         "GRANT SELECT, INSERT, DELETE ON kauri_quota_idempotency_keys TO " +
         role +
         ";"
         "GRANT INSERT ON usage_logs TO " +
         role +
         ";"
         "GRANT SELECT (id) ON usage_logs TO " +
         role +
         ";"
         "GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO " +
         role + ";";
}

// The retention role of the README: what `kauri-quota prune` needs (it
// settles the expired reservations first, with their audit rows, and
// deletes the reservations of the pruned days), and no right on the
// counters but deleting old day rows.
std::string retention_grants(const std::string& role) {
  return "GRANT CONNECT ON DATABASE current_database_placeholder TO " + role +
         ";"
         "GRANT USAGE ON SCHEMA public TO " +
         role +
         ";"
         "GRANT SELECT ON kauri_quota_migrations, kauri_quota_function_set TO " +
         role +
         ";"
         "GRANT SELECT (id, usage_date, event_timestamp), INSERT, DELETE ON usage_logs TO " +
         role +
         ";"
         "GRANT SELECT, UPDATE, DELETE ON kauri_quota_reservations TO " +
         role +
         ";"
         "GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO " +
         role +
         ";"
         "GRANT SELECT (id, usage_date), DELETE ON user_usage TO " +
         role + ";";
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (std::size_t p = 0; (p = s.find(from, p)) != std::string::npos; p += to.size()) s.replace(p, from.size(), to);
  return s;
}

void check_no_canary(const error& e) {
  INFO("message: " << e.message);
  CHECK(e.message.find(canary) == std::string::npos);
  CHECK(e.message.find("Canary") == std::string::npos);
}

}  // namespace

TEST_CASE("every runtime operation works under the runtime role") {
  const std::string db = kq_test::pg_create_database();
  const std::string admin_url = kq_test::pg_server_conninfo() + " dbname=" + db;
  {
    std::shared_ptr<storage> owner = must(open_storage(admin_url));
    must(owner->migrate({}));
  }
  const std::string role = "kq_runtime_" + db;
  kq_test::pg_exec("DROP ROLE IF EXISTS " + role + "; CREATE ROLE " + role + " LOGIN PASSWORD 'runtime'");
  kq_test::pg_exec(replace_all(runtime_grants(role), "current_database_placeholder", db), db);
  // The schema belongs to the migration role; the runtime role owns nothing.
  CHECK(kq_test::pg_query(
            "SELECT count(*) FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles WHERE rolname = '" + role + "')",
            db) == "0");

  std::shared_ptr<storage> store =
      must(open_storage(kq_test::pg_server_conninfo() + " dbname=" + db + " user=" + role));
  service_options opts;
  auto clock = std::make_shared<manual_clock>(at("2025-11-07T10:00:00Z"));
  opts.time_source = clock;
  quota_service svc = must(quota_service::create(store, opts));
  const user_id u{"runtime-user"};
  must(svc.create_user(u, std::string("r@example.com")));
  CHECK(must(svc.get_all_tiers()).size() == 4);
  CHECK(must(svc.get_tier_config(tier_id{"pro"})).price_fcfa == 7000);
  CHECK(must(svc.get_user_quota_info(u)).messages_remaining_today == 5);
  CHECK(must(svc.can_send_message(u)));
  CHECK(must(svc.try_consume(u, 10)).allowed);
  CHECK(must(svc.try_consume(u, 10, with_request_id("rt-1"))).allowed);
  CHECK(must(svc.try_consume(u, 10, with_request_id("rt-1"))).replayed);
  const decision r1 = must(svc.reserve(u, 20));
  REQUIRE(r1.allowed);
  CHECK(must(svc.commit(*r1.reservation, 15)).state == reservation_state::committed);
  const decision r2 = must(svc.reserve(u, 20));
  REQUIRE(r2.allowed);
  CHECK(must(svc.release(*r2.reservation)).state == reservation_state::released);
  must(svc.reserve(u, 5));
  clock->advance(std::chrono::hours(1));
  CHECK(must(svc.expire_reservations()) == 1);
  clock->advance(std::chrono::hours(24 * 8));
  CHECK(must(svc.prune_request_ids()) == 1);  // rt-1, past the default TTL of 7 days
  clock->advance(-std::chrono::hours(24 * 8));
  // 2 consumed, 1 committed, 1 expired at its estimate, 1 recorded.
  CHECK(must(svc.increment_usage(u, 1, 100)).messages_today == 5);
  CHECK(must(svc.get_usage_stats(u)).daily_percent.has_value());
  CHECK(must(svc.upgrade_subscription(u, tier_id{"pro"})).success);
  CHECK(must(svc.reset_monthly_quotas()) == 1);
  CHECK(must(svc.try_consume(u)).allowed);
  CHECK(must(svc.reset_daily_quotas(u)) == 1);
  CHECK(must(svc.log_usage_event(u, "note", 0, 0)).id > 0);
  // A retry of the library's own key reads the audit log through a narrow
  // SECURITY DEFINER function, which this role may use.
  CHECK(kq_test::pg_query("SET ROLE " + role +
                              "; SELECT replayed::text FROM kauri_quota_consume('runtime-user', '2025-11-07', "
                              "'2025-11-07 12:00:00', 1, 0, false, NULL, NULL, 'kq-auto-x', NULL, NULL, 0.8, 'free', "
                              "'auto-retry', 1000000000000)",
                          db) == "false");
  // The audit log is append-only for this role: it cannot rewrite history.
  CHECK_THROWS(kq_test::pg_exec("SET ROLE " + role + "; DELETE FROM usage_logs", db));
  CHECK_THROWS(kq_test::pg_exec("SET ROLE " + role + "; SELECT user_agent, event_metadata FROM usage_logs", db));
  CHECK_THROWS(kq_test::pg_exec("SET ROLE " + role + "; UPDATE usage_logs SET messages_count = 0", db));
  store.reset();
  kq_test::pg_drop_database(db);
  kq_test::pg_exec("DROP ROLE IF EXISTS " + role);
}

TEST_CASE("prune_usage works under the retention role and not under the append-only runtime role") {
  const std::string db = kq_test::pg_create_database();
  const std::string admin_url = kq_test::pg_server_conninfo() + " dbname=" + db;
  auto clock = std::make_shared<manual_clock>(at("2025-09-10T10:00:00Z"));
  service_options opts;
  opts.time_source = clock;
  {
    std::shared_ptr<storage> owner = must(open_storage(admin_url));
    must(owner->migrate({}));
    quota_service svc = must(quota_service::create(owner, opts));
    const user_id u{"retained-user"};
    must(svc.create_user(u));
    CHECK(must(svc.try_consume(u, 10)).allowed);
    const auto reserved = must(svc.reserve(u, 10));
    REQUIRE(reserved.reservation.has_value());
    must(svc.commit(*reserved.reservation, 8));
    clock->set(at("2025-10-02T10:00:00Z"));
    CHECK(must(svc.try_consume(u, 10)).allowed);
  }
  const std::string runtime = "kq_runtime_" + db;
  const std::string retention = "kq_retention_" + db;
  kq_test::pg_exec("DROP ROLE IF EXISTS " + runtime + "; CREATE ROLE " + runtime + " LOGIN PASSWORD 'runtime'");
  kq_test::pg_exec("DROP ROLE IF EXISTS " + retention + "; CREATE ROLE " + retention + " LOGIN PASSWORD 'retention'");
  kq_test::pg_exec(replace_all(runtime_grants(runtime), "current_database_placeholder", db), db);
  kq_test::pg_exec(replace_all(retention_grants(retention), "current_database_placeholder", db), db);
  const auto rows = [&] {
    return kq_test::pg_query(
        "SELECT (SELECT count(*) FROM usage_logs) || '/' || (SELECT count(*) FROM user_usage) || "
        "'/' || (SELECT count(*) FROM kauri_quota_reservations)",
        db);
  };
  const std::string all_rows = rows();
  // the assignment, a message on each of two days, a reservation and its commit
  CHECK(all_rows == "5/2/1");
  {
    std::shared_ptr<storage> store =
        must(open_storage(kq_test::pg_server_conninfo() + " dbname=" + db + " user=" + runtime));
    quota_service svc = must(quota_service::create(store, opts));
    CHECK_FALSE(svc.prune_usage(date("2025-10-01")).has_value());
    CHECK(rows() == all_rows);
  }
  {
    std::shared_ptr<storage> store =
        must(open_storage(kq_test::pg_server_conninfo() + " dbname=" + db + " user=" + retention));
    quota_service svc = must(quota_service::create(store, opts));
    const auto got = must(svc.prune_usage(date("2025-10-01")));
    CHECK(got.day_rows == 1);
    CHECK(got.audit_rows == 4);  // all but the October message
    CHECK(got.reservations == 1);
    CHECK(rows() == "1/1/0");
  }
  kq_test::pg_drop_database(db);
  kq_test::pg_exec("DROP ROLE IF EXISTS " + runtime + "; DROP ROLE IF EXISTS " + retention);
}

TEST_CASE("no failure path ever shows the password") {
  const std::string db = kq_test::pg_create_database();
  std::string port;
  std::ifstream(kq_test::pg_server_dir() + "/port") >> port;
  const std::string role = "kq_canary_" + db;
  kq_test::pg_exec("DROP ROLE IF EXISTS " + role + "; CREATE ROLE " + role + " LOGIN PASSWORD '" + canary + "'");
  // Password authentication for this role over TCP (the test server trusts
  // everyone else): the rule goes first in pg_hba.conf.
  const std::string hba = kq_test::pg_server_dir() + "/data/pg_hba.conf";
  std::stringstream old;
  old << std::ifstream(hba).rdbuf();
  std::ofstream(hba) << "host all " << role << " 127.0.0.1/32 scram-sha-256\n" << old.str();
  kq_test::pg_exec("SELECT pg_reload_conf()");

  const std::vector<std::string> urls = {
      // Wrong password (the right one is the canary, reversed roles here).
      "host=127.0.0.1 port=" + port + " dbname=" + db + " user=" + role + " password=wrong-" + canary,
      "postgresql://" + role + ":" + std::string("wrong") + canary + "@127.0.0.1:" + port + "/" + db,
      // Right password, missing database.
      "postgresql://" + role + ":" + canary + "@127.0.0.1:" + port + "/no_such_database",
      // Nothing listens there.
      "postgresql://" + role + ":" + canary + "@127.0.0.1:1/" + db,
      "host=127.0.0.1 port=1 dbname=x user=u password=" + canary,
      // Malformed.
      "postgresql://" + role + ":" + canary + "@127.0.0.1:notaport/" + db,
      "host=127.0.0.1 password='" + canary + " dbname=x",
      "postgresql://" + role + ":" + canary + "@127.0.0.1:" + port + "/" + db + "?sslmode=bogus",
      "host=127.0.0.1 port=" + port + " password=" + canary + " bogus_keyword=1",
  };
  for (const auto& url : urls) {
    CAPTURE(redact_url(url));
    CHECK(redact_url(url).find(canary) == std::string::npos);
    auto opened = open_storage(url);
    REQUIRE_FALSE(opened.has_value());
    check_no_canary(opened.error());
  }

  // The right password works; then failures after the connection.
  const std::string good = "postgresql://" + role + ":" + canary + "@127.0.0.1:" + port + "/" + db;
  {
    auto owner = must(open_storage(kq_test::pg_server_conninfo() + " dbname=" + db));
    must(owner->migrate({}));
  }
  kq_test::pg_exec("GRANT SELECT ON ALL TABLES IN SCHEMA public TO " + role, db);
  std::shared_ptr<storage> store = must(open_storage(good));
  quota_service svc = must(quota_service::create(store));
  for (auto r : {svc.try_consume(user_id{"nobody"}).error(), svc.create_user(user_id{"x"}).error()}) check_no_canary(r);
  kq_test::pg_exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '" + role + "'");
  kq_test::pg_exec("ALTER ROLE " + role + " NOLOGIN");
  auto lost = svc.get_user_quota_info(user_id{"nobody"});
  REQUIRE_FALSE(lost.has_value());
  check_no_canary(lost.error());
  kq_test::pg_exec("ALTER ROLE " + role + " LOGIN");

  std::ofstream(hba) << old.str();
  kq_test::pg_exec("SELECT pg_reload_conf()");
  store.reset();
  kq_test::pg_drop_database(db);
  kq_test::pg_exec("DROP ROLE IF EXISTS " + role);
}
