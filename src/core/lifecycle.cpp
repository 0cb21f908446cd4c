#include "lifecycle.hpp"

#include "core/json_writer.hpp"
#include "core/quote.hpp"
#include "core/time_format.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <string>
#include <tuple>
#include <utility>

namespace kauri_quota::detail {
namespace {

namespace chr = std::chrono;

error invalid(std::string message) { return make_error(errc::invalid_argument, std::move(message)); }
error conflict(std::string message) { return make_error(errc::subscription_conflict, std::move(message)); }

const tier* find_tier(const std::vector<tier>& tiers, const tier_id& id) {
  const auto it = std::ranges::find_if(tiers, [&](const tier& t) { return t.id == id; });
  return it == tiers.end() ? nullptr : &*it;
}

/// Tier rank: display_order, then price, then the id, so that two tiers
/// never tie and "higher" is always decided.
auto rank(const tier& t) { return std::make_tuple(t.display_order, t.price_fcfa, t.id.str()); }

bool ended(const std::optional<sys_time>& end, sys_time now) { return end && *end <= now; }

/// A paid period runs: active or past_due with an end date, within its
/// grace period.
bool paid_period_running(const subscription& s, sys_time now, chr::seconds grace) {
  return (s.status == subscription_status::active || s.status == subscription_status::past_due) && s.end_date &&
         now < *s.end_date + grace;
}

/// A paid period that has not ended yet (its grace period not counted).
bool period_open(const subscription& s, sys_time now) {
  return (s.status == subscription_status::active || s.status == subscription_status::past_due) && s.end_date &&
         now < *s.end_date;
}

/// A lower tier paid for after the current period (not a cancellation).
bool paid_schedule(const subscription& s) {
  return s.scheduled_tier && s.scheduled_end_date && !s.cancel_at_period_end;
}

bool in_default_tier(const subscription& s) {
  return s.status == subscription_status::canceled || s.status == subscription_status::expired;
}

void clear_schedule(subscription& s) {
  s.scheduled_tier.reset();
  s.scheduled_end_date.reset();
  s.cancel_at_period_end = false;
}

/// The zone of the user's days and months: its own, else the service's
/// (both validated before they were stored; UTC if the tz database fails).
zone user_zone(const subscription& s, const std::string& service_zone) {
  auto service = zone::locate(service_zone);
  return own_zone_or(s.time_zone, service ? std::move(service).value() : zone::locate("UTC").value());
}

class planner {
 public:
  planner(const lifecycle_request& req, const subscription& stored, const std::vector<tier>& tiers)
      : req_(req), tiers_(tiers), s_(stored) {
    plan_.outcome.before = stored;
  }

  /// Writes every due transition into the plan (at most 4 steps).
  void apply_due() {
    for (int step = 0; step < 4 && transition_due(s_, req_.now, req_.grace_period); ++step) {
      transition();
      ++plan_.outcome.transitions;
      plan_.write_subscription = true;
    }
  }

  result<void> run() {
    switch (req_.kind) {
      case lifecycle_kind::apply_due:
        return ok();
      case lifecycle_kind::start_trial:
        return start_trial();
      case lifecycle_kind::open_payment:
        return open_payment();
      case lifecycle_kind::apply_payment:
        return apply_payment();
      case lifecycle_kind::fail_payment:
        return fail_payment();
      case lifecycle_kind::cancel:
        return cancel();
      case lifecycle_kind::schedule:
        return schedule();
      case lifecycle_kind::undo:
        return undo();
      case lifecycle_kind::upgrade:
        return upgrade();
      case lifecycle_kind::set_time_zone:
        return set_time_zone();
    }
    return make_error(errc::internal, "unknown lifecycle kind");
  }

  lifecycle_plan finish(const std::optional<payment>& existing) && {
    plan_.user_day = own_day_or(s_.time_zone, req_.now, req_.day);
    for (usage_event& e : plan_.events) e.usage_date = plan_.user_day;
    plan_.after = s_;
    plan_.outcome.after = s_;
    if (plan_.write_payment) {
      plan_.outcome.pay = plan_.write_payment;
    } else if (!plan_.outcome.pay) {
      plan_.outcome.pay = existing;
    }
    return std::move(plan_);
  }

  void set_existing(const std::optional<payment>& existing) { existing_ = existing; }

 private:
  const tier_id& default_tier() const { return req_.default_tier; }

