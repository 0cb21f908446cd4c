// Retention on SQLite: the day rows before a month boundary, their audit
// rows and their settled reservations, deleted in short BEGIN IMMEDIATE transactions so that no
// writer waits on the prune longer than one batch.
#include "core/sql_support.hpp"
#include "sqlite/backend.hpp"
#include "sqlite/sql.hpp"

#include <cstdint>
#include <optional>

namespace kauri_quota::detail::sqlite {
namespace {

void checkpoint(connection& c) {
  auto& s = c.stmt(sql_passive_checkpoint);
  s.executeStep();
  s.reset();
}

/// Where a walk over a table's ids by windows stands: kept outside the
/// attempt, so that windows already committed are not visited again when a
/// later one is retried after a busy timeout.
struct id_windows {
  std::optional<std::int64_t> next;
  std::optional<std::int64_t> last;
};

/// Deletes by windows of `width` ids with `window_sql` (?1 <= id < ?2, and
/// from ?3 what `bind_rest` binds), each window its own short transaction
/// followed by a passive checkpoint when it deleted something. The ids run
/// from the MIN to the MAX that `range_sql` reads on the first call: rows
/// added after that read belong to days still in use (the service refuses
/// a `before` in a month that may still be written). Adds what it deletes
/// to `deleted`.
template <class BindRest>
void delete_by_windows(connection& c, id_windows& w, const char* range_sql, const char* window_sql, std::int64_t width,
                       BindRest&& bind_rest, std::int64_t& deleted) {
  if (!w.last) {
    auto& range = c.stmt(range_sql);
    range.executeStep();
    const bool empty = range.getColumn(0).isNull();
    w.next = empty ? 0 : range.getColumn(0).getInt64();
    w.last = empty ? -1 : range.getColumn(1).getInt64();
    range.reset();
  }
  while (*w.next <= *w.last) {
    const std::int64_t end = *w.next + width;
    txn tx(c, true);
    auto& s = c.stmt(window_sql);
    s.bind(1, *w.next);
    s.bind(2, end);
    bind_rest(s);
    const int n = s.exec();
    s.reset();
    tx.commit();
    deleted += n;
    w.next = end;
    if (n > 0) checkpoint(c);
  }
}

}  // namespace

result<prune_report> sqlite_storage::prune_usage(const prune_request& req) {
  // The report and the walks live outside the attempt (see id_windows).
  prune_report report;
  id_windows audit;
  id_windows reservations;
  const std::string before = format_db_date(req.before);
  const std::string before_start = format_db_time(req.before_start);
  return run_ready([&](connection& c) -> result<prune_report> {
    // Audit rows first: a day row outlives its audit rows only while a
    // prune runs, and never by more than the batches that remain.
    delete_by_windows(
        c, audit, sql_audit_id_range, sql_prune_audit_window, req.batch_size,
        [&](SQLite::Statement& s) {
          s.bind(3, before);
          s.bind(4, before_start);
        },
        report.audit_rows);
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
    delete_by_windows(
        c, reservations, sql_reservation_rowid_range, sql_prune_reservation_window, req.batch_size,
        [&](SQLite::Statement& s) { s.bind(3, before); }, report.reservations);
    return report;
  });
}

}  // namespace kauri_quota::detail::sqlite
