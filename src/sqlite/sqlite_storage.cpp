// The operations of the SQLite backend, in the order of the storage
// interface: open, tiers, users and subscriptions, usage, reservations,
// resets and the audit log. Each is one transaction (see backend.hpp).
#include "sqlite/sqlite_storage.hpp"

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

#include <kauri_quota/json.hpp>

#include <algorithm>
#include <filesystem>

namespace kauri_quota {
namespace detail::sqlite {

result<std::unique_ptr<connection>> sqlite_storage::new_connection() const {
  try {
    return std::make_unique<connection>(path_, flags_, opts_);
  } catch (const SQLite::Exception& e) {
    return from_sqlite(e);
  }
}

result<std::unique_ptr<storage>> sqlite_storage::open(const sqlite_options& opts) {
  if (opts.path.empty()) return make_error(errc::invalid_argument, "SQLite path is empty");
  if (opts.path.find('\0') != std::string::npos)
    return make_error(errc::invalid_argument, "SQLite path contains a NUL byte");
  if (opts.busy_timeout.count() < 0 || opts.busy_timeout > std::chrono::hours(1))
    return make_error(errc::invalid_argument, "busy_timeout must be between 0 and 1 hour");
  if (opts.pool_size < 1 || opts.pool_size > 256)
    return make_error(errc::invalid_argument, "pool_size must be between 1 and 256");
  BOOST_OUTCOME_TRY(detail::validate_batch_options(opts.batch));
  std::unique_ptr<sqlite_storage> s(new sqlite_storage(opts));
  s->flags_ = SQLite::OPEN_READWRITE | SQLite::OPEN_NOMUTEX;
  if (opts.create) s->flags_ |= SQLite::OPEN_CREATE;
  const bool memory = opts.path == ":memory:";
  if (!memory && !opts.create) {
    std::error_code ec;
    if (!std::filesystem::exists(opts.path, ec))
      return make_error(errc::storage_unavailable,
                        fmt::format("database file not found: {}", detail::quote_for_message(opts.path)));
  }
  s->path_ = opts.path;
  s->pool_ = std::make_unique<detail::connection_pool<connection>>(memory ? 1 : opts.pool_size);
  if (opts.batch.enabled) s->batch_ = std::make_unique<detail::batcher<write_item>>(opts.batch, 1);
  try {
    auto c = std::make_unique<connection>(s->path_, s->flags_, opts);
    if (!memory) {
      SQLite::Statement wal(c->db(), "PRAGMA journal_mode = WAL");
      wal.executeStep();
      std::string mode = wal.getColumn(0).getString();
      if (mode != "wal")
        return make_error(errc::storage_unavailable,
                          fmt::format("cannot enable WAL on {} (journal_mode is {})", opts.path, mode));
    }
    // Fail now, not on first use, if the file is not a database.
    c->db().exec("SELECT count(*) FROM sqlite_master");
    s->pool_->adopt(std::move(c));
  } catch (const SQLite::Exception& e) {
    return make_error(
        map_sqlite_code(e.getErrorCode()) == errc::internal ? errc::storage_unavailable
                                                            : map_sqlite_code(e.getErrorCode()),
        fmt::format("cannot open SQLite database {}: {}", detail::quote_for_message(opts.path), e.what()));
  } catch (const std::exception& e) {
    return make_error(errc::storage_unavailable, fmt::format("cannot open SQLite database: {}", e.what()));
  }
  if (opts.auto_migrate) {
    auto r = s->migrate({});
    if (!r) return r.error();
  }
  return std::unique_ptr<storage>(std::move(s));
}

// ---------------------------------------------------------------------------
// Tiers.

result<std::vector<tier>> sqlite_storage::tiers(bool visible_only) {
  return run_ready([&](connection& c) -> result<std::vector<tier>> {
    std::vector<tier> out;
    auto& s = c.stmt(sql_all_tiers);
    while (s.executeStep()) {
      tier t = read_tier(s, 0);
      if (!visible_only || t.is_visible) out.push_back(std::move(t));
    }
    return out;
  });
}

result<tier> sqlite_storage::get_tier(const tier_id& id) {
  return run_ready([&](connection& c) -> result<tier> {
    auto& s = c.stmt(sql_get_tier);
    s.bind(1, id.str());
    if (!s.executeStep()) return error_text::unknown_tier(id.str());
    tier t = read_tier(s, 0);
    s.reset();
    return t;
  });
}

result<tier> sqlite_storage::update_tier(const tier_update& u, sys_time now) {
  return run_ready([&](connection& c) -> result<tier> {
    txn tx(c, true);
    auto& s = c.stmt(sql_update_tier);
    s.bind(1, u.id.str());
    s.bind(2, u.name.has_value());
    bind_opt(s, 3, u.name);
    s.bind(4, u.name_fr.has_value());
    bind_opt(s, 5, u.name_fr);
    s.bind(6, u.messages_per_day.has_value());
    bind_limit(s, 7, u.messages_per_day.value_or(std::nullopt));
    s.bind(8, u.messages_per_month.has_value());
    bind_limit(s, 9, u.messages_per_month.value_or(std::nullopt));
    s.bind(10, u.tokens_per_month.has_value());
    bind_limit(s, 11, u.tokens_per_month.value_or(std::nullopt));
    s.bind(12, u.price_fcfa.has_value());
    bind_i64(s, 13, u.price_fcfa.value_or(0));
    s.bind(14, u.display_order.has_value());
    s.bind(15, u.display_order.value_or(0));
    s.bind(16, u.is_visible.has_value());
    s.bind(17, u.is_visible.value_or(false) ? 1 : 0);
    s.bind(18, format_db_time(now));
    if (s.exec() == 0) return error_text::unknown_tier(u.id.str());
    auto& g = c.stmt(sql_get_tier);
    g.bind(1, u.id.str());
    g.executeStep();
    tier t = read_tier(g, 0);
    g.reset();
    tx.commit();
    return t;
  });
}

// ---------------------------------------------------------------------------
// Users and subscriptions.

// twin: schema/postgres/functions/operations.sql kauri_quota_create_user
result<subscription> sqlite_storage::create_user(const new_user& nu) {
  return run_ready([&](connection& c) -> result<subscription> {
    txn tx(c, true);
    auto& e = c.stmt(sql_user_exists);
    e.bind(1, nu.user.str());
    if (e.executeStep()) return error_text::user_exists(nu.user.str());
    e.reset();
    auto& t = c.stmt(sql_get_tier);
    t.bind(1, nu.tier.str());
    if (!t.executeStep()) return error_text::unknown_tier(nu.tier.str());
    t.reset();
    auto& ins = c.stmt(sql_insert_user);
    ins.bind(1, nu.user.str());
    bind_opt(ins, 2, nu.email);
    ins.bind(3, format_db_time(nu.now));
    ins.bind(4, nu.tier.str());
    bind_opt(ins, 5, nu.time_zone);
    try {
      ins.exec();
    } catch (const SQLite::Exception& ex) {
      if (ex.getErrorCode() == SQLITE_CONSTRAINT)
        return make_error(errc::invalid_argument,
                          fmt::format("the users table refused the new row ({}); create users in the host "
                                      "application and call assign_default_subscription",
                                      ex.what()));
      throw;
    }
    usage_event ev;
    ev.user = nu.user;
    ev.event_type = "subscription_assigned";
    ev.quota_tier = nu.tier.str();
    ev.event_timestamp = nu.now;
    detail::json_writer meta;
    meta.begin_object().field("tier", nu.tier.str()).field("status", "active").end_object();
    ev.event_metadata = meta.take();
    insert_event(c, ev, std::nullopt);
    tx.commit();
    subscription sub;
    sub.user = nu.user;
    sub.email = nu.email;
    sub.tier = nu.tier;
    sub.status = subscription_status::active;
    sub.start_date = nu.now;
    sub.created_at = nu.now;
    sub.time_zone = nu.time_zone;
    return sub;
  });
}

result<subscription> sqlite_storage::get_subscription(const user_id& user) {
  return run_ready([&](connection& c) -> result<subscription> { return load_subscription(c, user); });
}

// twin: schema/postgres/functions/operations.sql kauri_quota_set_subscription
result<subscription> sqlite_storage::set_subscription(const subscription_change& ch) {
  return run_ready([&](connection& c) -> result<subscription> {
    txn tx(c, true);
    auto& s = c.stmt(sql_subject);
    s.bind(1, ch.user.str());
    if (!s.executeStep()) return error_text::unknown_user(ch.user.str());
    subscription before;
    before.user = ch.user;
    read_subscription(s, before);
    s.reset();
    auto& t = c.stmt(sql_get_tier);
    t.bind(1, ch.tier.str());
    if (!t.executeStep()) return error_text::unknown_tier(ch.tier.str());
    t.reset();
    const auto status = ch.status.value_or(subscription_status::active);
    auto& u = c.stmt(sql_set_subscription);
    u.bind(1, ch.user.str());
    u.bind(2, ch.tier.str());
    u.bind(3, to_string(status));
    u.bind(4, format_db_time(ch.now));
    bind_opt(u, 5, ch.end_date ? std::optional<std::string>(format_db_time(*ch.end_date)) : std::nullopt);
    bind_opt(u, 6, ch.trial_end_date ? std::optional<std::string>(format_db_time(*ch.trial_end_date)) : std::nullopt);
    u.exec();
    usage_event ev;
    ev.user = ch.user;
    ev.event_type = ch.event_type;
    ev.quota_tier = ch.tier.str();
    ev.request_ip = ch.ctx.ip;
    ev.user_agent = ch.ctx.user_agent;
    ev.event_timestamp = ch.now;
    detail::json_writer meta;
    meta.begin_object()
        .field("from_tier", before.tier.str())
        .field("to_tier", ch.tier.str())
        .field("from_status", to_string(before.status))
        .field("to_status", to_string(status))
        .end_object();
    ev.event_metadata = meta.take();
    insert_event(c, ev, ch.ctx.id);
    tx.commit();
    return before;
  });
}

// ---------------------------------------------------------------------------
// Usage and reservations.

result<usage_snapshot> sqlite_storage::snapshot(const user_id& user, local_date day, sys_time now,
                                                const tier_id& default_tier, std::chrono::seconds grace_period) {
  // The subscription (for the user's day) and the state are read in one
  // read transaction: one snapshot, and one take of the WAL read lock
  // instead of one per statement. A transition due is written first, in
  // its own write transaction, so that a read never shows a due state.
  return run_ready([&](connection& c) -> result<usage_snapshot> {
    {
      txn rtx(c, false);
      BOOST_OUTCOME_TRY(sub, load_subscription(c, user));
      if (!detail::transition_due(sub, now, grace_period)) {
        auto state = load_state(c, user, user_day(sub, now, day), now, default_tier);
        rtx.commit();
        return state;
      }
    }
    txn tx(c, true);
    BOOST_OUTCOME_TRY(settled, settle_due(c, user, now, day, default_tier, grace_period, {}));
    tx.commit();
    return load_state(c, user, settled, now, default_tier);
  });
}

// Group commit. Every item gets exactly one answer: its own result when it
// ran and its changes stay (committed) or were undone alone (its savepoint
// rolled back); the shared transaction's error when that transaction did
// not commit, for every item whose changes it carried or that never ran.
void sqlite_storage::run_write_batch(const std::vector<write_item*>& items) noexcept {
  const bool alone = items.size() == 1;
  // answered[i]: items[i] failed alone and keeps its own error, whatever
  // becomes of the transaction.
  std::vector<char> answered(items.size(), 0);
  auto r = run_ready([&](connection& c) -> result<void> {
    txn tx(c, true);
    if (alone) {
      if (!items[0]->run(c)) {
        answered[0] = 1;
        return kauri_quota::ok();  // the guard rolls the transaction back
      }
      tx.commit();
      return kauri_quota::ok();
    }
    for (std::size_t i = 0; i < items.size(); ++i) {
      c.stmt("SAVEPOINT kauri_quota_request").exec();
      bool kept = false;
      try {
        kept = items[i]->run(c);
      } catch (const SQLite::Exception& e) {
        // After some errors (a full disk, an I/O error) SQLite has ended
        // the whole transaction: then nothing of the batch is kept.
        if (sqlite3_get_autocommit(c.handle()) != 0) throw;
        items[i]->fail(from_sqlite(e));
      } catch (const std::bad_alloc&) {
        items[i]->fail(make_error(errc::internal, "out of memory"));
      } catch (const std::exception& e) {
        items[i]->fail(make_error(errc::internal, fmt::format("unexpected failure: {}", e.what())));
      }
      if (kept) {
        c.stmt("RELEASE kauri_quota_request").exec();
      } else {
        answered[i] = 1;
        // No statement may be left mid-step across the rollback.
        c.reset_all();
        c.stmt("ROLLBACK TO kauri_quota_request").exec();
        c.stmt("RELEASE kauri_quota_request").exec();
      }
    }
    tx.commit();
    return kauri_quota::ok();
  });
  if (!r)
    for (std::size_t i = 0; i < items.size(); ++i)
      if (!answered[i]) items[i]->fail(r.error());
}

// twin: schema/postgres/functions/operations.sql kauri_quota_consume
result<consume_outcome> sqlite_storage::consume(const consume_request& req) {
  return write<consume_outcome>([&](connection& c) { return consume_in(c, req); });
}

result<consume_outcome> sqlite_storage::consume_in(connection& c, const consume_request& req) {
  BOOST_OUTCOME_TRY(day, settle_due(c, req.user, req.now, req.day, req.default_tier, req.grace_period, req.ctx));
  const std::string op = req.reserve ? "reserve" : "consume";
  const std::string fp = detail::fingerprint(op, req.messages, req.tokens);
  consume_outcome out;
  if (req.ctx.id) {
    if (auto k = find_key(c, req.user, *req.ctx.id)) {
      if (k->operation != op || k->fingerprint != fp) return detail::mismatch_error(*req.ctx.id, k->operation);
      BOOST_OUTCOME_TRY(snap, load_state(c, req.user, day, req.now, req.default_tier));
      out.allowed = k->allowed;
      out.denied_by = k->denied_by;
      out.shadow = k->allowed && k->denied_by != limit_kind::none;
      out.reservation = k->reservation;
      out.snapshot = std::move(snap);
      out.replayed = true;
      return out;
    }
  }
  bool day_row = false;
  BOOST_OUTCOME_TRY(snap, load_state(c, req.user, day, req.now, req.default_tier, &day_row));
  const limit_kind kind = detail::evaluate(snap.applied, snap.counters, req.messages, req.tokens);
  usage_event ev;
  ev.user = req.user;
  ev.quota_tier = snap.applied.id.str();
  ev.request_ip = req.ctx.ip;
  ev.user_agent = req.ctx.user_agent;
  ev.usage_date = day;
  ev.event_timestamp = req.now;
  usage after = snap.counters;
  if (kind == limit_kind::none || req.shadow) {
    BOOST_OUTCOME_TRY(counted,
                      count_usage(c, req.user, day, snap.counters, req.messages, req.tokens, req.now, day_row));
    after = counted;
    if (kind != limit_kind::none) {
      // A shadow admission: the denial it would have been, flagged, then
      // the row that counts it (see consume_request::shadow).
      usage_event denial = ev;
      denial.event_type = "quota_exceeded";
      std::string meta = detail::denial_metadata(kind, snap.applied, snap.counters, req.messages, req.tokens);
      meta.insert(meta.rfind('}'), ",\"shadow\":true");
      denial.event_metadata = std::move(meta);
      insert_event(c, denial, req.ctx.id);
    }
    ev.event_type = req.reserve ? "reservation_created" : kind == limit_kind::none ? "message_sent" : "usage_recorded";
    ev.messages_count = req.messages;
    ev.tokens_count = req.tokens;
    if (req.reserve) {
      out.reservation = reservation_id{detail::new_reservation_id()};
      auto& r = c.stmt(sql_insert_reservation);
      r.bind(1, out.reservation->str());
      r.bind(2, req.user.str());
      r.bind(3, format_db_date(day));
      bind_i64(r, 4, req.messages);
      bind_i64(r, 5, req.tokens);
      bind_opt(r, 6, req.ctx.id ? std::optional<std::string>(req.ctx.id->str()) : std::nullopt);
      r.bind(7, format_db_time(req.now));
      r.bind(8, format_db_time(req.now + req.reservation_ttl));
      r.exec();
      detail::json_writer meta;
      meta.begin_object()
          .field("reservation_id", out.reservation->str())
          .field("expires_at", kauri_quota::format_time(req.now + req.reservation_ttl))
          .end_object();
      ev.event_metadata = meta.take();
    }
    insert_event(c, ev, req.ctx.id);
    audit_warnings(c, snap, after, req.warning_threshold, req.now, day);
    out.allowed = true;
    out.denied_by = kind;
    out.shadow = kind != limit_kind::none;
  } else {
    ev.event_type = "quota_exceeded";
    ev.event_metadata = detail::denial_metadata(kind, snap.applied, snap.counters, req.messages, req.tokens);
    insert_event(c, ev, req.ctx.id);
    out.allowed = false;
    out.denied_by = kind;
  }
  if (req.ctx.id)
    put_key(c, req.user, *req.ctx.id, {op, fp, out.allowed, out.denied_by, out.reservation}, day, req.now);
  snap.counters = after;
  out.snapshot = std::move(snap);
  return out;
}

result<usage> sqlite_storage::count_usage(connection& c, const user_id& user, local_date day, const usage& before,
                                          std::int64_t messages, std::int64_t tokens, sys_time now, bool day_row) {
  usage after = before;
  BOOST_OUTCOME_TRY(mt, detail::checked_add("messages_this_month", after.messages_this_month, messages));
  BOOST_OUTCOME_TRY(tt, detail::checked_add("tokens_this_month", after.tokens_this_month, tokens));
  after.messages_this_month = mt;
  after.tokens_this_month = tt;
  after.messages_today += messages;
  after.tokens_today += tokens;
  apply_delta(c, user, day, messages, tokens, now, day_row);
  return after;
}

// twin: schema/postgres/functions/operations.sql kauri_quota_record
result<record_outcome> sqlite_storage::record(const record_request& req) {
  return write<record_outcome>([&](connection& c) { return record_in(c, req); });
}

result<record_outcome> sqlite_storage::record_in(connection& c, const record_request& req) {
  BOOST_OUTCOME_TRY(day, settle_due(c, req.user, req.now, req.day, req.default_tier, req.grace_period, req.ctx));
  const std::string fp = detail::fingerprint("record", req.messages, req.tokens);
  record_outcome out;
  if (req.ctx.id) {
    if (auto k = find_key(c, req.user, *req.ctx.id)) {
      if (k->operation != "record" || k->fingerprint != fp) return detail::mismatch_error(*req.ctx.id, k->operation);
      BOOST_OUTCOME_TRY(snap, load_state(c, req.user, day, req.now, req.default_tier));
      out.snapshot = std::move(snap);
      out.replayed = true;
      return out;
    }
  }
  bool day_row = false;
  BOOST_OUTCOME_TRY(snap, load_state(c, req.user, day, req.now, req.default_tier, &day_row));
  BOOST_OUTCOME_TRY(after, count_usage(c, req.user, day, snap.counters, req.messages, req.tokens, req.now, day_row));
  usage_event ev;
  ev.user = req.user;
  ev.event_type = "usage_recorded";
  ev.messages_count = req.messages;
  ev.tokens_count = req.tokens;
  ev.quota_tier = snap.applied.id.str();
  ev.request_ip = req.ctx.ip;
  ev.user_agent = req.ctx.user_agent;
  ev.usage_date = day;
  ev.event_timestamp = req.now;
  insert_event(c, ev, req.ctx.id);
  audit_warnings(c, snap, after, req.warning_threshold, req.now, day);
  if (req.ctx.id) put_key(c, req.user, *req.ctx.id, {"record", fp, true, limit_kind::none, std::nullopt}, day, req.now);
  snap.counters = after;
  out.snapshot = std::move(snap);
  return out;
}

result<reservation> sqlite_storage::get_reservation(const reservation_id& id) {
  return run_ready([&](connection& c) -> result<reservation> {
    auto& s = c.stmt(sql_get_reservation);
    s.bind(1, id.str());
    if (!s.executeStep()) return error_text::no_such_reservation(id.str());
    reservation r = read_reservation(s);
    s.reset();
    return r;
  });
}

// twin: schema/postgres/functions/operations.sql kauri_quota_settle
result<settle_outcome> sqlite_storage::settle(const settle_request& req) {
  return write<settle_outcome>([&](connection& c) { return settle_in(c, req); });
}

result<settle_outcome> sqlite_storage::settle_in(connection& c, const settle_request& req) {
  auto& s = c.stmt(sql_get_reservation);
  s.bind(1, req.id.str());
  if (!s.executeStep()) return error_text::no_such_reservation(req.id.str());
  reservation r = read_reservation(s);
  s.reset();
  BOOST_OUTCOME_TRY(detail::check_settleable(r, req.now));
  BOOST_OUTCOME_TRY(today, settle_due(c, r.user, req.now, req.day, req.default_tier, req.grace_period, {}));
  // Refunds never take a day below zero (an administrative reset may have
  // zeroed it meanwhile); the audit row carries what was really moved.
  const usage day_usage = load_counters(c, r.user, r.usage_date);
  std::int64_t dm = 0;
  std::int64_t dt = 0;
  usage_event ev;
  ev.user = r.user;
  ev.usage_date = r.usage_date;
  ev.event_timestamp = req.now;
  if (req.actual_tokens) {
    dt = *req.actual_tokens - r.estimated_tokens;
    if (dt < 0) dt = std::max(dt, -day_usage.tokens_today);
    BOOST_OUTCOME_TRY(
        detail::checked_add("tokens_this_month", day_usage.tokens_this_month, std::max<std::int64_t>(dt, 0)));
    r.state = reservation_state::committed;
    r.actual_tokens = req.actual_tokens;
    ev.event_type = "reservation_committed";
  } else {
    dm = -std::min(r.messages, day_usage.messages_today);
    dt = -std::min(r.estimated_tokens, day_usage.tokens_today);
    r.state = reservation_state::released;
    ev.event_type = "reservation_released";
  }
  apply_delta(c, r.user, r.usage_date, dm, dt, req.now);
  auto& u = c.stmt(sql_close_reservation);
  u.bind(1, r.id.str());
  u.bind(2, to_string(r.state));
  bind_limit(u, 3, r.actual_tokens);
  u.bind(4, format_db_time(req.now));
  u.exec();
  ev.messages_count = dm;
  ev.tokens_count = dt;
  ev.event_metadata = detail::reservation_metadata(r);
  BOOST_OUTCOME_TRY(snap, load_state(c, r.user, today, req.now, req.default_tier));
  ev.quota_tier = snap.applied.id.str();
  insert_event(c, ev, std::nullopt);
  return settle_outcome{std::move(r), std::move(snap)};
}

// twin: schema/postgres/functions/operations.sql kauri_quota_expire
result<std::int64_t> sqlite_storage::expire_reservations(sys_time now) {
  return run_ready([&](connection& c) -> result<std::int64_t> {
    std::int64_t total = 0;
    for (;;) {
      txn tx(c, true);
      std::vector<reservation> batch;
      auto& s = c.stmt(sql_expired_reservations);
      s.bind(1, format_db_time(now));
      while (s.executeStep()) batch.push_back(read_reservation(s));
      s.reset();
      for (auto& r : batch) {
        r.state = reservation_state::expired;
        r.actual_tokens = r.estimated_tokens;
        auto& u = c.stmt(sql_close_reservation);
        u.bind(1, r.id.str());
        u.bind(2, to_string(r.state));
        bind_limit(u, 3, r.actual_tokens);
        u.bind(4, format_db_time(now));
        u.exec();
        usage_event ev;
        ev.user = r.user;
        ev.event_type = "reservation_expired";
        ev.usage_date = r.usage_date;
        ev.event_timestamp = now;
        ev.event_metadata = detail::reservation_metadata(r);
        insert_event(c, ev, std::nullopt);
      }
      tx.commit();
      total += static_cast<std::int64_t>(batch.size());
      if (batch.size() < 500) break;
    }
    return total;
  });
}

result<std::int64_t> sqlite_storage::prune_request_ids(sys_time before) {
  // Counted outside the attempt: batches already committed stay counted
  // when a later one is retried.
  std::int64_t total = 0;
  return run_ready([&](connection& c) -> result<std::int64_t> {
    for (;;) {
      // Short write transactions, so that no request waits long behind it.
      txn tx(c, true);
      auto& s = c.stmt(sql_prune_request_ids);
      s.bind(1, format_db_time(before));
      s.bind(2, detail::prune_request_ids_batch);
      const int n = s.exec();
      s.reset();
      tx.commit();
      total += n;
      if (n < detail::prune_request_ids_batch) break;
    }
    return total;
  });
}

// twin: schema/postgres/functions/operations.sql kauri_quota_reset_next
result<std::int64_t> sqlite_storage::reset(const reset_request& req) {
  if (req.user) {
    return run_ready([&](connection& c) -> result<std::int64_t> {
      txn tx(c, true);
      auto& e = c.stmt(sql_user_exists);
      e.bind(1, req.user->str());
      if (!e.executeStep()) return error_text::unknown_user(req.user->str());
      e.reset();
      const std::int64_t n = reset_users(c, req, req.user->str(), req.user->str());
      tx.commit();
      return n;
    });
  }
  // All users: one transaction per chunk of users (see reset_chunk_users).
  std::int64_t total = 0;
  std::optional<std::string> after;
  for (;;) {
    auto next = run_ready([&](connection& c) -> result<std::optional<std::string>> {
      txn tx(c, true);
      auto& q = c.stmt(after ? sql_reset_next_chunk : sql_reset_first_chunk);
      if (after) q.bind(1, *after);
      q.bind(after ? 2 : 1, detail::reset_chunk_users);
      q.executeStep();
      if (q.getColumn(0).isNull()) {
        q.reset();
        return std::optional<std::string>();
      }
      const std::string from = q.getColumn(0).getString();
      std::string upto = q.getColumn(1).getString();
      q.reset();
      const std::int64_t n = reset_users(c, req, from, upto);
      tx.commit();
      total += n;
      return std::optional<std::string>(std::move(upto));
    });
    if (!next) return detail::reset_stopped(next.error(), total);
    if (!next.value()) return total;
    after = std::move(next).value();
  }
}

// twin: schema/postgres/functions/operations.sql kauri_quota_reset_users
std::int64_t sqlite_storage::reset_users(connection& c, const reset_request& req, const std::string& from,
                                         const std::string& upto) {
  struct row {
    std::string user;
    local_date day;
    std::int64_t messages, tokens;
  };
  std::vector<row> rows;
  std::vector<std::string> touched;
  // Each user's own today: users without a zone of their own count the
  // service's day, the others their zone's, one group per zone.
  std::vector<std::optional<std::string>> zones{std::nullopt};
  auto& zq = c.stmt(sql_reset_zones);
  zq.bind(1, from);
  zq.bind(2, upto);
  while (zq.executeStep()) zones.push_back(zq.getColumn(0).getString());
  zq.reset();
  for (const auto& tz : zones) {
    const local_date day = detail::own_day_or(tz, req.now, req.day);
    if (req.kind == reset_kind::daily) {
      const std::size_t first_row = rows.size();
      auto& s = c.stmt(sql_day_rows_for_reset);
      s.bind(1, format_db_date(day));
      s.bind(2, from);
      s.bind(3, upto);
      bind_opt(s, 4, tz);
      while (s.executeStep())
        rows.push_back({s.getColumn(0).getString(), day, s.getColumn(1).getInt64(), s.getColumn(2).getInt64()});
      s.reset();
      for (std::size_t i = first_row; i < rows.size(); ++i) {
        const auto& r = rows[i];
        apply_delta(c, user_id{r.user}, r.day, -r.messages, -r.tokens, req.now);
      }
    } else {
      const auto zeroed = zero_month(c, from, upto, tz, day, req.now);
      touched.insert(touched.end(), zeroed.begin(), zeroed.end());
    }
  }
  for (const auto& r : rows) {
    usage_event ev;
    ev.user = user_id{r.user};
    ev.event_type = "daily_reset";
    ev.messages_count = -r.messages;
    ev.tokens_count = -r.tokens;
    ev.usage_date = r.day;
    ev.event_timestamp = req.now;
    insert_event(c, ev, std::nullopt);
    if (touched.empty() || touched.back() != r.user) touched.push_back(r.user);
  }
  std::sort(touched.begin(), touched.end());
  touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
  return static_cast<std::int64_t>(touched.size());
}

// ---------------------------------------------------------------------------
// Audit.

result<std::int64_t> sqlite_storage::append_event(const usage_event& event) {
  return run_ready([&](connection& c) -> result<std::int64_t> {
    txn tx(c, true);
    auto& e = c.stmt(sql_user_exists);
    e.bind(1, event.user.str());
    if (!e.executeStep()) return error_text::unknown_user(event.user.str());
    e.reset();
    std::int64_t id = insert_event(c, event, std::nullopt);
    tx.commit();
    return id;
  });
}

result<std::vector<usage_event>> sqlite_storage::events(const event_query& q) {
  return run_ready([&](connection& c) -> result<std::vector<usage_event>> {
    std::vector<usage_event> out;
    auto& s = c.stmt(sql_events);
    s.bind(1, q.user.str());
    bind_opt(s, 2, q.event_type);
    bind_i64(s, 3, q.limit);
    while (s.executeStep()) {
      usage_event e;
      e.id = s.getColumn(0).getInt64();
      e.user = user_id{s.getColumn(1).getString()};
      e.event_type = s.getColumn(2).getString();
      e.messages_count = s.getColumn(3).getInt64();
      e.tokens_count = s.getColumn(4).getInt64();
      e.quota_tier = column_text(s.getColumn(5));
      e.request_ip = column_text(s.getColumn(6));
      e.user_agent = column_text(s.getColumn(7));
      e.event_metadata = column_text(s.getColumn(8));
      if (!s.getColumn(9).isNull()) e.usage_date = parse_db_date(s.getColumn(9).getString());
      e.event_timestamp = column_time(s.getColumn(10)).value_or(sys_time{});
      out.push_back(std::move(e));
    }
    return out;
  });
}

}  // namespace detail::sqlite

namespace detail {
result<std::unique_ptr<storage>> open_sqlite_storage(const sqlite_options& opts) {
  return sqlite::sqlite_storage::open(opts);
}
}  // namespace detail

}  // namespace kauri_quota
