-- kauri_quota function set, file operations.sql: the operations the library calls, one per storage call.
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

-- consume (p_reserve false) and reserve (p_reserve true). p_key_mode says
-- whose p_request_id it is: 'caller' (stored as an idempotency key),
-- 'auto' (the library's own; only written to the audit row) or
-- 'auto-retry' (the library's own, resent after a lost acknowledgement).
--
-- The usual request, a consume with the library's key that the day row's
-- budget covers, is decided and written by one statement (the fast path).
-- Everything else takes the general path: the state is read in one
-- statement (the subscription, its tier and the latest day row of the
-- month), decided, written, and an admitted request gives the row a new
-- budget. The general path gives the same answers as the fast path; the
-- budget only says when the general path's answer is known in advance.
--
-- p_shadow (shadow mode): a request a limit refuses is admitted and counted
-- anyway, in this transaction. Its audit rows are a quota_exceeded (0
-- counts, metadata with "shadow": true), then the row that counts it
-- (reservation_created, or usage_recorded for a consume), then the
-- warnings; the outcome is allowed with denied_by naming the limit. The
-- fast path needs no flag: its budget covers only requests the limits
-- admit, so it never serves one that a limit would refuse.
-- twin: src/sqlite/sqlite_storage.cpp sqlite_storage::consume
CREATE OR REPLACE FUNCTION kauri_quota_consume(p_user users.user_id%TYPE, p_day DATE, p_now TIMESTAMP, p_messages BIGINT,
                                    p_tokens BIGINT, p_reserve BOOLEAN, p_reservation_id TEXT,
                                    p_expires_at TIMESTAMP, p_request_id TEXT, p_ip TEXT, p_ua TEXT,
                                    p_threshold DOUBLE PRECISION, p_default_tier TEXT, p_key_mode TEXT,
                                    p_max BIGINT, p_shadow BOOLEAN, p_grace BIGINT, OUT o kauri_quota_outcome,
                                    OUT x_day DATE, OUT x_zone TEXT, OUT x_scheduled_tier TEXT,
                                    OUT x_scheduled_end TIMESTAMP, OUT x_cancel BOOLEAN)
LANGUAGE plpgsql AS $f$
DECLARE
    k RECORD;
    l RECORD;
    v_op TEXT;
    v_fp TEXT;
    v_kind TEXT;
    v_limit BIGINT;
    v_usage BIGINT;
    v_denied TEXT;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended(p_user::text, 7419730114));
    -- The fast path: the day row's budget covers the request, the
    -- subscription is active and its tier's limits are those the budget was
    -- computed for. The update, the audit row and the state returned are
    -- one statement.
    IF p_key_mode = 'auto' AND NOT p_reserve THEN
        WITH up AS (
            UPDATE user_usage d
               SET messages_today = d.messages_today + p_messages, tokens_today = d.tokens_today + p_tokens,
                   messages_this_month = d.messages_this_month + p_messages,
                   tokens_this_month = d.tokens_this_month + p_tokens, updated_at = p_now,
                   fast_messages = d.fast_messages - p_messages, fast_tokens = d.fast_tokens - p_tokens,
                   fast_xid = pg_current_xact_id()::xid
              FROM users u JOIN subscription_tiers t ON t.tier_id = u.subscription_tier
             WHERE d.user_id = p_user AND d.usage_date = p_day AND u.user_id = p_user
               AND d.fast_threshold = p_threshold AND d.xmin = d.fast_xid
               AND p_messages <= d.fast_messages AND p_tokens <= d.fast_tokens
               AND u.subscription_status NOT IN ('canceled', 'expired', 'trialing')
               AND (u.subscription_end_date IS NULL OR u.subscription_end_date > p_now)
               AND u.time_zone IS NULL
               AND t.messages_per_day IS NOT DISTINCT FROM d.fast_per_day
               AND t.messages_per_month IS NOT DISTINCT FROM d.fast_per_month
               AND t.tokens_per_month IS NOT DISTINCT FROM d.fast_tokens_per_month
            RETURNING ROW(TRUE, 'none'::text, FALSE, NULL::text, u.email::text, u.subscription_tier::text,
                          u.subscription_status::text, u.subscription_start_date::timestamp,
                          u.subscription_end_date::timestamp, u.trial_end_date::timestamp, u.created_at::timestamp,
                          t.tier_id::text, t.name::text, t.name_fr::text, t.messages_per_day::bigint,
                          t.messages_per_month::bigint, t.tokens_per_month::bigint, t.price_fcfa::bigint,
                          t.display_order::integer, t.is_visible, d.messages_today::bigint, d.tokens_today::bigint,
                          d.messages_this_month::bigint, d.tokens_this_month::bigint, TRUE, NULL::text, NULL::date,
                          NULL::bigint, NULL::bigint, NULL::bigint, NULL::text, NULL::timestamp,
                          NULL::timestamp)::kauri_quota_outcome AS o,
                      u.scheduled_tier::text AS st, u.scheduled_end_date::timestamp AS se, u.cancel_at_period_end AS ca
        ), audit AS (
            INSERT INTO usage_logs (user_id, event_type, messages_count, tokens_count, quota_tier, request_ip,
                                    user_agent, event_metadata, event_timestamp, usage_date, request_id)
            SELECT p_user, 'message_sent', p_messages, p_tokens, (up.o).tier_id, p_ip, p_ua, NULL, p_now, p_day,
                   p_request_id
              FROM up
        )
        SELECT up.o, up.st, up.se, up.ca INTO l FROM up;
        IF FOUND THEN
            o := l.o;
            x_day := p_day;
            x_scheduled_tier := l.st;
            x_scheduled_end := l.se;
            x_cancel := l.ca;
            RETURN;
        END IF;
    END IF;
    -- The general path, on the user's day (its own zone's when it has one).
    SELECT * INTO l FROM kauri_quota_load(p_user, p_day, p_now, p_default_tier, FALSE, p_grace);
    o := l.o;
    x_day := l.x_day;
    x_zone := l.x_zone;
    x_scheduled_tier := l.x_scheduled_tier;
    x_scheduled_end := l.x_scheduled_end;
    x_cancel := l.x_cancel;
    v_op := CASE WHEN p_reserve THEN 'reserve' ELSE 'consume' END;
    v_fp := v_op || ':' || p_messages || ':' || p_tokens;
    IF p_key_mode = 'auto-retry' THEN
        -- The library's own key, retried after a lost acknowledgement: the
        -- audit rows written with it tell whether the first attempt landed,
        -- and how (a denial, an admission, or both: a shadow admission).
        SELECT * INTO k FROM kauri_quota_logged_request(p_user, x_day, p_request_id, ARRAY['quota_exceeded']);
        v_denied := CASE WHEN FOUND THEN k.denied_by END;
        SELECT * INTO k FROM kauri_quota_logged_request(p_user, x_day, p_request_id,
                                                        ARRAY['message_sent', 'reservation_created', 'usage_recorded']);
        IF FOUND OR v_denied IS NOT NULL THEN
            o.allowed := FOUND;
            o.denied_by := COALESCE(v_denied, 'none');
            SELECT r.reservation_id INTO o.reservation_id FROM kauri_quota_reservations r
             WHERE r.user_id = p_user AND r.request_id = p_request_id;
            o.replayed := TRUE;
            RETURN;
        END IF;
    ELSIF p_key_mode = 'caller' THEN
        SELECT operation, fingerprint, allowed, denied_by, reservation_id INTO k
          FROM kauri_quota_idempotency_keys WHERE user_id = p_user AND request_id = p_request_id;
        IF FOUND THEN
            IF k.operation <> v_op OR k.fingerprint <> v_fp THEN
                RAISE EXCEPTION USING ERRCODE = 'KQ003', MESSAGE = k.operation;
            END IF;
            o.allowed := k.allowed;
            o.denied_by := COALESCE(k.denied_by, 'none');
            o.reservation_id := k.reservation_id;
            o.replayed := TRUE;
            RETURN;
        END IF;
    END IF;
    v_kind := kauri_quota_evaluate(o.per_day, o.per_month, o.tokens_per_month, o.messages_today,
                                   o.messages_this_month, o.tokens_this_month, p_messages, p_tokens);
    v_limit := CASE v_kind WHEN 'daily' THEN o.per_day WHEN 'monthly' THEN o.per_month ELSE o.tokens_per_month END;
    v_usage := CASE v_kind WHEN 'daily' THEN o.messages_today WHEN 'monthly' THEN o.messages_this_month
                           ELSE o.tokens_this_month END;
    IF v_kind = 'none' OR p_shadow THEN
        PERFORM kauri_quota_check_bound(o, p_messages, p_tokens, p_max);
        PERFORM kauri_quota_apply(p_user, x_day, p_messages, p_tokens, p_now, o.day_found);
        IF v_kind <> 'none' THEN
            PERFORM kauri_quota_log(p_user, 'quota_exceeded', 0, 0, o.tier_id, p_ip, p_ua,
                json_build_object('limit', v_kind, 'limit_value', v_limit, 'usage', v_usage,
                                  'requested_messages', p_messages, 'requested_tokens', p_tokens, 'shadow', TRUE),
                p_now, x_day, p_request_id);
        END IF;
        IF p_reserve THEN
            INSERT INTO kauri_quota_reservations (reservation_id, user_id, usage_date, messages, estimated_tokens,
                                                  state, request_id, created_at, expires_at)
            VALUES (p_reservation_id, p_user, x_day, p_messages, p_tokens, 'open', p_request_id, p_now, p_expires_at);
            PERFORM kauri_quota_log(p_user, 'reservation_created', p_messages, p_tokens, o.tier_id, p_ip, p_ua,
                json_build_object('reservation_id', p_reservation_id,
                                  'expires_at', kauri_quota_time_text(p_expires_at)),
                p_now, x_day, p_request_id);
            o.reservation_id := p_reservation_id;
        ELSIF v_kind <> 'none' THEN
            PERFORM kauri_quota_log(p_user, 'usage_recorded', p_messages, p_tokens, o.tier_id, p_ip, p_ua, NULL,
                                    p_now, x_day, p_request_id);
        ELSE
            INSERT INTO usage_logs (user_id, event_type, messages_count, tokens_count, quota_tier, request_ip,
                                    user_agent, event_metadata, event_timestamp, usage_date, request_id)
            VALUES (p_user, 'message_sent', p_messages, p_tokens, o.tier_id, p_ip, p_ua, NULL, p_now, x_day,
                    p_request_id);
        END IF;
        IF o.per_day IS NOT NULL OR o.per_month IS NOT NULL OR o.tokens_per_month IS NOT NULL THEN
            PERFORM kauri_quota_warn(p_user, x_day, p_now, o, p_messages, p_tokens, p_threshold);
        END IF;
        o.messages_today := o.messages_today + p_messages;
        o.tokens_today := o.tokens_today + p_tokens;
        o.messages_this_month := o.messages_this_month + p_messages;
        o.tokens_this_month := o.tokens_this_month + p_tokens;
        o.allowed := TRUE;
        o.denied_by := v_kind;
        PERFORM kauri_quota_arm(p_user, x_day, p_now, o, p_threshold, p_max);
    ELSE
        PERFORM kauri_quota_log(p_user, 'quota_exceeded', 0, 0, o.tier_id, p_ip, p_ua,
            json_build_object('limit', v_kind, 'limit_value', v_limit, 'usage', v_usage,
                              'requested_messages', p_messages, 'requested_tokens', p_tokens),
            p_now, x_day, p_request_id);
        o.allowed := FALSE;
        o.denied_by := v_kind;
    END IF;
    IF p_key_mode = 'caller' THEN
        INSERT INTO kauri_quota_idempotency_keys (user_id, request_id, operation, fingerprint, allowed, denied_by,
                                                  reservation_id, usage_date, created_at)
        VALUES (p_user, p_request_id, v_op, v_fp, o.allowed, NULLIF(o.denied_by, 'none'), o.reservation_id,
                x_day, p_now);
    END IF;
    RETURN;
