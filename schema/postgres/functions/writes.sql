-- kauri_quota function set, file writes.sql: the write primitives: counters, their bound, audit rows and warnings.
--
-- The server-side functions are repeatable, not a migration: every file of
-- schema/postgres/functions/ is embedded in the library, and `kauri-quota
-- migrate` reinstalls the whole set (CREATE OR REPLACE, one transaction,
-- under the migration lock) whenever its hash differs from the one recorded
-- in kauri_quota_function_set. Migration 0008 installed the 0.1.0 bodies;
-- this set supersedes them. The set's version (function_set_version in
-- src/postgres/function_set.hpp) is bumped whenever the calls change.
--
-- Rolling upgrades: hosts are upgraded one at a time, and a library keeps
-- working on a newer set that a newer library installed. So a new set must
-- stay compatible with the previous release's calls: keep every function,
-- its parameters and the kauri_quota_outcome columns that release uses; add
-- new functions (or new parameters with defaults) instead of changing them.
-- CREATE OR REPLACE cannot change a function's parameters or result type;
-- a change that needs that is a new function.
--
-- Errors raised with SQLSTATE class KQ are mapped by the library
-- (describe in src/postgres/connection.cpp): KQ001 unknown user, KQ002
-- unknown tier, KQ003 idempotency mismatch, KQ004 reservation not found,
-- KQ005 reservation closed, KQ006 user exists, KQ007 counter bound exceeded,
-- KQ008 a lifecycle transition is due (the library writes it and retries).
-- A function raises the code and the facts, never the words: DETAIL holds
-- the subject (the user, tier or reservation id; KQ007 the counter), HINT
-- a second fact (KQ005 'expired' the estimate, KQ007 the bound), and the
-- library words the message with src/core/error_text (the words SQLite
-- uses). MESSAGE stays what the previous release reads (KQ003 the stored
-- operation, KQ005 the state or 'expired').
-- (The header of 0008 lists KQ001-KQ006 only; 0008 cannot be corrected,
-- since a released migration is immutable and its checksum is compared.)
--
-- p_user is declared with the type of users.user_id, so the same functions
-- serve a UUID column (the original database) and a TEXT one.

