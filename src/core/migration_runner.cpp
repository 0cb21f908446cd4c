#include "core/migration_runner.hpp"

#include "core/sql_support.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace kauri_quota::detail {

std::optional<error> version_error(int v, int head) {
  if (v == head) return std::nullopt;
  if (v > head)
    return make_error(errc::schema_mismatch,
                      fmt::format("database schema is at version {}, newer than this library knows ({}); "
                                  "upgrade kauri_quota",
                                  v, head));
  return make_error(errc::schema_mismatch,
                    fmt::format("database schema is at version {} but version {} is needed; run `kauri-quota "
                                "migrate` (or storage::migrate) first",
                                v, head));
}

std::vector<migration_info> list_migrations(std::span<const embedded_migration> all,
                                            const std::vector<applied_migration>& applied) {
  std::vector<migration_info> out;
  for (const auto& m : all) out.push_back({m.version, m.name, std::nullopt});
  for (const auto& a : applied) {
    auto it = std::find_if(out.begin(), out.end(), [&](const migration_info& m) { return m.version == a.version; });
    if (it == out.end())
      out.push_back({a.version, a.name, a.applied_at});
    else
      it->applied_at = a.applied_at;
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.version < b.version; });
  return out;
}

std::string migration_checksum(const embedded_migration& m) { return checksum_hex(m.up); }

std::optional<error> checksum_error(std::span<const embedded_migration> all,
                                    const std::vector<applied_migration>& applied) {
  for (const auto& a : applied) {
    if (a.version < 1 || a.version > static_cast<int>(all.size())) continue;
    const embedded_migration& m = all[static_cast<std::size_t>(a.version - 1)];
    const std::string expected = migration_checksum(m);
    if (a.checksum == expected) continue;
    return make_error(errc::migration_failed,
                      fmt::format("migration {:04d} {} was applied with checksum {} but this library's copy has "
                                  "checksum {}: migrations are immutable once released, so one of the two was "
                                  "edited; restore the released file instead of changing an applied migration",
                                  m.version, m.name, a.checksum, expected));
  }
  return std::nullopt;
}

result<int> migration_target(const migrate_options& opts, int head) {
  const int target = opts.to.value_or(head);
  if (target < 0 || target > head)
    return make_error(errc::invalid_argument, fmt::format("migration target must be between 0 and {}", head));
  if (opts.batch_size < 1 || opts.batch_size > 1'000'000)
    return make_error(errc::invalid_argument, "batch_size must be between 1 and 1000000");
  return target;
}

namespace {

struct step {
  const embedded_migration* m;
  bool up;
  std::vector<script_statement> statements;
};

}  // namespace

result<migrate_report> run_migrations(std::span<const embedded_migration> all, migration_hooks& hooks,
                                      const migrate_options& opts) {
  const int head = static_cast<int>(all.size());
  BOOST_OUTCOME_TRY(target, migration_target(opts, head));
  migrate_report report;
  BOOST_OUTCOME_TRY(adopted, hooks.prepare());
  report.adopted = adopted;
  BOOST_OUTCOME_TRY(from, hooks.current_version());
  report.from_version = from;
  if (from > head) return *version_error(from, head);
  BOOST_OUTCOME_TRY(applied, hooks.applied());
  if (auto e = checksum_error(all, applied)) return *e;

  // Every script is parsed before the first one runs, so that a bad
  // directive fails with the database untouched.
  std::vector<step> steps;
  for (int v = from + 1; v <= target; ++v) steps.push_back({&all[static_cast<std::size_t>(v - 1)], true, {}});
  for (int v = from; v > target; --v) steps.push_back({&all[static_cast<std::size_t>(v - 1)], false, {}});
  for (auto& s : steps) {
    auto parsed = split_script(s.up ? s.m->up : s.m->down);
    if (!parsed)
      return make_error(errc::migration_failed, fmt::format("migration {:04d} {} ({}) cannot run: {}", s.m->version,
                                                            s.m->name, s.up ? "up" : "down", parsed.error().message));
    s.statements = std::move(parsed).value();
  }
  for (const auto& s : steps) {
    BOOST_OUTCOME_TRY(hooks.apply(*s.m, s.up, s.statements, opts));
    (s.up ? report.applied : report.reverted).push_back(s.m->version);
  }
  BOOST_OUTCOME_TRY(to, hooks.current_version());
  report.to_version = to;
  BOOST_OUTCOME_TRY(hooks.finish(report));
  return report;
}

}  // namespace kauri_quota::detail
