// The row-level reads and writes that the SQLite operations are made of;
// each runs inside the caller's transaction on the caller's connection.
#include "core/error_text.hpp"
#include "core/json_writer.hpp"
#include "core/lifecycle.hpp"
#include "core/period.hpp"
#include "core/policy.hpp"
#include "core/sql_support.hpp"
#include "core/validate.hpp"
#include "sqlite/backend.hpp"
#include "sqlite/rows.hpp"
#include "sqlite/sql.hpp"

namespace kauri_quota::detail::sqlite {

// twin: schema/postgres/functions/state.sql kauri_quota_complete
result<void> sqlite_storage::apply_default_tier(connection& c, usage_snapshot& snap, bool tier_found, sys_time,
                                                const tier_id& default_tier) {
  if (tier_found && !detail::default_tier_applies(snap.sub)) return ok();
  auto& d = c.stmt(sql_get_tier);
  d.bind(1, default_tier.str());
  if (!d.executeStep()) return error_text::missing_default_tier(default_tier.str());
  snap.applied = read_tier(d, 0, false);
  d.reset();
  return ok();
}

// twin: schema/postgres/functions/state.sql kauri_quota_load
result<usage_snapshot> sqlite_storage::load_state(connection& c, const user_id& user, local_date day, sys_time now,
                                                  const tier_id& default_tier, bool* day_row_exists) {
  usage_snapshot snap;
  const local_date first = detail::first_of_month(day);
  const std::string month_start = format_db_date(first);
  const std::string month_end = format_db_date(first + std::chrono::months{1});
  const std::string day_s = format_db_date(day);
  sqlite3_stmt* st = c.raw(sql_state);
  sqlite3_bind_text(st, 1, user.str().data(), static_cast<int>(user.str().size()), SQLITE_STATIC);
  sqlite3_bind_text(st, 2, month_start.data(), static_cast<int>(month_start.size()), SQLITE_STATIC);
  sqlite3_bind_text(st, 3, month_end.data(), static_cast<int>(month_end.size()), SQLITE_STATIC);
  sqlite3_bind_text(st, 4, day_s.data(), static_cast<int>(day_s.size()), SQLITE_STATIC);
  if (!step(c.handle(), st)) {
    sqlite3_reset(st);
    return error_text::unknown_user(user.str());
  }
  snap.sub.user = user;
  snap.sub.tier = tier_id{std::string(column_view(st, 0))};
  snap.sub.status = parse_subscription_status(column_view(st, 1)).value_or(subscription_status::active);
  snap.sub.end_date = column_time(st, 2);
  snap.sub.trial_end_date = column_time(st, 3);
  const bool tier_found = sqlite3_column_type(st, 4) != SQLITE_NULL;
  if (tier_found) {
    snap.applied.id = tier_id{std::string(column_view(st, 4))};
    snap.applied.name = std::string(column_view(st, 5));
    snap.applied.name_fr = std::string(column_view(st, 6));
    snap.applied.messages_per_day = column_limit(st, 7);
    snap.applied.messages_per_month = column_limit(st, 8);
    snap.applied.tokens_per_month = column_limit(st, 9);
  }
  snap.counters.user = user;
  snap.counters.usage_date = day;
  snap.counters.messages_this_month = sqlite3_column_int64(st, 10);
  snap.counters.tokens_this_month = sqlite3_column_int64(st, 11);
  const bool day_found = sqlite3_column_type(st, 12) != SQLITE_NULL;
  snap.counters.messages_today = sqlite3_column_int64(st, 12);
  snap.counters.tokens_today = sqlite3_column_int64(st, 13);
  if (sqlite3_column_type(st, 14) != SQLITE_NULL) snap.sub.time_zone = std::string(column_view(st, 14));
  if (day_row_exists) *day_row_exists = day_found;
  sqlite3_reset(st);
  BOOST_OUTCOME_TRY(apply_default_tier(c, snap, tier_found, now, default_tier));
  return snap;
}

usage sqlite_storage::load_counters(connection& c, const user_id& user, local_date day, bool* day_row_exists) {
  usage u;
  u.user = user;
  u.usage_date = day;
  const local_date first = detail::first_of_month(day);
  const std::string day_s = format_db_date(day);
  auto& m = c.stmt(sql_month_latest);
  m.bind(1, user.str());
  m.bind(2, format_db_date(first));
  m.bind(3, format_db_date(first + std::chrono::months{1}));
  bool found_day = false;
  bool need_day_query = true;
  if (m.executeStep()) {
    u.messages_this_month = m.getColumn(1).getInt64();
    u.tokens_this_month = m.getColumn(2).getInt64();
    if (m.getColumn(0).getString() == day_s) {
      // The usual case: today is the latest day of the month.
      u.messages_today = m.getColumn(3).getInt64();
      u.tokens_today = m.getColumn(4).getInt64();
      found_day = true;
      need_day_query = false;
    }
  } else {
    need_day_query = false;  // no row at all this month
  }
  m.reset();
  if (need_day_query) {
    auto& d = c.stmt(sql_day_row);
    d.bind(1, user.str());
    d.bind(2, day_s);
    if (d.executeStep()) {
      u.messages_today = d.getColumn(0).getInt64();
      u.tokens_today = d.getColumn(1).getInt64();
      found_day = true;
    }
    d.reset();
  }
  if (day_row_exists) *day_row_exists = found_day;
  return u;
}

// twin: schema/postgres/functions/writes.sql kauri_quota_apply
void sqlite_storage::apply_delta(connection& c, const user_id& user, local_date day, std::int64_t messages,
                                 std::int64_t tokens, sys_time now, bool day_row_exists) {
  const std::string day_s = format_db_date(day);
  const std::string month_start = format_db_date(detail::first_of_month(day));
  const std::string month_end = format_db_date(detail::first_of_month(day) + std::chrono::months{1});
  const std::string now_s = format_db_time(now);
  if (!day_row_exists) {
    auto& ins = c.stmt(sql_insert_day);
    ins.bind(1, user.str());
    ins.bind(2, day_s);
    ins.bind(3, month_start);
    ins.bind(4, now_s);
    ins.exec();
  }
  if (messages == 0 && tokens == 0) return;
  auto& up = c.stmt(sql_apply_delta);
  up.bind(1, user.str());
  up.bind(2, day_s);
  up.bind(3, month_end);
  bind_i64(up, 4, messages);
  bind_i64(up, 5, tokens);
  up.bind(6, now_s);
  up.exec();
}

std::int64_t sqlite_storage::insert_event(connection& c, const usage_event& e, const std::optional<request_id>& rid) {
  auto& s = c.stmt(sql_insert_event);
  s.bind(1, e.user.str());
  s.bind(2, e.event_type);
  bind_i64(s, 3, e.messages_count);
  bind_i64(s, 4, e.tokens_count);
  bind_opt(s, 5, e.quota_tier);
  bind_opt(s, 6, e.request_ip);
  bind_opt(s, 7, e.user_agent);
  bind_opt(s, 8, e.event_metadata);
  s.bind(9, format_db_time(e.event_timestamp));
  bind_opt(s, 10, e.usage_date ? std::optional<std::string>(format_db_date(*e.usage_date)) : std::nullopt);
  bind_opt(s, 11, rid ? std::optional<std::string>(rid->str()) : std::nullopt);
  s.exec();
  return sqlite3_last_insert_rowid(c.handle());
}

// twin: schema/postgres/functions/writes.sql kauri_quota_warn
void sqlite_storage::audit_warnings(connection& c, const usage_snapshot& before, const usage& after, double threshold,
                                    sys_time now, local_date day) {
  for (limit_kind k : detail::warnings_crossed(before.applied, before.counters, after, threshold)) {
    usage_event ev;
    ev.user = before.sub.user;
    ev.event_type = "quota_warning";
    ev.quota_tier = before.applied.id.str();
    ev.usage_date = day;
    ev.event_timestamp = now;
    ev.event_metadata = detail::limit_metadata(k, before.applied, after, threshold);
    insert_event(c, ev, std::nullopt);
  }
}

std::optional<sqlite_storage::stored_key> sqlite_storage::find_key(connection& c, const user_id& u,
                                                                   const request_id& r) {
  auto& s = c.stmt(sql_get_key);
  s.bind(1, u.str());
  s.bind(2, r.str());
  if (!s.executeStep()) return std::nullopt;
  stored_key k;
  k.operation = s.getColumn(0).getString();
  k.fingerprint = s.getColumn(1).getString();
  k.allowed = s.getColumn(2).getInt() != 0;
  k.denied_by = detail::parse_limit_kind(column_text(s.getColumn(3)).value_or("none"));
  if (!s.getColumn(4).isNull()) k.reservation = reservation_id{s.getColumn(4).getString()};
  s.reset();
  return k;
}

void sqlite_storage::put_key(connection& c, const user_id& u, const request_id& r, const stored_key& k, local_date day,
                             sys_time now) {
  auto& s = c.stmt(sql_put_key);
  s.bind(1, u.str());
  s.bind(2, r.str());
  s.bind(3, k.operation);
  s.bind(4, k.fingerprint);
  s.bind(5, k.allowed ? 1 : 0);
  if (k.denied_by == limit_kind::none)
    s.bind(6);
  else
    s.bind(6, to_string(k.denied_by));
  bind_opt(s, 7, k.reservation ? std::optional<std::string>(k.reservation->str()) : std::nullopt);
  s.bind(8, format_db_date(day));
  s.bind(9, format_db_time(now));
  s.exec();
}

}  // namespace kauri_quota::detail::sqlite