  void event(std::string type, std::string metadata) {
    usage_event e;
    e.user = s_.user;
    e.event_type = std::move(type);
    e.quota_tier = (in_default_tier(s_) ? default_tier() : s_.tier).str();
    e.request_ip = req_.ctx.ip;
    e.user_agent = req_.ctx.user_agent;
    e.event_metadata = std::move(metadata);
    e.event_timestamp = req_.now;
    plan_.events.push_back(std::move(e));
  }

  /// One due transition (the caller checked transition_due).
  void transition() {
    const sys_time now = req_.now;
    json_writer w;
    w.begin_object();
    if (s_.status == subscription_status::trialing) {
      const tier_id old = s_.tier;
      s_.tier = default_tier();
      s_.status = subscription_status::active;
      s_.start_date = s_.trial_end_date;
      s_.end_date.reset();
      w.field("tier", old).field("trial_end_date", s_.trial_end_date).end_object();
      event("trial_ended", w.take());
      return;
    }
    const sys_time end = *s_.end_date;
    if (s_.scheduled_tier) {
      const tier_id old = s_.tier;
      const bool canceled = s_.cancel_at_period_end;
      s_.tier = *s_.scheduled_tier;
      s_.start_date = end;
      s_.end_date = s_.scheduled_end_date;
      // A sold tier scheduled without a payment starts unpaid: its period
      // ends where it begins, so it is past_due at once and a payment (within
      // the grace period) carries it on; it is never granted for free.
      const tier* next = find_tier(tiers_, s_.tier);
      if (!canceled && !s_.end_date && (next == nullptr || next->price_fcfa > 0)) s_.end_date = end;
      s_.status = canceled ? subscription_status::canceled : subscription_status::active;
      clear_schedule(s_);
      w.field("from", old).field("to", s_.tier).field("at", end).end_object();
      event(canceled ? "subscription_canceled" : "scheduled_change_applied", w.take());
      return;
    }
    if (s_.status == subscription_status::active && now < end + req_.grace_period) {
      s_.status = subscription_status::past_due;
      w.field("tier", s_.tier).field("end_date", end).field("grace_ends_at", end + req_.grace_period).end_object();
      event("subscription_past_due", w.take());
      return;
    }
    s_.status = subscription_status::expired;
    w.field("tier", s_.tier).field("end_date", end).end_object();
    event("subscription_expired", w.take());
  }

  zone user_zone_now() const { return user_zone(s_, req_.service_time_zone); }

  result<void> start_trial() {
    const tier* t = find_tier(tiers_, req_.tier);
    if (t == nullptr)
      return make_error(errc::unknown_tier, fmt::format("unknown tier {}", quote_for_message(req_.tier.str())));
    if (req_.tier == default_tier())
      return invalid(fmt::format("a trial of the default tier {} is not offered", quote_for_message(req_.tier.str())));
    if (req_.trial_length < chr::hours{1} || req_.trial_length > chr::days{90})
      return invalid(fmt::format("trial length must be 1 hour to 90 days (got {} s)", req_.trial_length.count()));
    if (s_.trial_end_date) return conflict("the user had a trial already (one trial per user)");
    if (paid_period_running(s_, req_.now, req_.grace_period)) return conflict("the user is in a paid period");
    s_.tier = req_.tier;
    s_.status = subscription_status::trialing;
    s_.start_date = req_.now;
    s_.trial_end_date = req_.now + req_.trial_length;
    s_.end_date.reset();
    clear_schedule(s_);
    plan_.write_subscription = true;
    json_writer w;
    w.begin_object().field("tier", s_.tier).field("trial_end_date", s_.trial_end_date).end_object();
    event("trial_started", w.take());
    return ok();
  }

  /// The tier of a payment, sold (price > 0).
  result<const tier*> sold_tier() const {
    const tier* t = find_tier(tiers_, req_.pay.tier);
    if (t == nullptr)
      return make_error(errc::unknown_tier, fmt::format("unknown tier {}", quote_for_message(req_.pay.tier.str())));
    if (t->price_fcfa <= 0) return invalid(fmt::format("tier {} is not sold", quote_for_message(t->id.str())));
    return t;
  }

  static std::string payment_metadata(const payment& p, bool applied) {
    json_writer w;
    w.begin_object()
        .field("provider", p.provider)
        .field("transaction_id", p.transaction_id)
        .field("tier", p.tier)
        .field("months", static_cast<std::int64_t>(p.months))
        .field("amount", p.amount)
        .field("currency", p.currency);
    if (applied) w.field("effect", to_string(p.effect)).field("period_end", p.period_end);
    w.end_object();
    return w.take();
  }

