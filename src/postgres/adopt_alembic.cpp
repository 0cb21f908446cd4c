// Adoption of a database created by the original system's Alembic
// migrations (revision 64df4342ae35): its four tables are recorded as
// migrations 0001-0004 without touching a row.
#include "core/migration_runner.hpp"
#include "core/migrations.hpp"
#include "core/sql_support.hpp"
#include "core/validate.hpp"
#include "postgres/backend.hpp"

namespace kauri_quota::detail::postgres {

attempt<bool> adopt_alembic(pq::connection& c) {
  // A database created by the original system's Alembic migrations: record
  // 0001-0004 as applied without touching its rows.
  auto r = c.exec_simple(
      "SELECT to_regclass('alembic_version') IS NOT NULL,"
      " (SELECT count(*) FROM kauri_quota_migrations)");
  if (auto* f = std::get_if<failure>(&r)) return std::move(*f);
  if (!std::get<rows>(r).boolean(0, 0) || std::get<rows>(r).i64(0, 1) != 0) return false;
  auto v = c.exec_simple("SELECT version_num FROM alembic_version");
  if (auto* f = std::get_if<failure>(&v)) return std::move(*f);
  const rows& vr = std::get<rows>(v);
  const std::string head = vr.size() == 1 ? std::string(vr.text(0, 0)) : std::string();
  if (head != "64df4342ae35") {
    return as_failure(
        make_error(errc::schema_mismatch,
                   fmt::format("this database was created by Alembic and is at revision {}, not 64df4342ae35; "
                               "bring it to 64df4342ae35 with Alembic before adopting it",
                               detail::quote_for_message(head))));
  }
  auto t = c.exec_simple(
      "SELECT count(*) FROM unnest(ARRAY['users','subscription_tiers','user_usage','usage_logs']) AS t(name)"
      " WHERE to_regclass(t.name) IS NOT NULL");
  if (auto* f = std::get_if<failure>(&t)) return std::move(*f);
  if (std::get<rows>(t).i64(0, 0) != 4)
    return as_failure(make_error(errc::schema_mismatch,
                                 "alembic_version is at 64df4342ae35 but the four tables of the original schema "
                                 "are not all present"));
  const std::string now =
      format_db_time(std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now()));
  for (const auto& m : detail::postgres_migrations()) {
    if (m.version > 4) break;
    auto ins = c.exec_params(
        "INSERT INTO kauri_quota_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (version) DO NOTHING",
        {std::to_string(m.version), std::string(m.name) + " (adopted from Alembic)", migration_checksum(m), now});
    if (auto* f = std::get_if<failure>(&ins)) return std::move(*f);
  }
  return true;
}

}  // namespace kauri_quota::detail::postgres
