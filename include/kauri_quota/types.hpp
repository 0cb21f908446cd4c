// Value types of kauri_quota: identifiers, tiers, subscriptions, usage,
// quota information, decisions and audit events. All are plain values:
// copyable, comparable where it makes sense, and safe to share between
// threads once built.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kauri_quota {

/// Instants are UTC time points with microsecond precision (the precision
/// both backends store).
using sys_time = std::chrono::time_point<std::chrono::system_clock, std::chrono::microseconds>;

/// A calendar day in the configured quota time zone.
using local_date = std::chrono::year_month_day;

/// A string identifier that cannot be mixed up with another kind of id.
/// Construction does not validate; the service validates at its boundary.
template <class Tag>
class basic_id {
 public:
  basic_id() = default;
  explicit basic_id(std::string value) : value_(std::move(value)) {}
  const std::string& str() const noexcept { return value_; }
  bool empty() const noexcept { return value_.empty(); }
  friend bool operator==(const basic_id&, const basic_id&) = default;
  friend auto operator<=>(const basic_id&, const basic_id&) = default;

 private:
  std::string value_;
};

using user_id = basic_id<struct user_id_tag>;                ///< 1-128 bytes of UTF-8, no control characters
using tier_id = basic_id<struct tier_id_tag>;                ///< e.g. "free", "pro"
using request_id = basic_id<struct request_id_tag>;          ///< caller's idempotency key, 1-128 bytes
using reservation_id = basic_id<struct reservation_id_tag>;  ///< issued by reserve()

/// A limit: a count, or std::nullopt for unlimited. Zero means zero.
using limit = std::optional<std::int64_t>;

/// One subscription tier (row of `subscription_tiers`).
struct tier {
  tier_id id;
  std::string name;     ///< English display name
  std::string name_fr;  ///< French display name
  limit messages_per_day;
  limit messages_per_month;
  limit tokens_per_month;
  std::int64_t price_fcfa = 0;
  std::map<std::string, bool> features;  ///< e.g. {"pdf_generation": true}
  std::int32_t display_order = 0;
  bool is_visible = true;
  friend bool operator==(const tier&, const tier&) = default;
};

/// Changes to a tier; fields left empty are kept. For the limits, an outer
/// nullopt keeps the value and an inner nullopt sets it to unlimited.
struct tier_update {
  tier_id id;
  std::optional<std::string> name;
  std::optional<std::string> name_fr;
  std::optional<limit> messages_per_day;
  std::optional<limit> messages_per_month;
  std::optional<limit> tokens_per_month;
  std::optional<std::int64_t> price_fcfa;
  std::optional<std::int32_t> display_order;
  std::optional<bool> is_visible;
};

/// Subscription status (stored as its lower-case name).
enum class subscription_status { active, trialing, past_due, canceled, expired };

const char* to_string(subscription_status s) noexcept;
std::optional<subscription_status> parse_subscription_status(std::string_view s) noexcept;

/// A user's subscription (the subscription columns of `users`).
///
/// The lifecycle (README, "Subscription lifecycle"): a trial runs until
/// trial_end_date; a paid period until end_date, then past_due for the
/// grace period with the tier's limits, then expired with the default
/// tier's. A scheduled change (a cancellation, a downgrade, a paid lower
/// tier) applies at end_date. Every transition is decided from these dates
/// at each read and write, and written with its audit row by the first
/// operation or sweep after the boundary, exactly once.
struct subscription {
  user_id user;
  std::optional<std::string> email;
  tier_id tier;
  subscription_status status = subscription_status::active;
  std::optional<sys_time> start_date;
  std::optional<sys_time> end_date;        ///< end of the paid period; empty: no end
  std::optional<sys_time> trial_end_date;  ///< set by the user's one trial, kept after it
  std::optional<sys_time> created_at;
  /// The user's own IANA zone for days and months; empty: the service's.
  std::optional<std::string> time_zone;
  /// The tier that applies from end_date on (cancel_at_period_end: the
  /// default tier), and the end of its own paid period (empty: no end).
  std::optional<tier_id> scheduled_tier;
  std::optional<sys_time> scheduled_end_date;
  bool cancel_at_period_end = false;  ///< at end_date: the default tier, status canceled
  friend bool operator==(const subscription&, const subscription&) = default;
};

