// The subscription lifecycle of the SQLite backend: one BEGIN IMMEDIATE
// transaction per change (the write lock is the user's lock, so a
// transition is decided on the current row and written exactly once), the
// due transitions that every operation writes first, payments, the sweep's
// listing and the usage history.
#include "core/lifecycle.hpp"
#include "core/error_text.hpp"
#include "core/period.hpp"
#include "core/quote.hpp"
#include "core/sql_support.hpp"
#include "sqlite/backend.hpp"
#include "sqlite/rows.hpp"
#include "sqlite/sql.hpp"

namespace kauri_quota::detail::sqlite {
namespace {

std::optional<std::string> db_time(const std::optional<sys_time>& t) {
  return t ? std::optional<std::string>(format_db_time(*t)) : std::nullopt;
}

bool touches_payment(lifecycle_kind k) {
  return k == lifecycle_kind::open_payment || k == lifecycle_kind::apply_payment || k == lifecycle_kind::fail_payment;
}

}  // namespace

result<subscription> sqlite_storage::load_subscription(connection& c, const user_id& user) {
  auto& s = c.stmt(sql_subject);
  s.bind(1, user.str());
  if (!s.executeStep()) return error_text::unknown_user(user.str());
  subscription sub;
  sub.user = user;
  read_subscription(s, sub);
  s.reset();
  return sub;
}

local_date sqlite_storage::user_day(const subscription& s, sys_time now, local_date service_day) {
  return detail::own_day_or(s.time_zone, now, service_day);
}

std::optional<payment> sqlite_storage::find_payment(connection& c, const std::string& provider,
                                                    const std::string& transaction_id) {
  auto& s = c.stmt(sql_get_payment);
  s.bind(1, provider);
  s.bind(2, transaction_id);
  if (!s.executeStep()) return std::nullopt;
  payment p = read_payment(s);
  s.reset();
  return p;
}

std::vector<std::string> sqlite_storage::zero_month(connection& c, const std::string& from, const std::string& upto,
                                                    const std::optional<std::string>& tz, local_date day,
                                                    sys_time now) {
  const local_date first = detail::first_of_month(day);
  const std::string first_s = format_db_date(first);
  const std::string end_s = format_db_date(first + std::chrono::months{1});
  struct row {
    std::string user;
    local_date day;
    std::int64_t messages, tokens;
  };
  std::vector<row> rows;
  // Both statements take (month start, month end, from, upto, zone, ...).
  auto bind_range = [&](SQLite::Statement& st) {
    st.bind(1, first_s);
    st.bind(2, end_s);
    st.bind(3, from);
    st.bind(4, upto);
    bind_opt(st, 5, tz);
  };
  auto& s = c.stmt(sql_month_rows_for_reset);
  bind_range(s);
  while (s.executeStep()) {
    rows.push_back({s.getColumn(0).getString(), parse_db_date(s.getColumn(1).getString()).value_or(day),
                    s.getColumn(2).getInt64(), s.getColumn(3).getInt64()});
  }
  s.reset();
  auto& z = c.stmt(sql_zero_month);
  bind_range(z);
  z.bind(6, format_db_time(now));
  z.exec();
  std::vector<std::string> users;
  for (const row& r : rows) {
    usage_event ev;
    ev.user = user_id{r.user};
    ev.event_type = "monthly_reset";
    ev.messages_count = -r.messages;
    ev.tokens_count = -r.tokens;
    ev.usage_date = r.day;
    ev.event_timestamp = now;
    insert_event(c, ev, std::nullopt);
    if (users.empty() || users.back() != r.user) users.push_back(r.user);
  }
  return users;
}

result<lifecycle_outcome> sqlite_storage::lifecycle_in(connection& c, const lifecycle_request& req) {
  BOOST_OUTCOME_TRY(stored, load_subscription(c, req.user));
  std::vector<tier> tiers;
  auto& t = c.stmt(sql_all_tiers);
  while (t.executeStep()) tiers.push_back(read_tier(t, 0, false));
  t.reset();
  std::optional<payment> existing;
  if (touches_payment(req.kind)) existing = find_payment(c, req.pay.provider, req.pay.transaction_id);
  BOOST_OUTCOME_TRY(plan, detail::plan_lifecycle(req, stored, tiers, existing));
  if (plan.reset_usage) (void)zero_month(c, req.user.str(), req.user.str(), stored.time_zone, plan.user_day, req.now);
  if (plan.write_subscription) {
    const subscription& s = plan.after;
    auto& u = c.stmt(sql_write_lifecycle);
    u.bind(1, s.user.str());
    u.bind(2, s.tier.str());
    u.bind(3, to_string(s.status));
    bind_opt(u, 4, db_time(s.start_date));
    bind_opt(u, 5, db_time(s.end_date));
    bind_opt(u, 6, db_time(s.trial_end_date));
    bind_opt(u, 7, s.time_zone);
    bind_opt(u, 8, s.scheduled_tier ? std::optional<std::string>(s.scheduled_tier->str()) : std::nullopt);
    bind_opt(u, 9, db_time(s.scheduled_end_date));
    u.bind(10, s.cancel_at_period_end ? 1 : 0);
    u.exec();
  }
  if (plan.write_payment) {
    const payment& p = *plan.write_payment;
    auto& w = c.stmt(sql_put_payment);
    w.bind(1, p.provider);
    w.bind(2, p.transaction_id);
    w.bind(3, p.user.str());
    w.bind(4, p.tier.str());
    w.bind(5, p.months);
    bind_i64(w, 6, p.amount);
    w.bind(7, p.currency);
    w.bind(8, to_string(p.status));
    w.bind(9, to_string(p.effect));
    bind_opt(w, 10, db_time(p.period_start));
    bind_opt(w, 11, db_time(p.period_end));
    bind_opt(w, 12, p.failure_reason);
    w.bind(13, format_db_time(p.created_at));
    w.bind(14, format_db_time(p.updated_at));
    w.exec();
  }
  for (const usage_event& e : plan.events) insert_event(c, e, req.ctx.id);
  return std::move(plan.outcome);
}

result<local_date> sqlite_storage::settle_due(connection& c, const user_id& user, sys_time now, local_date day,
                                              const tier_id& default_tier, std::chrono::seconds grace_period,
                                              const request_context& ctx) {
  BOOST_OUTCOME_TRY(stored, load_subscription(c, user));
  if (!detail::transition_due(stored, now, grace_period)) return user_day(stored, now, day);
  lifecycle_request req;
  req.kind = lifecycle_kind::apply_due;
  req.user = user;
  req.now = now;
  req.day = day;
  req.ctx = ctx;
  req.default_tier = default_tier;
  req.grace_period = grace_period;
  BOOST_OUTCOME_TRY(o, lifecycle_in(c, req));
  return user_day(o.after, now, day);
}

// The rules are the shared planner's (core/lifecycle); this is only the
// SQLite executor, as src/postgres/lifecycle.cpp is PostgreSQL's.
result<lifecycle_outcome> sqlite_storage::change_lifecycle(const lifecycle_request& req) {
  return run_ready([&](connection& c) -> result<lifecycle_outcome> {
    txn tx(c, true);
    BOOST_OUTCOME_TRY(o, lifecycle_in(c, req));
    tx.commit();
    return o;
  });
}

result<payment> sqlite_storage::get_payment(const std::string& provider, const std::string& transaction_id) {
  return run_ready([&](connection& c) -> result<payment> {
    auto p = find_payment(c, provider, transaction_id);
    if (!p) {
      return make_error(errc::payment_not_found,
                        fmt::format("no payment {} from {}", detail::quote_for_message(transaction_id),
                                    detail::quote_for_message(provider)));
    }
    return *std::move(p);
  });
}

result<std::vector<payment>> sqlite_storage::payments(const user_id& user) {
  return run_ready([&](connection& c) -> result<std::vector<payment>> {
    std::vector<payment> out;
    auto& s = c.stmt(sql_user_payments);
    s.bind(1, user.str());
    while (s.executeStep()) out.push_back(read_payment(s));
    return out;
  });
}

result<std::vector<user_id>> sqlite_storage::due_subscriptions(sys_time now, std::chrono::seconds grace_period,
                                                               const std::optional<user_id>& after,
                                                               std::int64_t limit) {
  return run_ready([&](connection& c) -> result<std::vector<user_id>> {
    std::vector<user_id> out;
    auto& s = c.stmt(sql_due_users);
    s.bind(1, format_db_time(now));
    bind_opt(s, 2, after ? std::optional<std::string>(after->str()) : std::nullopt);
    bind_i64(s, 3, limit);
    s.bind(4, format_db_time(now - grace_period));
    while (s.executeStep()) out.emplace_back(s.getColumn(0).getString());
    return out;
  });
}

result<std::vector<day_usage>> sqlite_storage::usage_days(const user_id& user, local_date from, local_date to) {
  return run_ready([&](connection& c) -> result<std::vector<day_usage>> {
    std::vector<day_usage> out;
    auto& s = c.stmt(sql_usage_days);
    s.bind(1, user.str());
    s.bind(2, format_db_date(from));
    s.bind(3, format_db_date(to));
    while (s.executeStep()) {
      const auto d = parse_db_date(s.getColumn(0).getString());
      if (!d) continue;
      out.push_back(day_usage{*d, s.getColumn(1).getInt64(), s.getColumn(2).getInt64()});
    }
    return out;
  });
}

}  // namespace kauri_quota::detail::sqlite
