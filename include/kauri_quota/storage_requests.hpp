// The requests and outcomes of the storage interface (storage.hpp): for
// backend authors and tests; they may change in minor versions. Hosts use
// quota_service, which fills them in.
//
// The policy settings they carry (warning_threshold, default_tier,
// reservation_ttl) come from service_options.
#pragma once

#include <kauri_quota/types.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace kauri_quota {

/// Counters and applicable tier of one user at one instant.
struct usage_snapshot {
  subscription sub;  ///< the fields limits depend on: user, tier, status, end and trial end dates
  tier applied;      ///< the tier whose limits apply (the default tier when the subscription lapsed); features are not
                     ///< loaded
  usage counters;
};

/// A check-and-increment (consume) or a reservation (reserve == true).
struct consume_request {
  user_id user;
  sys_time now{};
  local_date day{};           ///< day of `now` in the quota time zone
  std::int64_t messages = 1;  ///< >= 1
  std::int64_t tokens = 0;    ///< tokens counted now (for reserve: the estimate)
  request_context ctx;
  bool reserve = false;
  std::chrono::seconds reservation_ttl{300};
  double warning_threshold = 0.8;
  tier_id default_tier{"free"};
  std::chrono::seconds grace_period{std::chrono::hours{72}};  ///< service_options::grace_period
  /// Shadow mode (service_options::shadow), decided in the same transaction:
  /// a request a limit refuses is admitted and counted anyway (a reserve
  /// gets its reservation). Its audit rows are a quota_exceeded with 0
  /// counts whose metadata ends with "shadow": true, then the row that
  /// counts it (reservation_created for a reserve, usage_recorded for a
  /// consume), then any quota_warning; both carry the request's id. The
  /// counters still equal the audit rows.
  bool shadow = false;
};

struct consume_outcome {
  bool allowed = false;
  /// The limit that refused the request; with allowed true (a shadow
  /// admission), the limit that would have.
  limit_kind denied_by = limit_kind::none;
  usage_snapshot snapshot;  ///< state after the decision
  std::optional<reservation_id> reservation;
  bool replayed = false;
  /// A shadow admission (allowed, and denied_by names the limit), also when
  /// replayed.
  bool shadow = false;
};

/// An unconditional after-the-fact record (increment_usage).
struct record_request {
  user_id user;
  sys_time now{};
  local_date day{};
  std::int64_t messages = 0;
  std::int64_t tokens = 0;
  request_context ctx;
  double warning_threshold = 0.8;
  tier_id default_tier{"free"};
  std::chrono::seconds grace_period{std::chrono::hours{72}};  ///< service_options::grace_period
};

struct record_outcome {
  usage_snapshot snapshot;
  bool replayed = false;
};

/// Settles a reservation: commit (actual_tokens set) or release (empty).
struct settle_request {
  reservation_id id;  ///< globally unique
  std::optional<std::int64_t> actual_tokens;
  sys_time now{};
  local_date day{};  ///< today, for the returned snapshot
  tier_id default_tier{"free"};
  std::chrono::seconds grace_period{std::chrono::hours{72}};  ///< service_options::grace_period
};

struct settle_outcome {
  reservation res;
  usage_snapshot snapshot;
};

enum class reset_kind { daily, monthly };

struct reset_request {
  reset_kind kind = reset_kind::daily;
  std::optional<user_id> user;  ///< empty: every user
  sys_time now{};
  local_date day{};
};

/// A retention prune: the day rows before `before`, their audit rows and
/// their settled reservations.
/// quota_service checks that `before` is the first day of a month no
/// longer in use, so that no kept row's month-to-date total depends on a
/// deleted one.
struct prune_request {
  local_date before{};
  /// The start of `before` in the quota time zone: an audit row without a
  /// usage_date (written before the column existed, or one not tied to a
  /// day, such as a subscription change) goes when it is older than this.
  sys_time before_start{};
  /// Rows per transaction (1 to 100,000): audit rows are visited by id
  /// windows of this width, day rows deleted this many at a time.
  std::int64_t batch_size = 5000;
};

struct new_user {
  user_id user;
  std::optional<std::string> email;
  tier_id tier{"free"};
  sys_time now{};
  std::optional<std::string> time_zone;  ///< validated IANA name; empty: the service's zone
};

struct subscription_change {
  user_id user;
  tier_id tier;
  std::optional<subscription_status> status;  ///< empty: active
  std::optional<sys_time> end_date;
  std::optional<sys_time> trial_end_date;
  sys_time now{};
  std::string event_type{"subscription_changed"};
  request_context ctx;
};

/// The subscription-lifecycle changes. Each is one transaction: the
/// backend locks the user, loads the stored subscription (and the payment
/// with the request's key, and the tiers), lets the shared lifecycle rules
/// (src/core/lifecycle) decide, and writes what they decided, with its
/// audit rows, or nothing.
enum class lifecycle_kind {
  apply_due,      ///< write the transitions due at `now` (trial end, past_due, expiry, a scheduled change)
  start_trial,    ///< tier, trial_length
  open_payment,   ///< pay (status pending)
  apply_payment,  ///< pay, usage
  fail_payment,   ///< pay.provider, pay.transaction_id, reason
  cancel,         ///< cancel at the end of the paid period
  schedule,       ///< tier from the end of the paid period
  undo,           ///< drop the scheduled change or cancellation
  upgrade,        ///< tier at once (upgrade_subscription), usage
  set_time_zone,  ///< time_zone (empty: the service's)
};

struct lifecycle_request {
  lifecycle_kind kind = lifecycle_kind::apply_due;
  user_id user;  ///< for payments: pay.user
  sys_time now{};
  local_date day{};  ///< today in the service's zone (the user's own zone, when set, wins)
  std::string service_time_zone{"UTC"};
  tier_id tier;
  std::chrono::seconds trial_length{0};
  payment pay;
  std::string reason;
  std::optional<std::string> time_zone;
  usage_policy usage = usage_policy::keep;
  request_context ctx;
  tier_id default_tier{"free"};
  std::chrono::seconds grace_period{std::chrono::hours{72}};
  std::string currency{"XOF"};  ///< service_options::currency: the one payments must be in
};

struct lifecycle_outcome {
  subscription before;  ///< as stored before the call
  subscription after;   ///< as stored after it
  std::optional<payment> pay;
  bool replayed = false;         ///< apply_payment / fail_payment of a payment already final: nothing changed
  std::int32_t transitions = 0;  ///< due transitions written (also by the other kinds, first)
  /// An upgrade to the tier and status already in force: nothing changed.
  bool unchanged = false;
};

}  // namespace kauri_quota
