-- kauri_quota function set, file fast_path.sql: the budget of the consume fast path (the columns are added by 0008).
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

-- Gives p_day's row of p_user a fast-path budget (see the columns above)
-- from o, the state after an admitted request: how many more messages and
-- tokens may be taken without breaking a limit, reaching a month's token
-- limit (a month at it refuses every request) or crossing a warning
-- threshold. Only the latest row of its month gets one: it alone carries
-- the month's totals. The budget is checked against the rules themselves
-- before it is stored, so an error in it can only cost speed.
-- twin: none in C++ (SQLite has no fast path); checked against kauri_quota_evaluate and kauri_quota_crosses
CREATE OR REPLACE FUNCTION kauri_quota_arm(p_user users.user_id%TYPE, p_day DATE, p_now TIMESTAMP, o kauri_quota_outcome,
                                p_threshold DOUBLE PRECISION, p_max BIGINT)
RETURNS VOID LANGUAGE plpgsql AS $f$
DECLARE
    v_m BIGINT := least(p_max - o.messages_this_month, o.per_day - o.messages_today,
                        kauri_quota_below(o.messages_today, o.per_day, p_threshold),
                        o.per_month - o.messages_this_month,
                        kauri_quota_below(o.messages_this_month, o.per_month, p_threshold));
    v_t BIGINT := least(p_max - o.tokens_this_month, o.tokens_per_month - 1 - o.tokens_this_month,
                        kauri_quota_below(o.tokens_this_month, o.tokens_per_month, p_threshold));
BEGIN
    -- The fast path serves only subscriptions that are active on their own
    -- tier (see kauri_quota_consume), and only users counted in the
    -- service's day: the budget of a user with a zone of its own is never
    -- armed, so a consume that passes the service's day for that user can
    -- never be counted by the fast path into it (set_time_zone disarms the
    -- user's rows).
    IF o.sub_status IN ('canceled', 'expired', 'trialing') OR o.sub_status IS NULL OR o.end_date <= p_now
       OR o.tier_id IS DISTINCT FROM o.sub_tier THEN
        RETURN;
    END IF;
    IF v_m < 0 OR v_t < 0
       OR kauri_quota_evaluate(o.per_day, o.per_month, o.tokens_per_month, o.messages_today, o.messages_this_month,
                               o.tokens_this_month, v_m, v_t) <> 'none'
       OR o.tokens_this_month + v_t >= o.tokens_per_month
       OR kauri_quota_crosses(o.messages_today, o.messages_today + v_m, o.per_day, p_threshold)
       OR kauri_quota_crosses(o.messages_this_month, o.messages_this_month + v_m, o.per_month, p_threshold)
       OR kauri_quota_crosses(o.tokens_this_month, o.tokens_this_month + v_t, o.tokens_per_month, p_threshold) THEN
        RETURN;
    END IF;
    UPDATE user_usage
       SET fast_threshold = p_threshold, fast_messages = v_m, fast_tokens = v_t, fast_per_day = o.per_day,
           fast_per_month = o.per_month, fast_tokens_per_month = o.tokens_per_month,
           fast_xid = pg_current_xact_id()::xid
     WHERE user_id = p_user AND usage_date = p_day
       AND NOT EXISTS (SELECT 1 FROM users u WHERE u.user_id = p_user AND u.time_zone IS NOT NULL)
       AND NOT EXISTS (SELECT 1 FROM user_usage l
                        WHERE l.user_id = p_user AND l.usage_date > p_day
                          AND l.usage_date < (date_trunc('month', p_day) + interval '1 month')::date);
END
$f$;
