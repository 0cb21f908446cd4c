// quota_service: the spec's SubscriptionService as an embeddable object.
//
// It validates input, computes periods in the configured IANA time zone,
// and turns storage answers into quota information, decisions and denial
// payloads. It is safe to share between threads: its only state of its own
// is the atomic counters behind metrics(); exactness under concurrency
// comes from the storage, where every operation is one transaction.
//
// Errors. Each method lists the codes it returns for its own reasons.
// Every method that reaches the storage may also return the storage errors
// (storage.hpp): storage_unavailable, storage_busy, conflict, io_error,
// corrupt, schema_mismatch and internal; an error changed nothing except
// after a lost acknowledgement (storage_unavailable after a lost
// connection, io_error after a failed sync), where the outcome is unknown
// and a retry with the same request_id is safe. invalid_argument always
// means the input was refused before the storage was called, and its
// message names the field. A denial is a value (decision::allowed false),
// never an error.
#pragma once

#include <kauri_quota/clock.hpp>
#include <kauri_quota/metrics.hpp>
#include <kauri_quota/result.hpp>
#include <kauri_quota/storage.hpp>
#include <kauri_quota/types.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace kauri_quota {

/// The denial cache TTL a host uses when it turns the cache on without
/// choosing one.
inline constexpr std::chrono::seconds default_deny_cache_ttl{60};

/// Rows per transaction of prune_usage() when the caller does not choose.
inline constexpr std::int64_t default_prune_batch_size = 5000;

struct service_options {
  /// IANA zone in which days and months start; "UTC" as in the spec.
  std::string time_zone = "UTC";
  /// Usage at or above this fraction of any limit raises the warning
  /// (0.000001 to 1).
  double warning_threshold = 0.8;
  /// Tier given to new users and applied when a subscription lapses.
  tier_id default_tier{"free"};
  /// An open reservation older than this is settled at its estimate.
  std::chrono::seconds reservation_ttl{300};
  /// How long a caller's request_id is remembered: a retry within this time
  /// returns the first outcome. prune_request_ids() forgets older ones,
  /// after which the same id is a new request. Empty: kept forever.
  std::optional<std::chrono::seconds> request_id_ttl = std::chrono::hours{24 * 7};
  /// How long a subscription past its end date stays past_due with its
  /// tier's limits before it expires to the default tier's (0 to 90 days).
  std::chrono::seconds grace_period{std::chrono::hours{72}};
  /// The currency payments must be in: "XOF" (West African CFA franc) or
  /// "XAF" (Central African). Tier prices (price_fcfa) are in it.
  std::string currency{"XOF"};
  /// Time source; the system clock when empty.
  std::shared_ptr<const clock> time_source;

  // --- Rollout and caching -------------------------------------------------

  /// Shadow mode (off by default): every decision is computed and audited,
  /// but a request a limit would refuse is admitted and counted anyway. Its
  /// audit rows are a quota_exceeded whose metadata carries "shadow": true
  /// and the usage_recorded that counts it; the decision has allowed and
  /// shadow true, denied_by names the limit; metrics() counts it as
  /// shadow_denied. Lets an operator watch what a new limit would refuse
  /// before enforcing it.
  ///
  /// The storage decides it in the request's one transaction
  /// (consume_request::shadow), so a shadow admission is as atomic as any
  /// other. A shadow admission by reserve() gets its reservation, to commit
  /// or release as usual; its counting row is reservation_created instead
  /// of usage_recorded.
  bool shadow = false;

  /// Denial cache (off when empty; 1 s to 1 h, default_deny_cache_ttl is
  /// the usual choice). A user refused by a limit that refuses every
  /// request until its period rolls over (the daily or monthly message
  /// limit, a used-up token budget) is answered from memory until the
  /// earlier of that rollover (decision::resets_at) and this TTL. Admissions
  /// always go to the storage. A cached answer reads and writes nothing: it
  /// is not audited (the denial it repeats was), has decision::cached set
  /// and is counted in metrics().cached_denials. This service drops a
  /// user's entry at once when it upgrades, resets or changes that user's
  /// subscription or settles one of the user's reservations, and every
  /// entry when it updates a tier or resets everyone. A change made by any
  /// other program (another service, the CLI, hand SQL) is announced by the
  /// database itself (storage::watch_changes): on SQLite the cache reads a
  /// change counter before answering from memory, so such a change is seen
  /// at once; on PostgreSQL a LISTEN connection receives a NOTIFY, so it is
  /// seen within the notification latency, and the TTL bounds it when the
  /// connection is lost. A storage without a change feed leaves the TTL as
  /// the bound, or invalidate_cached_denials() for a host that learns of
  /// changes some other way. Requests carrying a
  /// request_id always go to the storage, so that a retry gets its own
  /// answer; the cache is not used in shadow mode.
  std::optional<std::chrono::seconds> deny_cache_ttl;
  /// Most users the denial cache holds (1 to 10,000,000); the entries
  /// nearest their expiry are evicted first.
  std::size_t deny_cache_capacity = 100'000;
};

