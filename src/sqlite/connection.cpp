#include "sqlite/connection.hpp"

#include "core/sql_support.hpp"
#include "core/validate.hpp"

#include <fmt/format.h>

namespace kauri_quota::detail::sqlite {

errc map_sqlite_code(int code) noexcept {
  switch (code & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_PROTOCOL:  // WAL lock retries exhausted: contention, not a broken disk
      return errc::storage_busy;
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_AUTH:
    case SQLITE_READONLY:
      return errc::storage_unavailable;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return errc::corrupt;
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_NOLFS:
      return errc::io_error;
    case SQLITE_NOMEM:
      return errc::internal;
    default:
      return errc::internal;
  }
}

error from_sqlite(const SQLite::Exception& e) {
  return make_error(map_sqlite_code(e.getErrorCode()), fmt::format("sqlite: {}", e.what()));
}

connection::connection(const std::string& path, int flags, const sqlite_options& opts)
    : db_(path, flags, static_cast<int>(opts.busy_timeout.count())) {
  db_.exec("PRAGMA foreign_keys = ON");
  switch (opts.synchronous) {
    case sqlite_synchronous::off:
      db_.exec("PRAGMA synchronous = OFF");
      break;
    case sqlite_synchronous::normal:
      db_.exec("PRAGMA synchronous = NORMAL");
      break;
    case sqlite_synchronous::full:
      db_.exec("PRAGMA synchronous = FULL");
      break;
    case sqlite_synchronous::extra:
      db_.exec("PRAGMA synchronous = EXTRA");
      break;
  }
}

SQLite::Statement& connection::stmt(const char* sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) it = cache_.emplace(sql, std::make_unique<SQLite::Statement>(db_, sql)).first;
  SQLite::Statement& s = *it->second;
  s.reset();
  s.clearBindings();
  return s;
}

sqlite3_stmt* connection::raw(const char* sql) {
  auto it = raw_cache_.find(sql);
  if (it == raw_cache_.end()) {
    sqlite3_stmt* st = nullptr;
    const int rc = sqlite3_prepare_v3(handle(), sql, -1, SQLITE_PREPARE_PERSISTENT, &st, nullptr);
    if (rc != SQLITE_OK) throw SQLite::Exception(handle(), rc);
    it = raw_cache_.emplace(sql, std::unique_ptr<sqlite3_stmt, stmt_finalizer>(st)).first;
  }
  sqlite3_stmt* st = it->second.get();
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return st;
}

void connection::reset_all() noexcept {
  for (auto& [sql, s] : cache_) s->tryReset();
  for (auto& [sql, s] : raw_cache_) sqlite3_reset(s.get());
}

void connection::rollback_if_open() noexcept {
  reset_all();
  if (sqlite3_get_autocommit(handle()) == 0) sqlite3_exec(handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

bool step(sqlite3* db, sqlite3_stmt* st) {
  const int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  throw SQLite::Exception(db, rc);
}

}  // namespace kauri_quota::detail::sqlite
