// The SQL splitter and directive parser that every migration goes through.
#include "core/migration_script.hpp"
#include "core/migrations.hpp"
#include "support/fixtures.hpp"

#include <string>
#include <vector>

using namespace kauri_quota;
using namespace kauri_quota::detail;
using kauri_quota::testing::must;

namespace {

std::vector<std::string> texts(const std::vector<script_statement>& statements) {
  std::vector<std::string> out;
  for (const auto& s : statements) {
    std::string t = s.text;
    const auto b = t.find_first_not_of(" \t\r\n");
    const auto e = t.find_last_not_of(" \t\r\n");
    out.push_back(b == std::string::npos ? std::string() : t.substr(b, e - b + 1));
  }
  return out;
}

}  // namespace

TEST_CASE("split_script splits at semicolons and drops empty statements") {
  const auto s = must(split_script("CREATE TABLE a (x INT);\n;  ;\nINSERT INTO a VALUES (1);\nSELECT 1"));
  CHECK(texts(s) == std::vector<std::string>{"CREATE TABLE a (x INT)", "INSERT INTO a VALUES (1)", "SELECT 1"});
  for (const auto& st : s) CHECK(std::holds_alternative<plain_statement>(st.directive));
}

TEST_CASE("split_script keeps semicolons inside quotes, quoted names and dollar quotes") {
  const auto s =
      must(split_script("INSERT INTO t VALUES ('a;b', 'it''s;');\n"
                        "SELECT \"odd;name\" FROM t;\n"
                        "CREATE FUNCTION f() RETURNS INT LANGUAGE sql AS $f$ SELECT 1; SELECT 2 $f$;\n"
                        "DO $$ BEGIN PERFORM 1; END $$;"));
  REQUIRE(s.size() == 4);
  CHECK(texts(s)[0] == "INSERT INTO t VALUES ('a;b', 'it''s;')");
  CHECK(texts(s)[1] == "SELECT \"odd;name\" FROM t");
  CHECK(texts(s)[2] == "CREATE FUNCTION f() RETURNS INT LANGUAGE sql AS $f$ SELECT 1; SELECT 2 $f$");
  CHECK(texts(s)[3] == "DO $$ BEGIN PERFORM 1; END $$");
}

TEST_CASE("split_script keeps an SQLite trigger's BEGIN ... END body in one statement") {
  const auto s =
      must(split_script("CREATE TRIGGER t1 AFTER DELETE ON a BEGIN UPDATE b SET n = n + 1; DELETE FROM c; END;\n"
                        "create temp trigger t2 after insert on a begin select 1; end;\n"
                        "CREATE TRIGGER t3 AFTER UPDATE ON a FOR EACH STATEMENT EXECUTE FUNCTION f();\n"
                        "SELECT 2"));
  CHECK(texts(s) == std::vector<std::string>{
                        "CREATE TRIGGER t1 AFTER DELETE ON a BEGIN UPDATE b SET n = n + 1; DELETE FROM c; END",
                        "create temp trigger t2 after insert on a begin select 1; end",
                        "CREATE TRIGGER t3 AFTER UPDATE ON a FOR EACH STATEMENT EXECUTE FUNCTION f()", "SELECT 2"});
}

TEST_CASE("split_script treats $1 as a parameter, not a dollar quote") {
  const auto s = must(split_script("UPDATE t SET x = $1 WHERE id <= $2; SELECT 2"));
  CHECK(texts(s) == std::vector<std::string>{"UPDATE t SET x = $1 WHERE id <= $2", "SELECT 2"});
}

TEST_CASE("split_script drops comments, including semicolons inside them") {
  const auto s = must(split_script("-- a comment; not a statement\nSELECT 1 /* ; */;\n/* block;\n */ SELECT 2;"));
  CHECK(texts(s) == std::vector<std::string>{"SELECT 1", "SELECT 2"});
}