END
$f$;

-- The call of function set version 3 (p_shadow, no lifecycle): kept so
-- that a host not yet upgraded keeps working on this set during a rolling
-- upgrade. It decides with 0.1.0's lapsed rule and never reports a due
-- transition (see kauri_quota_load).
CREATE OR REPLACE FUNCTION kauri_quota_consume(p_user users.user_id%TYPE, p_day DATE, p_now TIMESTAMP, p_messages BIGINT,
                                    p_tokens BIGINT, p_reserve BOOLEAN, p_reservation_id TEXT,
                                    p_expires_at TIMESTAMP, p_request_id TEXT, p_ip TEXT, p_ua TEXT,
                                    p_threshold DOUBLE PRECISION, p_default_tier TEXT, p_key_mode TEXT,
                                    p_max BIGINT, p_shadow BOOLEAN)
RETURNS kauri_quota_outcome LANGUAGE sql AS $f$
    SELECT (kauri_quota_consume(p_user, p_day, p_now, p_messages, p_tokens, p_reserve, p_reservation_id, p_expires_at,
                                p_request_id, p_ip, p_ua, p_threshold, p_default_tier, p_key_mode, p_max, p_shadow,
                                NULL::bigint)).o
$f$;

-- The call of the previous release (function set version 2 and before),
-- which has no shadow mode: kept so that a host not yet upgraded keeps
-- working on this set during a rolling upgrade.
CREATE OR REPLACE FUNCTION kauri_quota_consume(p_user users.user_id%TYPE, p_day DATE, p_now TIMESTAMP, p_messages BIGINT,
                                    p_tokens BIGINT, p_reserve BOOLEAN, p_reservation_id TEXT,
                                    p_expires_at TIMESTAMP, p_request_id TEXT, p_ip TEXT, p_ua TEXT,
                                    p_threshold DOUBLE PRECISION, p_default_tier TEXT, p_key_mode TEXT,
                                    p_max BIGINT)
