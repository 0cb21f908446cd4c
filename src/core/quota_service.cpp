#include <kauri_quota/quota_service.hpp>

#include "core/denial_cache.hpp"
#include "core/json_writer.hpp"
#include "core/lifecycle.hpp"
#include "core/metrics_registry.hpp"
#include "core/period.hpp"
#include "core/policy.hpp"
#include "core/sql_support.hpp"
#include "core/validate.hpp"

#include <fmt/format.h>

namespace kauri_quota {

struct quota_service::impl {
  std::shared_ptr<storage> store;
  service_options opts;
  detail::zone zone;
  std::shared_ptr<const clock> clk;
  std::unique_ptr<detail::metrics_registry> metrics = std::make_unique<detail::metrics_registry>();
  /// Empty when service_options::deny_cache_ttl is.
  std::unique_ptr<detail::denial_cache> denials{};
  /// The storage's announcements of changes made by any program, feeding
  /// `denials`; empty without the cache or when the backend has none.
  /// Declared after `denials`: destroyed (its thread stopped) first.
  std::unique_ptr<change_feed> feed{};

  // After a change of its own the service drops what it changed, then lets
  // the feed catch up with that change (the SQLite counter it moved), so
  // that the next cached denial is not dropped again for it.
  void forget(const user_id& user) {
    if (denials) denials->invalidate(user);
    if (feed) feed->sync();
  }
  void forget_all() {
    if (denials) denials->invalidate_all();
    if (feed) feed->sync();
  }

  sys_time now() const { return clk->now(); }

  /// The zone of a user's days: its own when set (and known), else the
  /// service's.
  detail::zone zone_of(const subscription& s) const { return detail::own_zone_or(s.time_zone, zone); }

  quota_info quota_of(const usage_snapshot& snap) const {
    return detail::make_quota_info(snap, zone_of(snap.sub), opts.warning_threshold);
  }

  /// A lifecycle request of `kind` for `user` at now, with the service's
  /// options.
  lifecycle_request lifecycle(lifecycle_kind kind, const user_id& user, const request_context& ctx = {}) const {
    lifecycle_request req;
    req.kind = kind;
    req.user = user;
    req.now = now();
    req.day = zone.day_of(req.now);
    req.service_time_zone = opts.time_zone;
    req.ctx = ctx;
    req.default_tier = opts.default_tier;
    req.grace_period = opts.grace_period;
    req.currency = opts.currency;
    return req;
  }

  /// One lifecycle change. The user's cached denial is dropped whatever
  /// the answer: a change committed before a lost acknowledgement must not
  /// leave a stale denial behind.
  result<lifecycle_outcome> change(const lifecycle_request& req) {
    auto out = store->change_lifecycle(req);
    forget(req.user);
    return out;
  }

  /// Runs one metered call and counts it.
  template <class F>
  auto timed(metered_call c, F&& call) -> decltype(call()) {
    const auto start = std::chrono::steady_clock::now();
    auto r = call();
    metrics->observe(c, std::chrono::steady_clock::now() - start, r.has_value() ? nullptr : &r.error());
    return r;
  }

  /// try_consume (reserve false) and reserve (true): validate, then one
  /// storage call, then the decision.
  result<decision> decide(const user_id& user, std::string_view tokens_field, std::int64_t tokens,
                          const request_context& ctx, bool reserve) {
    BOOST_OUTCOME_TRY(detail::check_user(user));
    BOOST_OUTCOME_TRY(detail::check_count(tokens_field, tokens));
    BOOST_OUTCOME_TRY(detail::check_context(ctx));
    const sys_time t = now();
    consume_request req;
    req.user = user;
    req.now = t;
    req.day = zone.day_of(t);
    req.tokens = tokens;
    req.ctx = ctx;
    req.reserve = reserve;
    req.reservation_ttl = opts.reservation_ttl;
    req.warning_threshold = opts.warning_threshold;
    req.default_tier = opts.default_tier;
    req.grace_period = opts.grace_period;
    // Shadow mode is decided by the storage, in the request's transaction.
    req.shadow = opts.shadow;
    // A shadow service never refuses, so it neither reads nor fills the cache.
    const bool use_cache = denials && !ctx.id && !opts.shadow;
    if (use_cache) {
      auto hit = denials->find(user, t);
      // Only a hit pays for the feed: a denial cached before a change that
      // the feed has not yet delivered is dropped by sync(), and nothing is
      // answered from memory while the feed cannot be trusted. (An entry
      // stored meanwhile is dropped by the next sync that sees the change.)
      if (hit && feed) hit = feed->sync() ? denials->find(user, t) : std::nullopt;
      if (hit) {
        hit->cached = true;
        hit->retry_after =
            std::max(std::chrono::ceil<std::chrono::seconds>(hit->resets_at - t), std::chrono::seconds{1});
        metrics->decided(*hit);
        return *std::move(hit);
      }
    }
    // Taken before the storage is asked: an invalidation in between keeps
    // the answer out of the cache.
    const std::uint64_t ticket = use_cache ? denials->ticket(user) : 0;
    BOOST_OUTCOME_TRY(o, store->consume(req));
    decision d = make_decision(o, t);
    if (use_cache && !d.allowed) denials->insert(user, d, t, ticket);
    metrics->decided(d);
    return d;
  }

