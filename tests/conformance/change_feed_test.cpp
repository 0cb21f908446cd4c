// The denial cache across processes: a denial cached by one service is
// dropped when any other program (another service on another storage, hand
// SQL) makes a change that can admit the user, because the database
// announces it (SQLite: the change counter, read before answering from
// memory; PostgreSQL: NOTIFY to a LISTEN connection). On SQLite the next
// request is admitted; on PostgreSQL the staleness is measured and must
// stay under a second. Also: the listener survives the loss of its
// connection, migration 0010 goes down and up, and a storage without a
// change feed leaves the TTL as the bound.
#include "sqlite/raw_sqlite.hpp"
#include "support/fixtures.hpp"
#if KAURI_QUOTA_TEST_POSTGRES
#include "support/postgres_server.hpp"
#endif

#include <chrono>
#include <string>
#include <thread>

using namespace kauri_quota;
using namespace kauri_quota::testing;
using namespace std::chrono_literals;

namespace {

using steady = std::chrono::steady_clock;

service_options cache_options() {
  service_options o;
  o.deny_cache_ttl = default_deny_cache_ttl;
  return o;
}

bool on_postgres(const test_db& db) { return db.backend == "postgresql"; }

/// Runs SQL on the database under test as another program would: its own
/// connection, outside the library.
void hand_sql(const test_db& db, const std::string& sql) {
  if (!on_postgres(db)) {
    raw_sqlite raw(db.file);
    raw.exec(sql);
    return;
  }
#if KAURI_QUOTA_TEST_POSTGRES
  kq_test::pg_exec(sql, db.pg_database);
#endif
}

std::string query_text(const test_db& db, const std::string& sql) {
  if (!on_postgres(db)) {
    raw_sqlite raw(db.file);
    return std::to_string(raw.integer(sql));
  }
#if KAURI_QUOTA_TEST_POSTGRES
  return kq_test::pg_query(sql, db.pg_database);
#else
  return {};
#endif
}

/// Another process on the same database: its own storage (pool and, with
/// the cache, listener) and a service without the cache.
quota_service other_process(const service_fixture& f) {
  service_options o;
  o.time_source = f.clock;
  return must(quota_service::create(f.db.open_again(), o));
}

/// Asks until `svc` answers the denial of `u` from memory.
void deny_until_cached(quota_service& svc, const user_id& u) {
  const auto until = steady::now() + 10s;
  for (;;) {
    const auto d = must(svc.try_consume(u));
    REQUIRE_FALSE(d.allowed);
    if (d.cached) return;
    REQUIRE_MESSAGE(steady::now() < until, "the denial of " << u.str() << " was never cached");
    std::this_thread::sleep_for(2ms);
  }
}

/// Asks until `svc` admits `u`; returns how long after `since` it did.
/// On SQLite the first request after the change must be admitted.
std::chrono::microseconds admitted_after(quota_service& svc, const user_id& u, steady::time_point since, bool exact) {
  for (int attempt = 0;; ++attempt) {
    const auto d = must(svc.try_consume(u));
    if (d.allowed) return std::chrono::duration_cast<std::chrono::microseconds>(steady::now() - since);
    REQUIRE_MESSAGE(!exact, "the first request after the change was refused (cached: " << d.cached << ")");
    REQUIRE_MESSAGE(steady::now() - since < 5s, "still refused 5 s after the change");
    std::this_thread::sleep_for(200us);
  }
}

#if KAURI_QUOTA_TEST_POSTGRES
/// The process id of the service's LISTEN connection on this database, or
/// "" when it has none.
std::string listener_pid(const test_db& db) {
  return kq_test::pg_query(
      "SELECT string_agg(pid::text, ',') FROM pg_stat_activity WHERE datname = current_database()"
      " AND application_name = 'kauri_quota_listener'",
      db.pg_database);
}
#endif

/// A storage that forwards everything but has no change feed, as a
/// backend without one would.
class feedless_storage final : public storage {
 public:
  explicit feedless_storage(std::shared_ptr<storage> s) : s_(std::move(s)) {}
  std::string_view backend() const noexcept override { return s_->backend(); }
  result<int> schema_version() override { return s_->schema_version(); }
  result<std::vector<migration_info>> migrations() override { return s_->migrations(); }
  result<migrate_report> migrate(const migrate_options& o) override { return s_->migrate(o); }
  result<function_set_info> server_functions() override { return s_->server_functions(); }
  result<std::vector<tier>> tiers(bool v) override { return s_->tiers(v); }
  result<tier> get_tier(const tier_id& id) override { return s_->get_tier(id); }
  result<tier> update_tier(const tier_update& u, sys_time now) override { return s_->update_tier(u, now); }
  result<subscription> create_user(const new_user& u) override { return s_->create_user(u); }
  result<subscription> get_subscription(const user_id& u) override { return s_->get_subscription(u); }
  result<subscription> set_subscription(const subscription_change& c) override { return s_->set_subscription(c); }
  result<lifecycle_outcome> change_lifecycle(const lifecycle_request& r) override { return s_->change_lifecycle(r); }
  result<payment> get_payment(const std::string& p, const std::string& t) override { return s_->get_payment(p, t); }
  result<std::vector<payment>> payments(const user_id& u) override { return s_->payments(u); }
  result<std::vector<user_id>> due_subscriptions(sys_time now, std::chrono::seconds g, const std::optional<user_id>& a,
                                                 std::int64_t n) override {
    return s_->due_subscriptions(now, g, a, n);
  }
  result<std::vector<day_usage>> usage_days(const user_id& u, local_date from, local_date to) override {
    return s_->usage_days(u, from, to);
  }
  result<usage_snapshot> snapshot(const user_id& u, local_date d, sys_time now, const tier_id& t,
                                  std::chrono::seconds g) override {
    return s_->snapshot(u, d, now, t, g);
  }
  result<consume_outcome> consume(const consume_request& r) override { return s_->consume(r); }
  result<record_outcome> record(const record_request& r) override { return s_->record(r); }
  result<settle_outcome> settle(const settle_request& r) override { return s_->settle(r); }
  result<reservation> get_reservation(const reservation_id& id) override { return s_->get_reservation(id); }
  result<std::int64_t> expire_reservations(sys_time now) override { return s_->expire_reservations(now); }
  result<std::int64_t> prune_request_ids(sys_time before) override { return s_->prune_request_ids(before); }
  result<std::int64_t> reset(const reset_request& r) override { return s_->reset(r); }
  result<prune_report> prune_usage(const prune_request& r) override { return s_->prune_usage(r); }
  result<std::int64_t> append_event(const usage_event& e) override { return s_->append_event(e); }
  result<std::vector<usage_event>> events(const event_query& q) override { return s_->events(q); }

