// Raw access to an SQLite file for the SQLite-specific tests: they inspect
// (and, to build a host database, prepare) what the library stores, with the
// plain SQLite C API rather than through the library.
#pragma once

#include <doctest/doctest.h>
#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace kauri_quota::testing {

/// One raw connection to a database file. Every failure fails the test.
class raw_sqlite {
 public:
  explicit raw_sqlite(const std::filesystem::path& file) {
    const int rc = sqlite3_open_v2(file.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr);
    if (rc != SQLITE_OK) {
      const std::string why = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
      sqlite3_close(db_);
      db_ = nullptr;
      FAIL("raw sqlite3_open_v2(" << file.string() << ") failed: " << why);
    }
    sqlite3_busy_timeout(db_, 10000);
  }
  raw_sqlite(const raw_sqlite&) = delete;
  raw_sqlite& operator=(const raw_sqlite&) = delete;
  ~raw_sqlite() { sqlite3_close(db_); }

  sqlite3* handle() const noexcept { return db_; }

  /// Runs one or more statements that return no rows.
  void exec(const std::string& sql) {
    char* msg = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &msg) != SQLITE_OK) {
      const std::string why = msg ? msg : "?";
      sqlite3_free(msg);
      FAIL("raw SQL failed: " << why << "\n  in: " << sql);
    }
  }

  /// Every row of a query, each column as text (NULL as nullopt).
  std::vector<std::vector<std::optional<std::string>>> rows(const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
      FAIL("raw SQL failed to prepare: " << sqlite3_errmsg(db_) << "\n  in: " << sql);
    }
    std::vector<std::vector<std::optional<std::string>>> out;
    int rc = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      std::vector<std::optional<std::string>> row;
      const int n = sqlite3_column_count(st);
      for (int i = 0; i < n; ++i) {
        if (sqlite3_column_type(st, i) == SQLITE_NULL) {
          row.emplace_back();
        } else {
          const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(st, i));
          row.emplace_back(std::string(text, static_cast<std::size_t>(sqlite3_column_bytes(st, i))));
        }
      }
      out.push_back(std::move(row));
    }
    const std::string why = sqlite3_errmsg(db_);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) FAIL("raw SQL failed: " << why << "\n  in: " << sql);
    return out;
  }

  /// The first column of the first row, as text.
  std::optional<std::string> text(const std::string& sql) {
    const auto r = rows(sql);
    if (r.empty() || r.front().empty()) FAIL("raw SQL returned no row: " << sql);
    return r.front().front();
  }

  std::int64_t integer(const std::string& sql) {
    const auto t = text(sql);
    if (!t) FAIL("raw SQL returned NULL: " << sql);
    return std::stoll(*t);
  }

  /// Names of the schema objects of one type ("table", "index").
  std::set<std::string> names(std::string_view type) {
    std::set<std::string> out;
    for (const auto& r : rows("SELECT name FROM sqlite_master WHERE type = '" + std::string(type) + "'")) {
      if (r.front()) out.insert(*r.front());
    }
    return out;
  }

  std::set<std::string> columns(const std::string& table) {
    std::set<std::string> out;
    for (const auto& r : rows("SELECT name FROM pragma_table_info('" + table + "')")) {
      if (r.front()) out.insert(*r.front());
    }
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

}  // namespace kauri_quota::testing