/// What to do with the usage already counted in the current day and month
/// when a subscription changes tier: keep it (the original behaviour) or
/// reset it (audited as daily_reset / monthly_reset).
enum class usage_policy { keep, reset };

enum class payment_status { pending, applied, failed };
const char* to_string(payment_status s) noexcept;

/// What an applied payment did to the subscription.
enum class payment_effect {
  none,       ///< not applied (pending or failed)
  extended,   ///< the current tier's paid period, extended from the later of now and its end
  started,    ///< a new paid period of its tier, from now (a higher tier, or none paid before)
  scheduled,  ///< a lower tier, from the end of the current paid period
};
const char* to_string(payment_effect e) noexcept;

/// A payment for `months` of `tier` (a row of `subscription_payments`),
/// unique by (provider, transaction_id).
struct payment {
  std::string provider;        ///< 1-32 of [a-z0-9_-], e.g. "cinetpay", "manual"
  std::string transaction_id;  ///< the provider's id: 1-128 of [A-Za-z0-9._:-]
  user_id user;
  tier_id tier;
  std::int32_t months = 1;  ///< 1-36
  std::int64_t amount = 0;  ///< the tier's price times months
  std::string currency;     ///< ISO 4217: "XOF" or "XAF"
  payment_status status = payment_status::pending;
  payment_effect effect = payment_effect::none;
  std::optional<sys_time> period_start;  ///< the paid period it bought, once applied
  std::optional<sys_time> period_end;
  std::optional<std::string> failure_reason;  ///< why it failed
  sys_time created_at{};
  sys_time updated_at{};
  friend bool operator==(const payment&, const payment&) = default;
};

/// The answer to apply_payment.
struct payment_outcome {
  payment pay;            ///< as stored after the call
  subscription sub;       ///< the subscription after it
  bool replayed = false;  ///< the payment was already applied (or had failed); nothing changed
};

/// One day of a user's usage, in the user's zone.
struct day_usage {
  local_date day{};
  std::int64_t messages = 0;
  std::int64_t tokens = 0;
  friend bool operator==(const day_usage&, const day_usage&) = default;
};

/// One month of a user's usage; `month` is its first day.
struct month_usage {
  local_date month{};
  std::int64_t messages = 0;
  std::int64_t tokens = 0;
  friend bool operator==(const month_usage&, const month_usage&) = default;
};

/// What a retention prune (quota_service::prune_usage) deleted.
struct prune_report {
  std::int64_t day_rows = 0;    ///< user_usage rows (one per user and day)
  std::int64_t audit_rows = 0;  ///< usage_logs rows
  /// kauri_quota_reservations rows of those days, all settled by then
  /// (committed, released or expired)
  std::int64_t reservations = 0;
  friend bool operator==(const prune_report&, const prune_report&) = default;
};

/// Counters of one user for one day and its month.
struct usage {
  user_id user;
  local_date usage_date{};
  std::int64_t messages_today = 0;
  std::int64_t tokens_today = 0;
  std::int64_t messages_this_month = 0;  ///< month-to-date, all days of the month
  std::int64_t tokens_this_month = 0;    ///< month-to-date, all days of the month
  friend bool operator==(const usage&, const usage&) = default;
};

/// Which limit a request hit.
enum class limit_kind { none, daily, monthly, tokens };
const char* to_string(limit_kind k) noexcept;

