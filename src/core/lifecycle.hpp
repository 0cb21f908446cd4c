// The subscription lifecycle rules (internal), shared by every backend:
// trials, paid periods, grace and expiry, scheduled changes and
// cancellations, payments and per-user zones. Pure functions: no I/O, no
// clock. A backend runs each lifecycle_request as one transaction: it locks
// the user, loads the stored subscription, the tiers and the payment with
// the request's key, calls plan_lifecycle, and writes the plan (or nothing
// when it returns an error).
#pragma once

#include "period.hpp"

#include <kauri_quota/result.hpp>
#include <kauri_quota/storage_requests.hpp>
#include <kauri_quota/types.hpp>

#include <chrono>
#include <optional>
#include <vector>

namespace kauri_quota::detail {

/// What plan_lifecycle decided: the rows to write, in this order, in the
/// request's transaction.
struct lifecycle_plan {
  /// The users row after the change; write it when write_subscription.
  subscription after;
  bool write_subscription = false;
  /// The payment row to insert or update (by provider, transaction_id).
  std::optional<payment> write_payment;
  /// Zero the user's counters of user_day and of its month first, audited
  /// as daily_reset / monthly_reset rows like reset() (usage_policy::reset).
  bool reset_usage = false;
  /// The user's today: the day of `now` in the user's zone, else the
  /// service's.
  local_date user_day{};
  /// Audit rows to append (counts 0; usage_date user_day), in order.
  std::vector<usage_event> events;
  /// What the call returns once the plan is written.
  lifecycle_outcome outcome;
};

/// True when a transition is due at `now` for the stored subscription `s`:
/// a trial that ended, a paid period that ended (a scheduled change or
/// cancellation to apply, past_due to write, or the grace period over).
/// Twin: schema/postgres/functions/state.sql kauri_quota_transition_due.
bool transition_due(const subscription& s, sys_time now, std::chrono::seconds grace_period);

/// True when the default tier's limits apply to a stored subscription with
/// no transition due: status canceled or expired (otherwise its own tier's,
/// past_due included). Twin: schema/postgres/functions/state.sql
/// kauri_quota_complete.
bool default_tier_applies(const subscription& s);

/// Decides `req` on the locked stored row `stored`, every tier `tiers`, and
/// (for the payment kinds) the stored payment with req.pay's key.
result<lifecycle_plan> plan_lifecycle(const lifecycle_request& req, const subscription& stored,
                                      const std::vector<tier>& tiers, const std::optional<payment>& existing);

/// `from` plus `months` calendar months in zone `z`: the same local time of
/// day on the same day of the month, or the month's last day when it is
/// shorter (a period starting on the 31st ends on the 30th or the 28th).
/// A local time that does not exist (a DST gap) moves forward by the gap;
/// an ambiguous one takes the earlier instant.
sys_time add_months(sys_time from, int months, const zone& z);

/// As add_months, for a period renewed from its end `from` that started at
/// `anchor`: the day of the month is the anchor's when `from` is on it (or
/// on the last day of a month shorter than it), so that renewals of a
/// period begun on the 31st end on the 31st again in long months instead of
/// drifting to the 28th. Otherwise as add_months.
sys_time add_months_anchored(sys_time from, int months, const zone& z, sys_time anchor);

}  // namespace kauri_quota::detail
