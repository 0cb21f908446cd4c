#include "sqlite/rows.hpp"

#include "core/sql_support.hpp"

namespace kauri_quota::detail::sqlite {

limit column_limit(const SQLite::Column& c) {
  if (c.isNull()) return std::nullopt;
  return c.getInt64();
}

std::optional<std::string> column_text(const SQLite::Column& c) {
  if (c.isNull()) return std::nullopt;
  return c.getString();
}

std::optional<sys_time> column_time(const SQLite::Column& c) {
  if (c.isNull()) return std::nullopt;
  return parse_db_time(c.getString());
}

tier read_tier(SQLite::Statement& s, int first, bool with_features) {
  tier t;
  t.id = tier_id{s.getColumn(first + 0).getString()};
  t.name = s.getColumn(first + 1).getString();
  t.name_fr = s.getColumn(first + 2).getString();
  t.messages_per_day = column_limit(s.getColumn(first + 3));
  t.messages_per_month = column_limit(s.getColumn(first + 4));
  t.tokens_per_month = column_limit(s.getColumn(first + 5));
  t.price_fcfa = s.getColumn(first + 6).getInt64();
  if (with_features) t.features = detail::parse_features(s.getColumn(first + 7).getString());
  t.display_order = s.getColumn(first + 8).getInt();
  t.is_visible = s.getColumn(first + 9).getInt() != 0;
  return t;
}

reservation read_reservation(SQLite::Statement& s) {
  reservation r;
  r.id = reservation_id{s.getColumn(0).getString()};
  r.user = user_id{s.getColumn(1).getString()};
  r.usage_date = parse_db_date(s.getColumn(2).getString()).value_or(local_date{});
  r.messages = s.getColumn(3).getInt64();
  r.estimated_tokens = s.getColumn(4).getInt64();
  r.actual_tokens = column_limit(s.getColumn(5));
  r.state = detail::parse_reservation_state(s.getColumn(6).getString()).value_or(reservation_state::open);
  r.created_at = column_time(s.getColumn(7)).value_or(sys_time{});
  r.expires_at = column_time(s.getColumn(8)).value_or(sys_time{});
  return r;
}

void bind_opt(SQLite::Statement& s, int i, const std::optional<std::string>& v) {
  if (v)
    s.bind(i, *v);
  else
    s.bind(i);
}

void bind_limit(SQLite::Statement& s, int i, const limit& v) {
  if (v)
    s.bind(i, static_cast<std::int64_t>(*v));
  else
    s.bind(i);
}

void bind_i64(SQLite::Statement& s, int i, std::int64_t v) { s.bind(i, static_cast<std::int64_t>(v)); }

void read_subscription(SQLite::Statement& s, subscription& sub) {
  sub.email = column_text(s.getColumn(0));
  sub.tier = tier_id{s.getColumn(1).getString()};
  sub.status = parse_subscription_status(s.getColumn(2).getString()).value_or(subscription_status::active);
  sub.start_date = column_time(s.getColumn(3));
  sub.end_date = column_time(s.getColumn(4));
  sub.trial_end_date = column_time(s.getColumn(5));
  sub.created_at = column_time(s.getColumn(6));
  sub.time_zone = column_text(s.getColumn(7));
  if (!s.getColumn(8).isNull()) sub.scheduled_tier = tier_id{s.getColumn(8).getString()};
  sub.scheduled_end_date = column_time(s.getColumn(9));
  sub.cancel_at_period_end = s.getColumn(10).getInt() != 0;
}

payment read_payment(SQLite::Statement& s) {
  payment p;
  p.provider = s.getColumn(0).getString();
  p.transaction_id = s.getColumn(1).getString();
  p.user = user_id{s.getColumn(2).getString()};
  p.tier = tier_id{s.getColumn(3).getString()};
  p.months = s.getColumn(4).getInt();
  p.amount = s.getColumn(5).getInt64();
  p.currency = s.getColumn(6).getString();
  p.status = detail::parse_payment_status(s.getColumn(7).getString()).value_or(payment_status::pending);
  p.effect = detail::parse_payment_effect(s.getColumn(8).getString()).value_or(payment_effect::none);
  p.period_start = column_time(s.getColumn(9));
  p.period_end = column_time(s.getColumn(10));
  p.failure_reason = column_text(s.getColumn(11));
  p.created_at = column_time(s.getColumn(12)).value_or(sys_time{});
  p.updated_at = column_time(s.getColumn(13)).value_or(sys_time{});
  return p;
}

std::string_view column_view(sqlite3_stmt* st, int i) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st, i));
  return p ? std::string_view(p, static_cast<std::size_t>(sqlite3_column_bytes(st, i))) : std::string_view{};
}

limit column_limit(sqlite3_stmt* st, int i) {
  if (sqlite3_column_type(st, i) == SQLITE_NULL) return std::nullopt;
  return sqlite3_column_int64(st, i);
}

std::optional<sys_time> column_time(sqlite3_stmt* st, int i) {
  if (sqlite3_column_type(st, i) == SQLITE_NULL) return std::nullopt;
  return parse_db_time(column_view(st, i));
}

}  // namespace kauri_quota::detail::sqlite
