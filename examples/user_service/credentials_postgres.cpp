// The credentials table on PostgreSQL (the same database as the library's
// tables), through libpq. Every connection is opened with connect_timeout
// and a statement_timeout, so that no call waits longer than the database
// timeout on a server that is down or stuck.
#include "credentials.hpp"

#include <libpq-fe.h>

#include <array>
#include <cstring>
#include <mutex>
#include <vector>

namespace kauri_user_service {

std::unique_ptr<credential_store> make_postgres_credentials(const std::string& conninfo,
                                                            std::chrono::milliseconds timeout, std::string& error);

namespace {

// One transaction: the bookkeeping row and the table appear together.
constexpr const char* sql_up =
    "BEGIN;"
    "CREATE TABLE IF NOT EXISTS kauri_user_service_migrations ("
    " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now());"
    "CREATE TABLE IF NOT EXISTS kauri_user_credentials ("
    " user_id VARCHAR(128) PRIMARY KEY, email VARCHAR(320) NOT NULL UNIQUE, password_hash VARCHAR(512) NOT NULL,"
    " created_at TIMESTAMPTZ NOT NULL DEFAULT now(), updated_at TIMESTAMPTZ NOT NULL DEFAULT now());"
    "INSERT INTO kauri_user_service_migrations (version, name) VALUES (1, 'credentials') ON CONFLICT DO NOTHING;"
    // The original service's users.hashed_password is NOT NULL; users
    // registered here keep their password in kauri_user_credentials and
    // have none there. (Not restored by the down migration: such rows exist.)
    "DO $$ BEGIN IF EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema()"
    " AND table_name = 'users' AND column_name = 'hashed_password' AND is_nullable = 'NO') THEN"
    " ALTER TABLE users ALTER COLUMN hashed_password DROP NOT NULL; END IF; END $$;"
    "COMMIT;";
constexpr const char* sql_down =
    "BEGIN;"
    "DROP TABLE IF EXISTS kauri_user_credentials;"
    "DO $$ BEGIN IF to_regclass('kauri_user_service_migrations') IS NOT NULL THEN"
    " DELETE FROM kauri_user_service_migrations WHERE version = 1; END IF; END $$;"
    "COMMIT;";
constexpr const char* sql_migrated_row = "SELECT 1 FROM kauri_user_service_migrations WHERE version = 1";
constexpr const char* sql_find = "SELECT user_id, email, password_hash FROM kauri_user_credentials WHERE email = $1";
constexpr const char* sql_insert =
    "INSERT INTO kauri_user_credentials (user_id, email, password_hash) VALUES ($1, $2, $3)";
constexpr const char* sql_update =
    "UPDATE kauri_user_credentials SET password_hash = $2, updated_at = now() WHERE user_id = $1";
constexpr const char* sql_remove = "DELETE FROM kauri_user_credentials WHERE user_id = $1";
constexpr const char* sql_has_original =
    "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema()"
    " AND table_name = 'users' AND column_name = 'hashed_password'";
constexpr const char* sql_find_original =
    "SELECT user_id::text, lower(email), hashed_password FROM users"
    " WHERE lower(email) = $1 AND hashed_password IS NOT NULL LIMIT 1";

struct conn_closer {
  void operator()(PGconn* c) const noexcept { PQfinish(c); }
};
using conn_ptr = std::unique_ptr<PGconn, conn_closer>;
struct result_clearer {
  void operator()(PGresult* r) const noexcept { PQclear(r); }
};
using result_ptr = std::unique_ptr<PGresult, result_clearer>;

class postgres_credentials final : public credential_store {
 public:
  postgres_credentials(std::string conninfo, std::chrono::milliseconds timeout)
      : conninfo_(std::move(conninfo)),
        connect_timeout_(std::to_string(std::max<long long>(1, (timeout.count() + 999) / 1000))),
        options_("-c statement_timeout=" + std::to_string(timeout.count())) {}

  store_status migrate_up() override { return script(sql_up); }
  store_status migrate_down() override { return script(sql_down); }

  store_status migrated() override {
    return with_conn(true, [&](PGconn* c) {
      result_ptr r = run(c, "SELECT to_regclass('kauri_user_service_migrations') IS NOT NULL", {});
      if (!r || PQresultStatus(r.get()) != PGRES_TUPLES_OK) return store_status::unavailable;
      if (std::strcmp(PQgetvalue(r.get(), 0, 0), "t") != 0) return store_status::not_found;
      r = run(c, sql_migrated_row, {});
      if (!r || PQresultStatus(r.get()) != PGRES_TUPLES_OK) return store_status::unavailable;
      return PQntuples(r.get()) > 0 ? store_status::ok : store_status::not_found;
    });
  }

  store_status find_by_email(const std::string& email, credential& out) override {
    return with_conn(true, [&](PGconn* c) { return select_one(c, sql_find, email, out); });
  }

  store_status insert(const credential& cr) override {
    return with_conn(false, [&](PGconn* c) {
      result_ptr r = run(c, sql_insert, {&cr.user_id, &cr.email, &cr.password_hash});
      if (!r) return store_status::unavailable;
      if (PQresultStatus(r.get()) == PGRES_COMMAND_OK) return store_status::ok;
      const char* state = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
      return state != nullptr && std::strcmp(state, "23505") == 0 ? store_status::exists : store_status::unavailable;
    });
  }

