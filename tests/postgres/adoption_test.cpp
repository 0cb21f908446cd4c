// Adoption of a database that the original system's Alembic migrations
// created: UUID user ids, its own rows, alembic_version at 64df4342ae35.
#include "support/fixtures.hpp"
#include "support/postgres_server.hpp"

#include <doctest/doctest.h>

using namespace kauri_quota;
using namespace kauri_quota::testing;

namespace {

// The original schema as the Alembic migrations 7dc92d559294, b956f692ab8b,
// 5f20090c835c and 64df4342ae35 left it, with the host's own columns on
// users (a password hash the library never touches).
constexpr const char* original_schema = R"sql(
CREATE TABLE users (
    user_id UUID PRIMARY KEY,
    email VARCHAR(255) NOT NULL UNIQUE,
    hashed_password VARCHAR(255) NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT now(),
    subscription_tier VARCHAR(20) NOT NULL DEFAULT 'free',
    subscription_status VARCHAR(20) NOT NULL DEFAULT 'active',
    subscription_start_date TIMESTAMP,
    subscription_end_date TIMESTAMP,
    trial_end_date TIMESTAMP);
CREATE INDEX ix_users_subscription_tier ON users (subscription_tier);
CREATE INDEX ix_users_subscription_status ON users (subscription_status);
CREATE TABLE subscription_tiers (
    tier_id VARCHAR(20) PRIMARY KEY, name VARCHAR(50) NOT NULL, name_fr VARCHAR(50) NOT NULL,
    messages_per_day INTEGER, messages_per_month INTEGER, tokens_per_month INTEGER,
    price_fcfa INTEGER NOT NULL DEFAULT 0, features JSON NOT NULL DEFAULT '{}',
    display_order INTEGER NOT NULL DEFAULT 0, is_visible BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMP NOT NULL DEFAULT now(), updated_at TIMESTAMP NOT NULL DEFAULT now());
CREATE INDEX ix_subscription_tiers_tier_id ON subscription_tiers (tier_id);
INSERT INTO subscription_tiers (tier_id, name, name_fr, messages_per_day, messages_per_month, tokens_per_month,
                                price_fcfa, features, display_order) VALUES
 ('free', 'Free', 'Gratuit', 5, 150, 100000, 0, '{"document_sourcing": false, "pdf_generation": false}', 0),
 ('pro', 'Pro', 'Pro', 100, 3000, 3000000, 7000, '{"document_sourcing": true, "pdf_generation": true}', 1),
 ('max', 'Max', 'Max', 500, 15000, 15000000, 22000, '{"document_sourcing": true, "pdf_generation": true, "priority_support": true}', 2),
 ('enterprise', 'Enterprise', 'Entreprise', NULL, NULL, NULL, 85000, '{"document_sourcing": true, "pdf_generation": true, "priority_support": true, "api_access": true}', 3);
CREATE TABLE user_usage (
    id SERIAL PRIMARY KEY,
    user_id UUID NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    usage_date DATE NOT NULL,
    messages_today INTEGER NOT NULL DEFAULT 0,
    messages_this_month INTEGER NOT NULL DEFAULT 0,
    tokens_this_month INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL DEFAULT now(),
    updated_at TIMESTAMP NOT NULL DEFAULT now());
CREATE INDEX ix_user_usage_user_id ON user_usage (user_id);
CREATE INDEX ix_user_usage_usage_date ON user_usage (usage_date);
CREATE UNIQUE INDEX ix_user_usage_user_date ON user_usage (user_id, usage_date);
CREATE TABLE usage_logs (
    id SERIAL PRIMARY KEY,
    user_id UUID NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    event_type VARCHAR(50) NOT NULL,
    messages_count INTEGER NOT NULL DEFAULT 0,
    tokens_count INTEGER NOT NULL DEFAULT 0,
    quota_tier VARCHAR(20), request_ip VARCHAR(45), user_agent VARCHAR(500),
    event_metadata JSON,
    event_timestamp TIMESTAMP NOT NULL DEFAULT now());
CREATE INDEX ix_usage_logs_user_id ON usage_logs (user_id);
CREATE INDEX ix_usage_logs_event_type ON usage_logs (event_type);
CREATE INDEX ix_usage_logs_event_timestamp ON usage_logs (event_timestamp);
CREATE INDEX ix_usage_logs_user_event ON usage_logs (user_id, event_type);
CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY);
INSERT INTO alembic_version VALUES ('64df4342ae35');
INSERT INTO users (user_id, email, hashed_password, subscription_start_date) VALUES
 ('7336840a-b662-428b-b912-ffcf4dd0635d', 'test_quota@kauri.com', 'x', '2025-11-07 10:59:24.625159'),
 ('11111111-2222-3333-4444-555555555555', 'test@kauri.com', 'x', '2025-11-01 08:00:00'),
 ('aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee', 'henri@example.com', 'x', '2025-11-02 09:00:00');
