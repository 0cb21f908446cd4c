// Retention on PostgreSQL: the day rows before a month boundary, their
// audit rows and their settled reservations, deleted one short transaction (one statement) per batch, so
// that the row locks a batch takes are held for one statement only.
#include "core/sql_support.hpp"
#include "postgres/backend.hpp"
#include "postgres/sql.hpp"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>

namespace kauri_quota::detail::postgres {

result<prune_report> postgres_storage::prune_usage(const prune_request& req) {
  prune_report report;
  const std::string before = format_db_date(req.before);
  const std::string before_start = format_db_time(req.before_start);
  // Rows added after this read belong to days still in use (the service
  // refuses a `before` in a month that may still be written), so the
  // window walk can stop at the newest id of now.
  auto range = run_ready<std::pair<std::int64_t, std::int64_t>>(
      true, [&](connection& c) -> attempt<std::pair<std::int64_t, std::int64_t>> {
        auto r = c.exec("kq_audit_id_range", sql_audit_id_range, {});
        if (auto* f = std::get_if<failure>(&r)) return std::move(*f);
        const rows& rs = std::get<rows>(r);
        const auto first = rs.opt_i64(0, 0);
        if (!first) return std::pair<std::int64_t, std::int64_t>{0, -1};
        return std::pair<std::int64_t, std::int64_t>{*first, rs.i64(0, 1)};
      });
  if (!range) return range.error();
  // Audit rows first: a day row outlives its audit rows only while a prune
  // runs, and never by more than the batches that remain. Each batch is
  // safe to repeat after a lost connection: deleting twice deletes nothing.
  for (std::int64_t next = range.value().first; next <= range.value().second; next += req.batch_size) {
    auto n = run_ready<std::int64_t>(true, [&](connection& c) -> attempt<std::int64_t> {
      auto r = c.exec("kq_prune_audit_window", sql_prune_audit_window,
                      {std::to_string(next), std::to_string(next + req.batch_size), before, before_start});
      if (auto* f = std::get_if<failure>(&r)) return std::move(*f);
      return std::get<rows>(r).affected();
    });
    if (!n) return n.error();
    report.audit_rows += n.value();
  }
  for (;;) {
    auto n = run_ready<std::int64_t>(true, [&](connection& c) -> attempt<std::int64_t> {
      auto r = c.exec("kq_prune_day_rows", sql_prune_day_rows, {before, std::to_string(req.batch_size)});
      if (auto* f = std::get_if<failure>(&r)) return std::move(*f);
      return std::get<rows>(r).affected();
    });
    if (!n) return n.error();
    report.day_rows += n.value();
    if (n.value() < req.batch_size) break;
  }
  // The settled reservations of the pruned days (the service settled the
  // expired ones first, and refuses a `before` whose month may still hold
  // an open one), by windows of heap pages holding about batch_size rows.
  // Pages added after this read hold reservations of days in use.
  auto pages = run_ready<std::int64_t>(true, [&](connection& c) -> attempt<std::int64_t> {
    auto r = c.exec("kq_reservation_pages", sql_reservation_pages, {});
    if (auto* f = std::get_if<failure>(&r)) return std::move(*f);
    return std::get<rows>(r).i64(0, 0);
  });
  if (!pages) return pages.error();
  constexpr std::int64_t reservations_per_page = 50;
  const std::int64_t window = std::max<std::int64_t>(1, req.batch_size / reservations_per_page);
  for (std::int64_t next = 0; next < pages.value(); next += window) {
    auto n = run_ready<std::int64_t>(true, [&](connection& c) -> attempt<std::int64_t> {
      auto r = c.exec("kq_prune_reservation_window", sql_prune_reservation_window,
                      {std::to_string(next), std::to_string(next + window), before});
      if (auto* f = std::get_if<failure>(&r)) return std::move(*f);
      return std::get<rows>(r).affected();
    });
    if (!n) return n.error();
    report.reservations += n.value();
  }
  return report;
}

}  // namespace kauri_quota::detail::postgres
