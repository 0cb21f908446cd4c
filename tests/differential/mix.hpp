// Helpers of the tests that compare the backends (internal to the tests):
// reading the consume fast path's budget of a PostgreSQL day row, running
// SQL on a SQLite test database's file, and a canonical form of JSON.
// Shared by tests/differential and tests/postgres/fast_path_test.cpp.
#pragma once

#include "support/fixtures.hpp"
#include "support/postgres_server.hpp"

#include <doctest/doctest.h>
#include <sqlite3.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <string>

namespace kauri_quota::testing::mix {

/// "threshold|messages|tokens" of the budget of `user`'s row for `day`, or
/// "none" when it has none or the row was updated since (xmin).
inline std::string budget(const service_fixture& f, const std::string& user, local_date day) {
  return kq_test::pg_query(
      "SELECT CASE WHEN fast_threshold IS NULL OR xmin <> fast_xid THEN 'none' ELSE concat_ws('|', fast_threshold, "
      "fast_messages, fast_tokens) END FROM user_usage WHERE user_id = '" +
          user + "' AND usage_date = '" + show(day) + "'",
      f.db.pg_database);
}

/// Runs SQL on a PostgreSQL test database.
inline void pg_exec(const service_fixture& f, const std::string& statement) {
  (void)kq_test::pg_query(statement, f.db.pg_database);
}

/// Runs SQL on a SQLite test database's file directly.
inline void sqlite_exec(const service_fixture& f, const std::string& statement) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(f.db.file.c_str(), &db) == SQLITE_OK);
  char* message = nullptr;
  const int rc = sqlite3_exec(db, statement.c_str(), nullptr, nullptr, &message);
  INFO((message != nullptr ? message : ""));
  sqlite3_free(message);
  sqlite3_close(db);
  REQUIRE(rc == SQLITE_OK);
}

/// A JSON value (read by the tests' JSON oracle) written with its object
/// members sorted and its numbers as the double they denote, to the last
/// digit: values that differ only in spacing, member order or the spelling
/// of a number (1e-06, 0.000001) are equal; 0.855 and 0.85 are not.
/// Reservation ids are random on each backend, so they are left out.
inline std::string canonical(const json_value& v) {
  switch (v.type) {
    case json_value::kind::null:
      return "null";
    case json_value::kind::boolean:
      return v.boolean ? "true" : "false";
    case json_value::kind::number: {
      char buf[40];
      std::snprintf(buf, sizeof buf, "%.17g", std::stod(v.text));
      return buf;
    }
    case json_value::kind::string:
      return "\"" + v.text + "\"";
    case json_value::kind::array: {
      std::string out = "[";
      for (const auto& item : v.items) out += canonical(item) + ",";
      return out + "]";
    }
    case json_value::kind::object: {
      std::map<std::string, std::string> members;
      for (const auto& [key, value] : v.members)
        if (key != "reservation_id") members[key] = canonical(value);
      std::string out = "{";
      for (const auto& [key, value] : members) out += "\"" + key + "\":" + value + ",";
      return out + "}";
    }
  }
  return "";
}

}  // namespace kauri_quota::testing::mix
