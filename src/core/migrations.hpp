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

/// In ascending version order, numbered 1..N without gaps.
std::span<const embedded_migration> sqlite_migrations() noexcept;
std::span<const embedded_migration> postgres_migrations() noexcept;

}  // namespace kauri_quota::detail
