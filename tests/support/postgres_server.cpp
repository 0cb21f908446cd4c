#include "support/postgres_server.hpp"

#include <libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <stdexcept>

namespace kq_test {
namespace {

struct server {
  std::string dir;
  std::string conninfo;
  bool owned = false;

  server() {
    if (const char* d = std::getenv("KQ_TEST_PG_DIR"); d && *d) {
      dir = d;
    } else {
      dir = "/tmp/kauri-quota-pg-" + std::to_string(::getpid());
      const std::string cmd = "bash '" KAURI_QUOTA_SOURCE_DIR "/scripts/pg-test-server.sh' start '" + dir + "'";
      if (std::system(cmd.c_str()) != 0) throw std::runtime_error("could not start a PostgreSQL test server");
      owned = true;
    }
    std::ifstream in(dir + "/conninfo");
    std::getline(in, conninfo);
    if (conninfo.empty()) throw std::runtime_error("no PostgreSQL test server in " + dir);
    // The maintenance database is chosen per call.
    conninfo = conninfo.substr(0, conninfo.find(" dbname="));
  }
  ~server() {
    if (owned) {
      const std::string cmd = "bash '" KAURI_QUOTA_SOURCE_DIR "/scripts/pg-test-server.sh' stop '" + dir + "'";
      (void)std::system(cmd.c_str());
    }
  }
};

server& the_server() {
  static server s;
  return s;
}

/// Runs `sql` on `dbname` and hands the result to `use`; throws on error.
template <class F>
void with_result(const std::string& sql, const std::string& dbname, F&& use) {
  const std::string ci = the_server().conninfo + " dbname=" + dbname;
  PGconn* c = PQconnectdb(ci.c_str());
  if (PQstatus(c) != CONNECTION_OK) {
    std::string msg = PQerrorMessage(c);
    PQfinish(c);
    throw std::runtime_error("test server: " + msg);
  }
  PQsetNoticeProcessor(
      c, [](void*, const char*) {}, nullptr);
  PGresult* r = PQexec(c, sql.c_str());
  const auto st = PQresultStatus(r);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    std::string msg = PQresultErrorMessage(r);
    PQclear(r);
    PQfinish(c);
    throw std::runtime_error("test server: " + msg + " in: " + sql.substr(0, 200));
  }
  use(r);
  PQclear(r);
  PQfinish(c);
}

std::string run(const std::string& sql, const std::string& dbname, bool want_value) {
  std::string value;
  with_result(sql, dbname, [&](PGresult* r) {
    if (want_value && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0)) value = PQgetvalue(r, 0, 0);
  });
  return value;
}

}  // namespace

const std::string& pg_server_conninfo() { return the_server().conninfo; }
const std::string& pg_server_dir() { return the_server().dir; }

std::string pg_create_database() { return pg_create_database_from(""); }

std::string pg_create_database_from(const std::string& template_db) {
  static std::atomic<int> counter{0};
  const std::string name = "kq_t_" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
  pg_exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
  pg_exec("CREATE DATABASE " + name + (template_db.empty() ? "" : " TEMPLATE " + template_db));
  return name;
}

void pg_with_server_lock(const std::function<void()>& fn) {
  // A session-level advisory lock on the maintenance database, held on a
  // connection of its own for the duration of fn.
  const std::string ci = the_server().conninfo + " dbname=postgres";
  PGconn* c = PQconnectdb(ci.c_str());
  const auto finish = [&] { PQfinish(c); };
  if (PQstatus(c) != CONNECTION_OK) {
    std::string msg = PQerrorMessage(c);
    finish();
    throw std::runtime_error("test server: " + msg);
  }
  PGresult* r = PQexec(c, "SELECT pg_advisory_lock(7419730199)");
  const bool locked = PQresultStatus(r) == PGRES_TUPLES_OK;
  PQclear(r);
  if (!locked) {
    std::string msg = PQerrorMessage(c);
    finish();
    throw std::runtime_error("test server: cannot take the template lock: " + msg);
  }
  try {
    fn();
  } catch (...) {
    finish();  // ending the session releases the lock
    throw;
  }
  finish();
}

void pg_drop_database(const std::string& name) { pg_exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); }

void pg_exec(const std::string& sql, const std::string& dbname) { (void)run(sql, dbname, false); }

std::vector<std::vector<std::optional<std::string>>> pg_rows(const std::string& sql, const std::string& dbname) {
  std::vector<std::vector<std::optional<std::string>>> out;
  with_result(sql, dbname, [&](PGresult* r) {
    for (int i = 0; i < PQntuples(r); ++i) {
      auto& row = out.emplace_back();
      for (int j = 0; j < PQnfields(r); ++j)
        row.push_back(PQgetisnull(r, i, j) ? std::nullopt : std::optional<std::string>(PQgetvalue(r, i, j)));
    }
  });
  return out;
}

std::string pg_query(const std::string& sql, const std::string& dbname) { return run(sql, dbname, true); }

namespace {
std::string pg_ctl(const std::string& action) {
  const std::string& dir = the_server().dir;
  std::string owner;
  std::ifstream(dir + "/owner") >> owner;
  std::string port;
  std::ifstream(dir + "/port") >> port;
  std::string bin;
  for (const char* v : {"17", "16", "15", "14", "13"}) {
    const std::string b = std::string("/usr/lib/postgresql/") + v + "/bin";
    if (::access((b + "/pg_ctl").c_str(), X_OK) == 0) {
      bin = b;
      break;
    }
  }
  std::string cmd = bin + "/pg_ctl -D '" + dir + "/data' -w " + action;
  if (action == "start")
    cmd += " -l '" + dir + "/server.log' -o \"-p " + port + " -k " + dir +
           " -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
           " -c max_connections=200\"";
  if (::geteuid() == 0) cmd = "runuser -u " + owner + " -- " + cmd;
  return cmd + " >/dev/null 2>&1";
}
}  // namespace

void pg_stop_immediate() {
  if (std::system(pg_ctl("-m immediate stop").c_str()) != 0) throw std::runtime_error("pg_ctl stop failed");
}

void pg_start() {
  if (std::system(pg_ctl("start").c_str()) != 0) throw std::runtime_error("pg_ctl start failed");
}

}  // namespace kq_test
