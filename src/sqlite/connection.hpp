// The connection and statement layer of the SQLite backend (internal): one
// connection with its prepared-statement caches, the transaction guard and
// the mapping of SQLite result codes to the library's error codes.
//
// A connection is used by one thread at a time (the pool hands it out);
// SQLiteCpp and the C API report failures by throwing SQLite::Exception,
// which the storage's run() turns into an error result.
#pragma once

#include <kauri_quota/result.hpp>
#include <kauri_quota/storage.hpp>
#include <kauri_quota/types.hpp>

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Exception.h>
#include <SQLiteCpp/Statement.h>
#include <sqlite3.h>

#include <memory>
#include <string>
#include <unordered_map>

namespace kauri_quota::detail::sqlite {

/// The library's error code for an SQLite result code (extended or not).
errc map_sqlite_code(int code) noexcept;

/// An SQLiteCpp exception as an error ("sqlite: ..." with the mapped code).
error from_sqlite(const SQLite::Exception& e);

class connection {
 public:
  /// Opens `path` with SQLite `flags`, the busy timeout and synchronous mode
  /// of `opts`, and foreign keys on; throws SQLite::Exception on failure.
  connection(const std::string& path, int flags, const sqlite_options& opts);

  sqlite3* handle() const noexcept { return db_.getHandle(); }
  SQLite::Database& db() noexcept { return db_; }

  /// A cached prepared statement, reset and with its bindings cleared.
  SQLite::Statement& stmt(const char* sql);

  /// A cached statement used through the C API, for the statement that runs
  /// on every request (SQLiteCpp's column objects cost more than the
  /// query's own work there). Reset, bindings cleared.
  sqlite3_stmt* raw(const char* sql);

  /// Resets every cached statement so that none holds a read snapshot.
  void reset_all() noexcept;

  /// Rolls back whatever transaction is open; never throws.
  void rollback_if_open() noexcept;

  void begin_write() { stmt("BEGIN IMMEDIATE").exec(); }
  void begin_read() { stmt("BEGIN").exec(); }
  void commit() { stmt("COMMIT").exec(); }

 private:
  struct stmt_finalizer {
    void operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }
  };
  SQLite::Database db_;
  // Declared after db_ so that they are finalized before it closes.
  std::unordered_map<const char*, std::unique_ptr<SQLite::Statement>> cache_;
  std::unordered_map<const char*, std::unique_ptr<sqlite3_stmt, stmt_finalizer>> raw_cache_;
};

/// A transaction guard: rolls back in its destructor unless committed.
/// Not SQLite::Transaction, because the rollback must first reset the cached
/// statements (none may keep a read snapshot) and must skip ROLLBACK when
/// SQLite already ended the transaction itself (after a full disk or an I/O
/// error).
class txn {
 public:
  txn(connection& c, bool write) : c_(c) { write ? c_.begin_write() : c_.begin_read(); }
  txn(const txn&) = delete;
  txn& operator=(const txn&) = delete;
  ~txn() {
    if (!done_) c_.rollback_if_open();
  }
  void commit() {
    c_.commit();
    done_ = true;
  }

 private:
  connection& c_;
  bool done_ = false;
};

/// Steps a raw statement: true on a row, false when done; throws like
/// SQLiteCpp on an error so that run() maps it.
bool step(sqlite3* db, sqlite3_stmt* st);

}  // namespace kauri_quota::detail::sqlite
