// The repeatable function set of the PostgreSQL backend (internal): the
// server-side functions of schema/postgres/functions/, embedded in the
// library, installed by migrate() after the migrations and checked once per
// storage before the first operation.
//
// kauri_quota_function_set (migration 0009) records the installed set: its
// version, the hash of its text, the names of its functions and the hash
// of what the catalog held for them just after installing (live hash). A
// storage compares that record with the embedded set and with the catalog:
//   current  same version and text, catalog unchanged: run
//   newer    a newer library installed a newer version: run (a newer set
//            stays compatible with the previous release's calls)
//   stale    an older version: refuse; same version, other text: run
//   missing  no record, or recorded functions gone: refuse
//   altered  the catalog no longer matches the live hash: refuse
// and migrate() reinstalls the set unless a newer one is recorded.
#pragma once

#include "postgres/backend.hpp"

#include <kauri_quota/storage.hpp>

#include <optional>
#include <string>
#include <vector>

namespace kauri_quota::detail::postgres {

/// The version of the embedded set. Bump it whenever the calls change (a
/// function, a parameter or an outcome column is added): a library refuses
/// an older version. The 0.1.0 functions of migration 0008 are version 1;
/// version 2 raises the facts of each KQ error in DETAIL and HINT; version
/// 3 adds p_shadow to kauri_quota_consume (the 15-parameter call stays);
/// version 4 the subscription lifecycle: the user's own day, KQ008 for a
/// due transition and p_grace on consume, record, settle and load, whose
/// version-3 calls stay as wrappers deciding with 0.1.0's lapsed rule;
/// version 5 resets all users by chunks (kauri_quota_reset_next).
inline constexpr int function_set_version = 5;

/// A function set: its version and its files (name, SQL), in install order.
struct function_set {
  int version = 0;
  std::vector<std::pair<std::string, std::string>> files;
};

/// The set embedded from schema/postgres/functions/.
const function_set& embedded_function_set();

/// The hash recorded for a set's text.
std::string function_set_hash(const function_set& set);

/// The names of the functions a set creates ("CREATE OR REPLACE FUNCTION
/// name(" in its files), sorted, without duplicates.
std::vector<std::string> function_names(const function_set& set);

/// How the database's functions compare with `ours` (see the header).
attempt<function_set_info> read_function_state(pq::connection& c, const function_set& ours);

/// schema_mismatch, saying what differs and to run `kauri-quota migrate`,
/// for the states a library must not run on; nullopt for the others.
std::optional<error> function_state_error(const function_set_info& info);

/// Installs `set` in one transaction holding the migration lock, unless the
/// record shows a newer version or this very set, unaltered. DROPs the
/// functions of the recorded set that `set` no longer has, CREATE OR
/// REPLACEs the others and writes the record. Returns whether it installed.
attempt<bool> install_function_set(pq::connection& c, const function_set& set);

}  // namespace kauri_quota::detail::postgres
