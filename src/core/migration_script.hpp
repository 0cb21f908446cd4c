// Splitting migration files into statements (internal), shared by the
// backends' migration runners.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace kauri_quota::detail {

/// One statement of a migration file. `directive` is the text after
/// "-- kq:" in a comment line before the statement, if any:
///   backfill TABLE CONDITION  run repeatedly, one batch ($1 / :batch rows)
///                             per short transaction, until nothing changes
///   batches-by-id TABLE       run once per id range ($1 < id <= $2)
///   commit                    commit before this statement, start anew
///   no-transaction            run outside any transaction
struct script_statement {
  std::string text;
  std::string directive;
};

/// Splits at semicolons outside quotes ('...', "..."), dollar quotes
/// ($tag$...$tag$) and comments (-- and /* */). Empty statements are dropped.
std::vector<script_statement> split_script(std::string_view sql);

/// "ALTER TABLE t ADD COLUMN c ..." → true with table and column set.
bool parse_add_column(std::string_view stmt, std::string& table, std::string& column);

}  // namespace kauri_quota::detail
