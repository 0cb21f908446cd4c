// The credentials table on SQLite (the same file as the library's tables).
#include "credentials.hpp"

#include <sqlite3.h>

#include <mutex>
#include <string_view>
#include <vector>

namespace kauri_user_service {

std::unique_ptr<credential_store> make_sqlite_credentials(const std::string& path, std::chrono::milliseconds timeout,
                                                          std::string& error);

namespace {

constexpr const char* sql_up =
    "CREATE TABLE IF NOT EXISTS kauri_user_service_migrations ("
    " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP);"
    "CREATE TABLE IF NOT EXISTS kauri_user_credentials ("
    " user_id VARCHAR(128) PRIMARY KEY, email VARCHAR(320) NOT NULL UNIQUE, password_hash VARCHAR(512) NOT NULL,"
    " created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP, updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP);"
    "INSERT OR IGNORE INTO kauri_user_service_migrations (version, name) VALUES (1, 'credentials');";
constexpr const char* sql_down =
    "DROP TABLE IF EXISTS kauri_user_credentials;"
    "DELETE FROM kauri_user_service_migrations WHERE version = 1;";
constexpr const char* sql_migrated = "SELECT 1 FROM kauri_user_service_migrations WHERE version = 1";
constexpr const char* sql_find = "SELECT user_id, email, password_hash FROM kauri_user_credentials WHERE email = ?1";
constexpr const char* sql_insert =
    "INSERT INTO kauri_user_credentials (user_id, email, password_hash) VALUES (?1, ?2, ?3)";
constexpr const char* sql_update =
    "UPDATE kauri_user_credentials SET password_hash = ?2, updated_at = CURRENT_TIMESTAMP WHERE user_id = ?1";
constexpr const char* sql_remove = "DELETE FROM kauri_user_credentials WHERE user_id = ?1";
constexpr const char* sql_has_original = "SELECT 1 FROM pragma_table_info('users') WHERE name = 'hashed_password'";
constexpr const char* sql_find_original =
    "SELECT CAST(user_id AS TEXT), lower(email), hashed_password FROM users"
    " WHERE lower(email) = ?1 AND hashed_password IS NOT NULL LIMIT 1";

struct closer {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
using db_ptr = std::unique_ptr<sqlite3, closer>;

struct finalizer {
  void operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }
};
using stmt_ptr = std::unique_ptr<sqlite3_stmt, finalizer>;

class sqlite_credentials final : public credential_store {
 public:
  sqlite_credentials(std::string path, std::chrono::milliseconds timeout) : path_(std::move(path)), timeout_(timeout) {}

  store_status migrate_up() override { return exec_script(sql_up); }
  store_status migrate_down() override { return exec_script(sql_down); }

  store_status migrated() override {
    return with_db([&](sqlite3* db) {
      // The bookkeeping table itself may not exist yet.
      stmt_ptr st = prepare(db, sql_migrated);
      if (!st) return store_status::not_found;
      const int rc = sqlite3_step(st.get());
      if (rc == SQLITE_ROW) return store_status::ok;
      return rc == SQLITE_DONE ? store_status::not_found : store_status::unavailable;
    });
  }

  store_status find_by_email(const std::string& email, credential& out) override {
    return with_db([&](sqlite3* db) { return select_one(db, sql_find, email, out); });
  }

  store_status insert(const credential& c) override {
    return with_db([&](sqlite3* db) {
      stmt_ptr st = prepare(db, sql_insert);
      if (!st) return store_status::unavailable;
      bind(st.get(), 1, c.user_id);
      bind(st.get(), 2, c.email);
      bind(st.get(), 3, c.password_hash);
      const int rc = sqlite3_step(st.get());
      if (rc == SQLITE_DONE) return store_status::ok;
      return (rc & 0xff) == SQLITE_CONSTRAINT ? store_status::exists : store_status::unavailable;
    });
  }

  store_status update_hash(const std::string& user_id, const std::string& hash) override {
    return exec2(sql_update, user_id, hash);
  }

  store_status remove(const std::string& user_id) override { return exec2(sql_remove, user_id, {}); }

  store_status find_original(const std::string& email, credential& out) override {
    return with_db([&](sqlite3* db) {
      stmt_ptr probe = prepare(db, sql_has_original);
      if (!probe) return store_status::unavailable;
      const int rc = sqlite3_step(probe.get());
      if (rc == SQLITE_DONE) return store_status::not_found;
      if (rc != SQLITE_ROW) return store_status::unavailable;
      return select_one(db, sql_find_original, email, out);
    });
  }