RETURNS kauri_quota_outcome LANGUAGE sql AS $f$
    SELECT (kauri_quota_consume(p_user, p_day, p_now, p_messages, p_tokens, p_reserve, p_reservation_id, p_expires_at,
                               p_request_id, p_ip, p_ua, p_threshold, p_default_tier, p_key_mode, p_max, FALSE,
                               NULL::bigint)).o
$f$;

-- increment_usage: an unconditional after-the-fact record, in the user's
-- day (x_day) and with KQ008 for a due transition, as consume.
-- twin: src/sqlite/sqlite_storage.cpp sqlite_storage::record
CREATE OR REPLACE FUNCTION kauri_quota_record(p_user users.user_id%TYPE, p_day DATE, p_now TIMESTAMP, p_messages BIGINT,
                                   p_tokens BIGINT, p_request_id TEXT, p_ip TEXT, p_ua TEXT,
                                   p_threshold DOUBLE PRECISION, p_default_tier TEXT, p_max BIGINT,
                                   p_key_mode TEXT, p_grace BIGINT, OUT o kauri_quota_outcome, OUT x_day DATE,
                                   OUT x_zone TEXT, OUT x_scheduled_tier TEXT, OUT x_scheduled_end TIMESTAMP,
                                   OUT x_cancel BOOLEAN)