-- Today's usage, written by the original system: 3 messages, 1200 tokens
-- (of which 200 on an earlier day of the month).
INSERT INTO user_usage (user_id, usage_date, messages_today, messages_this_month, tokens_this_month) VALUES
 ('7336840a-b662-428b-b912-ffcf4dd0635d', '2025-11-06', 2, 2, 200),
 ('7336840a-b662-428b-b912-ffcf4dd0635d', '2025-11-07', 3, 5, 1200);
INSERT INTO usage_logs (user_id, event_type, messages_count, tokens_count, quota_tier, event_metadata) VALUES
 ('7336840a-b662-428b-b912-ffcf4dd0635d', 'message_sent', 1, 400, 'free', '{"source": "original"}');
)sql";

constexpr const char* alice = "7336840a-b662-428b-b912-ffcf4dd0635d";

}  // namespace

TEST_CASE("migrate adopts an original Alembic database and keeps its rows") {
  const std::string db = kq_test::pg_create_database();
  kq_test::pg_exec(original_schema, db);
  const std::string url = kq_test::pg_server_conninfo() + " dbname=" + db;
  std::shared_ptr<storage> store = must(open_storage(url));

  const migrate_report report = must(store->migrate({}));
  CHECK(report.adopted);
  CHECK(report.from_version == 4);
  CHECK(report.applied == std::vector<int>{5, 6, 7, 8, 9, 10, 11});
  const auto applied = must(store->migrations());
  for (const auto& m : applied) CHECK_MESSAGE(m.applied_at.has_value(), "migration " << m.version);

  // Nothing of the original was lost or rewritten.
  CHECK(kq_test::pg_query("SELECT count(*) FROM users", db) == "3");
  CHECK(kq_test::pg_query("SELECT hashed_password FROM users WHERE email = 'test@kauri.com'", db) == "x");
  CHECK(kq_test::pg_query("SELECT count(*) FROM usage_logs", db) == "1");
  CHECK(kq_test::pg_query("SELECT version_num FROM alembic_version", db) == "64df4342ae35");
  CHECK(kq_test::pg_query("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = "
                          "'kauri_quota_reservations'::regclass AND attname = 'user_id'",
                          db) == "uuid");
  // The new per-day token column was derived from the month totals.
  CHECK(kq_test::pg_query("SELECT tokens_today FROM user_usage WHERE usage_date = '2025-11-07'", db) == "1000");

  // Every operation works on the existing users and today's existing usage.
  service_options opts;
  auto clock = std::make_shared<manual_clock>(at("2025-11-07T15:00:00Z"));
  opts.time_source = clock;
  quota_service svc = must(quota_service::create(store, opts));
  const user_id a{alice};
  quota_info q = must(svc.get_user_quota_info(a));
  CHECK(q.subscription_tier == tier_id{"free"});
  CHECK(q.messages_today == 3);
  CHECK(q.messages_this_month == 5);
  CHECK(q.tokens_this_month == 1200);
  CHECK(must(svc.try_consume(a, 10)).allowed);
  CHECK(must(svc.try_consume(a, 10)).allowed);
  const decision sixth = must(svc.try_consume(a, 10));
  CHECK_FALSE(sixth.allowed);
  CHECK(sixth.denied_by == limit_kind::daily);
  CHECK(must(svc.upgrade_subscription(a, tier_id{"pro"})).success);
  const decision r = must(svc.reserve(a, 50, with_request_id("adopt-1")));
  REQUIRE(r.allowed);
  CHECK(must(svc.commit(*r.reservation, 70)).state == reservation_state::committed);
  CHECK(must(svc.increment_usage(a, 1, 5)).messages_today == 7);
  CHECK(must(svc.reset_daily_quotas(a)) == 1);
  // Every user, by chunks: ordered and bounded on a UUID column too (which
  // has no min or max). Then the previous release's call, every user in
  // one transaction.
  CHECK(must(svc.increment_usage(a, 1, 5)).messages_today == 1);
  CHECK(must(svc.reset_daily_quotas()) == 1);
  CHECK(must(svc.increment_usage(a, 2, 5)).messages_today == 2);
  CHECK(must(svc.reset_monthly_quotas()) == 1);
  CHECK(must(svc.get_user_quota_info(a)).messages_this_month == 0);
  CHECK(must(svc.increment_usage(a, 1, 5)).messages_today == 1);
  CHECK(kq_test::pg_query("SELECT kauri_quota_reset(true, NULL, '2025-11-07', '2025-11-07 15:00:00')", db) == "1");
  CHECK(must(svc.get_user_quota_info(a)).messages_today == 0);
  CHECK(must(svc.get_events({a, std::nullopt, 100})).size() >= 8);
  CHECK(must(svc.log_usage_event(a, "note", 0, 0)).id > 0);

  // An id that a UUID column cannot hold is simply an unknown user.
  check_error(svc.try_consume(user_id{"not-a-uuid"}), errc::unknown_user);
  // New users need the host's own columns (here hashed_password).
  check_error(svc.create_user(user_id{"22222222-2222-2222-2222-222222222222"}), errc::invalid_argument);

  // A second migrate is a no-op.
  const migrate_report again = must(store->migrate({}));
  CHECK_FALSE(again.adopted);
  CHECK(again.applied.empty());
  store.reset();
  kq_test::pg_drop_database(db);
}