class quota_service {
 public:
  /// Validates the options and builds a service; touches no storage, except
  /// that with the denial cache it starts the storage's change feed: SQLite
  /// reads the change counter once; PostgreSQL opens the LISTEN connection
  /// (bounded by the connect timeout; a failure is retried in the
  /// background, and the cache answers nothing from memory until it is
  /// connected).
  /// invalid_argument for an empty store, an unknown or malformed time
  /// zone, a threshold outside 0.000001-1, a reservation_ttl outside 1 s-7
  /// days, a request_id_ttl outside 1 min-400 days, or a malformed
  /// default tier id.
  static result<quota_service> create(std::shared_ptr<storage> store, service_options opts = {});

  quota_service(quota_service&&) noexcept;
  quota_service& operator=(quota_service&&) noexcept;
  quota_service(const quota_service&) = delete;
  quota_service& operator=(const quota_service&) = delete;
  ~quota_service();

  storage& store() const noexcept;
  const service_options& options() const noexcept;

  // --- Subscriptions -------------------------------------------------------

  /// Creates the user on the given tier (default tier when empty), status
  /// active, start = now. invalid_argument for a malformed user id, email
  /// (over 254 bytes or with control characters) or tier id; unknown_tier
  /// when the tier does not exist; user_exists when already there.
  result<subscription> create_user(const user_id& user, std::optional<std::string> email = {},
                                   std::optional<tier_id> tier = {});
  /// Puts an existing user on the default tier, active, start = now, and
  /// returns the subscription after the change. invalid_argument for a
  /// malformed user id; unknown_user; unknown_tier when the default tier
  /// does not exist.
  result<subscription> assign_default_subscription(const user_id& user);
  /// The user's subscription as stored. invalid_argument for a malformed
  /// user id; unknown_user.
  result<subscription> get_subscription(const user_id& user);
  /// Moves the user to `target` at once, status active, with no end date
  /// (an administrative change; a sold period comes from apply_payment); a
  /// scheduled change is dropped. Usage of the current period is kept, or
  /// reset with usage_policy::reset. success is false (with a message) when
  /// already on that tier, active. invalid_argument for a malformed user
  /// id, tier id or context; unknown_tier when `target` does not exist;
  /// unknown_user.
  result<upgrade_result> upgrade_subscription(const user_id& user, const tier_id& target,
                                              const request_context& ctx = {}, usage_policy usage = usage_policy::keep);

  // --- Subscription lifecycle (README: "Subscription lifecycle") ---------
  //
  // Every change below is one transaction with its audit row; transitions
  // that fell due (a trial's end, past_due, expiry, a scheduled change)
  // are written first. Each also returns the storage errors.

