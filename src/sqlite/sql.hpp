// The SQL text of the SQLite backend (internal): every statement is a
// named constant with bound parameters, never built from values. The
// migrations themselves live in schema/sqlite/.
#pragma once

namespace kauri_quota::detail::sqlite {

inline constexpr const char* sql_version = "SELECT COALESCE(MAX(version), 0) FROM kauri_quota_migrations";
inline constexpr const char* sql_has_migrations_table =
    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'kauri_quota_migrations'";
inline constexpr const char* sql_create_migrations_table =
    "CREATE TABLE IF NOT EXISTS kauri_quota_migrations ("
    " version INTEGER PRIMARY KEY NOT NULL, name TEXT NOT NULL, checksum TEXT NOT NULL,"
    " applied_at DATETIME NOT NULL)";
inline constexpr const char* sql_list_migrations =
    "SELECT version, name, checksum, applied_at FROM kauri_quota_migrations";
inline constexpr const char* sql_record_migration =
    "INSERT INTO kauri_quota_migrations (version, name, checksum, applied_at) VALUES (?1, ?2, ?3, ?4)";
inline constexpr const char* sql_forget_migration = "DELETE FROM kauri_quota_migrations WHERE version = ?1";

inline constexpr const char* sql_all_tiers =
    "SELECT tier_id, name, name_fr, messages_per_day, messages_per_month, tokens_per_month, price_fcfa, features,"
    " display_order, is_visible FROM subscription_tiers ORDER BY display_order, tier_id";
inline constexpr const char* sql_get_tier =
    "SELECT tier_id, name, name_fr, messages_per_day, messages_per_month, tokens_per_month, price_fcfa, features,"
    " display_order, is_visible FROM subscription_tiers WHERE tier_id = ?1";
inline constexpr const char* sql_update_tier =
    "UPDATE subscription_tiers SET"
    " name = CASE WHEN ?2 THEN ?3 ELSE name END,"
    " name_fr = CASE WHEN ?4 THEN ?5 ELSE name_fr END,"
    " messages_per_day = CASE WHEN ?6 THEN ?7 ELSE messages_per_day END,"
    " messages_per_month = CASE WHEN ?8 THEN ?9 ELSE messages_per_month END,"
    " tokens_per_month = CASE WHEN ?10 THEN ?11 ELSE tokens_per_month END,"
    " price_fcfa = CASE WHEN ?12 THEN ?13 ELSE price_fcfa END,"
    " display_order = CASE WHEN ?14 THEN ?15 ELSE display_order END,"
    " is_visible = CASE WHEN ?16 THEN ?17 ELSE is_visible END,"
    " updated_at = ?18"
    " WHERE tier_id = ?1";

inline constexpr const char* sql_subject =
    "SELECT email, subscription_tier, subscription_status, subscription_start_date, subscription_end_date,"
    " trial_end_date, created_at, time_zone, scheduled_tier, scheduled_end_date, cancel_at_period_end"
    " FROM users WHERE user_id = ?1";
// The whole state a decision needs, in one statement: subscription tier,
// status and end dates, the tier's names and limits, the month-to-date
// totals (latest row of the month) and the day row. It runs on every
// request, so it reads as few columns as it can.
inline constexpr const char* sql_state =
    "SELECT u.subscription_tier, u.subscription_status, u.subscription_end_date, u.trial_end_date,"
    " t.tier_id, t.name, t.name_fr, t.messages_per_day, t.messages_per_month, t.tokens_per_month,"
    " m.messages_this_month, m.tokens_this_month,"
    // Usually the day is the latest of its month and m is the day row.
    " CASE WHEN m.usage_date = ?4 THEN m.messages_today"
    "  ELSE (SELECT messages_today FROM user_usage WHERE user_id = ?1 AND usage_date = ?4) END,"
    " CASE WHEN m.usage_date = ?4 THEN m.tokens_today"
    "  ELSE (SELECT tokens_today FROM user_usage WHERE user_id = ?1 AND usage_date = ?4) END,"
    " u.time_zone"
    " FROM users u"
    " LEFT JOIN subscription_tiers t ON t.tier_id = u.subscription_tier"
    " LEFT JOIN user_usage m ON m.id = (SELECT x.id FROM user_usage x WHERE x.user_id = ?1"
    "   AND x.usage_date >= ?2 AND x.usage_date < ?3 ORDER BY x.usage_date DESC LIMIT 1)"
    " WHERE u.user_id = ?1";
inline constexpr const char* sql_user_exists = "SELECT 1 FROM users WHERE user_id = ?1";
inline constexpr const char* sql_insert_user =
    "INSERT INTO users (user_id, email, created_at, subscription_tier, subscription_status, subscription_start_date,"
    " time_zone) VALUES (?1, ?2, ?3, ?4, 'active', ?3, ?5)";
// A trial end once set stays (it marks the user's one trial as used), and
// any scheduled change goes with the old subscription.
// twin: schema/postgres/functions/operations.sql kauri_quota_set_subscription
inline constexpr const char* sql_set_subscription =
    "UPDATE users SET subscription_tier = ?2, subscription_status = ?3, subscription_start_date = ?4,"
    " subscription_end_date = ?5, trial_end_date = COALESCE(?6, trial_end_date), scheduled_tier = NULL,"
    " scheduled_end_date = NULL,"
    " cancel_at_period_end = 0 WHERE user_id = ?1";
// The whole subscription row, as the lifecycle rules decided it.
inline constexpr const char* sql_write_lifecycle =
    "UPDATE users SET subscription_tier = ?2, subscription_status = ?3, subscription_start_date = ?4,"
    " subscription_end_date = ?5, trial_end_date = ?6, time_zone = ?7, scheduled_tier = ?8,"
    " scheduled_end_date = ?9, cancel_at_period_end = ?10 WHERE user_id = ?1";
// Users that may have a transition due at ?1 (?4 = ?1 minus the grace
// period), in user order after ?2: the index ix_users_lifecycle_due and
// ix_users_trial_due answer it. The service re-decides each on its locked
// row.
inline constexpr const char* sql_due_users =
    "SELECT user_id FROM users WHERE (?2 IS NULL OR user_id > ?2) AND ("
    " (subscription_status = 'trialing' AND trial_end_date <= ?1)"
    " OR (subscription_end_date IS NOT NULL AND subscription_end_date <= ?1 AND ("
    "   subscription_status = 'active'"
    "   OR (subscription_status = 'past_due' AND (scheduled_tier IS NOT NULL OR subscription_end_date <= ?4)))))"
    " ORDER BY user_id LIMIT ?3";

inline constexpr const char* sql_get_payment =
    "SELECT provider, transaction_id, user_id, tier_id, months, amount, currency, status, effect, period_start,"
    " period_end, failure_reason, created_at, updated_at FROM subscription_payments"
    " WHERE provider = ?1 AND transaction_id = ?2";
inline constexpr const char* sql_user_payments =
    "SELECT provider, transaction_id, user_id, tier_id, months, amount, currency, status, effect, period_start,"
    " period_end, failure_reason, created_at, updated_at FROM subscription_payments"
    " WHERE user_id = ?1 ORDER BY created_at DESC, id DESC";
inline constexpr const char* sql_put_payment =
    "INSERT INTO subscription_payments (provider, transaction_id, user_id, tier_id, months, amount, currency, status,"
    " effect, period_start, period_end, failure_reason, created_at, updated_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
    " ON CONFLICT (provider, transaction_id) DO UPDATE SET status = excluded.status, effect = excluded.effect,"
    " period_start = excluded.period_start, period_end = excluded.period_end,"
    " failure_reason = excluded.failure_reason, updated_at = excluded.updated_at";
inline constexpr const char* sql_usage_days =
    "SELECT usage_date, messages_today, tokens_today FROM user_usage"
    " WHERE user_id = ?1 AND usage_date >= ?2 AND usage_date <= ?3 ORDER BY usage_date";
// A reset concerns the users whose ids lie in [?from, ?upto]: one user, or
// a chunk of them (the first, then the next after the last one's id).
inline constexpr const char* sql_reset_first_chunk =
    "SELECT MIN(user_id), MAX(user_id) FROM (SELECT user_id FROM users ORDER BY user_id LIMIT ?1)";
inline constexpr const char* sql_reset_next_chunk =
    "SELECT MIN(user_id), MAX(user_id) FROM (SELECT user_id FROM users WHERE user_id > ?1 ORDER BY user_id LIMIT ?2)";
// The zones of those users (NULL: the service's).
inline constexpr const char* sql_reset_zones =
    "SELECT DISTINCT time_zone FROM users WHERE time_zone IS NOT NULL AND user_id BETWEEN ?1 AND ?2";

// The latest row of the day's month holds the month-to-date totals.
inline constexpr const char* sql_month_latest =
    "SELECT usage_date, messages_this_month, tokens_this_month, messages_today, tokens_today FROM user_usage"
    " WHERE user_id = ?1 AND usage_date >= ?2 AND usage_date < ?3 ORDER BY usage_date DESC LIMIT 1";
inline constexpr const char* sql_day_row =
    "SELECT messages_today, tokens_today FROM user_usage WHERE user_id = ?1 AND usage_date = ?2";
// A new day row starts from the month-to-date totals of the day before it.
inline constexpr const char* sql_insert_day =
    "INSERT INTO user_usage (user_id, usage_date, messages_today, tokens_today, messages_this_month,"
    " tokens_this_month, created_at, updated_at)"
    " VALUES (?1, ?2, 0, 0,"
    " COALESCE((SELECT messages_this_month FROM user_usage WHERE user_id = ?1 AND usage_date < ?2"
    "           AND usage_date >= ?3 ORDER BY usage_date DESC LIMIT 1), 0),"
    " COALESCE((SELECT tokens_this_month FROM user_usage WHERE user_id = ?1 AND usage_date < ?2"
    "           AND usage_date >= ?3 ORDER BY usage_date DESC LIMIT 1), 0),"
    " ?4, ?4)"
    " ON CONFLICT (user_id, usage_date) DO NOTHING";
// Adds a delta to one day and to the month-to-date totals of that day and
// every later day of the same month (the month-to-date invariant).
inline constexpr const char* sql_apply_delta =
    "UPDATE user_usage SET"
    " messages_today = messages_today + CASE WHEN usage_date = ?2 THEN ?4 ELSE 0 END,"
    " tokens_today = tokens_today + CASE WHEN usage_date = ?2 THEN ?5 ELSE 0 END,"
    " messages_this_month = messages_this_month + ?4,"
    " tokens_this_month = tokens_this_month + ?5,"
    " updated_at = ?6"
    " WHERE user_id = ?1 AND usage_date >= ?2 AND usage_date < ?3";

inline constexpr const char* sql_insert_event =
    "INSERT INTO usage_logs (user_id, event_type, messages_count, tokens_count, quota_tier, request_ip, user_agent,"
    " event_metadata, event_timestamp, usage_date, request_id)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
inline constexpr const char* sql_events =
    "SELECT id, user_id, event_type, messages_count, tokens_count, quota_tier, request_ip, user_agent,"
    " event_metadata, usage_date, event_timestamp FROM usage_logs"
    " WHERE user_id = ?1 AND (?2 IS NULL OR event_type = ?2) ORDER BY id DESC LIMIT ?3";

inline constexpr const char* sql_get_key =
    "SELECT operation, fingerprint, allowed, denied_by, reservation_id FROM kauri_quota_idempotency_keys"
    " WHERE user_id = ?1 AND request_id = ?2";
inline constexpr const char* sql_put_key =
    "INSERT INTO kauri_quota_idempotency_keys (user_id, request_id, operation, fingerprint, allowed, denied_by,"
    " reservation_id, usage_date, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

inline constexpr const char* sql_insert_reservation =
    "INSERT INTO kauri_quota_reservations (reservation_id, user_id, usage_date, messages, estimated_tokens, state,"
    " request_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, 'open', ?6, ?7, ?8)";
inline constexpr const char* sql_get_reservation =
    "SELECT reservation_id, user_id, usage_date, messages, estimated_tokens, actual_tokens, state, created_at,"
    " expires_at FROM kauri_quota_reservations WHERE reservation_id = ?1";
inline constexpr const char* sql_close_reservation =
    "UPDATE kauri_quota_reservations SET state = ?2, actual_tokens = ?3, settled_at = ?4 WHERE reservation_id = ?1";
inline constexpr const char* sql_prune_request_ids =
    "DELETE FROM kauri_quota_idempotency_keys WHERE rowid IN (SELECT rowid FROM kauri_quota_idempotency_keys"
    " WHERE created_at < ?1 ORDER BY created_at LIMIT ?2)";
// Retention (retention.cpp). Audit rows are visited by windows of ids
// (the rowid: ?1 <= id < ?2), so each transaction reads at most one window
// whatever the table holds; day rows go through ix_user_usage_usage_date.
inline constexpr const char* sql_audit_id_range = "SELECT MIN(id), MAX(id) FROM usage_logs";
inline constexpr const char* sql_prune_audit_window =
    "DELETE FROM usage_logs WHERE id >= ?1 AND id < ?2"
    " AND (usage_date < ?3 OR (usage_date IS NULL AND event_timestamp < ?4))";
// After each batch the prune copies what it wrote back into the database
// file itself, without waiting on anyone, so that the WAL stays small and
// the commit of a request never pays for the prune's checkpoint.
inline constexpr const char* sql_passive_checkpoint = "PRAGMA wal_checkpoint(PASSIVE)";
inline constexpr const char* sql_prune_day_rows =
    "DELETE FROM user_usage WHERE rowid IN (SELECT rowid FROM user_usage WHERE usage_date < ?1 LIMIT ?2)";
// Settled reservations of the pruned days, by windows of rowids as the
// audit rows (the table has no index on usage_date, and needs none).
inline constexpr const char* sql_reservation_rowid_range =
    "SELECT MIN(rowid), MAX(rowid) FROM kauri_quota_reservations";
inline constexpr const char* sql_prune_reservation_window =
    "DELETE FROM kauri_quota_reservations WHERE rowid >= ?1 AND rowid < ?2 AND usage_date < ?3 AND state <> 'open'";
inline constexpr const char* sql_expired_reservations =
    "SELECT reservation_id, user_id, usage_date, messages, estimated_tokens, actual_tokens, state, created_at,"
    " expires_at FROM kauri_quota_reservations WHERE state = 'open' AND expires_at <= ?1 ORDER BY expires_at LIMIT 500";

// Driven by the users of the range (CROSS JOIN keeps users the outer
// loop), each user's rows found through ix_user_usage_user_date: the
// usage_date index would visit every user's rows of the day for each chunk.
inline constexpr const char* sql_day_rows_for_reset =
    "SELECT u.user_id, uu.messages_today, uu.tokens_today FROM users AS u CROSS JOIN user_usage AS uu"
    " WHERE u.user_id BETWEEN ?2 AND ?3 AND u.time_zone IS ?4 AND uu.user_id = u.user_id AND uu.usage_date = ?1"
    " AND (uu.messages_today <> 0 OR uu.tokens_today <> 0)";
inline constexpr const char* sql_month_rows_for_reset =
    "SELECT u.user_id, uu.usage_date, uu.messages_today, uu.tokens_today FROM users AS u CROSS JOIN user_usage AS uu"
    " WHERE u.user_id BETWEEN ?3 AND ?4 AND u.time_zone IS ?5 AND uu.user_id = u.user_id"
    " AND uu.usage_date >= ?1 AND uu.usage_date < ?2"
    " AND (uu.messages_today <> 0 OR uu.tokens_today <> 0 OR uu.messages_this_month <> 0 OR uu.tokens_this_month <> 0)"
    " ORDER BY u.user_id, uu.usage_date";
inline constexpr const char* sql_zero_month =
    "UPDATE user_usage SET messages_today = 0, tokens_today = 0, messages_this_month = 0, tokens_this_month = 0,"
    " updated_at = ?6 WHERE user_id IN (SELECT user_id FROM users WHERE user_id BETWEEN ?3 AND ?4 AND time_zone IS ?5)"
    " AND usage_date >= ?1 AND usage_date < ?2";

}  // namespace kauri_quota::detail::sqlite