TEST_CASE("the lifecycle migration (0011) goes up and down on an adopted original database") {
  const std::string db = kq_test::pg_create_database();
  kq_test::pg_exec(original_schema, db);
  const std::string url = kq_test::pg_server_conninfo() + " dbname=" + db;
  std::shared_ptr<storage> store = must(open_storage(url));
  must(store->migrate({}));
  auto column_type = [&](const char* table, const char* column) {
    return kq_test::pg_query(std::string("SELECT COALESCE((SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                                         "WHERE attrelid = to_regclass('") +
                                 table + "') AND attname = '" + column + "' AND NOT attisdropped), '')",
                             db);
  };
  CHECK(column_type("users", "time_zone") == "character varying(64)");
  CHECK(column_type("users", "cancel_at_period_end") == "boolean");
  CHECK(column_type("subscription_payments", "user_id") == "uuid");
  CHECK(kq_test::pg_query("SELECT count(*) FROM users WHERE cancel_at_period_end", db) == "0");

  // The lifecycle works on the original rows: a payment of a UUID user.
  service_options opts;
  opts.time_source = std::make_shared<manual_clock>(at("2025-11-07T15:00:00Z"));
  lifecycle_request buy;
  buy.kind = lifecycle_kind::apply_payment;
  buy.user = user_id{alice};
  buy.now = at("2025-11-07T15:00:00Z");
  buy.day = date("2025-11-07");
  buy.pay.provider = "manual";
  buy.pay.transaction_id = "adopted-1";
  buy.pay.user = user_id{alice};
  buy.pay.tier = tier_id{"pro"};
  buy.pay.months = 1;
  buy.pay.amount = 7000;
  buy.pay.currency = "XOF";
  const lifecycle_outcome bought = must(store->change_lifecycle(buy));
  CHECK(bought.after.tier == tier_id{"pro"});
  REQUIRE(bought.pay.has_value());
  CHECK(bought.pay->status == payment_status::applied);
  CHECK(must(store->payments(user_id{alice})).size() == 1);

  // Down to 0010: the lifecycle's columns and table go, the original rows stay.
  migrate_options to10;
  to10.to = 10;
  CHECK(must(store->migrate(to10)).reverted == std::vector<int>{11});
  CHECK(column_type("users", "time_zone").empty());
  CHECK(column_type("users", "scheduled_tier").empty());
  CHECK(kq_test::pg_query("SELECT to_regclass('subscription_payments') IS NULL", db) == "t");
  CHECK(kq_test::pg_query("SELECT count(*) FROM users", db) == "3");
  CHECK(kq_test::pg_query("SELECT hashed_password FROM users WHERE email = 'test@kauri.com'", db) == "x");
  // 0010's trigger is back (without the zone).
  CHECK(kq_test::pg_query("SELECT pg_get_triggerdef(oid) LIKE '%time_zone%' FROM pg_trigger WHERE tgname = "
                          "'kauri_quota_changed_subscription'",
                          db) == "f");

  // And up again.
  CHECK(must(store->migrate({})).applied == std::vector<int>{11});
  CHECK(column_type("users", "time_zone") == "character varying(64)");
  CHECK(kq_test::pg_query("SELECT pg_get_triggerdef(oid) LIKE '%time_zone%' FROM pg_trigger WHERE tgname = "
                          "'kauri_quota_changed_subscription'",
                          db) == "t");
  {
    quota_service svc = must(quota_service::create(store, opts));
    CHECK(must(svc.try_consume(user_id{alice}, 10)).allowed);
  }
  store.reset();
  kq_test::pg_drop_database(db);
}

TEST_CASE("migrate refuses an Alembic database at another revision") {
  const std::string db = kq_test::pg_create_database();
  kq_test::pg_exec(
      "CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY);"
      "INSERT INTO alembic_version VALUES ('5f20090c835c');",
      db);
  std::shared_ptr<storage> store = must(open_storage(kq_test::pg_server_conninfo() + " dbname=" + db));
  check_error(store->migrate({}), errc::schema_mismatch);
  CHECK(kq_test::pg_query("SELECT to_regclass('subscription_tiers') IS NULL", db) == "t");
  store.reset();
  kq_test::pg_drop_database(db);
}