  result<void> open_payment() {
    BOOST_OUTCOME_TRY(t, sold_tier());
    payment p = req_.pay;
    p.user = s_.user;
    p.amount = t->price_fcfa * p.months;
    p.currency = req_.currency;
    if (existing_) {
      if (existing_->user != p.user || existing_->tier != p.tier || existing_->months != p.months) {
        return invalid(fmt::format("payment {}/{} exists with another order (user, tier or months)",
                                   existing_->provider, existing_->transaction_id));
      }
      plan_.outcome.pay = existing_;
      return ok();
    }
    p.status = payment_status::pending;
    p.effect = payment_effect::none;
    p.period_start.reset();
    p.period_end.reset();
    p.failure_reason.reset();
    p.created_at = req_.now;
    p.updated_at = req_.now;
    event("payment_pending", payment_metadata(p, false));
    plan_.write_payment = std::move(p);
    return ok();
  }

  result<void> apply_payment() {
    const payment& in = req_.pay;
    if (existing_ && existing_->user != s_.user) {
      return invalid(
          fmt::format("payment {}/{} belongs to another user", existing_->provider, existing_->transaction_id));
    }
    // An applied payment is answered first: a repeat returns the first
    // outcome even if the tier's price changed since.
    if (existing_ && existing_->status == payment_status::applied) {
      plan_.outcome.replayed = true;
      plan_.outcome.pay = existing_;
      return ok();
    }
    payment p = in;
    p.user = s_.user;
    p.created_at = req_.now;
    if (existing_) {
      // A stored order (pending, or refused before a later confirmation)
      // keeps the amount and currency it was opened with: a price or
      // currency changed since must not strand a payment the provider took.
      if (existing_->tier != p.tier || existing_->months != p.months || existing_->amount != p.amount ||
          existing_->currency != p.currency) {
        return invalid(fmt::format("payment {}/{} does not match its order ({} month{} of tier {} for {} {})",
                                   existing_->provider, existing_->transaction_id, existing_->months,
                                   existing_->months == 1 ? "" : "s", quote_for_message(existing_->tier.str()),
                                   existing_->amount, existing_->currency));
      }
      if (find_tier(tiers_, p.tier) == nullptr)
        return make_error(errc::unknown_tier, fmt::format("unknown tier {}", quote_for_message(p.tier.str())));
      p.created_at = existing_->created_at;
    } else {
      BOOST_OUTCOME_TRY(t, sold_tier());
      const std::int64_t expected = t->price_fcfa * in.months;
      if (in.amount != expected) {
        return invalid(fmt::format("amount {} is not the price of {} month{} of tier {} ({})", in.amount, in.months,
                                   in.months == 1 ? "" : "s", quote_for_message(t->id.str()), expected));
      }
      if (in.currency != req_.currency) {
        return invalid(fmt::format("currency {} is not the service's currency {}", quote_for_message(in.currency),
                                   quote_for_message(req_.currency)));
      }
    }
    const tier* t = find_tier(tiers_, p.tier);
    const sys_time now = req_.now;
    const zone z = user_zone_now();
    const tier_id current = in_default_tier(s_) ? default_tier() : s_.tier;
    const tier* current_tier = find_tier(tiers_, current);
    const bool running = paid_period_running(s_, now, req_.grace_period);
    const bool open = period_open(s_, now);
    const bool higher = current_tier == nullptr || rank(*t) > rank(*current_tier);
    const tier_id before = current;
    if (p.tier == current && running) {
      const sys_time old_end = *s_.end_date;
      const sys_time from = std::max(now, old_end);
      const sys_time new_end = from == old_end && s_.start_date ? add_months_anchored(from, p.months, z, *s_.start_date)
                                                                : add_months(from, p.months, z);
      s_.end_date = new_end;
      s_.status = subscription_status::active;
      if (s_.cancel_at_period_end || s_.scheduled_tier == default_tier()) {
        clear_schedule(s_);
      } else if (s_.scheduled_end_date) {
        *s_.scheduled_end_date += new_end - old_end;
      }
      p.effect = payment_effect::extended;
      p.period_start = from;
      p.period_end = new_end;
    } else if (higher || !open) {
      // A lower tier paid for after the current period keeps its paid time
      // after the new period.
      const std::optional<tier_id> kept_tier = paid_schedule(s_) ? s_.scheduled_tier : std::nullopt;
      const auto kept = kept_tier ? *s_.scheduled_end_date - *s_.end_date : sys_time::duration{};
      s_.tier = p.tier;
      s_.status = subscription_status::active;
      s_.start_date = now;
      s_.end_date = add_months(now, p.months, z);
      clear_schedule(s_);
      if (kept_tier && *kept_tier != p.tier) {
        s_.scheduled_tier = kept_tier;
        s_.scheduled_end_date = *s_.end_date + kept;
      }
      plan_.reset_usage = req_.usage == usage_policy::reset;
      p.effect = payment_effect::started;
      p.period_start = now;
      p.period_end = s_.end_date;
    } else {
      const sys_time from = paid_schedule(s_) ? *s_.scheduled_end_date : *s_.end_date;
      s_.scheduled_tier = p.tier;
      s_.cancel_at_period_end = false;
      s_.scheduled_end_date = add_months(from, p.months, z);
      p.effect = payment_effect::scheduled;
      p.period_start = from;
      p.period_end = s_.scheduled_end_date;
    }
    p.status = payment_status::applied;
    p.failure_reason.reset();
    p.updated_at = now;
    plan_.write_subscription = true;
    event("payment_applied", payment_metadata(p, true));
    if (p.effect == payment_effect::started && before != p.tier) {
      json_writer w;
      w.begin_object().field("from", before).field("to", p.tier).end_object();
      event("subscription_changed", w.take());
    }
    plan_.write_payment = std::move(p);
    return ok();
  }

