// The kauri-quota command line against PostgreSQL (--db with a libpq
// connection string): the same story as on SQLite.
#include "support/postgres_server.hpp"

#include <doctest/doctest.h>

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace {

struct run_result {
  int status = -1;
  std::string out;
};

run_result cli(const std::string& db, const std::string& args) {
  const std::string cmd = std::string("'") + KAURI_QUOTA_CLI + "' --db '" + db + "' " + args + " 2>&1";
  run_result r;
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), static_cast<int>(buf.size()), p)) r.out += buf.data();
  const int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

}  // namespace

TEST_CASE("the command line works on PostgreSQL") {
  const std::string name = kq_test::pg_create_database();
  const std::string db = kq_test::pg_server_conninfo() + " dbname=" + name;
  CHECK(cli(db, "quota alice").status == 1);  // not migrated yet: a clear error
  auto m = cli(db, "migrate");
  INFO(m.out);
  REQUIRE(m.status == 0);
  CHECK(cli(db, "schema").status == 0);
  REQUIRE(cli(db, "user add alice --email alice@example.com").status == 0);
  for (int i = 0; i < 5; ++i) CHECK(cli(db, "consume alice --tokens 10").status == 0);
  const auto denied = cli(db, "consume alice --tokens 10");
  CHECK(denied.status == 3);
  CHECK(denied.out.find("\"quota_exceeded\"") != std::string::npos);
  CHECK(cli(db, "upgrade alice pro").status == 0);
  CHECK(cli(db, "consume alice --request-id r1").status == 0);
  CHECK(cli(db, "consume alice --request-id r1").status == 0);
  const auto q = cli(db, "--json quota alice");
  CHECK(q.status == 0);
  CHECK(q.out.find("\"messages_today\":6") != std::string::npos);
  CHECK(cli(db, "reset daily --user alice").status == 0);
  CHECK(cli(db, "migrate --down 8").status == 0);
  CHECK(cli(db, "migrate").status == 0);
  kq_test::pg_drop_database(name);
}
