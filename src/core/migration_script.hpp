// Splitting migration files into statements and parsing their directives
// (internal), for the migration runner and the backends' hooks.
#pragma once

#include <kauri_quota/result.hpp>

#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace kauri_quota::detail {

/// A statement with no directive: run in the migration's transaction.
struct plain_statement {};
/// "-- kq:backfill TABLE [CONDITION]": run the statement repeatedly, one
/// batch ($1 on PostgreSQL, :batch on SQLite, rows) per short transaction,
/// until it changes nothing. `condition` selects the rows still to do, for
/// the progress count; empty means every row.
struct backfill_directive {
  std::string table;
  std::string condition;
};
/// "-- kq:batches-by-id TABLE": run the statement once per id range
/// ($1 < id <= $2), each in its own transaction.
struct batches_by_id_directive {
  std::string table;
};
/// "-- kq:commit": commit before this statement and start a new transaction.
struct commit_directive {};
/// "-- kq:no-transaction": run this statement outside any transaction
/// (CREATE INDEX CONCURRENTLY).
struct no_transaction_directive {};

using script_directive = std::variant<plain_statement, backfill_directive, batches_by_id_directive, commit_directive,
                                      no_transaction_directive>;

/// The text after "-- kq:" as a directive; migration_failed naming the text
/// when it is not one of the directives above (a misspelt directive must not
/// run its statement as plain SQL).
result<script_directive> parse_directive(std::string_view text);

/// One statement of a migration file and the directive in the comment line
/// just before it, if any.
struct script_statement {
  std::string text;
  script_directive directive;
};

/// Splits at semicolons outside quotes ('...', "..."), dollar quotes
/// ($tag$...$tag$) and comments (-- and /* */). Empty statements are dropped.
/// migration_failed when a "-- kq:" comment is not a known directive or
/// stands inside a statement instead of before one.
result<std::vector<script_statement>> split_script(std::string_view sql);

/// "ALTER TABLE t ADD COLUMN c ..." → true with table and column set.
bool parse_add_column(std::string_view stmt, std::string& table, std::string& column);

}  // namespace kauri_quota::detail
