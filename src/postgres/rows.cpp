#include "postgres/rows.hpp"

#include "core/sql_support.hpp"

namespace kauri_quota::detail::postgres {

std::variant<outcome_row, failure> exec_outcome(pq::connection& c, const char* name, const char* sql, const params& p) {
  return read_outcome(c.exec(name, sql, p));
}

std::variant<outcome_row, failure> read_outcome(std::variant<rows, failure>&& r) {
  if (auto* f = std::get_if<failure>(&r)) return std::move(*f);
  const rows& one = std::get<rows>(r);
  std::optional<rows> fields;
  if (one.size() == 1 && one.columns() == 6 && !one.null(0, 0) && !one.null(0, 1))
    fields = rows::from_record(one.text(0, 0));
  std::optional<local_date> day;
  if (fields) day = parse_db_date(one.text(0, 1));
  if (!fields || fields->columns() != oc_count || !day) {
    failure f;
    f.err = make_error(errc::schema_mismatch,
                       "the server's kauri_quota functions return an unexpected row; run `kauri-quota migrate`");
    return f;
  }
  outcome_row o;
  o.o = std::move(*fields);
  o.day = *day;
  o.time_zone = one.opt_text(0, 2);
  if (!one.null(0, 3)) o.scheduled_tier = tier_id{std::string(one.text(0, 3))};
  o.scheduled_end_date = opt_time(one, 0, 4);
  o.cancel_at_period_end = one.boolean(0, 5);
  return o;
}

std::optional<sys_time> opt_time(const rows& r, int row, int col) {
  if (r.null(row, col)) return std::nullopt;
  return parse_db_time(r.text(row, col));
}

std::string text_of(std::int64_t v) { return std::to_string(v); }
std::optional<std::string> text_of(const limit& v) {
  if (!v) return std::nullopt;
  return std::to_string(*v);
}
std::optional<std::string> time_of(const std::optional<sys_time>& t) {
  if (!t) return std::nullopt;
  return format_db_time(*t);
}

tier read_tier(const rows& r, int row) {
  tier t;
  t.id = tier_id{std::string(r.text(row, 0))};
  t.name = std::string(r.text(row, 1));
  t.name_fr = std::string(r.text(row, 2));
  t.messages_per_day = r.opt_i64(row, 3);
  t.messages_per_month = r.opt_i64(row, 4);
  t.tokens_per_month = r.opt_i64(row, 5);
  t.price_fcfa = r.i64(row, 6);
  t.features = detail::parse_features(r.text(row, 7));
  t.display_order = static_cast<std::int32_t>(r.i64(row, 8));
  t.is_visible = r.boolean(row, 9);
  return t;
}

subscription read_subscription_cols(const rows& r, int row, const user_id& user, int first) {
  subscription s;
  s.user = user;
  s.email = r.opt_text(row, first);
  s.tier = tier_id{std::string(r.text(row, first + 1))};
  s.status = parse_subscription_status(r.text(row, first + 2)).value_or(subscription_status::active);
  s.start_date = opt_time(r, row, first + 3);
  s.end_date = opt_time(r, row, first + 4);
  s.trial_end_date = opt_time(r, row, first + 5);
  s.created_at = opt_time(r, row, first + 6);
  return s;
}

void read_lifecycle_cols(const rows& r, int row, int first, subscription& s) {
  s.time_zone = r.opt_text(row, first);
  s.scheduled_tier.reset();
  if (!r.null(row, first + 1)) s.scheduled_tier = tier_id{std::string(r.text(row, first + 1))};
  s.scheduled_end_date = opt_time(r, row, first + 2);
  s.cancel_at_period_end = r.boolean(row, first + 3);
}

usage_snapshot read_snapshot(const outcome_row& x, const user_id& user) {
  const rows& r = x.o;
  const local_date day = x.day;
  usage_snapshot s;
  s.sub = read_subscription_cols(r, 0, user, oc_email);
  s.sub.time_zone = x.time_zone;
  s.sub.scheduled_tier = x.scheduled_tier;
  s.sub.scheduled_end_date = x.scheduled_end_date;
  s.sub.cancel_at_period_end = x.cancel_at_period_end;
  s.applied.id = tier_id{std::string(r.text(0, oc_tier_id))};
  s.applied.name = std::string(r.text(0, oc_tier_name));
  s.applied.name_fr = std::string(r.text(0, oc_tier_name_fr));
  s.applied.messages_per_day = r.opt_i64(0, oc_per_day);
  s.applied.messages_per_month = r.opt_i64(0, oc_per_month);
  s.applied.tokens_per_month = r.opt_i64(0, oc_tokens_per_month);
  s.applied.price_fcfa = r.i64(0, oc_price_fcfa);
  s.applied.display_order = static_cast<std::int32_t>(r.i64(0, oc_display_order));
  s.applied.is_visible = r.boolean(0, oc_is_visible);
  s.counters.user = user;
  s.counters.usage_date = day;
  s.counters.messages_today = r.i64(0, oc_messages_today);
  s.counters.tokens_today = r.i64(0, oc_tokens_today);
  s.counters.messages_this_month = r.i64(0, oc_messages_this_month);
  s.counters.tokens_this_month = r.i64(0, oc_tokens_this_month);
  return s;
}

reservation read_reservation(const rows& r, int row) {
  reservation x;
  x.id = reservation_id{std::string(r.text(row, 0))};
  x.user = user_id{std::string(r.text(row, 1))};
  x.usage_date = parse_db_date(r.text(row, 2)).value_or(local_date{});
  x.messages = r.i64(row, 3);
  x.estimated_tokens = r.i64(row, 4);
  x.actual_tokens = r.opt_i64(row, 5);
  x.state = detail::parse_reservation_state(r.text(row, 6)).value_or(reservation_state::open);
  x.created_at = opt_time(r, row, 7).value_or(sys_time{});
  x.expires_at = opt_time(r, row, 8).value_or(sys_time{});
  return x;
}

}  // namespace kauri_quota::detail::postgres

namespace kauri_quota::detail::postgres {

payment read_payment(const rows& r, int row) {
  payment p;
  p.provider = std::string(r.text(row, 0));
  p.transaction_id = std::string(r.text(row, 1));
  p.user = user_id{std::string(r.text(row, 2))};
  p.tier = tier_id{std::string(r.text(row, 3))};
  p.months = static_cast<std::int32_t>(r.i64(row, 4));
  p.amount = r.i64(row, 5);
  p.currency = std::string(r.text(row, 6));
  const std::string_view st = r.text(row, 7);
  p.status = st == "applied"  ? payment_status::applied
             : st == "failed" ? payment_status::failed
                              : payment_status::pending;
  const std::string_view ef = r.text(row, 8);
  p.effect = ef == "extended"    ? payment_effect::extended
             : ef == "started"   ? payment_effect::started
             : ef == "scheduled" ? payment_effect::scheduled
                                 : payment_effect::none;
  p.period_start = opt_time(r, row, 9);
  p.period_end = opt_time(r, row, 10);
  p.failure_reason = r.opt_text(row, 11);
  p.created_at = opt_time(r, row, 12).value_or(sys_time{});
  p.updated_at = opt_time(r, row, 13).value_or(sys_time{});
  return p;
}

}  // namespace kauri_quota::detail::postgres