CREATE OR REPLACE FUNCTION kauri_quota_time_text(t TIMESTAMP)
RETURNS TEXT LANGUAGE sql IMMUTABLE AS $f$
    SELECT to_char(t, 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$f$;

-- Adds a delta to one day and to the month-to-date totals of that day and
-- every later day of the same month (the month-to-date invariant).
-- twin: src/sqlite/state.cpp sqlite_storage::apply_delta
CREATE OR REPLACE FUNCTION kauri_quota_apply(p_user users.user_id%TYPE, p_day DATE, p_messages BIGINT, p_tokens BIGINT,
                                  p_now TIMESTAMP, p_day_found BOOLEAN)
RETURNS VOID LANGUAGE plpgsql AS $f$
DECLARE
    v_first DATE := date_trunc('month', p_day)::date;
    v_next DATE := (date_trunc('month', p_day) + interval '1 month')::date;
BEGIN
    IF NOT p_day_found THEN
        INSERT INTO user_usage (user_id, usage_date, messages_today, tokens_today, messages_this_month,
                                tokens_this_month, created_at, updated_at)
        SELECT p_user, p_day, 0, 0, COALESCE(prev.m, 0), COALESCE(prev.t, 0), p_now, p_now
          FROM (SELECT 1) AS one
          LEFT JOIN LATERAL (SELECT uu.messages_this_month AS m, uu.tokens_this_month AS t FROM user_usage uu
                              WHERE uu.user_id = p_user AND uu.usage_date < p_day AND uu.usage_date >= v_first
                              ORDER BY uu.usage_date DESC LIMIT 1) AS prev ON TRUE
        ON CONFLICT (user_id, usage_date) DO NOTHING;
    END IF;
    IF p_messages <> 0 OR p_tokens <> 0 THEN
        UPDATE user_usage
           SET messages_today = messages_today + CASE WHEN usage_date = p_day THEN p_messages ELSE 0 END,
               tokens_today = tokens_today + CASE WHEN usage_date = p_day THEN p_tokens ELSE 0 END,
               messages_this_month = messages_this_month + p_messages,
               tokens_this_month = tokens_this_month + p_tokens,
               updated_at = p_now
         WHERE user_id = p_user AND usage_date >= p_day AND usage_date < v_next;
    END IF;
END
$f$;

-- Counters are bounded (p_max) so that no sum ever wraps: KQ007 when adding
-- p_messages and p_tokens to the month-to-date totals of o would pass it.
-- twin: src/core/validate.cpp checked_add
CREATE OR REPLACE FUNCTION kauri_quota_check_bound(o kauri_quota_outcome, p_messages BIGINT, p_tokens BIGINT, p_max BIGINT)
RETURNS VOID LANGUAGE plpgsql AS $f$
BEGIN
    IF o.messages_this_month + p_messages > p_max THEN
        RAISE EXCEPTION USING ERRCODE = 'KQ007', MESSAGE = format('messages_this_month would exceed %s', p_max),
                              DETAIL = 'messages_this_month', HINT = p_max::text;
    END IF;
    IF o.tokens_this_month + p_tokens > p_max THEN
        RAISE EXCEPTION USING ERRCODE = 'KQ007', MESSAGE = format('tokens_this_month would exceed %s', p_max),
                              DETAIL = 'tokens_this_month', HINT = p_max::text;
    END IF;
END
$f$;

CREATE OR REPLACE FUNCTION kauri_quota_log(p_user users.user_id%TYPE, p_type TEXT, p_messages BIGINT, p_tokens BIGINT,
                                p_tier TEXT, p_ip TEXT, p_ua TEXT, p_meta JSON, p_now TIMESTAMP, p_day DATE,
                                p_request_id TEXT)
RETURNS VOID LANGUAGE sql AS $f$
    INSERT INTO usage_logs (user_id, event_type, messages_count, tokens_count, quota_tier, request_ip, user_agent,
                            event_metadata, event_timestamp, usage_date, request_id)
    VALUES (p_user, p_type, p_messages, p_tokens, p_tier, p_ip, p_ua, p_meta, p_now, p_day, p_request_id)
$f$;

-- Audits each limit whose usage crossed the warning threshold.
-- twin: src/sqlite/state.cpp sqlite_storage::audit_warnings (metadata: src/core/sql_support.cpp limit_metadata)
CREATE OR REPLACE FUNCTION kauri_quota_warn(p_user users.user_id%TYPE, p_day DATE, p_now TIMESTAMP, o kauri_quota_outcome,
                                 p_messages BIGINT, p_tokens BIGINT, p_threshold DOUBLE PRECISION)
RETURNS VOID LANGUAGE plpgsql AS $f$
BEGIN
    IF kauri_quota_crosses(o.messages_today, o.messages_today + p_messages, o.per_day, p_threshold) THEN
        PERFORM kauri_quota_log(p_user, 'quota_warning', 0, 0, o.tier_id, NULL, NULL,
            json_build_object('limit', 'daily', 'limit_value', o.per_day, 'usage', o.messages_today + p_messages,
                              'threshold', p_threshold), p_now, p_day, NULL);
    END IF;
    IF kauri_quota_crosses(o.messages_this_month, o.messages_this_month + p_messages, o.per_month, p_threshold) THEN
        PERFORM kauri_quota_log(p_user, 'quota_warning', 0, 0, o.tier_id, NULL, NULL,
            json_build_object('limit', 'monthly', 'limit_value', o.per_month,
                              'usage', o.messages_this_month + p_messages, 'threshold', p_threshold), p_now, p_day, NULL);
    END IF;
    IF kauri_quota_crosses(o.tokens_this_month, o.tokens_this_month + p_tokens, o.tokens_per_month, p_threshold) THEN
        PERFORM kauri_quota_log(p_user, 'quota_warning', 0, 0, o.tier_id, NULL, NULL,
            json_build_object('limit', 'tokens', 'limit_value', o.tokens_per_month,
                              'usage', o.tokens_this_month + p_tokens, 'threshold', p_threshold), p_now, p_day, NULL);
    END IF;
END
$f$;

-- The audit row a request wrote, if any: how a retry of the library's own
-- key learns whether the first attempt landed. SECURITY DEFINER because the
-- runtime role may only append to usage_logs, never read it.
CREATE OR REPLACE FUNCTION kauri_quota_logged_request(p_user users.user_id%TYPE, p_day DATE, p_request_id TEXT,
                                           p_types TEXT[])
RETURNS TABLE (event_type TEXT, denied_by TEXT)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $f$
    SELECT l.event_type, l.event_metadata::json ->> 'limit' FROM usage_logs l
     WHERE l.user_id = p_user AND l.usage_date = p_day AND l.request_id = p_request_id
       AND l.event_type = ANY (p_types)
     LIMIT 1
$f$;
