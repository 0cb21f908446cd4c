// The SQL text of the PostgreSQL backend (internal): every statement is a
// named constant with bound parameters. Most call the server-side functions
// of schema/postgres/; the migrations live there too.
#pragma once

namespace kauri_quota::detail::postgres {

// These return one row: a kauri_quota_outcome value and the lifecycle
// columns (function set version 4), read with exec_outcome. The last
// parameter is the grace period in seconds.
inline constexpr const char* sql_consume =
    "SELECT * FROM kauri_quota_consume($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)";
inline constexpr const char* sql_record =
    "SELECT * FROM kauri_quota_record($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";
inline constexpr const char* sql_settle = "SELECT * FROM kauri_quota_settle($1, $2, $3, $4, $5, $6, $7)";
inline constexpr const char* sql_load = "SELECT * FROM kauri_quota_load($1, $2, $3, $4, false, $5)";
inline constexpr const char* sql_expire = "SELECT kauri_quota_expire($1, 500)";
inline constexpr const char* sql_reset = "SELECT kauri_quota_reset($1, $2, $3, $4)";
// The next chunk of an all-user reset: users reset, the chunk's last user.
inline constexpr const char* sql_reset_next = "SELECT o_users, o_last FROM kauri_quota_reset_next($1, $2, $3, $4, $5)";
inline constexpr const char* sql_prune_request_ids =
    "DELETE FROM kauri_quota_idempotency_keys WHERE ctid = ANY (ARRAY(SELECT ctid FROM kauri_quota_idempotency_keys"
    " WHERE created_at < $1 ORDER BY created_at LIMIT $2))";
// Retention (retention.cpp). Audit rows are visited by windows of ids
// ($1 <= id < $2, through the primary key), so each transaction reads at
// most one window whatever the table holds; day rows go through
// ix_user_usage_usage_date.
inline constexpr const char* sql_audit_id_range = "SELECT MIN(id), MAX(id) FROM usage_logs";
inline constexpr const char* sql_prune_audit_window =
    "DELETE FROM usage_logs WHERE id >= $1::bigint AND id < $2::bigint"
    " AND (usage_date < $3::date OR (usage_date IS NULL AND event_timestamp < $4::timestamp))";
inline constexpr const char* sql_prune_day_rows =
    "DELETE FROM user_usage WHERE id IN (SELECT id FROM user_usage WHERE usage_date < $1::date LIMIT $2)";
// Settled reservations of the pruned days, by windows of heap pages
// ($1 <= block < $2, a TID range scan): the table has no index on
// usage_date, and a scan that starts over for each batch would read the
// rows already deleted again and again.
inline constexpr const char* sql_reservation_pages =
    "SELECT pg_relation_size('kauri_quota_reservations') / current_setting('block_size')::bigint";
inline constexpr const char* sql_prune_reservation_window =
    "DELETE FROM kauri_quota_reservations WHERE ctid >= format('(%s,0)', $1::bigint)::tid"
    " AND ctid < format('(%s,0)', $2::bigint)::tid AND usage_date < $3::date AND state <> 'open'";
inline constexpr const char* sql_set_subscription =
    "SELECT * FROM kauri_quota_set_subscription($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
inline constexpr const char* sql_create_user = "SELECT kauri_quota_create_user($1, $2, $3, $4, $5)";
// The subscription columns: read_subscription_cols, then
// read_lifecycle_cols from column 7.
inline constexpr const char* sql_get_subscription =
    "SELECT email, subscription_tier, subscription_status, subscription_start_date, subscription_end_date,"
    " trial_end_date, created_at::timestamp, time_zone, scheduled_tier, scheduled_end_date, cancel_at_period_end"
    " FROM users WHERE user_id = $1";

// change_lifecycle: one transaction of several statements (see
// postgres_storage::change_lifecycle). The user is locked as the
// operations lock it (kauri_quota_lock), then its row.
inline constexpr const char* sql_lock_user = "SELECT kauri_quota_lock($1)";
inline constexpr const char* sql_lock_subscription =
    "SELECT email, subscription_tier, subscription_status, subscription_start_date, subscription_end_date,"
    " trial_end_date, created_at::timestamp, time_zone, scheduled_tier, scheduled_end_date, cancel_at_period_end"
    " FROM users WHERE user_id = $1 FOR NO KEY UPDATE";
inline constexpr const char* sql_write_subscription =
    "UPDATE users SET subscription_tier = $2, subscription_status = $3, subscription_start_date = $4,"
    " subscription_end_date = $5, trial_end_date = $6, time_zone = $7, scheduled_tier = $8,"
    " scheduled_end_date = $9, cancel_at_period_end = $10::boolean WHERE user_id = $1";
inline constexpr const char* sql_get_payment =
    "SELECT provider, transaction_id, user_id::text, tier_id, months, amount, currency, status, effect, period_start,"
    " period_end, failure_reason, created_at, updated_at FROM subscription_payments"
    " WHERE provider = $1 AND transaction_id = $2";
inline constexpr const char* sql_lock_payment =
    "SELECT provider, transaction_id, user_id::text, tier_id, months, amount, currency, status, effect, period_start,"
    " period_end, failure_reason, created_at, updated_at FROM subscription_payments"
    " WHERE provider = $1 AND transaction_id = $2 FOR UPDATE";
inline constexpr const char* sql_user_payments =
    "SELECT provider, transaction_id, user_id::text, tier_id, months, amount, currency, status, effect, period_start,"
    " period_end, failure_reason, created_at, updated_at FROM subscription_payments"
    " WHERE user_id = $1 ORDER BY created_at DESC, id DESC";
inline constexpr const char* sql_write_payment =
    "INSERT INTO subscription_payments (provider, transaction_id, user_id, tier_id, months, amount, currency, status,"
    " effect, period_start, period_end, failure_reason, created_at, updated_at)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
    " ON CONFLICT (provider, transaction_id) DO UPDATE SET status = EXCLUDED.status, effect = EXCLUDED.effect,"
    " period_start = EXCLUDED.period_start, period_end = EXCLUDED.period_end,"
    " failure_reason = EXCLUDED.failure_reason, updated_at = EXCLUDED.updated_at"
    " WHERE subscription_payments.user_id = EXCLUDED.user_id";
inline constexpr const char* sql_lifecycle_event =
    "SELECT kauri_quota_log($1, $2, $3, $4, $5, $6, $7, $8::json, $9, $10, $11)";
inline constexpr const char* sql_disarm =
    "UPDATE user_usage SET fast_xid = NULL WHERE user_id = $1 AND fast_xid IS NOT NULL";
// The sweep: the users whose trial or paid period ended (two partial
// indexes of 0011), of whom those with a transition due.
inline constexpr const char* sql_due_subscriptions =
    "SELECT user_id::text FROM users"
    " WHERE (subscription_end_date <= $1 OR (subscription_status = 'trialing' AND trial_end_date <= $1))"
    " AND kauri_quota_transition_due(subscription_status, trial_end_date, subscription_end_date, scheduled_tier, $1,"
    " $2) AND (NOT $3::boolean OR user_id > $4) ORDER BY user_id LIMIT $5";
inline constexpr const char* sql_usage_days =
    "SELECT usage_date, messages_today, tokens_today FROM user_usage"
    " WHERE user_id = $1 AND usage_date >= $2 AND usage_date <= $3 ORDER BY usage_date";
inline constexpr const char* sql_all_tiers =
    "SELECT tier_id, name, name_fr, messages_per_day, messages_per_month, tokens_per_month, price_fcfa,"
    " features::text, display_order, is_visible FROM subscription_tiers ORDER BY display_order, tier_id";
inline constexpr const char* sql_get_tier =
    "SELECT tier_id, name, name_fr, messages_per_day, messages_per_month, tokens_per_month, price_fcfa,"
    " features::text, display_order, is_visible FROM subscription_tiers WHERE tier_id = $1";
inline constexpr const char* sql_update_tier =
    "UPDATE subscription_tiers SET"
    " name = CASE WHEN $2::boolean THEN $3 ELSE name END,"
    " name_fr = CASE WHEN $4::boolean THEN $5 ELSE name_fr END,"
    " messages_per_day = CASE WHEN $6::boolean THEN $7::bigint ELSE messages_per_day END,"
    " messages_per_month = CASE WHEN $8::boolean THEN $9::bigint ELSE messages_per_month END,"
    " tokens_per_month = CASE WHEN $10::boolean THEN $11::bigint ELSE tokens_per_month END,"
    " price_fcfa = CASE WHEN $12::boolean THEN $13::bigint ELSE price_fcfa END,"
    " display_order = CASE WHEN $14::boolean THEN $15::integer ELSE display_order END,"
    " is_visible = CASE WHEN $16::boolean THEN $17::boolean ELSE is_visible END,"
    " updated_at = $18"
    " WHERE tier_id = $1"
    " RETURNING tier_id, name, name_fr, messages_per_day, messages_per_month, tokens_per_month, price_fcfa,"
    " features::text, display_order, is_visible";
inline constexpr const char* sql_get_reservation =
    "SELECT reservation_id, user_id::text, usage_date, messages, estimated_tokens, actual_tokens, state, created_at,"
    " expires_at FROM kauri_quota_reservations WHERE reservation_id = $1";
inline constexpr const char* sql_append_event =
    "INSERT INTO usage_logs (user_id, event_type, messages_count, tokens_count, quota_tier, request_ip, user_agent,"
    " event_metadata, event_timestamp, usage_date, request_id)"
    " SELECT u.user_id, $2, $3, $4, $5, $6, $7, $8::json, $9, NULL, NULL FROM users u WHERE u.user_id = $1"
    " RETURNING id";
inline constexpr const char* sql_events =
    "SELECT id, user_id::text, event_type, messages_count, tokens_count, quota_tier, request_ip, user_agent,"
    " event_metadata::text, usage_date, event_timestamp FROM usage_logs"
    " WHERE user_id = $1 AND ($2::text IS NULL OR event_type = $2) ORDER BY id DESC LIMIT $3";
inline constexpr const char* sql_has_migrations_table = "SELECT to_regclass('kauri_quota_migrations') IS NOT NULL";
inline constexpr const char* sql_list_migrations =
    "SELECT version, name, checksum, applied_at FROM kauri_quota_migrations";
inline constexpr const char* sql_version = "SELECT COALESCE(MAX(version), 0) FROM kauri_quota_migrations";
inline constexpr const char* sql_create_migrations_table =
    "CREATE TABLE IF NOT EXISTS kauri_quota_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
    " checksum TEXT NOT NULL, applied_at TIMESTAMP NOT NULL)";

}  // namespace kauri_quota::detail::postgres