LANGUAGE plpgsql AS $f$
DECLARE
    k RECORD;
    l RECORD;
    v_fp TEXT := 'record:' || p_messages || ':' || p_tokens;
BEGIN
    SELECT * INTO l FROM kauri_quota_load(p_user, p_day, p_now, p_default_tier, TRUE, p_grace);
    o := l.o;
    x_day := l.x_day;
    x_zone := l.x_zone;
    x_scheduled_tier := l.x_scheduled_tier;
    x_scheduled_end := l.x_scheduled_end;
    x_cancel := l.x_cancel;
    IF p_key_mode = 'auto-retry' THEN
        PERFORM 1 FROM kauri_quota_logged_request(p_user, x_day, p_request_id, ARRAY['usage_recorded']);
        IF FOUND THEN
            o.replayed := TRUE;
            o.allowed := TRUE;
            RETURN;
        END IF;
    ELSIF p_key_mode = 'caller' THEN
        SELECT operation, fingerprint INTO k
          FROM kauri_quota_idempotency_keys WHERE user_id = p_user AND request_id = p_request_id;
        IF FOUND THEN
            IF k.operation <> 'record' OR k.fingerprint <> v_fp THEN
                RAISE EXCEPTION USING ERRCODE = 'KQ003', MESSAGE = k.operation;
            END IF;
            o.replayed := TRUE;
            o.allowed := TRUE;
            RETURN;
        END IF;
    END IF;
    PERFORM kauri_quota_check_bound(o, p_messages, p_tokens, p_max);
    PERFORM kauri_quota_apply(p_user, x_day, p_messages, p_tokens, p_now, o.day_found);
    PERFORM kauri_quota_log(p_user, 'usage_recorded', p_messages, p_tokens, o.tier_id, p_ip, p_ua, NULL, p_now,
                            x_day, p_request_id);
    PERFORM kauri_quota_warn(p_user, x_day, p_now, o, p_messages, p_tokens, p_threshold);
    IF p_key_mode = 'caller' THEN
        INSERT INTO kauri_quota_idempotency_keys (user_id, request_id, operation, fingerprint, allowed, denied_by,
                                                  reservation_id, usage_date, created_at)
        VALUES (p_user, p_request_id, 'record', v_fp, TRUE, NULL, NULL, x_day, p_now);
    END IF;
    o.messages_today := o.messages_today + p_messages;
    o.tokens_today := o.tokens_today + p_tokens;
    o.messages_this_month := o.messages_this_month + p_messages;
    o.tokens_this_month := o.tokens_this_month + p_tokens;
    o.allowed := TRUE;
    o.replayed := FALSE;
    PERFORM kauri_quota_arm(p_user, x_day, p_now, o, p_threshold, p_max);
    RETURN;
END
$f$;

-- The call of function set version 3 and before (see kauri_quota_consume).
CREATE OR REPLACE FUNCTION kauri_quota_record(p_user users.user_id%TYPE, p_day DATE, p_now TIMESTAMP, p_messages BIGINT,
                                   p_tokens BIGINT, p_request_id TEXT, p_ip TEXT, p_ua TEXT,
                                   p_threshold DOUBLE PRECISION, p_default_tier TEXT, p_max BIGINT,
                                   p_key_mode TEXT)
