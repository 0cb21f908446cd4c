// Parsing storage URLs (internal): which backend, and what it is given.
// Pure, so that it can be tested and fuzzed without opening anything.
#pragma once

#include <kauri_quota/result.hpp>

#include <string>
#include <string_view>

namespace kauri_quota::detail {

struct storage_url {
  enum class kind { sqlite, postgresql };
  kind backend = kind::sqlite;
  /// SQLite: the path (":memory:" for a private in-memory database);
  /// PostgreSQL: the libpq connection string, unchanged.
  std::string target;
};

/// `sqlite:PATH`, `sqlite://PATH`, `sqlite::memory:`, `postgresql://...`,
/// `postgres://...` or a libpq keyword string; invalid_argument otherwise.
result<storage_url> parse_storage_url(std::string_view url);

}  // namespace kauri_quota::detail