/// The spec's UserQuotaInfo plus tokens and reset instants. Limits and
/// remaining counts are nullopt when unlimited (JSON null).
struct quota_info {
  user_id user;
  tier_id subscription_tier;  ///< the tier whose limits apply now
  std::string tier_name;
  std::string tier_name_fr;
  subscription_status status = subscription_status::active;
  limit messages_per_day_limit;
  limit messages_per_month_limit;
  limit tokens_per_month_limit;
  std::int64_t messages_today = 0;
  std::int64_t messages_this_month = 0;
  std::int64_t tokens_today = 0;
  std::int64_t tokens_this_month = 0;
  limit messages_remaining_today;
  limit messages_remaining_month;
  limit tokens_remaining_month;
  bool can_send_message = true;
  bool is_quota_exceeded = false;
  bool needs_upgrade = false;
  bool warning_threshold_reached = false;
  local_date usage_date{};
  sys_time daily_resets_at{};    ///< next local midnight in the quota time zone
  sys_time monthly_resets_at{};  ///< first local midnight of next month
  friend bool operator==(const quota_info&, const quota_info&) = default;
};

/// Percentages and warnings for the usage-stats view. A percentage is
/// nullopt when its limit is unlimited; a zero limit counts as 100%.
struct usage_stats {
  quota_info quota;
  std::optional<double> daily_percent;
  std::optional<double> monthly_percent;
  std::optional<double> tokens_percent;
  std::vector<std::string> warnings;  ///< English sentences, one per limit at or above the threshold
};

/// Where a request came from; recorded in the audit log.
struct request_context {
  std::optional<request_id> id;  ///< idempotency key; a retry with the same key never counts twice
  std::optional<std::string> ip;
  std::optional<std::string> user_agent;
};

/// The answer to consume / reserve. `allowed == false` is a denial, not an
/// error; `denied_by` says which limit, and `quota` is the state after the
/// decision.
struct decision {
  bool allowed = false;
  limit_kind denied_by = limit_kind::none;
  quota_info quota;
  std::optional<reservation_id> reservation;  ///< set by an allowed reserve()
  bool replayed = false;                      ///< true when this answers a retried request_id
  sys_time resets_at{};                       ///< when the denying limit resets (or the day's reset)
  std::chrono::seconds retry_after{0};        ///< zero when allowed
  std::optional<tier_id> suggested_tier;      ///< next tier up whose limit is higher, when denied
  std::string suggested_tier_name;            ///< its display names, for messages (empty when none)
  std::string suggested_tier_name_fr;
  /// True when the request was admitted only because the service runs in
  /// shadow mode (service_options::shadow): allowed is true and denied_by
  /// names the limit that would have refused it.
  bool shadow = false;
  /// True when the denial was answered from the denial cache
  /// (service_options::deny_cache_ttl): nothing was read, counted or
  /// audited, and quota is the state at the denial that was cached.
  bool cached = false;
};

/// State of a reservation.
enum class reservation_state { open, committed, released, expired };
const char* to_string(reservation_state s) noexcept;

struct reservation {
  reservation_id id;
  user_id user;
  local_date usage_date{};  ///< the period it counts in
  std::int64_t messages = 1;
  std::int64_t estimated_tokens = 0;
  std::optional<std::int64_t> actual_tokens;
  reservation_state state = reservation_state::open;
  sys_time created_at{};
  sys_time expires_at{};
};

/// One row of the audit log (`usage_logs`). messages_count / tokens_count
/// are the signed changes the event made to the counters of usage_date
/// (zero for events that change no counter, such as quota_exceeded), so the
/// audit rows of a user and day add up to that day's counters.
struct usage_event {
  std::int64_t id = 0;
  user_id user;
  std::string event_type;  ///< message_sent, quota_exceeded, quota_warning, usage_recorded, ...
  std::int64_t messages_count = 0;
  std::int64_t tokens_count = 0;
  std::optional<std::string> quota_tier;
  std::optional<std::string> request_ip;
  std::optional<std::string> user_agent;
  std::optional<std::string> event_metadata;  ///< a JSON object, as text
  std::optional<local_date> usage_date;
  sys_time event_timestamp{};
};

/// Filter for reading the audit log, newest first.
struct event_query {
  user_id user;
  std::optional<std::string> event_type;
  std::int64_t limit = 100;  ///< 1..10000
};

/// Outcome of upgrade_subscription, as in the spec: (success, message).
struct upgrade_result {
  bool success = false;
  std::string message;
  subscription sub;
};

}  // namespace kauri_quota