 private:
  std::shared_ptr<storage> s_;
};

}  // namespace

TEST_CASE("a denial cached in one service is dropped when another program makes a change that admits the user") {
  service_fixture f(cache_options());
  f.set_limits("free", 1, {}, {});
  auto other = other_process(f);
  const auto u = f.add_user("feed-user");
  const auto bystander = f.add_user("feed-bystander");
  const auto held = must(other.reserve(u, 0));  // takes the day's only message
  REQUIRE(held.reservation.has_value());
  deny_until_cached(f.svc, u);

  // Changes that cannot admit anyone announce nothing: the entry stays.
  REQUIRE(must(other.try_consume(bystander)).allowed);
  REQUIRE_FALSE(must(other.try_consume(bystander)).allowed);
  std::this_thread::sleep_for(50ms);
  CHECK(must(f.svc.try_consume(u)).cached);

  std::string what;
  steady::time_point committed;
  SUBCASE("upgrade by another service") {
    what = "upgrade";
    REQUIRE(must(other.upgrade_subscription(u, tier_id{"pro"})).success);
    committed = steady::now();
  }
  SUBCASE("daily reset of the user by another service") {
    what = "daily reset";
    REQUIRE(must(other.reset_daily_quotas(u)) == 1);
    committed = steady::now();
  }
  SUBCASE("daily reset of everyone by another service") {
    what = "reset of everyone";
    REQUIRE(must(other.reset_daily_quotas()) == 2);
    committed = steady::now();
  }
  SUBCASE("monthly reset by another service") {
    what = "monthly reset";
    REQUIRE(must(other.reset_monthly_quotas(u)) == 1);
    committed = steady::now();
  }
  SUBCASE("tier edit by another service") {
    what = "tier edit";
    tier_update up;
    up.id = tier_id{"free"};
    up.messages_per_day = limit{5};
    must(other.update_tier(up));
    committed = steady::now();
  }
  SUBCASE("refund by another service") {
    what = "refund";
    must(other.release(*held.reservation));
    committed = steady::now();
  }
  SUBCASE("hand SQL UPDATE of users.subscription_tier") {
    what = "hand SQL tier change";
    hand_sql(f.db, "UPDATE users SET subscription_tier = 'pro' WHERE user_id = 'feed-user'");
    committed = steady::now();
  }
  SUBCASE("hand SQL DELETE of the usage row") {
    what = "hand SQL usage delete";
    hand_sql(f.db, "DELETE FROM user_usage WHERE user_id = 'feed-user'");
    committed = steady::now();
  }

  const auto stale = admitted_after(f.svc, u, committed, !on_postgres(f.db));
  if (on_postgres(f.db)) {
    MESSAGE("postgresql: " << what << " seen by the other service's cache after "
                           << std::chrono::duration<double, std::milli>(stale).count() << " ms");
    CHECK(stale < 1s);
  }
  if (what != "hand SQL usage delete") f.check_audit(u);  // that one removed counted usage behind the audit
}