  store_status ping() override {
    return with_db([&](sqlite3* db) {
      stmt_ptr st = prepare(db, "SELECT count(*) FROM sqlite_schema");
      if (!st) return store_status::unavailable;
      return sqlite3_step(st.get()) == SQLITE_ROW ? store_status::ok : store_status::unavailable;
    });
  }

  /// Opens one connection to check that the file is there and is a database.
  bool probe(std::string& error) {
    db_ptr db = connect();
    if (!db) {
      error = "cannot open the SQLite database " + path_;
      return false;
    }
    release(std::move(db));
    return true;
  }

 private:
  db_ptr connect() const {
    sqlite3* raw = nullptr;
    // No SQLITE_OPEN_CREATE: the library has opened (and created) the file.
    const int rc = sqlite3_open_v2(path_.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
    db_ptr db(raw);
    if (rc != SQLITE_OK) return nullptr;
    sqlite3_busy_timeout(db.get(), static_cast<int>(timeout_.count()));
    return db;
  }

  db_ptr acquire() {
    {
      const std::lock_guard lock(mutex_);
      if (!idle_.empty()) {
        db_ptr db = std::move(idle_.back());
        idle_.pop_back();
        return db;
      }
    }
    return connect();
  }

  void release(db_ptr db) {
    if (!db) return;
    if (sqlite3_get_autocommit(db.get()) == 0) sqlite3_exec(db.get(), "ROLLBACK", nullptr, nullptr, nullptr);
    const std::lock_guard lock(mutex_);
    if (idle_.size() < 16) idle_.push_back(std::move(db));
  }

  template <class F>
  store_status with_db(F&& f) {
    db_ptr db = acquire();
    if (!db) return store_status::unavailable;
    const store_status s = f(db.get());
    release(std::move(db));
    return s;
  }

  static stmt_ptr prepare(sqlite3* db, const char* sql) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) != SQLITE_OK) {
      sqlite3_finalize(st);
      return nullptr;
    }
    return stmt_ptr(st);
  }

  static void bind(sqlite3_stmt* st, int i, const std::string& v) {
    sqlite3_bind_text(st, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }

  static std::string column(sqlite3_stmt* st, int i) {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st, i));
    return p == nullptr ? std::string() : std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(st, i)));
  }

  static store_status select_one(sqlite3* db, const char* sql, const std::string& key, credential& out) {
    stmt_ptr st = prepare(db, sql);
    if (!st) return store_status::unavailable;
    bind(st.get(), 1, key);
    const int rc = sqlite3_step(st.get());
    if (rc == SQLITE_DONE) return store_status::not_found;
    if (rc != SQLITE_ROW) return store_status::unavailable;
    out.user_id = column(st.get(), 0);
    out.email = column(st.get(), 1);
    out.password_hash = column(st.get(), 2);
    return store_status::ok;
  }

  store_status exec2(const char* sql, const std::string& a, const std::optional<std::string>& b) {
    return with_db([&](sqlite3* db) {
      stmt_ptr st = prepare(db, sql);
      if (!st) return store_status::unavailable;
      bind(st.get(), 1, a);
      if (b) bind(st.get(), 2, *b);
      if (sqlite3_step(st.get()) != SQLITE_DONE) return store_status::unavailable;
      return sqlite3_changes(db) > 0 ? store_status::ok : store_status::not_found;
    });
  }

  store_status exec_script(const char* script) {
    return with_db([&](sqlite3* db) {
      if (sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) {
        return store_status::unavailable;
      }
      if (sqlite3_exec(db, script, nullptr, nullptr, nullptr) != SQLITE_OK ||
          sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
        sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
        return store_status::unavailable;
      }
      return store_status::ok;
    });
  }

  std::string path_;
  std::chrono::milliseconds timeout_;
  std::mutex mutex_;
  std::vector<db_ptr> idle_;
};

}  // namespace

std::unique_ptr<credential_store> make_sqlite_credentials(const std::string& path, std::chrono::milliseconds timeout,
                                                          std::string& error) {
  auto store = std::make_unique<sqlite_credentials>(path, timeout);
  if (!store->probe(error)) return nullptr;
  return store;
}

}  // namespace kauri_user_service