  /// Starts the user's one trial of `tier` for `length` (1 hour to 90
  /// days): status trialing, trial_end_date = now + length; at its end the
  /// default tier applies unless a payment arrived. invalid_argument for a
  /// malformed id, the default tier or a length out of range; unknown_tier;
  /// unknown_user; subscription_conflict when the user had a trial already
  /// or is in a paid period.
  result<subscription> start_trial(const user_id& user, const tier_id& tier, std::chrono::seconds length,
                                   const request_context& ctx = {});
  /// Records a pending payment (a checkout): `order` gives provider,
  /// transaction_id, user, tier and months; amount and currency are filled
  /// in from the tier's price and options().currency. A second call with
  /// the same key and the same order returns the stored payment.
  /// invalid_argument for malformed fields, a free tier, or the same key
  /// with another order; unknown_tier; unknown_user.
  result<payment> open_payment(const payment& order);
  /// Applies a confirmed payment: the current tier's period is extended by
  /// `months` calendar months of the user's zone from the later of now and
  /// its end; a higher tier starts a new period at once; a lower one is
  /// scheduled for the end of the current paid period. Idempotent on
  /// (provider, transaction_id): a payment already applied or failed
  /// returns its first outcome, replayed, and changes nothing.
  /// invalid_argument when the amount is not the tier's price times the
  /// months, the currency is not options().currency, or a pending order
  /// with that key differs; unknown_tier; unknown_user.
  result<payment_outcome> apply_payment(const payment& pay, usage_policy usage = usage_policy::keep);
  /// Marks a pending payment failed (the provider refused it); a failed one
  /// is returned as is. invalid_argument for malformed fields or a reason
  /// over 500 bytes; payment_not_found; subscription_conflict when it was
  /// applied already.
  result<payment> fail_payment(const std::string& provider, const std::string& transaction_id,
                               const std::string& reason);
  /// One payment. invalid_argument; payment_not_found.
  result<payment> get_payment(const std::string& provider, const std::string& transaction_id);
  /// The user's payments, newest first. invalid_argument for a malformed
  /// user id; unknown_user.
  result<std::vector<payment>> get_payments(const user_id& user);
  /// Keeps the tier to the end of the paid period, then the default tier,
  /// status canceled. subscription_conflict without a paid period running
  /// (no end date, or a trial).
  result<subscription> cancel_at_period_end(const user_id& user, const request_context& ctx = {});
  /// Moves the user to `tier` at the end of the paid period (with no end
  /// date of its own). invalid_argument for the current tier;
  /// unknown_tier; subscription_conflict as for cancel_at_period_end.
  result<subscription> schedule_change(const user_id& user, const tier_id& tier, const request_context& ctx = {});
  /// Drops the scheduled change or cancellation before its boundary.
  /// subscription_conflict when nothing is scheduled, or when what is
  /// scheduled was paid for (a lower tier bought by apply_payment).
  result<subscription> undo_scheduled_change(const user_id& user, const request_context& ctx = {});
  /// Sets the user's own IANA zone for days and months (empty: back to the
  /// service's). invalid_argument for an unknown zone; unknown_user.
  result<subscription> set_user_time_zone(const user_id& user, const std::optional<std::string>& zone);
  /// Writes every transition due now (at most `max_users` users per call;
  /// returns how many transitions were written). Safe to run from several
  /// processes at once: each transition is written exactly once. Run it
  /// with expire_reservations(); no job is needed for correctness.
  result<std::int64_t> sweep_subscriptions(std::int64_t max_users = 10'000);
  /// The user's usage per day from `from` to `to` inclusive (at most 400
  /// days), zeros included, in the user's zone. invalid_argument for a
  /// malformed id, from after to, or a longer range; unknown_user.
  result<std::vector<day_usage>> get_usage_history(const user_id& user, local_date from, local_date to);
  /// Month totals of the months from `from`'s to `to`'s inclusive (at most
  /// 120). Errors as for get_usage_history.
  result<std::vector<month_usage>> get_monthly_usage(const user_id& user, local_date from, local_date to);

  // --- Tiers ---------------------------------------------------------------

  /// One tier. invalid_argument for a malformed id; unknown_tier.
  result<tier> get_tier_config(const tier_id& id);
  /// Every tier (or the visible ones) by display order; only the storage
  /// errors.
  result<std::vector<tier>> get_all_tiers(bool visible_only = true);
  /// Applies the fields that are set and returns the tier after the change.
  /// invalid_argument for a malformed id, an empty or over-50-byte name, or
  /// a limit or price outside 0-10^12; unknown_tier.
  result<tier> update_tier(const tier_update& update);

  // --- Usage and decisions -------------------------------------------------

  /// Today's counters (zero when the user has not used anything today).
  /// invalid_argument for a malformed user id; unknown_user; unknown_tier
  /// when the default tier must apply (the subscription lapsed, or its tier
  /// is gone) and does not exist. The three reads below return the same.
  result<usage> get_or_create_usage(const user_id& user);
  /// Limits, counters, remaining amounts and reset instants, now.
  result<quota_info> get_user_quota_info(const user_id& user);
  /// The quota info with percentages of each limit and warning sentences.
  result<usage_stats> get_usage_stats(const user_id& user);
  /// Read-only check for UIs; use try_consume to admit a request.
  result<bool> can_send_message(const user_id& user);

  /// Atomic check-and-increment of one message (and `tokens`, when known
  /// up front); audited as message_sent, or quota_exceeded when denied.
  /// invalid_argument for a malformed user id or context, or tokens outside
  /// 0-10^12; unknown_user; unknown_tier as for get_or_create_usage;
  /// idempotency_mismatch when ctx.id was used by a request with other
  /// arguments (a retry with the same ones is replayed, not counted).
  result<decision> try_consume(const user_id& user, std::int64_t tokens = 0, const request_context& ctx = {});
  /// Counts one message and an estimate of its tokens; settle the
  /// reservation with commit() or release() within the TTL. Errors as for
  /// try_consume.
  result<decision> reserve(const user_id& user, std::int64_t estimated_tokens = 0, const request_context& ctx = {});
  /// Settles the reservation's tokens to the actual count, in the period
  /// the reservation was made in. invalid_argument for a malformed id or
  /// actual_tokens outside 0-10^12; reservation_not_found;
  /// reservation_closed when it is already committed, released or past its
  /// TTL (then settled at its estimate).
  result<reservation> commit(const reservation_id& id, std::int64_t actual_tokens);
  /// Refunds the reservation (processing failed). Errors as for commit.
  result<reservation> release(const reservation_id& id);
  /// The reservation; one past its TTL reads as expired even before
  /// expire_reservations() records it. invalid_argument for a malformed
  /// id; reservation_not_found.
  result<reservation> get_reservation(const reservation_id& id);
  /// Settles every expired open reservation at its estimate; returns how
  /// many. Only the storage errors.
  result<std::int64_t> expire_reservations();
  /// Forgets the request_ids older than options().request_id_ttl (none when
  /// it is empty); returns how many. Run it from the same periodic job as
  /// expire_reservations(), as `kauri-quota expire` does. Only the storage
  /// errors.
  result<std::int64_t> prune_request_ids();

  /// Retention (README: "Retention"): deletes the day rows (user_usage)
  /// of the days before `before` and their audit rows (usage_logs rows
  /// whose usage_date is before it, and rows without a usage_date whose
  /// event_timestamp is before the start of `before` in the quota time
  /// zone), and the reservations of those days (all settled by then), in
  /// batches of about `batch_size` rows, each its own short
  /// transaction, so that no lock is held for long. Returns how many rows
  /// of each went. Only whole months go: `before` must be the first day of
  /// a month (a month's latest day row carries its month-to-date totals,
  /// so pruning part of a month would change the totals of the days kept),
  /// and not after the first day of the month that is current in the
  /// quota time zone, or that may still be current for a user in a zone of
  /// their own (down to UTC-12) or hold an open reservation. It first
  /// settles the expired reservations (as expire_reservations()), so that
  /// none of a pruned day is settled later. For every day that remains,
  /// the counters still equal its audit rows. Safe to repeat:
  /// a second call deletes nothing; after an error, the batches already
  /// committed stay deleted (whole days are not guaranteed until a call
  /// succeeds) and a new call finishes the work. invalid_argument (nothing
  /// deleted) for a `before` that is not a valid date or breaks the rule
  /// above, or a batch_size outside 1-100,000.
  result<prune_report> prune_usage(local_date before, std::int64_t batch_size = default_prune_batch_size);

  /// Unconditional after-the-fact record, as the spec's increment_usage;
  /// returns the counters after it. invalid_argument for a malformed user
  /// id or context, counts outside 0-10^12, or a month counter that would
  /// pass 10^12; unknown_user; unknown_tier as for get_or_create_usage;
  /// idempotency_mismatch as for try_consume.
  result<usage> increment_usage(const user_id& user, std::int64_t messages, std::int64_t tokens,
                                const request_context& ctx = {});

  // --- Administration and audit -------------------------------------------

  /// Zeroes today's counters of every user (or one); returns users touched.
  /// invalid_argument for a malformed user id; unknown_user when `user` is
  /// given and does not exist. reset_monthly_quotas returns the same.
  /// Every user is reset atomically and audited. A reset of every user
  /// commits by chunks of 500 users in user id order, so that no request
  /// waits long behind it; after an error, the users of the chunks already
  /// committed stay reset (the error says how many), and running it again
  /// finishes it (a user at zero has nothing to reset).
  result<std::int64_t> reset_daily_quotas(const std::optional<user_id>& user = {});
  /// Zeroes this month's counters of every user (or one); returns users touched.
  result<std::int64_t> reset_monthly_quotas(const std::optional<user_id>& user = {});
  /// Appends an informational audit row (it changes no counter) and
  /// returns it with its id. invalid_argument for a malformed user id,
  /// event type (1-50 of [a-z0-9_.-]), count or context, or metadata that
  /// is not a JSON object of at most 64 KiB; unknown_user.
  result<usage_event> log_usage_event(const user_id& user, std::string event_type, std::int64_t messages_count,
                                      std::int64_t tokens_count, const request_context& ctx = {},
                                      std::optional<std::string> metadata_json = {});
  /// The user's events, newest first; empty for an unknown user.
  /// invalid_argument for a malformed user id or event type, or a limit
  /// outside 1-10000.
  result<std::vector<usage_event>> get_events(const event_query& query);

  /// The day `t` falls on in the quota time zone.
  local_date day_of(sys_time t) const;
  sys_time now() const;

  // --- Monitoring ----------------------------------------------------------

  /// What this service has answered since it was created, and how long the
  /// calls of a chat request took (see metrics.hpp; to_prometheus renders
  /// it for a scrape).
  metrics_snapshot metrics() const noexcept;

  // --- Denial cache --------------------------------------------------------

  /// Drops the cached denial of `user` (nothing when the cache is off). The
  /// entry point of a change feed announcing another process's change to
  /// that user's subscription or counters. Thread-safe.
  void invalidate_cached_denials(const user_id& user);
  /// Drops every cached denial, e.g. when a tier changed elsewhere.
  void invalidate_all_cached_denials();

 private:
  struct impl;
  explicit quota_service(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

}  // namespace kauri_quota
