// Pieces shared by the storage backends (internal): how instants and days
// are written to the database, audit metadata, idempotency fingerprints and
// reservation rules. Pure code; one place for each fact.
#pragma once

#include <kauri_quota/result.hpp>
#include <kauri_quota/types.hpp>

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace kauri_quota::detail {

/// How many request ids prune_request_ids deletes per transaction, oldest
/// first (through ix_kauri_quota_idempotency_keys_created_at): short
/// transactions, so that no request waits long behind the job.
inline constexpr int prune_request_ids_batch = 5000;

/// How many users a reset of all users takes per transaction, in user_id
/// order: each user's reset is atomic, and the whole never holds the write
/// lock (SQLite) or one lock per user (PostgreSQL) for long. (PostgreSQL's
/// lock table holds max_locks_per_transaction x max_connections locks in
/// all, 6,400 by default, shared by every session.)
inline constexpr int reset_chunk_users = 500;

/// The error of a reset of every user that failed after `done` users had
/// been reset by the chunks already committed: says so, when any were.
error reset_stopped(error e, std::int64_t done);

/// "2025-11-07 10:59:24.625159" (UTC), the text form stored by SQLite.
std::string format_db_time(sys_time t);
/// Parses "YYYY-MM-DD[ T]HH:MM:SS[.ffffff][Z|+00:00]" and "YYYY-MM-DD";
/// empty when the text is not such an instant (host data may hold anything).
std::optional<sys_time> parse_db_time(std::string_view s);
/// "2025-11-07".
std::string format_db_date(local_date d);
std::optional<local_date> parse_db_date(std::string_view s);

/// The features column (a JSON object of booleans) as a map; other values
/// are ignored rather than failing a quota check.
std::map<std::string, bool> parse_features(std::string_view json);
std::string features_json(const std::map<std::string, bool>& f);

std::optional<reservation_state> parse_reservation_state(std::string_view s) noexcept;
limit_kind parse_limit_kind(std::string_view s) noexcept;
std::optional<payment_status> parse_payment_status(std::string_view s) noexcept;
std::optional<payment_effect> parse_payment_effect(std::string_view s) noexcept;

/// Hex FNV-1a 64 of a migration's text.
std::string checksum_hex(std::string_view text);

/// What an idempotency key remembers of the arguments of its request.
std::string fingerprint(std::string_view operation, std::int64_t messages, std::int64_t tokens);
error mismatch_error(const request_id& id, std::string_view stored_operation);

/// A new random reservation id ("r_" + 32 hex digits).
std::string new_reservation_id();

/// reservation_closed unless `r` is open and not past its TTL at `now`.
result<void> check_settleable(const reservation& r, sys_time now);

/// event_metadata of a quota_warning row.
std::string limit_metadata(limit_kind k, const tier& t, const usage& u, double threshold);
/// event_metadata of a quota_exceeded row.
std::string denial_metadata(limit_kind k, const tier& t, const usage& u, std::int64_t messages, std::int64_t tokens);
/// event_metadata of a reservation row.
std::string reservation_metadata(const reservation& r);

}  // namespace kauri_quota::detail