TEST_CASE("split_script attaches each known directive to the statement after it") {
  const auto s =
      must(split_script("-- kq:backfill users subscription_tier IS NULL OR x = 1\n"
                        "UPDATE users SET a = 1 WHERE id IN (SELECT id FROM users LIMIT $1);\n"
                        "-- kq:batches-by-id user_usage\n"
                        "UPDATE user_usage SET b = 2 WHERE id > $1 AND id <= $2;\n"
                        "-- kq:commit\n"
                        "ALTER TABLE users ADD COLUMN c INT;\n"
                        "--   kq:no-transaction   \n"
                        "CREATE INDEX CONCURRENTLY ix ON users (c);\n"
                        "-- kq:backfill users\n"
                        "UPDATE users SET d = 1;\n"
                        "SELECT 1;"));
  REQUIRE(s.size() == 6);
  const auto* b = std::get_if<backfill_directive>(&s[0].directive);
  REQUIRE(b != nullptr);
  CHECK(b->table == "users");
  CHECK(b->condition == "subscription_tier IS NULL OR x = 1");
  const auto* ids = std::get_if<batches_by_id_directive>(&s[1].directive);
  REQUIRE(ids != nullptr);
  CHECK(ids->table == "user_usage");
  CHECK(std::holds_alternative<commit_directive>(s[2].directive));
  CHECK(std::holds_alternative<no_transaction_directive>(s[3].directive));
  const auto* all = std::get_if<backfill_directive>(&s[4].directive);
  REQUIRE(all != nullptr);
  CHECK(all->table == "users");
  CHECK(all->condition.empty());
  CHECK(std::holds_alternative<plain_statement>(s[5].directive));
}

TEST_CASE("an unknown or misspelt kq directive is an error, not a plain statement") {
  for (const char* bad : {"-- kq:bakfill users\nUPDATE users SET a = 1;", "-- kq:no_transaction\nSELECT 1;",
                          "-- kq:\nSELECT 1;", "-- kq:commit now\nSELECT 1;", "-- kq:backfill\nSELECT 1;",
                          "-- kq:batches-by-id\nSELECT 1;", "-- kq:batches-by-id a b\nSELECT 1;"}) {
    INFO(bad);
    const auto r = split_script(bad);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().is(errc::migration_failed));
    CHECK(r.error().message.find("-- kq:") != std::string::npos);
  }
}

TEST_CASE("a kq directive inside a statement is an error") {
  const auto r = split_script("UPDATE users\n-- kq:commit\nSET a = 1;");
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().is(errc::migration_failed));
  CHECK(r.error().message.find("inside a statement") != std::string::npos);
}

TEST_CASE("a kq directive inside a dollar quote or a string is text") {
  const auto s =
      must(split_script("CREATE FUNCTION f() RETURNS INT LANGUAGE sql AS $f$\n-- kq:bogus\nSELECT 1 $f$;\n"
                        "SELECT '-- kq:bogus';"));
  REQUIRE(s.size() == 2);
  CHECK(std::holds_alternative<plain_statement>(s[0].directive));
  CHECK(std::holds_alternative<plain_statement>(s[1].directive));
}

TEST_CASE("every embedded migration splits without error in both directions") {
  std::vector<std::span<const embedded_migration>> lists{sqlite_migrations()};
#ifdef KAURI_QUOTA_TEST_POSTGRES
  lists.push_back(postgres_migrations());
#endif
  for (const auto& list : lists) {
    for (const auto& m : list) {
      INFO("migration " << m.version << " " << m.name);
      CHECK(split_script(m.up).has_value());
      CHECK(split_script(m.down).has_value());
    }
  }
}

TEST_CASE("parse_add_column recognises ALTER TABLE ... ADD COLUMN, in any case") {
  std::string table;
  std::string column;
  CHECK(parse_add_column("  alter table users add column email TEXT", table, column));
  CHECK(table == "users");
  CHECK(column == "email");
  CHECK_FALSE(parse_add_column("ALTER TABLE users DROP COLUMN email", table, column));
  CHECK_FALSE(parse_add_column("ALTER TABLE users", table, column));
}