  store_status update_hash(const std::string& user_id, const std::string& hash) override {
    return command(sql_update, {&user_id, &hash});
  }

  store_status remove(const std::string& user_id) override { return command(sql_remove, {&user_id}); }

  store_status find_original(const std::string& email, credential& out) override {
    return with_conn(true, [&](PGconn* c) {
      result_ptr r = run(c, sql_has_original, {});
      if (!r || PQresultStatus(r.get()) != PGRES_TUPLES_OK) return store_status::unavailable;
      if (PQntuples(r.get()) == 0) return store_status::not_found;
      return select_one(c, sql_find_original, email, out);
    });
  }

  store_status ping() override {
    return with_conn(true, [&](PGconn* c) {
      result_ptr r = run(c, "SELECT 1", {});
      return r && PQresultStatus(r.get()) == PGRES_TUPLES_OK ? store_status::ok : store_status::unavailable;
    });
  }

  bool probe(std::string& error) {
    conn_ptr c = connect();
    if (!c) {
      error = "cannot connect to the PostgreSQL database";
      return false;
    }
    release(std::move(c));
    return true;
  }

 private:
  conn_ptr connect() const {
    // expand_dbname: the first dbname is the whole URI or keyword string;
    // the keywords after it override what it says.
    const std::array<const char*, 4> keys{"dbname", "connect_timeout", "options", nullptr};
    const std::array<const char*, 4> values{conninfo_.c_str(), connect_timeout_.c_str(), options_.c_str(), nullptr};
    conn_ptr c(PQconnectdbParams(keys.data(), values.data(), 1));
    if (!c || PQstatus(c.get()) != CONNECTION_OK) return nullptr;
    return c;
  }

  conn_ptr acquire() {
    {
      const std::lock_guard lock(mutex_);
      if (!idle_.empty()) {
        conn_ptr c = std::move(idle_.back());
        idle_.pop_back();
        return c;
      }
    }
    return connect();
  }

  void release(conn_ptr c) {
    if (!c || PQstatus(c.get()) != CONNECTION_OK || PQtransactionStatus(c.get()) != PQTRANS_IDLE) return;
    const std::lock_guard lock(mutex_);
    if (idle_.size() < 16) idle_.push_back(std::move(c));
  }

  // Runs f on a pooled connection. A connection the server dropped (a
  // restart) fails its next call: a read is then tried once more on a new
  // connection; a write is not, since it may have been applied.
  template <class F>
  store_status with_conn(bool retry, F&& f) {
    for (int attempt = 0; attempt < (retry ? 2 : 1); ++attempt) {
      conn_ptr c = acquire();
      if (!c) return store_status::unavailable;
      const store_status s = f(c.get());
      const bool lost = PQstatus(c.get()) != CONNECTION_OK;
      release(std::move(c));
      if (s != store_status::unavailable || !lost) return s;
    }
    return store_status::unavailable;
  }

  static result_ptr run(PGconn* c, const char* sql, std::initializer_list<const std::string*> params) {
    std::vector<const char*> values;
    for (const std::string* p : params) values.push_back(p->c_str());
    return result_ptr(
        PQexecParams(c, sql, static_cast<int>(values.size()), nullptr, values.data(), nullptr, nullptr, 0));
  }

  static store_status select_one(PGconn* c, const char* sql, const std::string& key, credential& out) {
    result_ptr r = run(c, sql, {&key});
    if (!r || PQresultStatus(r.get()) != PGRES_TUPLES_OK) return store_status::unavailable;
    if (PQntuples(r.get()) == 0) return store_status::not_found;
    out.user_id = PQgetvalue(r.get(), 0, 0);
    out.email = PQgetvalue(r.get(), 0, 1);
    out.password_hash = PQgetvalue(r.get(), 0, 2);
    return store_status::ok;
  }

  store_status command(const char* sql, std::initializer_list<const std::string*> params) {
    return with_conn(false, [&](PGconn* c) {
      result_ptr r = run(c, sql, params);
      if (!r || PQresultStatus(r.get()) != PGRES_COMMAND_OK) return store_status::unavailable;
      return std::strcmp(PQcmdTuples(r.get()), "0") == 0 ? store_status::not_found : store_status::ok;
    });
  }

  store_status script(const char* sql) {
    return with_conn(false, [&](PGconn* c) {
      result_ptr r(PQexec(c, sql));
      const bool ok = r && PQresultStatus(r.get()) == PGRES_COMMAND_OK;
      if (!ok && PQtransactionStatus(c) != PQTRANS_IDLE) result_ptr(PQexec(c, "ROLLBACK"));
      return ok ? store_status::ok : store_status::unavailable;
    });
  }

  std::string conninfo_;
  std::string connect_timeout_;
  std::string options_;
  std::mutex mutex_;
  std::vector<conn_ptr> idle_;
};

}  // namespace

std::unique_ptr<credential_store> make_postgres_credentials(const std::string& conninfo,
                                                            std::chrono::milliseconds timeout, std::string& error) {
  auto store = std::make_unique<postgres_credentials>(conninfo, timeout);
  if (!store->probe(error)) return nullptr;
  return store;
}

}  // namespace kauri_user_service