RETURNS kauri_quota_outcome LANGUAGE sql AS $f$
    SELECT (kauri_quota_record(p_user, p_day, p_now, p_messages, p_tokens, p_request_id, p_ip, p_ua, p_threshold,
                               p_default_tier, p_max, p_key_mode, NULL::bigint)).o
$f$;

-- commit (p_actual set) or release (p_actual NULL) of a reservation. The
-- user row is locked before the reservation row, as consume does. The
-- reservation is settled into its own day; the state returned is the
-- user's today (x_day), and a due transition is KQ008 as for consume.
-- twin: src/sqlite/sqlite_storage.cpp sqlite_storage::settle (checks: src/core/sql_support.cpp check_settleable)
CREATE OR REPLACE FUNCTION kauri_quota_settle(p_reservation_id TEXT, p_actual BIGINT, p_now TIMESTAMP, p_day DATE,
                                   p_default_tier TEXT, p_max BIGINT, p_grace BIGINT, OUT o kauri_quota_outcome,
                                   OUT x_day DATE, OUT x_zone TEXT, OUT x_scheduled_tier TEXT,
                                   OUT x_scheduled_end TIMESTAMP, OUT x_cancel BOOLEAN)
LANGUAGE plpgsql AS $f$
DECLARE
    l RECORD;
    r RECORD;
    d RECORD;
    v_user users.user_id%TYPE;
    v_dm BIGINT := 0;
    v_dt BIGINT := 0;
    v_type TEXT;
    v_state TEXT;
BEGIN
    SELECT user_id INTO v_user FROM kauri_quota_reservations WHERE reservation_id = p_reservation_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'KQ004', MESSAGE = 'no such reservation', DETAIL = p_reservation_id;
    END IF;
    PERFORM kauri_quota_lock(v_user);
    SELECT * INTO r FROM kauri_quota_reservations WHERE reservation_id = p_reservation_id FOR UPDATE;
    IF r.state <> 'open' THEN
        RAISE EXCEPTION USING ERRCODE = 'KQ005', MESSAGE = r.state, DETAIL = r.reservation_id;
    END IF;
    IF p_now >= r.expires_at THEN
        -- The facts of the message: DETAIL the instant it expired, HINT its
        -- estimate (the library words them, error_text::reservation_expired).
        RAISE EXCEPTION USING ERRCODE = 'KQ005', MESSAGE = 'expired', DETAIL = kauri_quota_time_text(r.expires_at),
                              HINT = r.estimated_tokens::text;
    END IF;
    -- Refunds never take a day below zero (an administrative reset may have
    -- zeroed it meanwhile); the audit row carries what was really moved.
    SELECT messages_today, tokens_today, messages_this_month, tokens_this_month INTO d
      FROM user_usage WHERE user_id = r.user_id AND usage_date = r.usage_date;
    IF NOT FOUND THEN
        d := ROW(0::bigint, 0::bigint, 0::bigint, 0::bigint);
    END IF;
    IF p_actual IS NOT NULL THEN
        v_dt := p_actual - r.estimated_tokens;
        IF v_dt < 0 THEN
            v_dt := greatest(v_dt, -d.tokens_today);
        END IF;
        IF v_dt > 0 AND d.tokens_this_month + v_dt > p_max THEN
            RAISE EXCEPTION USING ERRCODE = 'KQ007', MESSAGE = format('tokens_this_month would exceed %s', p_max),
                                  DETAIL = 'tokens_this_month', HINT = p_max::text;
        END IF;
        v_state := 'committed';
        v_type := 'reservation_committed';
    ELSE
        v_dm := -least(r.messages, d.messages_today);
        v_dt := -least(r.estimated_tokens, d.tokens_today);
        v_state := 'released';
        v_type := 'reservation_released';
    END IF;
    PERFORM kauri_quota_apply(r.user_id, r.usage_date, v_dm, v_dt, p_now, TRUE);
    UPDATE kauri_quota_reservations SET state = v_state, actual_tokens = p_actual, settled_at = p_now
     WHERE reservation_id = p_reservation_id;
    SELECT * INTO l FROM kauri_quota_load(r.user_id, p_day, p_now, p_default_tier, FALSE, p_grace);
    o := l.o;
    x_day := l.x_day;
    x_zone := l.x_zone;
    x_scheduled_tier := l.x_scheduled_tier;
    x_scheduled_end := l.x_scheduled_end;
    x_cancel := l.x_cancel;
    PERFORM kauri_quota_log(r.user_id, v_type, v_dm, v_dt, o.tier_id, NULL, NULL,
        json_build_object('reservation_id', r.reservation_id, 'estimated_tokens', r.estimated_tokens,
                          'actual_tokens', p_actual, 'state', v_state),
        p_now, r.usage_date, NULL);
    o.res_user := r.user_id::text;
    o.res_day := r.usage_date;
    o.res_messages := r.messages;
    o.res_estimated := r.estimated_tokens;
    o.res_actual := p_actual;
    o.res_state := v_state;
    o.res_created := r.created_at;
    o.res_expires := r.expires_at;
    o.reservation_id := r.reservation_id;
