// A throw-away PostgreSQL server for tests (scripts/pg-test-server.sh).
//
// Under CTest the server is started once by the `postgres.server_start`
// fixture, which exports its directory as KQ_TEST_PG_DIR; a test executable
// run by hand starts a private server on first use and stops it at exit.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace kq_test {

/// Connection string of the server's maintenance database (no dbname).
const std::string& pg_server_conninfo();
/// The server's directory (data, socket, logs).
const std::string& pg_server_dir();
/// Creates an empty database with a unique name; returns its name.
std::string pg_create_database();
/// Creates a database with a unique name as a copy of `template_db` (which
/// no session may be connected to); returns its name.
std::string pg_create_database_from(const std::string& template_db);
/// Runs `fn` while holding a server-wide lock that other test processes'
/// calls wait for (to build a shared template database once).
void pg_with_server_lock(const std::function<void()>& fn);
/// Drops it, closing its connections first.
void pg_drop_database(const std::string& name);
/// Runs SQL on the maintenance database (or on `dbname`); throws on error.
void pg_exec(const std::string& sql, const std::string& dbname = "postgres");
/// Runs SQL and returns the first column of the first row ("" if none).
std::string pg_query(const std::string& sql, const std::string& dbname = "postgres");
/// Every row of a query, each column as text (NULL as nullopt); throws on error.
std::vector<std::vector<std::optional<std::string>>> pg_rows(const std::string& sql, const std::string& dbname);
/// pg_ctl stop -m immediate / start on the same port (server-loss tests).
void pg_stop_immediate();
void pg_start();

}  // namespace kq_test
