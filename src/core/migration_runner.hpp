// The one migration runner of the library (internal). It owns what does not
// depend on the database: the listing of embedded and applied migrations,
// the validation of a target and a batch size, the comparison of recorded
// checksums, the parsing of every script before anything runs, and the
// order of the up and down steps. Each backend supplies only its hooks:
// take the lock, keep the bookkeeping table, apply one script in a
// transaction.
#pragma once

#include "core/migration_script.hpp"
#include "core/migrations.hpp"

#include <kauri_quota/result.hpp>
#include <kauri_quota/storage.hpp>

#include <optional>
#include <span>
#include <string>
#include <vector>

namespace kauri_quota::detail {

/// One row of a backend's kauri_quota_migrations table.
struct applied_migration {
  int version = 0;
  std::string name;
  std::string checksum;
  std::optional<sys_time> applied_at;
};

/// The steps a backend supplies. Every hook runs on the one connection the
/// backend gave the runner, in the order documented below; none is called
/// concurrently.
class migration_hooks {
 public:
  virtual ~migration_hooks() = default;

  /// Called first: makes this the only migrator of the database until the
  /// hooks are destroyed, and creates the bookkeeping table if needed.
  /// Returns whether an original (Alembic) database was adopted.
  virtual result<bool> prepare() = 0;
  /// The highest applied version (0 on an empty database).
  virtual result<int> current_version() = 0;
  /// Every row of the bookkeeping table.
  virtual result<std::vector<applied_migration>> applied() = 0;
  /// Runs `statements` (the up or down script of `m`) and records or
  /// forgets `m`, in one transaction except where a directive says
  /// otherwise. Does nothing when another migrator moved the version past
  /// `m` meanwhile. migration_failed names `m` when a statement fails.
  virtual result<void> apply(const embedded_migration& m, bool up, const std::vector<script_statement>& statements,
                             const migrate_options& opts) = 0;
  /// Called last, after a successful run, still as the only migrator (the
  /// PostgreSQL backend installs its repeatable functions here).
  virtual result<void> finish(const migrate_report& report) {
    (void)report;
    return ok();
  }
};

/// schema_mismatch when a database at version `v` cannot be used by a
/// library whose newest migration is `head`; nullopt when v == head.
std::optional<error> version_error(int v, int head);

/// The embedded migrations, marked with when they were applied, followed
/// by applied versions this library does not know; ascending by version.
std::vector<migration_info> list_migrations(std::span<const embedded_migration> all,
                                            const std::vector<applied_migration>& applied);

/// migration_failed for the first applied migration whose recorded
/// checksum is not the checksum of the embedded text of the same version:
/// a migration is immutable once released. nullopt when all agree.
std::optional<error> checksum_error(std::span<const embedded_migration> all,
                                    const std::vector<applied_migration>& applied);

/// The target version of `opts` (the newest when unset); invalid_argument
/// when it is outside 0..head or batch_size is outside 1..1,000,000.
result<int> migration_target(const migrate_options& opts, int head);

/// The checksum recorded for `m` (of its up script).
std::string migration_checksum(const embedded_migration& m);

/// Brings the database to the target of `opts` through `hooks`: validates
/// the options, prepares, refuses a newer database or an edited migration,
/// parses every script it will run (an unknown directive fails before any
/// change), applies the pending migrations up (or reverts down, newest
/// first), then finishes.
result<migrate_report> run_migrations(std::span<const embedded_migration> all, migration_hooks& hooks,
                                      const migrate_options& opts);

}  // namespace kauri_quota::detail