END
$f$;

-- The call of function set version 3 and before (see kauri_quota_consume).
CREATE OR REPLACE FUNCTION kauri_quota_settle(p_reservation_id TEXT, p_actual BIGINT, p_now TIMESTAMP, p_day DATE,
                                   p_default_tier TEXT, p_max BIGINT)
RETURNS kauri_quota_outcome LANGUAGE sql AS $f$
    SELECT (kauri_quota_settle(p_reservation_id, p_actual, p_now, p_day, p_default_tier, p_max, NULL::bigint)).o
$f$;

-- Settles open reservations past their TTL at their estimate.
-- twin: src/sqlite/sqlite_storage.cpp sqlite_storage::expire_reservations
CREATE OR REPLACE FUNCTION kauri_quota_expire(p_now TIMESTAMP, p_limit INTEGER)
RETURNS BIGINT LANGUAGE plpgsql AS $f$
DECLARE
    r RECORD;
    n BIGINT := 0;
BEGIN
    FOR r IN SELECT * FROM kauri_quota_reservations
              WHERE state = 'open' AND expires_at <= p_now
              ORDER BY expires_at LIMIT p_limit FOR UPDATE SKIP LOCKED LOOP
        UPDATE kauri_quota_reservations SET state = 'expired', actual_tokens = r.estimated_tokens, settled_at = p_now
         WHERE reservation_id = r.reservation_id;
        PERFORM kauri_quota_log(r.user_id, 'reservation_expired', 0, 0, NULL, NULL, NULL,
            json_build_object('reservation_id', r.reservation_id, 'estimated_tokens', r.estimated_tokens,
                              'actual_tokens', r.estimated_tokens, 'state', 'expired'),
            p_now, r.usage_date, NULL);
        n := n + 1;
    END LOOP;
    RETURN n;
END
$f$;

-- Administrative resets of the users whose ids lie in [p_from, p_upto],
-- each of its own today (p_day, the service's, or its own zone's) or that
-- day's month; returns the users reset. A user's day is at most two days
-- from the service's, so a user's rows are found by the index on
-- (user_id, usage_date). The two reads are planned for each call's bounds
-- (EXECUTE): a generic plan, which a pooled session switches to after a
-- few calls, could take the usage_date index and read every user's rows.
-- Users are locked in user_id order so that concurrent resets never deadlock.
-- (Two users whose ids hash alike share a lock; that only serialises them.)
-- twin: src/sqlite/sqlite_storage.cpp sqlite_storage::reset_users
CREATE OR REPLACE FUNCTION kauri_quota_reset_users(p_daily BOOLEAN, p_from users.user_id%TYPE,
                                                   p_upto users.user_id%TYPE, p_day DATE, p_now TIMESTAMP)
RETURNS BIGINT LANGUAGE plpgsql AS $f$
DECLARE
    r RECORD;
    v_users BIGINT := 0;
    v_last TEXT := NULL;
