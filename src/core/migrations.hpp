// Migrations embedded from schema/<backend>/ at build time (internal).
#pragma once

#include <span>

namespace kauri_quota::detail {

struct embedded_migration {
  int version;
  const char* name;
  const char* up;
  const char* down;
};

/// One file of a repeatable function set (schema/<backend>/functions/).
struct embedded_function_file {
  const char* name;
  const char* sql;
};

/// In ascending version order, numbered 1..N without gaps.
std::span<const embedded_migration> sqlite_migrations() noexcept;
std::span<const embedded_migration> postgres_migrations() noexcept;

/// The PostgreSQL function set, in file name order.
std::span<const embedded_function_file> postgres_functions() noexcept;

}  // namespace kauri_quota::detail
