// Retention on SQLite: the day rows before a month boundary, their audit
// rows and their settled reservations, deleted in short BEGIN IMMEDIATE transactions so that no
// writer waits on the prune longer than one batch.
#include "core/sql_support.hpp"
#include "sqlite/backend.hpp"
#include "sqlite/sql.hpp"

#include <optional>

namespace kauri_quota::detail::sqlite {
namespace {

void checkpoint(connection& c) {
  auto& s = c.stmt(sql_passive_checkpoint);
  s.executeStep();
  s.reset();
}

}  // namespace

result<prune_report> sqlite_storage::prune_usage(const prune_request& req) {
  // The report and the next window live outside the attempt: batches
  // already committed stay counted and are not visited again when a later
  // one is retried after a busy timeout.
  prune_report report;
  std::optional<std::int64_t> next_id;
  std::optional<std::int64_t> last_id;
  std::optional<std::int64_t> next_reservation;
  std::optional<std::int64_t> last_reservation;
  const std::string before = format_db_date(req.before);
  const std::string before_start = format_db_time(req.before_start);
  return run_ready([&](connection& c) -> result<prune_report> {
    if (!last_id) {
      // Rows added after this read belong to days still in use (the
      // service refuses a `before` in a month that may still be written),
      // so the window walk can stop at the newest id of now.
      auto& range = c.stmt(sql_audit_id_range);
      range.executeStep();
      const bool empty = range.getColumn(0).isNull();
      const std::int64_t first = empty ? 0 : range.getColumn(0).getInt64();
      last_id = empty ? -1 : range.getColumn(1).getInt64();
      range.reset();
      next_id = first;
    }
    // Audit rows first: a day row outlives its audit rows only while a
    // prune runs, and never by more than the batches that remain.
    while (*next_id <= *last_id) {
      const std::int64_t end = *next_id + req.batch_size;
      txn tx(c, true);
      auto& s = c.stmt(sql_prune_audit_window);
      s.bind(1, *next_id);
      s.bind(2, end);
      s.bind(3, before);
      s.bind(4, before_start);
      const int n = s.exec();
      s.reset();
      tx.commit();
      report.audit_rows += n;
      next_id = end;
      if (n > 0) checkpoint(c);
    }
    for (;;) {
      txn tx(c, true);
      auto& s = c.stmt(sql_prune_day_rows);
      s.bind(1, before);
      s.bind(2, req.batch_size);
      const int n = s.exec();
      s.reset();
      tx.commit();
      report.day_rows += n;
      if (n > 0) checkpoint(c);
      if (n < req.batch_size) break;
    }
    // The settled reservations of the pruned days (the service settled the
    // expired ones first, and refuses a `before` whose month may still hold
    // an open one), by rowid windows as the audit rows.
    if (!last_reservation) {
      auto& range = c.stmt(sql_reservation_rowid_range);
      range.executeStep();
      const bool empty = range.getColumn(0).isNull();
      next_reservation = empty ? 0 : range.getColumn(0).getInt64();
      last_reservation = empty ? -1 : range.getColumn(1).getInt64();
      range.reset();
    }
    while (*next_reservation <= *last_reservation) {
      const std::int64_t end = *next_reservation + req.batch_size;
      txn tx(c, true);
      auto& s = c.stmt(sql_prune_reservation_window);
      s.bind(1, *next_reservation);
      s.bind(2, end);
      s.bind(3, before);
      const int n = s.exec();
      s.reset();
      tx.commit();
      report.reservations += n;
      next_reservation = end;
      if (n > 0) checkpoint(c);
    }
    return report;
  });
}

}  // namespace kauri_quota::detail::sqlite
