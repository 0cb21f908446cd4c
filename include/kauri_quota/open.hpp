// Opening a database: what a host includes to get a storage for
// quota_service. Never throws; an error names what failed and never shows
// a password (see redact_url).
#pragma once

#include <kauri_quota/result.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

namespace kauri_quota {

class storage;  // storage.hpp

/// SQLite synchronous setting (PRAGMA synchronous).
enum class sqlite_synchronous { off, normal, full, extra };

/// Sharing one transaction between concurrent callers (group commit).
///
/// The writes (consume, reserve, record, commit, release) of callers that
/// arrive while another write is in progress are run together in one
/// transaction, each inside its own savepoint: each caller still gets its
/// own exact decision, one failing request fails alone, and each returns
/// only after the shared commit, so an acknowledged change is as durable
/// as an unbatched one. A lone caller runs at once, exactly as unbatched.
/// SQLite: one batch at a time per storage (the file has one writer
/// anyway); the next batch gathers while one commits. PostgreSQL: up to
/// pool_size batches in flight, each one round trip on one connection.
struct batch_options {
  /// On by default; off runs every call as its own transaction.
  bool enabled = true;
  /// The most requests in one transaction (1 to 1024).
  int max_size = 64;
  /// How long a leader may wait for more callers to join (0 to 10 ms). It
  /// waits only while fewer callers have queued than the batch before it
  /// held (the callers that batch woke are on their way back), so a lone
  /// caller never waits, and it starts as soon as they are all there; no
  /// caller waits longer than this for others. 0 (the default): never
  /// wait, take whoever queued while the previous batch ran.
  std::chrono::microseconds max_wait{0};
};

struct sqlite_options {
  /// A file path, or ":memory:" for a private in-memory database.
  std::string path;
  /// FULL by default: acknowledged usage survives a power loss.
  sqlite_synchronous synchronous = sqlite_synchronous::full;
  /// How long a writer waits for another process's lock, and how long a
  /// call waits for a pooled connection when all pool_size are in use
  /// (then storage_busy).
  std::chrono::milliseconds busy_timeout{10000};
  /// Create the file when it does not exist (else storage_unavailable).
  bool create = true;
  /// Apply pending migrations when opening.
  bool auto_migrate = false;
  /// Connections kept for concurrent readers (writers serialise anyway).
  int pool_size = 4;
  /// Group commit of concurrent writes (see batch_options).
  batch_options batch;
};

/// Opens an SQLite database. invalid_argument for bad options;
/// storage_unavailable when the file cannot be opened (or does not exist
/// and `create` is false); schema_mismatch when it is not a kauri_quota
/// database of a version this library can use (and auto_migrate is off);
/// corrupt, io_error or migration_failed as reported by SQLite.
result<std::unique_ptr<storage>> open_sqlite(const sqlite_options& opts);

struct postgres_options {
  /// A libpq URI (postgresql://...) or keyword string (host=... dbname=...).
  std::string conninfo;
  int pool_size = 8;
  std::chrono::milliseconds connect_timeout{5000};
  /// The server's statement and lock timeout, and how long a call waits
  /// for a pooled connection when all pool_size are in use (then
  /// storage_busy, not retried).
  std::chrono::milliseconds statement_timeout{5000};
  int max_retries = 5;
  bool auto_migrate = false;
  /// Concurrent writes sent as one batched call (see batch_options).
  batch_options batch;
};

/// Opens a PostgreSQL database. invalid_argument for bad options or a
/// malformed connection string; storage_unavailable when the server cannot
/// be reached or refuses the login; schema_mismatch or migration_failed as
/// for open_sqlite; unsupported when the library was built without
/// PostgreSQL.
result<std::unique_ptr<storage>> open_postgres(const postgres_options& opts);

/// Common options for open_storage.
struct open_options {
  bool auto_migrate = false;
  /// SQLite: create the file when it does not exist (else storage_unavailable).
  bool create = true;
  sqlite_synchronous synchronous = sqlite_synchronous::full;
  int pool_size = 0;  ///< 0: the backend's default
  /// Group commit of concurrent writes (see batch_options).
  batch_options batch;
};

/// Opens `sqlite:PATH`, `sqlite::memory:`, `postgresql://...`,
/// `postgres://...` or a libpq keyword string (`host=... dbname=...`).
/// invalid_argument for any other URL or a pool_size outside 0-256; then
/// what open_sqlite or open_postgres returns.
result<std::unique_ptr<storage>> open_storage(std::string_view url, const open_options& opts = {});

/// The URL with any password replaced by "***", safe to log: the password
/// of a URI's userinfo, every "password" query parameter and every
/// "password" keyword value, as libpq would read them.
std::string redact_url(std::string_view url);

}  // namespace kauri_quota