BEGIN
    IF p_daily THEN
        FOR r IN EXECUTE
            'SELECT uu.user_id, uu.usage_date, uu.messages_today, uu.tokens_today FROM user_usage uu
               JOIN users u ON u.user_id = uu.user_id
              WHERE uu.user_id BETWEEN $1 AND $2
                AND uu.usage_date BETWEEN $3 - 2 AND $3 + 2
                AND uu.usage_date = kauri_quota_user_day($4, u.time_zone, $3)
                AND (uu.messages_today <> 0 OR uu.tokens_today <> 0)
              ORDER BY uu.user_id' USING p_from, p_upto, p_day, p_now LOOP
            PERFORM kauri_quota_lock(r.user_id);
            -- Re-read under the lock: a consume may have committed meanwhile.
            SELECT messages_today, tokens_today INTO r.messages_today, r.tokens_today
              FROM user_usage WHERE user_id = r.user_id AND usage_date = r.usage_date;
            PERFORM kauri_quota_apply(r.user_id, r.usage_date, -r.messages_today, -r.tokens_today, p_now, TRUE);
            PERFORM kauri_quota_log(r.user_id, 'daily_reset', -r.messages_today, -r.tokens_today, NULL, NULL, NULL,
                                    NULL, p_now, r.usage_date, NULL);
            v_users := v_users + 1;
        END LOOP;
    ELSE
        -- Every user's own month is one of the months of p_day - 2 to
        -- p_day + 2 (zones are at most 14 hours from UTC): the whole of
        -- those months bounds the index range.
        FOR r IN EXECUTE
            'SELECT uu.user_id, uu.usage_date FROM user_usage uu
               JOIN users u ON u.user_id = uu.user_id
              WHERE uu.user_id BETWEEN $1 AND $2
                AND uu.usage_date >= date_trunc(''month'', $3 - 2)::date
                AND uu.usage_date < (date_trunc(''month'', $3 + 2) + interval ''1 month'')::date
                AND date_trunc(''month'', uu.usage_date)
                    = date_trunc(''month'', kauri_quota_user_day($4, u.time_zone, $3))
                AND (uu.messages_today <> 0 OR uu.tokens_today <> 0 OR uu.messages_this_month <> 0
                     OR uu.tokens_this_month <> 0)
              ORDER BY uu.user_id, uu.usage_date' USING p_from, p_upto, p_day, p_now LOOP
            IF v_last IS DISTINCT FROM r.user_id::text THEN
                PERFORM kauri_quota_lock(r.user_id);
                v_users := v_users + 1;
                v_last := r.user_id::text;
            END IF;
            WITH old AS (
                SELECT messages_today, tokens_today FROM user_usage
                 WHERE user_id = r.user_id AND usage_date = r.usage_date FOR UPDATE
            ), z AS (
                UPDATE user_usage SET messages_today = 0, tokens_today = 0, messages_this_month = 0,
                                      tokens_this_month = 0, updated_at = p_now
                 WHERE user_id = r.user_id AND usage_date = r.usage_date
            )
            INSERT INTO usage_logs (user_id, event_type, messages_count, tokens_count, event_timestamp, usage_date)
            SELECT r.user_id, 'monthly_reset', -old.messages_today, -old.tokens_today, p_now, r.usage_date FROM old;
        END LOOP;
    END IF;
    RETURN v_users;
END
$f$;

-- One user (p_user) or every user in one transaction: the call of the
-- releases before function set 5, kept for them during a rolling upgrade
-- (a reset of every user now goes by chunks, kauri_quota_reset_next).
-- (min and max are not defined for a UUID column: the bounds are read in
-- index order.)
CREATE OR REPLACE FUNCTION kauri_quota_reset(p_daily BOOLEAN, p_user users.user_id%TYPE, p_day DATE, p_now TIMESTAMP)
RETURNS BIGINT LANGUAGE plpgsql AS $f$
DECLARE
    v_from users.user_id%TYPE := p_user;
    v_upto users.user_id%TYPE := p_user;
BEGIN
    IF p_user IS NOT NULL THEN
        PERFORM kauri_quota_lock(p_user);
        PERFORM 1 FROM users WHERE user_id = p_user;
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'KQ001', MESSAGE = 'unknown user', DETAIL = p_user::text;
        END IF;
    ELSE
        SELECT user_id INTO v_from FROM users ORDER BY user_id LIMIT 1;
        IF NOT FOUND THEN
            RETURN 0;
        END IF;
        SELECT user_id INTO v_upto FROM users ORDER BY user_id DESC LIMIT 1;
    END IF;
    RETURN kauri_quota_reset_users(p_daily, v_from, v_upto, p_day, p_now);
END
$f$;

-- The next chunk of a reset of every user, in the caller's transaction:
-- the next p_limit users after p_after (NULL: from the first) in user_id
-- order, whether or not they have rows. o_users counts the users reset,
-- o_last is the last user of the chunk (NULL: there was none, the reset
-- is complete). A reset of every user in one transaction would hold one
-- lock per user until its end, which exhausts the lock table beyond
-- max_locks_per_transaction x max_connections users.
-- twin: src/sqlite/sqlite_storage.cpp sqlite_storage::reset
CREATE OR REPLACE FUNCTION kauri_quota_reset_next(p_daily BOOLEAN, p_after users.user_id%TYPE, p_limit INTEGER,
                                                  p_day DATE, p_now TIMESTAMP,
                                                  OUT o_users BIGINT, OUT o_last users.user_id%TYPE)
LANGUAGE plpgsql AS $f$
DECLARE
    v_from users.user_id%TYPE;