  result<void> fail_payment() {
    if (!existing_) {
      return make_error(errc::payment_not_found,
                        fmt::format("no payment {}/{}", req_.pay.provider, req_.pay.transaction_id));
    }
    if (existing_->status == payment_status::failed) {
      plan_.outcome.replayed = true;
      plan_.outcome.pay = existing_;
      return ok();
    }
    if (existing_->status == payment_status::applied) {
      return conflict(fmt::format("payment {}/{} was applied already", existing_->provider, existing_->transaction_id));
    }
    payment p = *existing_;
    p.status = payment_status::failed;
    p.failure_reason = req_.reason;
    p.updated_at = req_.now;
    json_writer w;
    w.begin_object()
        .field("provider", p.provider)
        .field("transaction_id", p.transaction_id)
        .field("tier", p.tier)
        .field("reason", req_.reason)
        .end_object();
    event("payment_failed", w.take());
    plan_.write_payment = std::move(p);
    return ok();
  }

  /// cancel and schedule need a paid period that has not ended (in the
  /// grace period it has: a payment renews it), and must not drop a lower
  /// tier that was paid for after it.
  result<void> need_paid_period() const {
    if (!period_open(s_, req_.now)) {
      if (paid_period_running(s_, req_.now, req_.grace_period))
        return conflict(fmt::format("the paid period ended at {}; a payment renews it", format_rfc3339(*s_.end_date)));
      return conflict("no paid period to end");
    }
    if (paid_schedule(s_))
      return conflict(fmt::format("tier {} is paid for after this period; it cannot be replaced",
                                  quote_for_message(s_.scheduled_tier->str())));
    return ok();
  }

  result<void> cancel() {
    BOOST_OUTCOME_TRY(need_paid_period());
    if (s_.cancel_at_period_end) {
      plan_.outcome.unchanged = true;
      return ok();
    }
    s_.cancel_at_period_end = true;
    s_.scheduled_tier = default_tier();
    s_.scheduled_end_date.reset();
    plan_.write_subscription = true;
    json_writer w;
    w.begin_object().field("at", s_.end_date).end_object();
    event("cancellation_scheduled", w.take());
    return ok();
  }

  result<void> schedule() {
    if (find_tier(tiers_, req_.tier) == nullptr)
      return make_error(errc::unknown_tier, fmt::format("unknown tier {}", quote_for_message(req_.tier.str())));
    if (req_.tier == s_.tier)
      return invalid(fmt::format("the user is on tier {} already", quote_for_message(req_.tier.str())));
    BOOST_OUTCOME_TRY(need_paid_period());
    if (s_.scheduled_tier == req_.tier && !s_.cancel_at_period_end && !s_.scheduled_end_date) {
      plan_.outcome.unchanged = true;
      return ok();
    }
    s_.scheduled_tier = req_.tier;
    s_.cancel_at_period_end = false;
    s_.scheduled_end_date.reset();
    plan_.write_subscription = true;
    json_writer w;
    w.begin_object().field("to", req_.tier).field("at", s_.end_date).end_object();
    event("change_scheduled", w.take());
    return ok();
  }

