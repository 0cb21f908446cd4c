// PostgreSQL migrations: recorded checksums are compared, and two migrators
// started at once take turns.
#include "support/fixtures.hpp"
#include "support/postgres_server.hpp"

#include <doctest/doctest.h>

#include <thread>

using namespace kauri_quota;
using namespace kauri_quota::testing;

TEST_CASE("migrate refuses a PostgreSQL database whose applied migration was edited, naming it") {
  auto db = make_test_db("postgresql");
  const int newest = must(db.store->schema_version());
  kq_test::pg_exec("UPDATE kauri_quota_migrations SET checksum = 'edited' WHERE version = 5", db.pg_database);
  auto reopened = db.open_again();
  const auto r = reopened->migrate({});
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().is(errc::migration_failed));
  CHECK(r.error().message.find("migration 0005") != std::string::npos);
  CHECK(r.error().message.find("immutable once released") != std::string::npos);
  migrate_options to0;
  to0.to = 0;
  CHECK(reopened->migrate(to0).error().is(errc::migration_failed));
  CHECK(must(reopened->schema_version()) == newest);
}

TEST_CASE("two PostgreSQL migrators started at once do not interleave") {
  test_db_options o;
  o.migrate = false;
  auto db = make_test_db("postgresql", o);
  auto other = db.open_again();
  result<migrate_report> first = make_error(errc::internal, "not run");
  result<migrate_report> second = make_error(errc::internal, "not run");
  std::thread a([&] { first = db.store->migrate({}); });
  std::thread b([&] { second = other->migrate({}); });
  a.join();
  b.join();
  if (!first) FAIL("first: " << describe(first.error()));
  if (!second) FAIL("second: " << describe(second.error()));
  const int newest = must(db.store->schema_version());
  // One applied everything; the other waited for the lock and found
  // nothing left to do.
  CHECK(first.value().applied.size() + second.value().applied.size() == static_cast<std::size_t>(newest));
  CHECK((first.value().applied.empty() || second.value().applied.empty()));
  CHECK(kq_test::pg_query("SELECT count(*) FROM kauri_quota_migrations", db.pg_database) == std::to_string(newest));
  CHECK(kq_test::pg_query("SELECT count(*) FROM kauri_quota_function_set", db.pg_database) == "1");
  CHECK(must(db.store->server_functions()).state == function_state::current);
}
