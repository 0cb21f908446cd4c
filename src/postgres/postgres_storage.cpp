// The operations of the PostgreSQL backend, in the order of the storage
// interface: tiers, users and subscriptions, usage, reservations, resets
// and the audit log. Each is one statement (see backend.hpp).
#include "postgres/postgres_storage.hpp"

#include "core/error_text.hpp"
#include "core/period.hpp"
#include "core/sql_support.hpp"
#include "core/validate.hpp"
#include "postgres/backend.hpp"
#include "postgres/sql.hpp"

namespace kauri_quota {
namespace detail::postgres {

// ---------------------------------------------------------------------------
// Tiers.

result<std::vector<tier>> postgres_storage::tiers(bool visible_only) {
  return run_ready<std::vector<tier>>(true, [&](connection& c) -> attempt<std::vector<tier>> {
    auto r = c.exec("kq_all_tiers", sql_all_tiers, {});
    if (auto* f = std::get_if<failure>(&r)) return std::move(*f);
    const rows& rs = std::get<rows>(r);
    std::vector<tier> out;
    for (int i = 0; i < rs.size(); ++i) {
      tier t = read_tier(rs, i);
      if (!visible_only || t.is_visible) out.push_back(std::move(t));
    }
    return out;
  });
}

result<tier> postgres_storage::get_tier(const tier_id& id) {
  return run_ready<tier>(true, [&](connection& c) -> attempt<tier> {
    auto r = c.exec("kq_get_tier", sql_get_tier, {id.str()});
    if (auto* f = std::get_if<failure>(&r)) return std::move(*f);
    const rows& rs = std::get<rows>(r);
    if (rs.size() == 0) return as_failure(error_text::unknown_tier(id.str()));
    return read_tier(rs, 0);
  });
}

result<tier> postgres_storage::update_tier(const tier_update& u, sys_time now) {
  auto flag = [](bool b) { return std::optional<std::string>(b ? "true" : "false"); };
  params p{u.id.str(),
           flag(u.name.has_value()),
           u.name,
           flag(u.name_fr.has_value()),
           u.name_fr,
           flag(u.messages_per_day.has_value()),
           text_of(u.messages_per_day.value_or(std::nullopt)),
           flag(u.messages_per_month.has_value()),
           text_of(u.messages_per_month.value_or(std::nullopt)),
           flag(u.tokens_per_month.has_value()),
           text_of(u.tokens_per_month.value_or(std::nullopt)),
           flag(u.price_fcfa.has_value()),
           text_of(u.price_fcfa.value_or(0)),
           flag(u.display_order.has_value()),
           text_of(u.display_order.value_or(0)),
           flag(u.is_visible.has_value()),
           flag(u.is_visible.value_or(false)),
           format_db_time(now)};
  // Setting the same values again is harmless, so a retry is safe.
  return run_ready<tier>(true, [&](connection& c) -> attempt<tier> {
    auto r = c.exec("kq_update_tier", sql_update_tier, p);
    if (auto* f = std::get_if<failure>(&r)) return std::move(*f);
    const rows& rs = std::get<rows>(r);
    if (rs.size() == 0) return as_failure(error_text::unknown_tier(u.id.str()));
    return read_tier(rs, 0);
  });
}

// ---------------------------------------------------------------------------
// Users and subscriptions.

result<subscription> postgres_storage::create_user(const new_user& nu) {
  return run_ready<subscription>(false, [&](connection& c) -> attempt<subscription> {
    auto r = c.exec("kq_create_user", sql_create_user,
                    {nu.user.str(), nu.email, nu.tier.str(), format_db_time(nu.now), nu.time_zone});
    if (auto* f = std::get_if<failure>(&r)) {
      if (f->sqlstate == "23502")
        f->err = make_error(errc::invalid_argument,
                            fmt::format("the users table refused the new row ({}); create users in the host "
                                        "application and call assign_default_subscription",
                                        f->err.message));
      else if (f->sqlstate == "22P02")
        f->err = make_error(errc::invalid_argument,
                            fmt::format("user id {} is not valid for this database's users.user_id column",
                                        detail::quote_for_message(nu.user.str())));
      else
        f->err = describe(*f, nu.user.str());
      return std::move(*f);
    }
    subscription s;
    s.user = nu.user;
    s.email = nu.email;
    s.tier = nu.tier;
    s.status = subscription_status::active;
    s.start_date = nu.now;
    s.created_at = nu.now;
    s.time_zone = nu.time_zone;
    return s;
  });
}

result<subscription> postgres_storage::get_subscription(const user_id& user) {
  return run_ready<subscription>(true, [&](connection& c) -> attempt<subscription> {
    auto r = c.exec("kq_get_subscription", sql_get_subscription, {user.str()});
    if (auto* f = std::get_if<failure>(&r)) {
      f->err = describe(*f, user.str());
      return std::move(*f);
    }
    const rows& rs = std::get<rows>(r);
    if (rs.size() == 0) return as_failure(error_text::unknown_user(user.str()));
    subscription s = read_subscription_cols(rs, 0, user, 0);
    read_lifecycle_cols(rs, 0, 7, s);
    return s;
  });
}

result<subscription> postgres_storage::set_subscription(const subscription_change& ch) {
  const auto status = ch.status.value_or(subscription_status::active);
  params p{ch.user.str(),
           ch.tier.str(),
           std::string(to_string(status)),
           format_db_time(ch.now),
           time_of(ch.end_date),
           time_of(ch.trial_end_date),
           ch.event_type,
           ch.ctx.ip,
           ch.ctx.user_agent,
           ch.ctx.id ? std::optional<std::string>(ch.ctx.id->str()) : std::nullopt};
  return run_ready<subscription>(false, [&](connection& c) -> attempt<subscription> {
    auto r = c.exec("kq_set_subscription", sql_set_subscription, p);
    if (auto* f = std::get_if<failure>(&r)) {
      f->err = describe(*f, ch.user.str());
      return std::move(*f);
    }
    return read_subscription_cols(std::get<rows>(r), 0, ch.user, oc_email);
  });
}

// ---------------------------------------------------------------------------
// Usage.

result<usage_snapshot> postgres_storage::snapshot(const user_id& user, local_date day, sys_time now,
                                                  const tier_id& default_tier, std::chrono::seconds grace_period) {
  params p{user.str(), format_db_date(day), format_db_time(now), default_tier.str(), text_of(grace_period.count())};
  const due_request due{now, day, default_tier, grace_period};
  return with_due_retry<usage_snapshot>(due, [&](std::optional<std::string>& due_user) {
    return run_ready<usage_snapshot>(true, [&](connection& c) -> attempt<usage_snapshot> {
      auto r = exec_outcome(c, "kq_load", sql_load, p);
      if (auto* f = std::get_if<failure>(&r)) {
        note_due(*f, due_user);
        f->err = describe(*f, user.str());
        return std::move(*f);
      }
      return read_snapshot(std::get<outcome_row>(r), user);
    });
  });
}

result<consume_outcome> postgres_storage::consume(const consume_request& req) {
  // Every write is keyed: the library makes a key when the caller gave
  // none, so that a retry after a lost acknowledgement is recognised.
  const std::string key = req.ctx.id ? req.ctx.id->str() : "kq-auto-" + detail::new_reservation_id().substr(2);
  const std::optional<std::string> res_id =
      req.reserve ? std::optional<std::string>(detail::new_reservation_id()) : std::nullopt;
  params p{req.user.str(),
           format_db_date(req.day),
           format_db_time(req.now),
           text_of(req.messages),
           text_of(req.tokens),
           std::string(req.reserve ? "true" : "false"),
           res_id,
           req.reserve ? std::optional<std::string>(format_db_time(req.now + req.reservation_ttl)) : std::nullopt,
           key,
           req.ctx.ip,
           req.ctx.user_agent,
           fmt::format("{}", req.warning_threshold),
           req.default_tier.str(),
           std::string(req.ctx.id ? "caller" : "auto"),
           text_of(detail::max_count),
           std::string(req.shadow ? "true" : "false"),
           text_of(req.grace_period.count())};
  const due_request due{req.now, req.day, req.default_tier, req.grace_period};
  auto answer = [&](std::variant<outcome_row, failure>& r, std::optional<std::string>& due_user,
                    connection*) -> attempt<consume_outcome> {
    if (auto* f = std::get_if<failure>(&r)) {
      note_due(*f, due_user);
      f->err = describe(*f, f->sqlstate == "KQ003" ? std::string_view(key) : std::string_view(req.user.str()));
      if (f->connection_lost && f->sent && !req.ctx.id) p[13] = "auto-retry";
      return std::move(*f);
    }
    const outcome_row& x = std::get<outcome_row>(r);
    const rows& rs = x.o;
    consume_outcome o;
    o.allowed = rs.boolean(0, oc_allowed);
    o.denied_by = detail::parse_limit_kind(rs.text(0, oc_denied_by));
    o.shadow = o.allowed && o.denied_by != limit_kind::none;
    // A replay of the library's own key is the answer to this very call.
    o.replayed = rs.boolean(0, oc_replayed) && req.ctx.id.has_value();
    if (!rs.null(0, oc_reservation_id)) o.reservation = reservation_id{std::string(rs.text(0, oc_reservation_id))};
    o.snapshot = read_snapshot(x, req.user);
    return o;
  };
  return write<consume_outcome>(due, "kq_consume", sql_consume, p, answer);
}

result<record_outcome> postgres_storage::record(const record_request& req) {
  const std::string key = req.ctx.id ? req.ctx.id->str() : "kq-auto-" + detail::new_reservation_id().substr(2);
  params p{req.user.str(),
           format_db_date(req.day),
           format_db_time(req.now),
           text_of(req.messages),
           text_of(req.tokens),
           key,
           req.ctx.ip,
           req.ctx.user_agent,
           fmt::format("{}", req.warning_threshold),
           req.default_tier.str(),
           text_of(detail::max_count),
           std::string(req.ctx.id ? "caller" : "auto"),
           text_of(req.grace_period.count())};
  const due_request due{req.now, req.day, req.default_tier, req.grace_period};
  auto answer = [&](std::variant<outcome_row, failure>& r, std::optional<std::string>& due_user,
                    connection*) -> attempt<record_outcome> {
    if (auto* f = std::get_if<failure>(&r)) {
      note_due(*f, due_user);
      f->err = describe(*f, f->sqlstate == "KQ003" ? std::string_view(key) : std::string_view(req.user.str()));
      if (f->connection_lost && f->sent && !req.ctx.id) p[11] = "auto-retry";
      return std::move(*f);
    }
    const outcome_row& x = std::get<outcome_row>(r);
    record_outcome o;
    o.replayed = x.o.boolean(0, oc_replayed) && req.ctx.id.has_value();
    o.snapshot = read_snapshot(x, req.user);
    return o;
  };
  return write<record_outcome>(due, "kq_record", sql_record, p, answer);
}

result<settle_outcome> postgres_storage::settle(const settle_request& req) {
  params p{req.id.str(),
           req.actual_tokens ? std::optional<std::string>(text_of(*req.actual_tokens)) : std::nullopt,
           format_db_time(req.now),
           format_db_date(req.day),
           req.default_tier.str(),
           text_of(detail::max_count),
           text_of(req.grace_period.count())};
  const std::string_view target = req.actual_tokens ? "committed" : "released";
  bool in_doubt = false;
  const due_request due{req.now, req.day, req.default_tier, req.grace_period};
  auto answer = [&](std::variant<outcome_row, failure>& x, std::optional<std::string>& due_user,
                    connection* conn) -> attempt<settle_outcome> {
    if (auto* f = std::get_if<failure>(&x)) {
      note_due(*f, due_user);
      if (f->connection_lost && f->sent) in_doubt = true;
      if (f->sqlstate == "KQ005" && in_doubt && f->err.message == target && conn) {
        // Our earlier attempt was applied; its acknowledgement was lost.
        connection& c = *conn;
        auto g = c.exec("kq_get_reservation", sql_get_reservation, {req.id.str()});
        if (auto* gf = std::get_if<failure>(&g)) return std::move(*gf);
        settle_outcome o;
        o.res = read_reservation(std::get<rows>(g), 0);
        auto s = exec_outcome(c, "kq_load", sql_load,
                              {o.res.user.str(), format_db_date(req.day), format_db_time(req.now),
                               req.default_tier.str(), text_of(req.grace_period.count())});
        if (auto* sf = std::get_if<failure>(&s)) {
          note_due(*sf, due_user);
          return std::move(*sf);
        }
        o.snapshot = read_snapshot(std::get<outcome_row>(s), o.res.user);
        return o;
      }
      f->err = describe(*f, req.id.str());
      return std::move(*f);
    }
    const outcome_row& row = std::get<outcome_row>(x);
    const rows& rs = row.o;
    settle_outcome o;
    o.res.id = req.id;
    o.res.user = user_id{std::string(rs.text(0, oc_res_user))};
    o.res.usage_date = parse_db_date(rs.text(0, oc_res_day)).value_or(local_date{});
    o.res.messages = rs.i64(0, oc_res_messages);
    o.res.estimated_tokens = rs.i64(0, oc_res_estimated);
    o.res.actual_tokens = rs.opt_i64(0, oc_res_actual);
    o.res.state = detail::parse_reservation_state(rs.text(0, oc_res_state)).value_or(reservation_state::open);
    o.res.created_at = opt_time(rs, 0, oc_res_created).value_or(sys_time{});
    o.res.expires_at = opt_time(rs, 0, oc_res_expires).value_or(sys_time{});
    o.snapshot = read_snapshot(row, o.res.user);
    return o;
  };
  return write<settle_outcome>(due, "kq_settle", sql_settle, p, answer);
}

result<reservation> postgres_storage::get_reservation(const reservation_id& id) {
  return run_ready<reservation>(true, [&](connection& c) -> attempt<reservation> {
    auto r = c.exec("kq_get_reservation", sql_get_reservation, {id.str()});
    if (auto* f = std::get_if<failure>(&r)) return std::move(*f);
    const rows& rs = std::get<rows>(r);
    if (rs.size() == 0) return as_failure(error_text::no_such_reservation(id.str()));
    return read_reservation(rs, 0);
  });
}

result<std::int64_t> postgres_storage::expire_reservations(sys_time now) {
  std::int64_t total = 0;
  for (;;) {
    auto n = run_ready<std::int64_t>(true, [&](connection& c) -> attempt<std::int64_t> {
      auto r = c.exec("kq_expire", sql_expire, {format_db_time(now)});
      if (auto* f = std::get_if<failure>(&r)) return std::move(*f);
      return std::get<rows>(r).i64(0, 0);
    });
    if (!n) return n.error();
    total += n.value();
    if (n.value() < 500) return total;
  }
}

result<std::int64_t> postgres_storage::prune_request_ids(sys_time before) {
  std::int64_t total = 0;
  for (;;) {
    // One short transaction per batch; deleting is safe to repeat.
    auto n = run_ready<std::int64_t>(true, [&](connection& c) -> attempt<std::int64_t> {
      auto r = c.exec("kq_prune_request_ids", sql_prune_request_ids,
                      {format_db_time(before), std::to_string(detail::prune_request_ids_batch)});
      if (auto* f = std::get_if<failure>(&r)) return std::move(*f);
      return std::get<rows>(r).affected();
    });
    if (!n) return n.error();
    total += n.value();
    if (n.value() < detail::prune_request_ids_batch) return total;
  }
}

result<std::int64_t> postgres_storage::reset(const reset_request& req) {
  params p{std::string(req.kind == reset_kind::daily ? "true" : "false"),
           req.user ? std::optional<std::string>(req.user->str()) : std::nullopt, format_db_date(req.day),
           format_db_time(req.now)};
  if (req.user) {
    return run_ready<std::int64_t>(false, [&](connection& c) -> attempt<std::int64_t> {
      auto r = c.exec("kq_reset", sql_reset, p);
      if (auto* f = std::get_if<failure>(&r)) {
        f->err = describe(*f, req.user->str());
        return std::move(*f);
      }
      return std::get<rows>(r).i64(0, 0);
    });
  }
  // All users: one transaction per chunk of users (see reset_chunk_users).
  std::int64_t total = 0;
  std::optional<std::string> after;
  for (;;) {
    params chunk{p[0], after, std::to_string(detail::reset_chunk_users), p[2], p[3]};
    auto next = run_ready<std::optional<std::string>>(false, [&](connection& c) -> attempt<std::optional<std::string>> {
      auto r = c.exec("kq_reset_next", sql_reset_next, chunk);
      if (auto* f = std::get_if<failure>(&r)) {
        f->err = describe(*f, std::string());
        return std::move(*f);
      }
      const auto& rs = std::get<rows>(r);
      total += rs.i64(0, 0);
      return rs.opt_text(0, 1);
    });
    if (!next) return detail::reset_stopped(next.error(), total);
    if (!next.value()) return total;
    after = std::move(next).value();
  }
}

// ---------------------------------------------------------------------------
// Audit.

result<std::int64_t> postgres_storage::append_event(const usage_event& e) {
  params p{e.user.str(), e.event_type, text_of(e.messages_count), text_of(e.tokens_count),          e.quota_tier,
           e.request_ip, e.user_agent, e.event_metadata,          format_db_time(e.event_timestamp)};
  return run_ready<std::int64_t>(false, [&](connection& c) -> attempt<std::int64_t> {
    auto r = c.exec("kq_append_event", sql_append_event, p);
    if (auto* f = std::get_if<failure>(&r)) {
      f->err = f->sqlstate == "22P02" && e.event_metadata
                   ? make_error(errc::invalid_argument, "event_metadata is not valid JSON")
                   : describe(*f, e.user.str());
      return std::move(*f);
    }
    const rows& rs = std::get<rows>(r);
    if (rs.size() == 0) return as_failure(error_text::unknown_user(e.user.str()));
    return rs.i64(0, 0);
  });
}

result<std::vector<usage_event>> postgres_storage::events(const event_query& q) {
  params p{q.user.str(), q.event_type, text_of(q.limit)};
  return run_ready<std::vector<usage_event>>(true, [&](connection& c) -> attempt<std::vector<usage_event>> {
    auto r = c.exec("kq_events", sql_events, p);
    if (auto* f = std::get_if<failure>(&r)) {
      f->err = describe(*f, q.user.str());
      return std::move(*f);
    }
    const rows& rs = std::get<rows>(r);
    std::vector<usage_event> out;
    out.reserve(static_cast<std::size_t>(rs.size()));
    for (int i = 0; i < rs.size(); ++i) {
      usage_event e;
      e.id = rs.i64(i, 0);
      e.user = user_id{std::string(rs.text(i, 1))};
      e.event_type = std::string(rs.text(i, 2));
      e.messages_count = rs.i64(i, 3);
      e.tokens_count = rs.i64(i, 4);
      e.quota_tier = rs.opt_text(i, 5);
      e.request_ip = rs.opt_text(i, 6);
      e.user_agent = rs.opt_text(i, 7);
      e.event_metadata = rs.opt_text(i, 8);
      if (!rs.null(i, 9)) e.usage_date = parse_db_date(rs.text(i, 9));
      e.event_timestamp = opt_time(rs, i, 10).value_or(sys_time{});
      out.push_back(std::move(e));
    }
    return out;
  });
}

}  // namespace detail::postgres

namespace detail {
result<std::unique_ptr<storage>> open_postgres_storage(const postgres_options& opts) {
  try {
    return postgres::postgres_storage::open(opts);
  } catch (const std::exception& e) {
    return make_error(errc::internal, fmt::format("unexpected failure opening PostgreSQL: {}", e.what()));
  }
}
}  // namespace detail

}  // namespace kauri_quota