  result<void> undo() {
    if (!s_.scheduled_tier && !s_.cancel_at_period_end) return conflict("nothing is scheduled");
    if (s_.scheduled_end_date) return conflict("the scheduled change was paid for");
    const std::optional<tier_id> undone = s_.scheduled_tier;
    const bool was_cancel = s_.cancel_at_period_end;
    clear_schedule(s_);
    plan_.write_subscription = true;
    json_writer w;
    w.begin_object().field("to", undone).field("cancellation", was_cancel).end_object();
    event("scheduled_change_undone", w.take());
    return ok();
  }

  result<void> upgrade() {
    if (find_tier(tiers_, req_.tier) == nullptr)
      return make_error(errc::unknown_tier, fmt::format("unknown tier {}", quote_for_message(req_.tier.str())));
    if (s_.tier == req_.tier && s_.status == subscription_status::active) {
      plan_.outcome.unchanged = true;
      return ok();
    }
    const tier_id from = s_.tier;
    const subscription_status from_status = s_.status;
    s_.tier = req_.tier;
    s_.status = subscription_status::active;
    s_.start_date = req_.now;
    s_.end_date.reset();
    clear_schedule(s_);
    plan_.write_subscription = true;
    plan_.reset_usage = req_.usage == usage_policy::reset;
    // The metadata of 0.1.0's subscription_changed rows.
    json_writer w;
    w.begin_object()
        .field("from_tier", from)
        .field("to_tier", s_.tier)
        .field("from_status", to_string(from_status))
        .field("to_status", to_string(s_.status))
        .end_object();
    event("subscription_changed", w.take());
    return ok();
  }

  result<void> set_time_zone() {
    if (s_.time_zone == req_.time_zone) {
      plan_.outcome.unchanged = true;
      return ok();
    }
    const std::optional<std::string> from = s_.time_zone;
    s_.time_zone = req_.time_zone;
    plan_.write_subscription = true;
    json_writer w;
    w.begin_object().field("from", from).field("to", s_.time_zone).end_object();
    event("time_zone_changed", w.take());
    return ok();
  }

  const lifecycle_request& req_;
  const std::vector<tier>& tiers_;
  subscription s_;
  std::optional<payment> existing_;
  lifecycle_plan plan_;
};

}  // namespace

// twin: schema/postgres/functions/state.sql kauri_quota_transition_due
bool transition_due(const subscription& s, sys_time now, std::chrono::seconds grace_period) {
  if (s.status == subscription_status::trialing) return ended(s.trial_end_date, now);
  if (s.status != subscription_status::active && s.status != subscription_status::past_due) return false;
  if (!ended(s.end_date, now)) return false;
  return s.scheduled_tier || s.status == subscription_status::active || *s.end_date + grace_period <= now;
}

bool default_tier_applies(const subscription& s) { return in_default_tier(s); }

result<lifecycle_plan> plan_lifecycle(const lifecycle_request& req, const subscription& stored,
                                      const std::vector<tier>& tiers, const std::optional<payment>& existing) {
  planner p{req, stored, tiers};
  p.set_existing(existing);
  p.apply_due();
  BOOST_OUTCOME_TRY(p.run());
  return std::move(p).finish(existing);
}

sys_time add_months_anchored(sys_time from, int months, const zone& z, sys_time anchor) {
  const sys_time wall = z.wall_of(from);
  const auto day = chr::floor<chr::days>(wall);
  const local_date d{day};
  const local_date a{chr::floor<chr::days>(z.wall_of(anchor))};
  // `from` continues the anchor's sequence when it is the anchor's day of
  // the month, or that month's last day when the anchor's day is past it.
  const local_date last_of_from{d.year() / d.month() / chr::last};
  const chr::day anchor_day = std::min(a.day(), last_of_from.day()) == d.day() ? a.day() : d.day();
  local_date target = d.year() / d.month() / chr::day{1} + chr::months{months};
  const local_date last{target.year() / target.month() / chr::last};
  target = target.year() / target.month() / std::min(anchor_day, last.day());
  return z.from_wall(sys_time{chr::sys_days{target}} + (wall - day));
}

sys_time add_months(sys_time from, int months, const zone& z) {
  const sys_time wall = z.wall_of(from);
  const auto day = chr::floor<chr::days>(wall);
  const auto time_of_day = wall - day;
  const local_date d{day};
  local_date target = d.year() / d.month() / chr::day{1} + chr::months{months};
  const local_date last{target.year() / target.month() / chr::last};
  target = target.year() / target.month() / std::min(d.day(), last.day());
  return z.from_wall(sys_time{chr::sys_days{target}} + time_of_day);
}

}  // namespace kauri_quota::detail
