-- kauri_quota function set, file state.sql: reading the state a decision starts from, with the per-user lock.
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

-- Serialises the quota operations of one user until the end of the
-- transaction. An advisory lock writes nothing (a row lock on users would
-- dirty the host's table on every message) and, taken first, orders every
-- operation of a user the same way.
CREATE OR REPLACE FUNCTION kauri_quota_lock(p_user users.user_id%TYPE)
RETURNS VOID LANGUAGE sql AS $f$
    SELECT pg_advisory_xact_lock(hashtextextended(p_user::text, 7419730114))
$f$;

-- The state a decision starts from, in one statement: the subscription, the
-- tier it names and the latest day row of p_day's month, as an outcome that
-- allows the request. day_found is TRUE when that row is p_day's, FALSE
-- when it is another day's (the counters are then that day's; see
-- kauri_quota_complete) and NULL when the month has no row. A set-returning
-- SQL function, so that the planner inlines it into the statement that
-- reads it.
CREATE OR REPLACE FUNCTION kauri_quota_state(p_user users.user_id%TYPE, p_day DATE)
RETURNS SETOF kauri_quota_outcome LANGUAGE sql STABLE AS $f$
    SELECT TRUE, 'none'::text, FALSE, NULL::text, u.email::text, u.subscription_tier::text,
           u.subscription_status::text, u.subscription_start_date::timestamp, u.subscription_end_date::timestamp,
           u.trial_end_date::timestamp, u.created_at::timestamp, t.tier_id::text, t.name::text, t.name_fr::text,
           t.messages_per_day::bigint, t.messages_per_month::bigint, t.tokens_per_month::bigint,
           t.price_fcfa::bigint, t.display_order::integer, t.is_visible, m.messages_today::bigint,
           m.tokens_today::bigint, m.messages_this_month::bigint, m.tokens_this_month::bigint,
           m.usage_date = p_day, NULL::text, NULL::date, NULL::bigint, NULL::bigint, NULL::bigint, NULL::text,
           NULL::timestamp, NULL::timestamp
      FROM users u
      LEFT JOIN subscription_tiers t ON t.tier_id = u.subscription_tier
      LEFT JOIN LATERAL (SELECT uu.usage_date, uu.messages_today, uu.tokens_today, uu.messages_this_month,
                                uu.tokens_this_month
                           FROM user_usage uu
                          WHERE uu.user_id = p_user AND uu.usage_date >= date_trunc('month', p_day)::date
                            AND uu.usage_date < (date_trunc('month', p_day) + interval '1 month')::date
                          ORDER BY uu.usage_date DESC LIMIT 1) m ON TRUE
     WHERE u.user_id = p_user
$f$;

-- True when a lifecycle transition is due at p_now: a trial that ended, or
-- a paid period that ended with a scheduled change to apply, past_due to
-- write, or its grace period (p_grace seconds) over. The hot path writes no
-- transition: it reports one as KQ008 and the library writes it
-- (change_lifecycle, apply_due) before it retries.
-- twin: src/core/lifecycle.cpp transition_due
CREATE OR REPLACE FUNCTION kauri_quota_transition_due(p_status TEXT, p_trial_end TIMESTAMP, p_end TIMESTAMP,
                                                      p_scheduled_tier TEXT, p_now TIMESTAMP, p_grace BIGINT)
RETURNS BOOLEAN LANGUAGE sql IMMUTABLE AS $f$
    SELECT COALESCE((p_status = 'trialing' AND p_trial_end <= p_now)
                    OR (p_status IN ('active', 'past_due') AND p_end <= p_now
                        AND (p_scheduled_tier IS NOT NULL OR p_status = 'active'
                             OR p_end + make_interval(secs => p_grace) <= p_now)), FALSE)
$f$;

-- The user's today: the day of p_now (UTC) in the user's own zone, or
-- p_day (the service's today) when the user has none.
CREATE OR REPLACE FUNCTION kauri_quota_user_day(p_now TIMESTAMP, p_zone TEXT, p_day DATE)
RETURNS DATE LANGUAGE sql STABLE AS $f$
    SELECT CASE WHEN p_zone IS NULL THEN p_day ELSE ((p_now AT TIME ZONE 'UTC') AT TIME ZONE p_zone)::date END
$f$;

-- Completes a state read by kauri_quota_state: the default tier when the
-- subscription is canceled or expired (or names no known tier), and the
-- day's own counters when the latest row of the month is another day's (a
-- later day already has a row when clocks disagree around midnight).
-- p_grace NULL is the previous release's call (function set version 3 and
-- before), which knows no lifecycle: its lapsed rule also takes an end
-- date or a trial end that passed for the default tier.
-- twin: src/core/lifecycle.cpp default_tier_applies and src/sqlite/state.cpp sqlite_storage::apply_default_tier
CREATE OR REPLACE FUNCTION kauri_quota_complete(o kauri_quota_outcome, p_user users.user_id%TYPE, p_day DATE,
                                     p_now TIMESTAMP, p_default_tier TEXT, p_grace BIGINT)
