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
  /// Moves the user to `target` at once; usage of the current period is
  /// kept. success is false (with a message) when already on that tier,
  /// active. invalid_argument for a malformed user id, tier id or context;
  /// unknown_tier when `target` does not exist; unknown_user.
  result<upgrade_result> upgrade_subscription(const user_id& user, const tier_id& target,
                                              const request_context& ctx = {});

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