TEST_CASE("migration 0010 goes down and up: the change feed's table, triggers and functions") {
  service_fixture f;
  const bool pg = on_postgres(f.db);
  const std::string objects = pg ? "SELECT (SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'kauri_quota_changed%')"
                                   " + (SELECT count(*) FROM pg_proc WHERE proname LIKE 'kauri_quota_announce%')"
                                 : "SELECT count(*) FROM sqlite_master WHERE name LIKE 'kauri_quota_change%'";
  const std::string expected = pg ? "10" : "8";  // PostgreSQL: 7 triggers, 3 functions; SQLite: 7 and the table
  CHECK(query_text(f.db, objects) == expected);

  migrate_options to9;
  to9.to = 9;
  const auto down = must(f.store().migrate(to9));
  // Later migrations go down first and come back after it.
  REQUIRE_FALSE(down.reverted.empty());
  CHECK(down.reverted.back() == 10);
  CHECK(query_text(f.db, objects) == "0");

  const auto up = must(f.store().migrate({}));
  CHECK(up.applied == std::vector<int>(down.reverted.rbegin(), down.reverted.rend()));
  CHECK(query_text(f.db, objects) == expected);
  const auto u = f.add_user("migrated");
  CHECK(f.consume(u).allowed);

  // Working again: a service with the cache sees another program's change.
  auto cached = f.make_service(f.clock, cache_options());
  f.set_limits("free", 1, {}, {});
  deny_until_cached(cached, u);
  auto other = other_process(f);
  REQUIRE(must(other.upgrade_subscription(u, tier_id{"pro"})).success);
  const auto stale = admitted_after(cached, u, steady::now(), !pg);
  CHECK(stale < 1s);
}

TEST_CASE(
    "without a change feed another program's upgrade is seen after the TTL, or through "
    "invalidate_cached_denials") {
  service_fixture f;
  auto svc = must(quota_service::create(std::make_shared<feedless_storage>(f.db.store), [&] {
    auto o = cache_options();
    o.time_source = f.clock;
    return o;
  }()));
  f.set_limits("free", 1, {}, {});
  auto other = other_process(f);
  const auto a = f.add_user("elsewhere-a");
  const auto b = f.add_user("elsewhere-b");
  for (const auto& u : {a, b}) {
    REQUIRE(must(svc.try_consume(u)).allowed);
    REQUIRE_FALSE(must(svc.try_consume(u)).allowed);
    REQUIRE(must(other.upgrade_subscription(u, tier_id{"pro"})).success);
    CHECK(must(svc.try_consume(u)).cached);  // stale, within the TTL
  }
  svc.invalidate_cached_denials(a);
  CHECK(must(svc.try_consume(a)).allowed);
  CHECK(must(svc.try_consume(b)).cached);
  f.advance(default_deny_cache_ttl);
  CHECK(must(svc.try_consume(b)).allowed);  // the TTL is the bound
  f.set_limits("pro", 1, {}, {});
  REQUIRE_FALSE(must(svc.try_consume(a)).allowed);
  REQUIRE(must(svc.try_consume(a)).cached);
  svc.invalidate_all_cached_denials();
  CHECK_FALSE(must(svc.try_consume(a)).cached);
}

#if KAURI_QUOTA_TEST_POSTGRES
TEST_CASE("postgresql: a lost LISTEN connection drops every cached denial, and the listener reconnects") {
  service_fixture f(cache_options());
  if (!on_postgres(f.db)) return;  // the SQLite feed has no connection of its own
  f.set_limits("free", 1, {}, {});
  const auto u = f.add_user("listener-loss");
  REQUIRE(f.consume(u).allowed);
  deny_until_cached(f.svc, u);
  const std::string before = listener_pid(f.db);
  REQUIRE_MESSAGE(!before.empty(), "no LISTEN connection on the database");
  REQUIRE(before.find(',') == std::string::npos);  // one per service
  const auto denials_before = f.count_events(u, "quota_exceeded");

  REQUIRE(kq_test::pg_query("SELECT pg_terminate_backend(" + before + ")::text", f.db.pg_database) == "true");
  std::string after;
  const auto until = steady::now() + 10s;
  while ((after = listener_pid(f.db)).empty() || after == before) {
    REQUIRE_MESSAGE(steady::now() < until, "the listener did not reconnect");
    std::this_thread::sleep_for(10ms);
  }
  MESSAGE("listener reconnected: backend " << before << " -> " << after);

  // Everything was dropped: the next denial comes from the storage again.
  const auto d = must(f.svc.try_consume(u));
  CHECK_FALSE(d.allowed);
  CHECK_FALSE(d.cached);
  CHECK(f.count_events(u, "quota_exceeded") == denials_before + 1);

  // And the new connection hears the next change.
  deny_until_cached(f.svc, u);
  auto other = other_process(f);
  REQUIRE(must(other.upgrade_subscription(u, tier_id{"pro"})).success);
  const auto stale = admitted_after(f.svc, u, steady::now(), false);
  CHECK(stale < 1s);
}
#endif