RETURNS kauri_quota_outcome LANGUAGE plpgsql AS $f$
BEGIN
    IF o.tier_id IS NULL OR o.sub_status IN ('canceled', 'expired')
       OR (p_grace IS NULL AND o.end_date IS NOT NULL AND o.end_date <= p_now)
       OR (p_grace IS NULL AND o.sub_status = 'trialing' AND o.trial_end_date IS NOT NULL
           AND o.trial_end_date <= p_now) THEN
        SELECT t.tier_id, t.name, t.name_fr, t.messages_per_day, t.messages_per_month, t.tokens_per_month,
               t.price_fcfa, t.display_order, t.is_visible
          INTO o.tier_id, o.tier_name, o.tier_name_fr, o.per_day, o.per_month, o.tokens_per_month, o.price_fcfa,
               o.display_order, o.is_visible
          FROM subscription_tiers t WHERE t.tier_id = p_default_tier;
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'KQ002', MESSAGE = 'default tier is not in subscription_tiers',
                                  DETAIL = p_default_tier;
        END IF;
    END IF;
    IF o.day_found IS NULL THEN
        o.messages_this_month := 0; o.tokens_this_month := 0; o.messages_today := 0; o.tokens_today := 0;
        o.day_found := FALSE;
    ELSIF NOT o.day_found THEN
        SELECT uu.messages_today, uu.tokens_today INTO o.messages_today, o.tokens_today
          FROM user_usage uu WHERE uu.user_id = p_user AND uu.usage_date = p_day;
        o.day_found := FOUND;
        IF NOT FOUND THEN
            o.messages_today := 0; o.tokens_today := 0;
        END IF;
    END IF;
    RETURN o;
END
$f$;

-- The previous release's call (version 3 and before): the lapsed rule of
-- 0.1.0.
CREATE OR REPLACE FUNCTION kauri_quota_complete(o kauri_quota_outcome, p_user users.user_id%TYPE, p_day DATE,
                                     p_now TIMESTAMP, p_default_tier TEXT)
RETURNS kauri_quota_outcome LANGUAGE sql AS $f$
    SELECT kauri_quota_complete(o, p_user, p_day, p_now, p_default_tier, NULL::bigint)
$f$;

-- The state of one user at p_now, completed, the user locked when p_lock:
-- o for the user's day x_day (its own zone's, else p_day), with the
-- lifecycle columns the outcome type does not carry. KQ008 (DETAIL the
-- user) when a transition is due (p_grace set): nothing is decided on a
-- state that is about to change. p_grace NULL: the previous release's
-- call, which decides with 0.1.0's lapsed rule instead.
-- twin: src/sqlite/state.cpp sqlite_storage::load_state
CREATE OR REPLACE FUNCTION kauri_quota_load(p_user users.user_id%TYPE, p_day DATE, p_now TIMESTAMP, p_default_tier TEXT,
                                 p_lock BOOLEAN, p_grace BIGINT, OUT o kauri_quota_outcome, OUT x_day DATE,
                                 OUT x_zone TEXT, OUT x_scheduled_tier TEXT, OUT x_scheduled_end TIMESTAMP,
                                 OUT x_cancel BOOLEAN)
LANGUAGE plpgsql AS $f$
BEGIN
    IF p_lock THEN
        PERFORM pg_advisory_xact_lock(hashtextextended(p_user::text, 7419730114));
    END IF;
    SELECT u.time_zone::text, u.scheduled_tier::text, u.scheduled_end_date::timestamp, u.cancel_at_period_end
      INTO x_zone, x_scheduled_tier, x_scheduled_end, x_cancel
      FROM users u WHERE u.user_id = p_user;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'KQ001', MESSAGE = 'unknown user', DETAIL = p_user::text;
    END IF;
    x_day := kauri_quota_user_day(p_now, x_zone, p_day);
    SELECT * INTO o FROM kauri_quota_state(p_user, x_day);
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'KQ001', MESSAGE = 'unknown user', DETAIL = p_user::text;
    END IF;
    IF p_grace IS NOT NULL
       AND kauri_quota_transition_due(o.sub_status, o.trial_end_date, o.end_date, x_scheduled_tier, p_now, p_grace) THEN
        RAISE EXCEPTION USING ERRCODE = 'KQ008', MESSAGE = 'transition due', DETAIL = p_user::text;
    END IF;
    o := kauri_quota_complete(o, p_user, x_day, p_now, p_default_tier, p_grace);
END
$f$;

-- The previous release's call (version 3 and before).
CREATE OR REPLACE FUNCTION kauri_quota_load(p_user users.user_id%TYPE, p_day DATE, p_now TIMESTAMP, p_default_tier TEXT,
                                 p_lock BOOLEAN)
RETURNS kauri_quota_outcome LANGUAGE sql AS $f$
    SELECT (kauri_quota_load(p_user, p_day, p_now, p_default_tier, p_lock, NULL::bigint)).o
$f$;
