#include "postgres/function_set.hpp"

#include "core/migrations.hpp"
#include "core/sql_support.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace kauri_quota::detail::postgres {
namespace {

// The catalog's definition of the named functions of the current schema,
// hashed in a stable order, and the names that have no function.
constexpr const char* sql_function_set_exists = "SELECT to_regclass('kauri_quota_function_set') IS NOT NULL";
constexpr const char* sql_function_set_state =
    "SELECT s.version, s.hash, s.live_hash,"
    " (SELECT md5(COALESCE(string_agg(pg_get_functiondef(p.oid), E'\\n' ORDER BY p.oid::regprocedure::text), ''))"
    "    FROM pg_proc p WHERE p.pronamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())"
    "     AND p.proname = ANY (s.functions)),"
    " array_to_string(ARRAY(SELECT n FROM unnest(s.functions) AS n WHERE NOT EXISTS (SELECT 1 FROM pg_proc p"
    "    WHERE p.pronamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema()) AND p.proname = n)"
    "    ORDER BY n), ', '),"
    " s.functions::text, to_char(s.installed_at, 'YYYY-MM-DD HH24:MI:SS')"
    " FROM kauri_quota_function_set s WHERE s.id = 1";
constexpr const char* sql_live_hash =
    "SELECT md5(COALESCE(string_agg(pg_get_functiondef(p.oid), E'\\n' ORDER BY p.oid::regprocedure::text), ''))"
    " FROM pg_proc p WHERE p.pronamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())"
    " AND p.proname = ANY ($1::text[])";
constexpr const char* sql_record_function_set =
    "INSERT INTO kauri_quota_function_set (id, version, hash, functions, live_hash, installed_at)"
    " VALUES (1, $1, $2, $3::text[], $4, $5) ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version,"
    " hash = EXCLUDED.hash, functions = EXCLUDED.functions, live_hash = EXCLUDED.live_hash,"
    " installed_at = EXCLUDED.installed_at";

/// '{a,b}': the names are identifiers, so they need no quoting.
std::string array_literal(const std::vector<std::string>& names) {
  std::string out = "{";
  for (std::size_t i = 0; i < names.size(); ++i) out += (i ? "," : "") + names[i];
  return out + "}";
}

/// The names of a recorded text[] ('{a,b}').
std::vector<std::string> parse_array(std::string_view text) {
  std::vector<std::string> out;
  if (text.size() < 2) return out;
  text = text.substr(1, text.size() - 2);
  while (!text.empty()) {
    const auto comma = text.find(',');
    out.emplace_back(text.substr(0, comma));
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

}  // namespace

const function_set& embedded_function_set() {
  static const function_set set = [] {
    function_set s;
    s.version = function_set_version;
    for (const auto& f : postgres_functions()) s.files.emplace_back(f.name, f.sql);
    return s;
  }();
  return set;
}

std::string function_set_hash(const function_set& set) {
  std::string all;
  for (const auto& [name, sql] : set.files) {
    all += name;
    all += '\n';
    all += sql;
    all += '\n';
  }
  return checksum_hex(all);
}

std::vector<std::string> function_names(const function_set& set) {
  static constexpr std::string_view create = "CREATE OR REPLACE FUNCTION ";
  std::vector<std::string> out;
  for (const auto& [name, sql] : set.files) {
    for (auto at = sql.find(create); at != std::string::npos; at = sql.find(create, at + 1)) {
      std::size_t i = at + create.size();
      std::size_t j = i;
      while (j < sql.size() && (std::isalnum(static_cast<unsigned char>(sql[j])) || sql[j] == '_')) ++j;
      if (j > i) out.push_back(sql.substr(i, j - i));
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

attempt<function_set_info> read_function_state(pq::connection& c, const function_set& ours) {
  function_set_info info;
  info.library_version = ours.version;
  auto e = c.exec("kq_function_set_exists", sql_function_set_exists, {});
  if (auto* f = std::get_if<failure>(&e)) return std::move(*f);
  if (!std::get<rows>(e).boolean(0, 0)) {
    info.state = function_state::missing;
    info.detail = "the database has no kauri_quota_function_set table (its schema is older than version 0009)";
    return info;
  }
  auto r = c.exec("kq_function_set_state", sql_function_set_state, {});
  if (auto* f = std::get_if<failure>(&r)) return std::move(*f);
  const rows& rs = std::get<rows>(r);
  if (rs.size() == 0) {
    info.state = function_state::missing;
    info.detail =
        "no function set is recorded (a database migrated by kauri_quota 0.1.0 still has the functions of "
        "migration 0008)";
    return info;
  }
  const int version = static_cast<int>(rs.i64(0, 0));
  info.installed_version = version;
  const std::string_view gone = rs.text(0, 4);
  if (!gone.empty()) {
    info.state = function_state::missing;
    info.detail = fmt::format("functions of the installed set (version {}) are gone: {}", version, gone);
    return info;
  }
  if (rs.text(0, 3) != rs.text(0, 2)) {
    info.state = function_state::altered;
    info.detail = fmt::format(
        "a function of the installed set (version {}) was changed by hand since it was installed at {}: the "
        "catalog's definitions no longer match the ones recorded",
        version, rs.text(0, 6));
    return info;
  }
  if (version > ours.version) {
    info.state = function_state::newer;
    info.detail = fmt::format("version {} is installed, newer than this library's version {}", version, ours.version);
  } else if (version < ours.version) {
    info.state = function_state::stale;
    info.detail = fmt::format("version {} is installed but this library needs version {}", version, ours.version);
  } else if (rs.text(0, 1) != function_set_hash(ours)) {
    info.state = function_state::stale;
    info.detail = fmt::format("version {} is installed with other text than this library's (hash {}, not {})", version,
                              rs.text(0, 1), function_set_hash(ours));
  } else {
    info.state = function_state::current;
  }
  return info;
}

std::optional<error> function_state_error(const function_set_info& info) {
  const bool refuse =
      info.state == function_state::missing || info.state == function_state::altered ||
      (info.state == function_state::stale && info.installed_version && *info.installed_version < info.library_version);
  if (!refuse) return std::nullopt;
  return make_error(errc::schema_mismatch, fmt::format("the server's kauri_quota functions are {}: {}; run "
                                                       "`kauri-quota migrate` (or storage::migrate) to reinstall them",
                                                       to_string(info.state), info.detail));
}

attempt<bool> install_function_set(pq::connection& c, const function_set& set) {
  auto fail = [&](const std::variant<rows, failure>& r) -> std::optional<failure> {
    const auto* f = std::get_if<failure>(&r);
    if (!f) return std::nullopt;
    (void)c.exec_simple("ROLLBACK");
    return *f;
  };
  // Function bodies are checked when called, not when created, so that
  // the files may be installed in any order.
  if (auto f = fail(c.exec_simple("BEGIN; SELECT pg_advisory_xact_lock(7419730113); "
                                  "SET LOCAL check_function_bodies = off")))
    return std::move(*f);
  auto state = read_function_state(c, set);
  if (auto* f = std::get_if<failure>(&state)) {
    (void)c.exec_simple("ROLLBACK");
    return std::move(*f);
  }
  const function_set_info& info = std::get<function_set_info>(state);
  if (info.state == function_state::newer || info.state == function_state::current) {
    if (auto f = fail(c.exec_simple("COMMIT"))) return std::move(*f);
    return false;
  }
  const std::vector<std::string> names = function_names(set);
  if (info.installed_version) {
    auto old = c.exec("kq_function_set_names", "SELECT functions::text FROM kauri_quota_function_set WHERE id = 1", {});
    if (auto f = fail(old)) return std::move(*f);
    for (const auto& n : parse_array(std::get<rows>(old).text(0, 0))) {
      if (std::binary_search(names.begin(), names.end(), n)) continue;
      if (auto f = fail(c.exec_simple(fmt::format("DROP FUNCTION IF EXISTS {}", n)))) return std::move(*f);
    }
  }
  for (const auto& [name, sql] : set.files) {
    if (auto f = fail(c.exec_simple(sql))) {
      f->err.message = fmt::format("installing {}: {}", name, f->err.message);
      return std::move(*f);
    }
  }
  auto live = c.exec_params(sql_live_hash, {array_literal(names)});
  if (auto f = fail(live)) return std::move(*f);
  const std::string now =
      format_db_time(std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now()));
  if (auto f = fail(c.exec_params(sql_record_function_set,
                                  {std::to_string(set.version), function_set_hash(set), array_literal(names),
                                   std::string(std::get<rows>(live).text(0, 0)), now})))
    return std::move(*f);
  if (auto f = fail(c.exec_simple("COMMIT"))) return std::move(*f);
  return true;
}

}  // namespace kauri_quota::detail::postgres
