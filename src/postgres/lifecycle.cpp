// The subscription lifecycle on PostgreSQL: change_lifecycle as one
// transaction run from C++ (the rules are the shared planner's,
// core/lifecycle), the payments, the sweep's candidates and the usage
// history. Unlike the quota operations these are rare, so a few round trips
// each cost nothing that matters; the hot path never calls them except to
// write a transition it found due (backend.hpp, with_due_retry).
#include "core/lifecycle.hpp"
#include "core/error_text.hpp"
#include "core/quote.hpp"
#include "core/sql_support.hpp"
#include "postgres/backend.hpp"
#include "postgres/sql.hpp"

namespace kauri_quota::detail::postgres {
namespace {

using lifecycle_attempt = attempt<lifecycle_outcome>;

bool is_payment_kind(lifecycle_kind k) {
  return k == lifecycle_kind::open_payment || k == lifecycle_kind::apply_payment || k == lifecycle_kind::fail_payment;
}

/// Whether repeating the whole request after a lost acknowledgement of its
/// COMMIT gives the first outcome: the payments are idempotent by key, and
/// apply_due and set_time_zone leave the same state when repeated. The
/// others (a second trial, a schedule over a schedule) report the unknown
/// outcome instead.
bool safe_to_repeat(lifecycle_kind k) {
  return is_payment_kind(k) || k == lifecycle_kind::apply_due || k == lifecycle_kind::set_time_zone;
}

std::optional<std::string> opt_time_text(const std::optional<sys_time>& t) { return time_of(t); }

params subscription_params(const subscription& s) {
  return {s.user.str(),
          s.tier.str(),
          std::string(to_string(s.status)),
          opt_time_text(s.start_date),
          opt_time_text(s.end_date),
          opt_time_text(s.trial_end_date),
          s.time_zone,
          s.scheduled_tier ? std::optional<std::string>(s.scheduled_tier->str()) : std::nullopt,
          opt_time_text(s.scheduled_end_date),
          std::string(s.cancel_at_period_end ? "true" : "false")};
}

params payment_params(const payment& p) {
  return {p.provider,
          p.transaction_id,
          p.user.str(),
          p.tier.str(),
          std::to_string(p.months),
          std::to_string(p.amount),
          p.currency,
          std::string(to_string(p.status)),
          std::string(to_string(p.effect)),
          opt_time_text(p.period_start),
          opt_time_text(p.period_end),
          p.failure_reason,
          format_db_time(p.created_at),
          format_db_time(p.updated_at)};
}

/// The transaction of change_lifecycle on `c`: BEGIN; the user locked (its
/// advisory lock, as every quota operation of the user takes it, then its
/// row); the tiers; the payment with the request's key, locked; the
/// planner; the writes it decided; COMMIT. A failure before COMMIT leaves
/// nothing behind (the transaction is rolled back, by the server itself
/// when the connection is lost), so only a COMMIT whose answer was lost is
/// in doubt.
lifecycle_attempt lifecycle_transaction(pq::connection& c, const lifecycle_request& req) {
  bool begun = false;
  auto abort = [&](failure f) -> lifecycle_attempt {
    if (begun && !f.connection_lost) (void)c.exec_simple("ROLLBACK");
    f.sent = false;
    return f;
  };
  auto step = [&](const char* name, const char* sql, const params& p, std::string_view subject,
                  std::optional<rows>& out) -> std::optional<failure> {
    auto r = c.exec(name, sql, p);
    if (auto* f = std::get_if<failure>(&r)) {
      f->err = describe(*f, subject);
      return std::move(*f);
    }
    out = std::move(std::get<rows>(r));
    return std::nullopt;
  };

  if (auto b = c.exec_simple("BEGIN"); std::holds_alternative<failure>(b)) return abort(std::get<failure>(b));
  begun = true;

  lifecycle_request r = req;
  if (r.user.str().empty()) r.user = r.pay.user;
  std::optional<rows> got;
  if (r.user.str().empty() && is_payment_kind(r.kind)) {
    // fail_payment names the payment only: its user is the one to lock.
    if (auto f = step("kq_get_payment", sql_get_payment, {r.pay.provider, r.pay.transaction_id}, "", got))
      return abort(std::move(*f));
    if (got->size() > 0) r.user = user_id{std::string(got->text(0, 2))};
  }

  subscription stored;
  if (!r.user.str().empty()) {
    if (auto f = step("kq_lock_user", sql_lock_user, {r.user.str()}, r.user.str(), got)) return abort(std::move(*f));
    if (auto f = step("kq_lock_subscription", sql_lock_subscription, {r.user.str()}, r.user.str(), got))
      return abort(std::move(*f));
    if (got->size() == 0) return abort(as_failure(error_text::unknown_user(r.user.str())));
    stored = read_subscription_cols(*got, 0, r.user, 0);
    read_lifecycle_cols(*got, 0, 7, stored);
  }

  if (auto f = step("kq_all_tiers", sql_all_tiers, {}, "", got)) return abort(std::move(*f));
  std::vector<tier> tiers;
  for (int i = 0; i < got->size(); ++i) tiers.push_back(read_tier(*got, i));

  std::optional<payment> existing;
  if (is_payment_kind(r.kind)) {
    if (auto f = step("kq_lock_payment", sql_lock_payment, {r.pay.provider, r.pay.transaction_id}, "", got))
      return abort(std::move(*f));
    if (got->size() > 0) existing = read_payment(*got, 0);
  }

  auto planned = plan_lifecycle(r, stored, tiers, existing);
  if (!planned) return abort(as_failure(planned.error()));
  lifecycle_plan& plan = planned.value();

  if (plan.write_subscription) {
    if (auto f =
            step("kq_write_subscription", sql_write_subscription, subscription_params(plan.after), r.user.str(), got))
      return abort(std::move(*f));
  }
  if (plan.write_payment) {
    if (auto f = step("kq_write_payment", sql_write_payment, payment_params(*plan.write_payment), r.user.str(), got))
      return abort(std::move(*f));
    if (got->affected() != 1) {
      // Another user's order took the key between our read and our write:
      // decide again on it (the planner then refuses the mismatch).
      failure f;
      f.sqlstate = "40001";
      f.err = make_error(errc::conflict, "a payment with this key was recorded concurrently");
      return abort(std::move(f));
    }
  }
  if (plan.reset_usage) {
    // The month of the user's day, zeroed and audited as reset() does it
    // (monthly_reset rows; the function takes the user's own day).
    if (auto f =
            step("kq_reset", sql_reset,
                 {std::string("false"), r.user.str(), format_db_date(r.day), format_db_time(r.now)}, r.user.str(), got))
      return abort(std::move(*f));
  }
  if (r.kind == lifecycle_kind::set_time_zone && plan.write_subscription) {
    // The fast path's budgets were computed for the service's day.
    if (auto f = step("kq_disarm", sql_disarm, {r.user.str()}, r.user.str(), got)) return abort(std::move(*f));
  }
  const std::optional<std::string> request = r.ctx.id ? std::optional<std::string>(r.ctx.id->str()) : std::nullopt;
  for (const usage_event& e : plan.events) {
    params p{r.user.str(),
             e.event_type,
             text_of(e.messages_count),
             text_of(e.tokens_count),
             e.quota_tier,
             e.request_ip ? e.request_ip : r.ctx.ip,
             e.user_agent ? e.user_agent : r.ctx.user_agent,
             e.event_metadata,
             format_db_time(e.event_timestamp == sys_time{} ? r.now : e.event_timestamp),
             format_db_date(e.usage_date.value_or(plan.user_day)),
             request};
    if (auto f = step("kq_lifecycle_event", sql_lifecycle_event, p, r.user.str(), got)) return abort(std::move(*f));
  }

  auto done = c.exec_simple("COMMIT");
  if (auto* f = std::get_if<failure>(&done)) {
    // Lost with the COMMIT on its way: the outcome is unknown (sent stays).
    if (!f->connection_lost) {
      (void)c.exec_simple("ROLLBACK");
      f->sent = false;
    }
    return std::move(*f);
  }
  return std::move(plan.outcome);
}

}  // namespace

result<lifecycle_outcome> postgres_storage::change_lifecycle(const lifecycle_request& req) {
  bool in_doubt = false;
  auto r = run_ready<lifecycle_outcome>(safe_to_repeat(req.kind), [&](connection& c) -> lifecycle_attempt {
    auto x = lifecycle_transaction(c, req);
    if (auto* f = std::get_if<failure>(&x); f && f->connection_lost && f->sent) in_doubt = true;
    return x;
  });
  // A payment applied by our own attempt whose COMMIT answer was lost is
  // found applied by the retry: it is this call's outcome, not a replay.
  if (r && in_doubt && req.kind == lifecycle_kind::apply_payment) r.value().replayed = false;
  return r;
}

result<payment> postgres_storage::get_payment(const std::string& provider, const std::string& transaction_id) {
  return run_ready<payment>(true, [&](connection& c) -> attempt<payment> {
    auto r = c.exec("kq_get_payment", sql_get_payment, {provider, transaction_id});
    if (auto* f = std::get_if<failure>(&r)) return std::move(*f);
    const rows& rs = std::get<rows>(r);
    if (rs.size() == 0)
      return as_failure(make_error(errc::payment_not_found, fmt::format("no payment {} of provider {}",
                                                                        detail::quote_for_message(transaction_id),
                                                                        detail::quote_for_message(provider))));
    return read_payment(rs, 0);
  });
}

result<std::vector<payment>> postgres_storage::payments(const user_id& user) {
  return run_ready<std::vector<payment>>(true, [&](connection& c) -> attempt<std::vector<payment>> {
    auto r = c.exec("kq_user_payments", sql_user_payments, {user.str()});
    if (auto* f = std::get_if<failure>(&r)) {
      // A user id the column cannot hold (a UUID column) has no payments.
      if (f->sqlstate == "22P02") return std::vector<payment>{};
      return std::move(*f);
    }
    const rows& rs = std::get<rows>(r);
    std::vector<payment> out;
    for (int i = 0; i < rs.size(); ++i) out.push_back(read_payment(rs, i));
    return out;
  });
}

result<std::vector<user_id>> postgres_storage::due_subscriptions(sys_time now, std::chrono::seconds grace_period,
                                                                 const std::optional<user_id>& after,
                                                                 std::int64_t limit) {
  params p{format_db_time(now), text_of(grace_period.count()), std::string(after ? "true" : "false"),
           after ? std::optional<std::string>(after->str()) : std::nullopt, text_of(limit)};
  return run_ready<std::vector<user_id>>(true, [&](connection& c) -> attempt<std::vector<user_id>> {
    auto r = c.exec("kq_due_subscriptions", sql_due_subscriptions, p);
    if (auto* f = std::get_if<failure>(&r)) return std::move(*f);
    const rows& rs = std::get<rows>(r);
    std::vector<user_id> out;
    for (int i = 0; i < rs.size(); ++i) out.push_back(user_id{std::string(rs.text(i, 0))});
    return out;
  });
}

result<std::vector<day_usage>> postgres_storage::usage_days(const user_id& user, local_date from, local_date to) {
  return run_ready<std::vector<day_usage>>(true, [&](connection& c) -> attempt<std::vector<day_usage>> {
    auto r = c.exec("kq_usage_days", sql_usage_days, {user.str(), format_db_date(from), format_db_date(to)});
    if (auto* f = std::get_if<failure>(&r)) {
      if (f->sqlstate == "22P02") return std::vector<day_usage>{};
      return std::move(*f);
    }
    const rows& rs = std::get<rows>(r);
    std::vector<day_usage> out;
    for (int i = 0; i < rs.size(); ++i) {
      day_usage d;
      d.day = parse_db_date(rs.text(i, 0)).value_or(local_date{});
      d.messages = rs.i64(i, 1);
      d.tokens = rs.i64(i, 2);
      out.push_back(d);
    }
    return out;
  });
}

}  // namespace kauri_quota::detail::postgres