  decision make_decision(const consume_outcome& o, sys_time t) const {
    decision d;
    d.allowed = o.allowed;
    d.replayed = o.replayed;
    d.reservation = o.reservation;
    d.quota = quota_of(o.snapshot);
    d.resets_at = d.quota.daily_resets_at;
    if (o.shadow) {
      // Admitted in shadow mode: the limit that would have refused it.
      d.shadow = true;
      d.denied_by = o.denied_by;
    }
    if (!o.allowed) {
      detail::fill_denial(d, o.denied_by, t);
      // The suggestion is a courtesy: a failure to list tiers must not turn
      // a valid denial into an error.
      if (auto all = store->tiers(true)) {
        d.suggested_tier = detail::suggest_tier(o.snapshot.applied, o.denied_by, all.value());
        for (const auto& candidate : all.value()) {
          if (d.suggested_tier && candidate.id == *d.suggested_tier) {
            d.suggested_tier_name = candidate.name;
            d.suggested_tier_name_fr = candidate.name_fr;
          }
        }
      }
    }
    return d;
  }
};

quota_service::quota_service(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
quota_service::quota_service(quota_service&&) noexcept = default;
quota_service& quota_service::operator=(quota_service&&) noexcept = default;
quota_service::~quota_service() = default;

result<quota_service> quota_service::create(std::shared_ptr<storage> store, service_options opts) {
  if (!store) return make_error(errc::invalid_argument, "quota_service needs a storage");
  BOOST_OUTCOME_TRY(z, detail::zone::locate(opts.time_zone));
  // A lower bound keeps threshold * limit a normal number on every backend
  // (PostgreSQL refuses float underflow).
  if (!(opts.warning_threshold >= 1e-6 && opts.warning_threshold <= 1.0))
    return make_error(errc::invalid_argument, "warning_threshold must be between 0.000001 and 1");
  if (opts.reservation_ttl < std::chrono::seconds{1} || opts.reservation_ttl > std::chrono::hours{24 * 7})
    return make_error(errc::invalid_argument, "reservation_ttl must be between 1 second and 7 days");
  if (opts.request_id_ttl &&
      (*opts.request_id_ttl < std::chrono::minutes{1} || *opts.request_id_ttl > std::chrono::hours{24 * 400}))
    return make_error(errc::invalid_argument, "request_id_ttl must be between 1 minute and 400 days (or empty)");
  if (opts.deny_cache_ttl &&
      (*opts.deny_cache_ttl < std::chrono::seconds{1} || *opts.deny_cache_ttl > std::chrono::hours{1}))
    return make_error(errc::invalid_argument, "deny_cache_ttl must be between 1 second and 1 hour (or empty)");
  if (opts.deny_cache_ttl && (opts.deny_cache_capacity < 1 || opts.deny_cache_capacity > 10'000'000))
    return make_error(errc::invalid_argument, "deny_cache_capacity must be between 1 and 10000000");
  BOOST_OUTCOME_TRY(detail::check_tier_id(opts.default_tier));
  BOOST_OUTCOME_TRY(detail::check_grace_period(opts.grace_period));
  BOOST_OUTCOME_TRY(detail::check_currency(opts.currency));
  auto p = std::make_unique<impl>(impl{std::move(store), std::move(opts), std::move(z), nullptr});
  p->clk = p->opts.time_source ? p->opts.time_source : system_clock();
  if (p->opts.deny_cache_ttl) {
    p->denials = std::make_unique<detail::denial_cache>(*p->opts.deny_cache_ttl, p->opts.deny_cache_capacity);
    p->feed = p->store->watch_changes([cache = p->denials.get()](const std::optional<user_id>& changed) {
      changed ? cache->invalidate(*changed) : cache->invalidate_all();
    });
  }
  return quota_service(std::move(p));
}

storage& quota_service::store() const noexcept { return *impl_->store; }
const service_options& quota_service::options() const noexcept { return impl_->opts; }
sys_time quota_service::now() const { return impl_->now(); }
local_date quota_service::day_of(sys_time t) const { return impl_->zone.day_of(t); }
metrics_snapshot quota_service::metrics() const noexcept { return impl_->metrics->snapshot(); }
void quota_service::invalidate_cached_denials(const user_id& user) { impl_->forget(user); }
void quota_service::invalidate_all_cached_denials() { impl_->forget_all(); }

// --- Subscriptions ----------------------------------------------------------

result<subscription> quota_service::create_user(const user_id& user, std::optional<std::string> email,
                                                std::optional<tier_id> tier) {
  BOOST_OUTCOME_TRY(detail::check_user(user));
  if (email) {
    BOOST_OUTCOME_TRY(detail::check_label("email", *email, 254));
  }
  const tier_id t = tier.value_or(impl_->opts.default_tier);
  BOOST_OUTCOME_TRY(detail::check_tier_id(t));
  return impl_->store->create_user(new_user{user, std::move(email), t, now(), std::nullopt});
}

result<subscription> quota_service::assign_default_subscription(const user_id& user) {
  BOOST_OUTCOME_TRY(detail::check_user(user));
  subscription_change ch;
  ch.user = user;
  ch.tier = impl_->opts.default_tier;
  ch.status = subscription_status::active;
  ch.now = now();
  ch.event_type = "subscription_assigned";
  auto changed = impl_->store->set_subscription(ch);
  impl_->forget(user);
  BOOST_OUTCOME_TRY(std::move(changed));
  return impl_->store->get_subscription(user);
}

result<subscription> quota_service::get_subscription(const user_id& user) {
  BOOST_OUTCOME_TRY(detail::check_user(user));
  BOOST_OUTCOME_TRY(current, impl_->store->get_subscription(user));
  // A read never shows a due state: the transition is written first.
  if (!detail::transition_due(current, now(), impl_->opts.grace_period)) return current;
  BOOST_OUTCOME_TRY(o, impl_->change(impl_->lifecycle(lifecycle_kind::apply_due, user)));
  return o.after;
}

result<upgrade_result> quota_service::upgrade_subscription(const user_id& user, const tier_id& target,
                                                           const request_context& ctx, usage_policy usage) {
  BOOST_OUTCOME_TRY(detail::check_user(user));
  BOOST_OUTCOME_TRY(detail::check_tier_id(target));
  BOOST_OUTCOME_TRY(detail::check_context(ctx));
  BOOST_OUTCOME_TRY(to, impl_->store->get_tier(target));
  auto req = impl_->lifecycle(lifecycle_kind::upgrade, user, ctx);
  req.tier = target;
  req.usage = usage;
  BOOST_OUTCOME_TRY(o, impl_->change(req));
  upgrade_result out;
  if (o.unchanged) {
    out.success = false;
    out.message = fmt::format("User is already on the {} plan", to.name);
    out.sub = std::move(o.after);
    return out;
  }
  auto from = impl_->store->get_tier(o.before.tier);
  out.success = true;
  const bool down = from && from.value().display_order > to.display_order;
  out.message = fmt::format("Successfully {} from {} to {}", down ? "downgraded" : "upgraded",
                            from ? from.value().name : o.before.tier.str(), to.name);
  out.sub = std::move(o.after);
  return out;
}

// --- Subscription lifecycle -------------------------------------------------

namespace {

result<void> check_payment_key(std::string_view provider, std::string_view transaction_id) {
  BOOST_OUTCOME_TRY(detail::check_provider(provider));
  return detail::check_transaction_id(transaction_id);
}

result<void> check_order(const payment& p) {
  BOOST_OUTCOME_TRY(check_payment_key(p.provider, p.transaction_id));
  BOOST_OUTCOME_TRY(detail::check_user(p.user));
  BOOST_OUTCOME_TRY(detail::check_tier_id(p.tier));
  return detail::check_months(p.months);
}

/// The checks both history reads start with.
result<void> check_history_range(const user_id& user, local_date from, local_date to) {
  BOOST_OUTCOME_TRY(detail::check_user(user));
  if (!from.ok() || !to.ok()) return make_error(errc::invalid_argument, "from and to must be calendar days");
  if (std::chrono::sys_days{to} < std::chrono::sys_days{from})
    return make_error(errc::invalid_argument, "from must not be after to");
  return ok();
}

constexpr std::int64_t max_history_days = 400;
constexpr int max_history_months = 120;

}  // namespace

result<subscription> quota_service::start_trial(const user_id& user, const tier_id& tier, std::chrono::seconds length,
                                                const request_context& ctx) {
  BOOST_OUTCOME_TRY(detail::check_user(user));
  BOOST_OUTCOME_TRY(detail::check_tier_id(tier));
  BOOST_OUTCOME_TRY(detail::check_trial_length(length));
  BOOST_OUTCOME_TRY(detail::check_context(ctx));
  if (tier == impl_->opts.default_tier)
    return make_error(errc::invalid_argument, fmt::format("a trial of the default tier {} is not offered",
                                                          detail::quote_for_message(tier.str())));
  auto req = impl_->lifecycle(lifecycle_kind::start_trial, user, ctx);
  req.tier = tier;
  req.trial_length = length;
  BOOST_OUTCOME_TRY(o, impl_->change(req));
  return o.after;
}

result<payment> quota_service::open_payment(const payment& order) {
  BOOST_OUTCOME_TRY(check_order(order));
  auto req = impl_->lifecycle(lifecycle_kind::open_payment, order.user);
  req.pay = order;
  BOOST_OUTCOME_TRY(o, impl_->change(req));
  if (!o.pay) return make_error(errc::internal, "open_payment returned no payment");
  return *o.pay;
}

result<payment_outcome> quota_service::apply_payment(const payment& pay, usage_policy usage) {
  BOOST_OUTCOME_TRY(check_order(pay));
  BOOST_OUTCOME_TRY(detail::check_count("amount", pay.amount));
  BOOST_OUTCOME_TRY(detail::check_currency(pay.currency));
  auto req = impl_->lifecycle(lifecycle_kind::apply_payment, pay.user);
  req.pay = pay;
  req.usage = usage;
  BOOST_OUTCOME_TRY(o, impl_->change(req));
  if (!o.pay) return make_error(errc::internal, "apply_payment returned no payment");
  return payment_outcome{*o.pay, o.after, o.replayed};
}

result<payment> quota_service::fail_payment(const std::string& provider, const std::string& transaction_id,
                                            const std::string& reason) {
  BOOST_OUTCOME_TRY(check_payment_key(provider, transaction_id));
  BOOST_OUTCOME_TRY(detail::check_label("reason", reason, 500));
  BOOST_OUTCOME_TRY(stored, impl_->store->get_payment(provider, transaction_id));
  auto req = impl_->lifecycle(lifecycle_kind::fail_payment, stored.user);
  req.pay.provider = provider;
  req.pay.transaction_id = transaction_id;
  req.reason = reason;
  BOOST_OUTCOME_TRY(o, impl_->change(req));
  if (!o.pay) return make_error(errc::internal, "fail_payment returned no payment");
  return *o.pay;
}

result<payment> quota_service::get_payment(const std::string& provider, const std::string& transaction_id) {
  BOOST_OUTCOME_TRY(check_payment_key(provider, transaction_id));
  return impl_->store->get_payment(provider, transaction_id);
}

result<std::vector<payment>> quota_service::get_payments(const user_id& user) {
  BOOST_OUTCOME_TRY(detail::check_user(user));
  BOOST_OUTCOME_TRY(impl_->store->get_subscription(user));  // unknown_user
  return impl_->store->payments(user);
}

result<subscription> quota_service::cancel_at_period_end(const user_id& user, const request_context& ctx) {
  BOOST_OUTCOME_TRY(detail::check_user(user));
  BOOST_OUTCOME_TRY(detail::check_context(ctx));
  BOOST_OUTCOME_TRY(o, impl_->change(impl_->lifecycle(lifecycle_kind::cancel, user, ctx)));
  return o.after;
}

result<subscription> quota_service::schedule_change(const user_id& user, const tier_id& tier,
                                                    const request_context& ctx) {
  BOOST_OUTCOME_TRY(detail::check_user(user));
  BOOST_OUTCOME_TRY(detail::check_tier_id(tier));
  BOOST_OUTCOME_TRY(detail::check_context(ctx));
  auto req = impl_->lifecycle(lifecycle_kind::schedule, user, ctx);
  req.tier = tier;
  BOOST_OUTCOME_TRY(o, impl_->change(req));
  return o.after;
}

result<subscription> quota_service::undo_scheduled_change(const user_id& user, const request_context& ctx) {
  BOOST_OUTCOME_TRY(detail::check_user(user));
  BOOST_OUTCOME_TRY(detail::check_context(ctx));
  BOOST_OUTCOME_TRY(o, impl_->change(impl_->lifecycle(lifecycle_kind::undo, user, ctx)));
  return o.after;
}

result<subscription> quota_service::set_user_time_zone(const user_id& user, const std::optional<std::string>& zone) {
  BOOST_OUTCOME_TRY(detail::check_user(user));
  if (zone) {
    BOOST_OUTCOME_TRY(detail::check_zone(*zone));
  }
  auto req = impl_->lifecycle(lifecycle_kind::set_time_zone, user);
  req.time_zone = zone;
  BOOST_OUTCOME_TRY(o, impl_->change(req));
  return o.after;
}

result<std::int64_t> quota_service::sweep_subscriptions(std::int64_t max_users) {
  if (max_users < 1 || max_users > 10'000'000)
    return make_error(errc::invalid_argument, fmt::format("limit must be 1-10000000 (got {})", max_users));
  constexpr std::int64_t page = 500;
  const sys_time t = now();
  std::int64_t written = 0;
  std::int64_t seen = 0;
  std::optional<user_id> after;
  while (seen < max_users) {
    const std::int64_t want = std::min(page, max_users - seen);
    BOOST_OUTCOME_TRY(users, impl_->store->due_subscriptions(t, impl_->opts.grace_period, after, want));
    for (const user_id& u : users) {
      auto req = impl_->lifecycle(lifecycle_kind::apply_due, u);
      req.now = t;
      req.day = day_of(t);
      auto o = impl_->change(req);
      // A user deleted since the listing has nothing left to sweep.
      if (!o && o.error().is(errc::unknown_user)) continue;
      if (!o) return o.error();
      written += o.value().transitions;
    }
    seen += static_cast<std::int64_t>(users.size());
    if (static_cast<std::int64_t>(users.size()) < want) break;
    after = users.back();
  }
  return written;
}

result<std::vector<day_usage>> quota_service::get_usage_history(const user_id& user, local_date from, local_date to) {
  BOOST_OUTCOME_TRY(check_history_range(user, from, to));
  const auto first = std::chrono::sys_days{from};
  const auto last = std::chrono::sys_days{to};
  const std::int64_t n = (last - first).count() + 1;
  if (n > max_history_days)
    return make_error(errc::invalid_argument,
                      fmt::format("the range must be at most {} days (got {})", max_history_days, n));
  BOOST_OUTCOME_TRY(impl_->store->get_subscription(user));  // unknown_user
  BOOST_OUTCOME_TRY(rows, impl_->store->usage_days(user, from, to));
  std::vector<day_usage> out;
  out.reserve(static_cast<std::size_t>(n));
  auto row = rows.begin();
  for (auto d = first; d <= last; d += std::chrono::days{1}) {
    day_usage u{local_date{d}, 0, 0};
    if (row != rows.end() && row->day == u.day) u = *row++;
    out.push_back(u);
  }
  return out;
}

result<std::vector<month_usage>> quota_service::get_monthly_usage(const user_id& user, local_date from, local_date to) {
  BOOST_OUTCOME_TRY(check_history_range(user, from, to));
  const local_date first = detail::first_of_month(from);
  const local_date last_month = detail::first_of_month(to);
  const int n = static_cast<int>((last_month.year() - first.year()).count()) * 12 +
                (static_cast<int>(static_cast<unsigned>(last_month.month())) -
                 static_cast<int>(static_cast<unsigned>(first.month()))) +
                1;
  if (n > max_history_months)
    return make_error(errc::invalid_argument,
                      fmt::format("the range must be at most {} months (got {})", max_history_months, n));
  BOOST_OUTCOME_TRY(impl_->store->get_subscription(user));  // unknown_user
  const local_date end{last_month.year() / last_month.month() / std::chrono::last};
  BOOST_OUTCOME_TRY(rows, impl_->store->usage_days(user, first, end));
  std::vector<month_usage> out;
  out.reserve(static_cast<std::size_t>(n));
  for (local_date m = first; std::chrono::sys_days{m} <= std::chrono::sys_days{last_month};
       m = m + std::chrono::months{1}) {
    out.push_back(month_usage{m, 0, 0});
  }
  for (const day_usage& d : rows) {
    for (month_usage& m : out) {
      if (detail::same_month(m.month, d.day)) {
        m.messages += d.messages;
        m.tokens += d.tokens;
        break;
      }
    }
  }
  return out;
}

// --- Tiers ------------------------------------------------------------------

result<tier> quota_service::get_tier_config(const tier_id& id) {
  BOOST_OUTCOME_TRY(detail::check_tier_id(id));
  return impl_->store->get_tier(id);
}

result<std::vector<tier>> quota_service::get_all_tiers(bool visible_only) { return impl_->store->tiers(visible_only); }

result<tier> quota_service::update_tier(const tier_update& u) {
  BOOST_OUTCOME_TRY(detail::check_tier_id(u.id));
  if (u.name) {
    BOOST_OUTCOME_TRY(detail::check_label("name", *u.name, 50));
    if (u.name->empty()) return make_error(errc::invalid_argument, "name must not be empty");
  }
  if (u.name_fr) {
    BOOST_OUTCOME_TRY(detail::check_label("name_fr", *u.name_fr, 50));
    if (u.name_fr->empty()) return make_error(errc::invalid_argument, "name_fr must not be empty");
  }
  if (u.messages_per_day && *u.messages_per_day) {
    BOOST_OUTCOME_TRY(detail::check_count("messages_per_day", **u.messages_per_day));
  }
  if (u.messages_per_month && *u.messages_per_month) {
    BOOST_OUTCOME_TRY(detail::check_count("messages_per_month", **u.messages_per_month));
  }
  if (u.tokens_per_month && *u.tokens_per_month) {
    BOOST_OUTCOME_TRY(detail::check_count("tokens_per_month", **u.tokens_per_month));
  }
  if (u.price_fcfa) {
    BOOST_OUTCOME_TRY(detail::check_count("price_fcfa", *u.price_fcfa));
  }
  auto updated = impl_->store->update_tier(u, now());
  impl_->forget_all();
  return updated;
}

// --- Usage and decisions ----------------------------------------------------

result<usage> quota_service::get_or_create_usage(const user_id& user) {
  BOOST_OUTCOME_TRY(detail::check_user(user));
  const sys_time t = now();
  BOOST_OUTCOME_TRY(snap,
                    impl_->store->snapshot(user, day_of(t), t, impl_->opts.default_tier, impl_->opts.grace_period));
  return snap.counters;
}

result<quota_info> quota_service::get_user_quota_info(const user_id& user) {
  return impl_->timed(metered_call::quota_read, [&]() -> result<quota_info> {
    BOOST_OUTCOME_TRY(detail::check_user(user));
    const sys_time t = now();
    BOOST_OUTCOME_TRY(snap,
                      impl_->store->snapshot(user, day_of(t), t, impl_->opts.default_tier, impl_->opts.grace_period));
    return impl_->quota_of(snap);
  });
}

result<usage_stats> quota_service::get_usage_stats(const user_id& user) {
  BOOST_OUTCOME_TRY(q, get_user_quota_info(user));
  return detail::make_usage_stats(q, impl_->opts.warning_threshold);
}

result<bool> quota_service::can_send_message(const user_id& user) {
  BOOST_OUTCOME_TRY(q, get_user_quota_info(user));
  return q.can_send_message;
}

result<decision> quota_service::try_consume(const user_id& user, std::int64_t tokens, const request_context& ctx) {
  return impl_->timed(metered_call::consume, [&] { return impl_->decide(user, "tokens", tokens, ctx, false); });
}

result<decision> quota_service::reserve(const user_id& user, std::int64_t estimated_tokens,
                                        const request_context& ctx) {
  return impl_->timed(metered_call::reserve,
                      [&] { return impl_->decide(user, "estimated_tokens", estimated_tokens, ctx, true); });
}

result<reservation> quota_service::commit(const reservation_id& id, std::int64_t actual_tokens) {
  return impl_->timed(metered_call::commit, [&]() -> result<reservation> {
    BOOST_OUTCOME_TRY(detail::check_id("reservation_id", id.str()));
    BOOST_OUTCOME_TRY(detail::check_count("actual_tokens", actual_tokens));
    const sys_time t = now();
    BOOST_OUTCOME_TRY(o, impl_->store->settle(settle_request{id, actual_tokens, t, day_of(t), impl_->opts.default_tier,
                                                             impl_->opts.grace_period}));
    impl_->forget(o.res.user);  // a commit below the estimate refunds tokens
    return o.res;
  });
}

result<reservation> quota_service::release(const reservation_id& id) {
  return impl_->timed(metered_call::release, [&]() -> result<reservation> {
    BOOST_OUTCOME_TRY(detail::check_id("reservation_id", id.str()));
    const sys_time t = now();
    BOOST_OUTCOME_TRY(o, impl_->store->settle(settle_request{id, std::nullopt, t, day_of(t), impl_->opts.default_tier,
                                                             impl_->opts.grace_period}));
    impl_->forget(o.res.user);
    return o.res;
  });
}

result<reservation> quota_service::get_reservation(const reservation_id& id) {
  BOOST_OUTCOME_TRY(detail::check_id("reservation_id", id.str()));
  BOOST_OUTCOME_TRY(r, impl_->store->get_reservation(id));
  // Past its TTL an open reservation is settled at its estimate, whether or
  // not expire_reservations() has recorded it yet.
  if (r.state == reservation_state::open && now() >= r.expires_at) {
    r.state = reservation_state::expired;
    r.actual_tokens = r.estimated_tokens;
  }
  return r;
}

result<std::int64_t> quota_service::expire_reservations() { return impl_->store->expire_reservations(now()); }

result<std::int64_t> quota_service::prune_request_ids() {
  if (!impl_->opts.request_id_ttl) return std::int64_t{0};
  return impl_->store->prune_request_ids(now() - *impl_->opts.request_id_ttl);
}

result<prune_report> quota_service::prune_usage(local_date before, std::int64_t batch_size) {
  using std::chrono::days;
  using std::chrono::hours;
  if (batch_size < 1 || batch_size > 100'000)
    return make_error(errc::invalid_argument,
                      fmt::format("batch_size must be between 1 and 100000 (got {})", batch_size));
  if (!before.ok() || before.year() < std::chrono::year{1970} || before.year() > std::chrono::year{9999})
    return make_error(errc::invalid_argument, "before must be a valid date between 1970-01-01 and 9999-12-01");
  const std::string asked = detail::format_db_date(before);
  if (before.day() != std::chrono::day{1})
    return make_error(errc::invalid_argument,
                      fmt::format("before must be the first day of a month (got {}): a month's latest day row carries "
                                  "its month-to-date totals, so only whole months can be pruned",
                                  asked));
  const sys_time t = now();
  const local_date current = detail::first_of_month(day_of(t));
  if (before > current)
    return make_error(errc::invalid_argument,
                      fmt::format("before must not be after {}, the first day of the current month in {} (got {}): "
                                  "the current month's counters decide admissions",
                                  detail::format_db_date(current), impl_->opts.time_zone, asked));
  // A user in a zone of their own counts in that zone's day, and the
  // earliest zone (UTC-12) is still in the previous month for up to twelve
  // hours after it ended in UTC; an open reservation settles into the day it
  // was made on, up to reservation_ttl later. Neither may find its month's
  // rows gone.
  const sys_time oldest_use = t - impl_->opts.reservation_ttl - hours{12};
  const local_date in_use = detail::first_of_month(
      std::min(day_of(t - impl_->opts.reservation_ttl), local_date{std::chrono::floor<days>(oldest_use)}));
  if (before > in_use) {
    const std::string month = detail::format_db_date(in_use);
    return make_error(errc::invalid_argument,
                      fmt::format("before must not be after {} yet (got {}): the days of {} may still be current "
                                  "for a user in a zone of their own (down to UTC-12) or hold an open reservation",
                                  month, asked, month.substr(0, 7)));
  }
  // A reservation left open on a pruned day would otherwise be expired by
  // a later sweep, writing its audit row into a month already gone.
  BOOST_OUTCOME_TRY(impl_->store->expire_reservations(t));
  prune_request req;
  req.before = before;
  req.before_start = impl_->zone.start_of_day(before);
  req.batch_size = batch_size;
  return impl_->store->prune_usage(req);
}

result<usage> quota_service::increment_usage(const user_id& user, std::int64_t messages, std::int64_t tokens,
                                             const request_context& ctx) {
  return impl_->timed(metered_call::record, [&]() -> result<usage> {
    BOOST_OUTCOME_TRY(detail::check_user(user));
    BOOST_OUTCOME_TRY(detail::check_count("messages", messages));
    BOOST_OUTCOME_TRY(detail::check_count("tokens", tokens));
    BOOST_OUTCOME_TRY(detail::check_context(ctx));
    const sys_time t = now();
    record_request req;
    req.user = user;
    req.now = t;
    req.day = day_of(t);
    req.messages = messages;
    req.tokens = tokens;
    req.ctx = ctx;
    req.warning_threshold = impl_->opts.warning_threshold;
    req.default_tier = impl_->opts.default_tier;
    req.grace_period = impl_->opts.grace_period;
    BOOST_OUTCOME_TRY(o, impl_->store->record(req));
    return o.snapshot.counters;
  });
}

// --- Administration and audit ----------------------------------------------

namespace {
result<std::int64_t> reset_impl(storage& store, reset_kind kind, const std::optional<user_id>& user, sys_time t,
                                local_date day) {
  if (user) {
    BOOST_OUTCOME_TRY(detail::check_user(*user));
  }
  return store.reset(reset_request{kind, user, t, day});
}

result<void> check_event_type(std::string_view type) {
  if (type.empty() || type.size() > 50)
    return make_error(errc::invalid_argument, fmt::format("event_type must be 1-50 characters (got {})", type.size()));
  for (char c : type)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
      return make_error(errc::invalid_argument, fmt::format("event_type {} may contain only a-z, 0-9, '_', '.' and '-'",
                                                            detail::quote_for_message(type)));
  return ok();
}
}  // namespace

result<std::int64_t> quota_service::reset_daily_quotas(const std::optional<user_id>& user) {
  const sys_time t = now();
  auto r = reset_impl(*impl_->store, reset_kind::daily, user, t, day_of(t));
  user ? impl_->forget(*user) : impl_->forget_all();
  return r;
}

result<std::int64_t> quota_service::reset_monthly_quotas(const std::optional<user_id>& user) {
  const sys_time t = now();
  auto r = reset_impl(*impl_->store, reset_kind::monthly, user, t, day_of(t));
  user ? impl_->forget(*user) : impl_->forget_all();
  return r;
}

result<usage_event> quota_service::log_usage_event(const user_id& user, std::string event_type,
                                                   std::int64_t messages_count, std::int64_t tokens_count,
                                                   const request_context& ctx,
                                                   std::optional<std::string> metadata_json) {
  BOOST_OUTCOME_TRY(detail::check_user(user));
  BOOST_OUTCOME_TRY(check_event_type(event_type));
  BOOST_OUTCOME_TRY(detail::check_count("messages_count", messages_count));
  BOOST_OUTCOME_TRY(detail::check_count("tokens_count", tokens_count));
  BOOST_OUTCOME_TRY(detail::check_context(ctx));
  if (metadata_json) {
    BOOST_OUTCOME_TRY(detail::check_text("event_metadata", *metadata_json, 65536));
    if (!detail::valid_json_object(*metadata_json))
      return make_error(errc::invalid_argument, "event_metadata must be a JSON object (RFC 8259)");
  }
  usage_event e;
  e.user = user;
  e.event_type = std::move(event_type);
  e.messages_count = messages_count;
  e.tokens_count = tokens_count;
  e.request_ip = ctx.ip;
  e.user_agent = ctx.user_agent;
  e.event_metadata = std::move(metadata_json);
  e.event_timestamp = now();
  BOOST_OUTCOME_TRY(id, impl_->store->append_event(e));
  e.id = id;
  return e;
}

result<std::vector<usage_event>> quota_service::get_events(const event_query& q) {
  BOOST_OUTCOME_TRY(detail::check_user(q.user));
  if (q.event_type) {
    BOOST_OUTCOME_TRY(check_event_type(*q.event_type));
  }
  if (q.limit < 1 || q.limit > 10000)
    return make_error(errc::invalid_argument, fmt::format("limit must be between 1 and 10000 (got {})", q.limit));
  return impl_->store->events(q);
}

}  // namespace kauri_quota