BEGIN
    o_users := 0;
    IF p_after IS NULL THEN
        SELECT user_id INTO v_from FROM users ORDER BY user_id LIMIT 1;
        SELECT c.user_id INTO o_last
          FROM (SELECT user_id FROM users ORDER BY user_id LIMIT p_limit) c ORDER BY c.user_id DESC LIMIT 1;
    ELSE
        SELECT user_id INTO v_from FROM users WHERE user_id > p_after ORDER BY user_id LIMIT 1;
        SELECT c.user_id INTO o_last
          FROM (SELECT user_id FROM users WHERE user_id > p_after ORDER BY user_id LIMIT p_limit) c
         ORDER BY c.user_id DESC LIMIT 1;
    END IF;
    IF o_last IS NOT NULL THEN
        o_users := kauri_quota_reset_users(p_daily, v_from, o_last, p_day, p_now);
    END IF;
END
$f$;

-- Changes a subscription and audits it; returns the subscription before.
-- twin: src/sqlite/sqlite_storage.cpp sqlite_storage::set_subscription
CREATE OR REPLACE FUNCTION kauri_quota_set_subscription(p_user users.user_id%TYPE, p_tier TEXT, p_status TEXT,
                                             p_now TIMESTAMP, p_end TIMESTAMP, p_trial_end TIMESTAMP,
                                             p_event TEXT, p_ip TEXT, p_ua TEXT, p_request_id TEXT)
RETURNS kauri_quota_outcome LANGUAGE plpgsql AS $f$
DECLARE
    o kauri_quota_outcome;
BEGIN
    PERFORM kauri_quota_lock(p_user);
    SELECT u.email, u.subscription_tier, u.subscription_status, u.subscription_start_date,
           u.subscription_end_date, u.trial_end_date, u.created_at::timestamp
      INTO o.email, o.sub_tier, o.sub_status, o.start_date, o.end_date, o.trial_end_date, o.created_at
      FROM users u WHERE u.user_id = p_user FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'KQ001', MESSAGE = 'unknown user', DETAIL = p_user::text;
    END IF;
    PERFORM 1 FROM subscription_tiers WHERE tier_id = p_tier;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'KQ002', MESSAGE = 'unknown tier', DETAIL = p_tier;
    END IF;
    -- A trial end once set stays (it marks the user's one trial as used),
    -- and any scheduled change goes with the old subscription.
    UPDATE users SET subscription_tier = p_tier, subscription_status = p_status, subscription_start_date = p_now,
                     subscription_end_date = p_end, trial_end_date = COALESCE(p_trial_end, trial_end_date),
                     scheduled_tier = NULL, scheduled_end_date = NULL, cancel_at_period_end = FALSE
     WHERE user_id = p_user;
    PERFORM kauri_quota_log(p_user, p_event, 0, 0, p_tier, p_ip, p_ua,
        json_build_object('from_tier', o.sub_tier, 'to_tier', p_tier, 'from_status', o.sub_status,
                          'to_status', p_status), p_now, NULL, p_request_id);
    RETURN o;
END
$f$;

-- Creates a user on a tier (status active, start now), in its own zone
-- when p_zone is set, and audits it.
-- twin: src/sqlite/sqlite_storage.cpp sqlite_storage::create_user
CREATE OR REPLACE FUNCTION kauri_quota_create_user(p_user users.user_id%TYPE, p_email TEXT, p_tier TEXT, p_now TIMESTAMP,
                                                   p_zone TEXT)
RETURNS VOID LANGUAGE plpgsql AS $f$
BEGIN
    PERFORM 1 FROM subscription_tiers WHERE tier_id = p_tier;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'KQ002', MESSAGE = 'unknown tier', DETAIL = p_tier;
    END IF;
    INSERT INTO users (user_id, email, created_at, subscription_tier, subscription_status, subscription_start_date,
                       time_zone)
    VALUES (p_user, p_email, p_now, p_tier, 'active', p_now, p_zone)
    ON CONFLICT (user_id) DO NOTHING;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'KQ006', MESSAGE = 'user exists', DETAIL = p_user::text;
    END IF;
    PERFORM kauri_quota_log(p_user, 'subscription_assigned', 0, 0, p_tier, NULL, NULL,
        json_build_object('tier', p_tier, 'status', 'active'), p_now, NULL, NULL);
END
$f$;

-- The call of function set version 3 and before (see kauri_quota_consume).
CREATE OR REPLACE FUNCTION kauri_quota_create_user(p_user users.user_id%TYPE, p_email TEXT, p_tier TEXT, p_now TIMESTAMP)
RETURNS VOID LANGUAGE sql AS $f$
    SELECT kauri_quota_create_user(p_user, p_email, p_tier, p_now, NULL::text)
$f$;
