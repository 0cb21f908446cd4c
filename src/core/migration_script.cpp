#include "core/migration_script.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

namespace kauri_quota::detail {
namespace {

bool blank(const std::string& s) { return s.find_first_not_of(" \t\r\n") == std::string::npos; }

/// The words of `s` in upper case, split at anything not a letter, digit or '_'.
std::vector<std::string> upper_words(std::string_view s) {
  std::vector<std::string> out;
  std::string w;
  for (char ch : s) {
    if (std::isalnum(static_cast<unsigned char>(ch)) || ch == '_') {
      w.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(ch))));
    } else if (!w.empty()) {
      out.push_back(std::move(w));
      w.clear();
    }
  }
  if (!w.empty()) out.push_back(std::move(w));
  return out;
}

/// True while `text` is an SQLite CREATE TRIGGER whose BEGIN ... END body
/// is still open: its semicolons end the body's statements, not the
/// trigger. (A PostgreSQL CREATE TRIGGER has no BEGIN and ends at its
/// first semicolon as usual.)
bool inside_trigger_body(const std::string& text) {
  const auto w = upper_words(text);
  std::size_t k = 0;
  if (w.size() < 3 || w[k++] != "CREATE") return false;
  if (w[k] == "TEMP" || w[k] == "TEMPORARY") ++k;
  if (w[k] != "TRIGGER") return false;
  const bool has_begin = std::find(w.begin() + static_cast<std::ptrdiff_t>(k), w.end(), "BEGIN") != w.end();
  return has_begin && w.back() != "END";
}

/// The dollar-quote tag starting at s[i] ("$kq$", "$$"), or empty.
std::string_view dollar_tag(std::string_view s, std::size_t i) {
  if (s[i] != '$') return {};
  std::size_t j = i + 1;
  while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
  if (j < s.size() && s[j] == '$') {
    // "$1" is a parameter, not a tag.
    if (j > i + 1 && std::isdigit(static_cast<unsigned char>(s[i + 1]))) return {};
    return s.substr(i, j - i + 1);
  }
  return {};
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

/// The first word of `s` and the rest, both trimmed.
std::pair<std::string_view, std::string_view> first_word(std::string_view s) {
  s = trim(s);
  std::size_t i = 0;
  while (i < s.size() && !std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return {s.substr(0, i), trim(s.substr(i))};
}

error bad_directive(std::string_view text, std::string_view why) {
  return make_error(errc::migration_failed, fmt::format("directive `-- kq:{}` {}", trim(text), why));
}

}  // namespace

result<script_directive> parse_directive(std::string_view text) {
  const auto [word, rest] = first_word(text);
  if (word == "backfill") {
    const auto [table, condition] = first_word(rest);
    if (table.empty()) return bad_directive(text, "names no table (want `backfill TABLE [CONDITION]`)");
    return script_directive{backfill_directive{std::string(table), std::string(condition)}};
  }
  if (word == "batches-by-id") {
    const auto [table, extra] = first_word(rest);
    if (table.empty() || !extra.empty()) return bad_directive(text, "wants exactly one table (`batches-by-id TABLE`)");
    return script_directive{batches_by_id_directive{std::string(table)}};
  }
  if (word == "commit" || word == "no-transaction") {
    if (!rest.empty()) return bad_directive(text, "takes no argument");
    if (word == "commit") return script_directive{commit_directive{}};
    return script_directive{no_transaction_directive{}};
  }
  return bad_directive(text,
                       "is not a known directive (backfill, batches-by-id, commit, no-transaction); a misspelt "
                       "directive would run its statement as plain SQL");
}

result<std::vector<script_statement>> split_script(std::string_view sql) {
  std::vector<script_statement> out;
  script_statement cur;
  std::size_t i = 0;
  while (i < sql.size()) {
    const char c = sql[i];
    if (c == '-' && i + 1 < sql.size() && sql[i + 1] == '-') {
      std::size_t end = sql.find('\n', i);
      if (end == std::string_view::npos) end = sql.size();
      std::string_view comment = sql.substr(i + 2, end - i - 2);
      while (!comment.empty() && comment.front() == ' ') comment.remove_prefix(1);
      if (comment.substr(0, 3) == "kq:") {
        if (!blank(cur.text))
          return bad_directive(comment.substr(3), "stands inside a statement; put it on the line before one");
        BOOST_OUTCOME_TRY(d, parse_directive(comment.substr(3)));
        cur.directive = std::move(d);
      }
      i = end;
      continue;
    }
    if (c == '/' && i + 1 < sql.size() && sql[i + 1] == '*') {
      const std::size_t end = sql.find("*/", i + 2);
      i = end == std::string_view::npos ? sql.size() : end + 2;
      continue;
    }
    if (c == '\'' || c == '"') {
      std::size_t j = i + 1;
      while (j < sql.size()) {
        if (sql[j] == c) {
          if (j + 1 < sql.size() && sql[j + 1] == c) {
            j += 2;
            continue;
          }
          break;
        }
        ++j;
      }
      const std::size_t end = j < sql.size() ? j + 1 : sql.size();
      cur.text.append(sql.substr(i, end - i));
      i = end;
      continue;
    }
    if (c == '$') {
      if (auto tag = dollar_tag(sql, i); !tag.empty()) {
        const std::size_t close = sql.find(tag, i + tag.size());
        const std::size_t end = close == std::string_view::npos ? sql.size() : close + tag.size();
        cur.text.append(sql.substr(i, end - i));
        i = end;
        continue;
      }
    }
    if (c == ';') {
      if (inside_trigger_body(cur.text)) {
        cur.text.push_back(c);
        ++i;
        continue;
      }
      if (!blank(cur.text)) out.push_back(std::move(cur));
      cur = {};
      ++i;
      continue;
    }
    cur.text.push_back(c);
    ++i;
  }
  if (!blank(cur.text)) out.push_back(std::move(cur));
  return out;
}

bool parse_add_column(std::string_view stmt, std::string& table, std::string& column) {
  std::vector<std::string> words;
  std::size_t i = 0;
  while (words.size() < 6 && i < stmt.size()) {
    while (i < stmt.size() && std::isspace(static_cast<unsigned char>(stmt[i]))) ++i;
    std::size_t j = i;
    while (j < stmt.size() && !std::isspace(static_cast<unsigned char>(stmt[j]))) ++j;
    if (j > i) words.emplace_back(stmt.substr(i, j - i));
    i = j;
  }
  auto is = [&](std::size_t k, std::string_view w) {
    if (words[k].size() != w.size()) return false;
    for (std::size_t n = 0; n < w.size(); ++n)
      if (std::toupper(static_cast<unsigned char>(words[k][n])) != w[n]) return false;
    return true;
  };
  if (words.size() == 6 && is(0, "ALTER") && is(1, "TABLE") && is(3, "ADD") && is(4, "COLUMN")) {
    table = words[2];
    column = words[5];
    return true;
  }
  return false;
}

}  // namespace kauri_quota::detail
