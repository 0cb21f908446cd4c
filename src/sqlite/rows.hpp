// Row decoding and parameter binding of the SQLite backend (internal).
// Two families: SQLiteCpp columns for most statements, and the C API for
// the state statement that runs on every request (see connection::raw).
#pragma once

#include <kauri_quota/types.hpp>

#include <SQLiteCpp/Column.h>
#include <SQLiteCpp/Statement.h>
#include <sqlite3.h>

#include <optional>
#include <string>
#include <string_view>

namespace kauri_quota::detail::sqlite {

limit column_limit(const SQLite::Column& c);
std::optional<std::string> column_text(const SQLite::Column& c);
std::optional<sys_time> column_time(const SQLite::Column& c);

/// The text of column `i` of a raw statement; valid until the next step.
std::string_view column_view(sqlite3_stmt* st, int i);
limit column_limit(sqlite3_stmt* st, int i);
std::optional<sys_time> column_time(sqlite3_stmt* st, int i);

/// Reads the tier columns starting at `first`; features only when asked
/// (decisions do not need them, and parsing them costs more than the rest).
tier read_tier(SQLite::Statement& s, int first, bool with_features = true);
/// The columns of sql_get_reservation / sql_expired_reservations.
reservation read_reservation(SQLite::Statement& s);
/// The columns of sql_subject, into `sub` (whose user is already set).
void read_subscription(SQLite::Statement& s, subscription& sub);
/// The columns of sql_get_payment / sql_user_payments.
payment read_payment(SQLite::Statement& s);

void bind_opt(SQLite::Statement& s, int i, const std::optional<std::string>& v);
void bind_limit(SQLite::Statement& s, int i, const limit& v);
void bind_i64(SQLite::Statement& s, int i, std::int64_t v);

}  // namespace kauri_quota::detail::sqlite
