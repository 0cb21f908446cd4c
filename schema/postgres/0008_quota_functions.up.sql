-- Server-side functions: each quota operation is one call, so it costs one
-- network round trip and runs as one transaction. They follow the policy of
-- the library's core exactly (limits, warnings, lapsed subscriptions, the
-- month-to-date invariant, idempotency keys); the conformance suite checks
-- that both backends give the same answers.
--
-- Errors raised with SQLSTATE class KQ are mapped by the library:
--   KQ001 unknown user, KQ002 unknown tier, KQ003 idempotency mismatch,
--   KQ004 reservation not found, KQ005 reservation closed, KQ006 user exists.
--
-- p_user is declared with the type of users.user_id, so the same functions
-- serve a UUID column (the original database) and a TEXT one.

-- The budget of the consume fast path (see kauri_quota_arm). A row has one
-- when fast_threshold is set and the row version is the one the budget was
-- given or last spent by (xmin = fast_xid): it is then the latest day row
-- of its month, and a consume with warning threshold fast_threshold, by a
-- user whose tier has the limits fast_per_day, fast_per_month and
-- fast_tokens_per_month, may take up to fast_messages more messages and
-- fast_tokens more tokens (all such consumes together) without breaking a
-- limit or crossing a warning threshold. Any other update of the row, by
-- the library or by anyone else's SQL, makes a new row version and so
-- voids the budget; a later day's row voids it on the earlier days of its
-- month (trigger below). Adding nullable columns rewrites nothing, however
-- large the table.
ALTER TABLE user_usage
    ADD COLUMN fast_threshold DOUBLE PRECISION,
    ADD COLUMN fast_messages BIGINT,
    ADD COLUMN fast_tokens BIGINT,
    ADD COLUMN fast_per_day BIGINT,
    ADD COLUMN fast_per_month BIGINT,
    ADD COLUMN fast_tokens_per_month BIGINT,
    ADD COLUMN fast_xid XID;

-- A day row added (or moved to another day) makes the earlier days of its
-- month no longer the latest: their budgets are cleared, whoever added it.
CREATE FUNCTION kauri_quota_usage_added()
RETURNS TRIGGER LANGUAGE plpgsql AS $f$
BEGIN
    UPDATE user_usage SET fast_threshold = NULL
     WHERE user_id = NEW.user_id AND usage_date >= date_trunc('month', NEW.usage_date)::date
       AND usage_date < NEW.usage_date AND fast_threshold IS NOT NULL;
    RETURN NULL;
END
$f$;

CREATE TRIGGER kauri_quota_usage_added AFTER INSERT OR UPDATE OF usage_date ON user_usage
    FOR EACH ROW EXECUTE FUNCTION kauri_quota_usage_added();

CREATE TYPE kauri_quota_outcome AS (
    allowed             BOOLEAN,
    denied_by           TEXT,
    replayed            BOOLEAN,
    reservation_id      TEXT,
    email               TEXT,
    sub_tier            TEXT,
    sub_status          TEXT,
    start_date          TIMESTAMP,
    end_date            TIMESTAMP,
    trial_end_date      TIMESTAMP,
    created_at          TIMESTAMP,
    tier_id             TEXT,
    tier_name           TEXT,
    tier_name_fr        TEXT,
    per_day             BIGINT,
    per_month           BIGINT,
    tokens_per_month    BIGINT,
    price_fcfa          BIGINT,
    display_order       INTEGER,
    is_visible          BOOLEAN,
    messages_today      BIGINT,
    tokens_today        BIGINT,
    messages_this_month BIGINT,
    tokens_this_month   BIGINT,
    day_found           BOOLEAN,
    res_user            TEXT,
    res_day             DATE,
    res_messages        BIGINT,
    res_estimated       BIGINT,
    res_actual          BIGINT,
    res_state           TEXT,
    res_created         TIMESTAMP,
    res_expires         TIMESTAMP
);

-- Which limit admitting p_messages more messages and p_tokens more tokens
-- would break: 'daily', 'monthly', 'tokens' or 'none'.
CREATE FUNCTION kauri_quota_evaluate(per_day BIGINT, per_month BIGINT, tokens_limit BIGINT, m_today BIGINT,
                                     m_month BIGINT, t_month BIGINT, p_messages BIGINT, p_tokens BIGINT)
RETURNS TEXT LANGUAGE sql IMMUTABLE AS $f$
    SELECT CASE
        WHEN p_messages > 0 AND per_day IS NOT NULL AND (per_day <= 0 OR m_today + p_messages > per_day) THEN 'daily'
        WHEN p_messages > 0 AND per_month IS NOT NULL AND (per_month <= 0 OR m_month + p_messages > per_month) THEN 'monthly'
        WHEN tokens_limit IS NOT NULL AND NOT (p_messages = 0 AND p_tokens = 0)
             AND (t_month >= tokens_limit OR t_month + p_tokens > tokens_limit) THEN 'tokens'
        ELSE 'none'
    END
$f$;

-- True when `used` is at or above `threshold` of `lim` (a zero limit is).
CREATE FUNCTION kauri_quota_reached(used BIGINT, lim BIGINT, threshold DOUBLE PRECISION)
RETURNS BOOLEAN LANGUAGE sql IMMUTABLE AS $f$
    SELECT lim <= 0 OR used::float8 >= threshold * lim - abs(threshold * lim) * 1e-14
$f$;

-- True when usage going from `before` to `after` crosses `threshold` of
-- `lim` (never when there is no limit).
CREATE FUNCTION kauri_quota_crosses(before BIGINT, after BIGINT, lim BIGINT, threshold DOUBLE PRECISION)
RETURNS BOOLEAN LANGUAGE sql IMMUTABLE AS $f$
    SELECT lim IS NOT NULL AND NOT kauri_quota_reached(before, lim, threshold)
           AND kauri_quota_reached(after, lim, threshold)
$f$;

-- How much `used` may grow and stay below `threshold` of `lim`: NULL (no
-- bound) when it has already reached it or there is no limit. The smallest
-- integer that has reached it is the ceiling of the bound
-- kauri_quota_reached compares with, computed the same way.
CREATE FUNCTION kauri_quota_below(used BIGINT, lim BIGINT, threshold DOUBLE PRECISION)
RETURNS BIGINT LANGUAGE sql IMMUTABLE AS $f$
    SELECT CASE WHEN lim IS NULL OR kauri_quota_reached(used, lim, threshold) THEN NULL
                ELSE ceil(threshold * lim - abs(threshold * lim) * 1e-14)::bigint - 1 - used END
$f$;

CREATE FUNCTION kauri_quota_time_text(t TIMESTAMP)
RETURNS TEXT LANGUAGE sql IMMUTABLE AS $f$
    SELECT to_char(t, 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$f$;

-- Serialises the quota operations of one user until the end of the
-- transaction. An advisory lock writes nothing (a row lock on users would
-- dirty the host's table on every message) and, taken first, orders every
-- operation of a user the same way.
CREATE FUNCTION kauri_quota_lock(p_user users.user_id%TYPE)
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
CREATE FUNCTION kauri_quota_state(p_user users.user_id%TYPE, p_day DATE)
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

-- Completes a state read by kauri_quota_state: the default tier when the
-- subscription lapsed (or names no known tier), and the day's own counters
-- when the latest row of the month is another day's (a later day already
-- has a row when clocks disagree around midnight).
CREATE FUNCTION kauri_quota_complete(o kauri_quota_outcome, p_user users.user_id%TYPE, p_day DATE,
                                     p_now TIMESTAMP, p_default_tier TEXT)
RETURNS kauri_quota_outcome LANGUAGE plpgsql AS $f$
BEGIN
    IF o.tier_id IS NULL OR o.sub_status IN ('canceled', 'expired')
       OR (o.end_date IS NOT NULL AND o.end_date <= p_now)
       OR (o.sub_status = 'trialing' AND o.trial_end_date IS NOT NULL AND o.trial_end_date <= p_now) THEN
        SELECT t.tier_id, t.name, t.name_fr, t.messages_per_day, t.messages_per_month, t.tokens_per_month,
               t.price_fcfa, t.display_order, t.is_visible
          INTO o.tier_id, o.tier_name, o.tier_name_fr, o.per_day, o.per_month, o.tokens_per_month, o.price_fcfa,
               o.display_order, o.is_visible
          FROM subscription_tiers t WHERE t.tier_id = p_default_tier;
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'KQ002', MESSAGE = 'default tier is not in subscription_tiers';
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

-- The state of one user for one day, completed, the user locked when
-- p_lock.
CREATE FUNCTION kauri_quota_load(p_user users.user_id%TYPE, p_day DATE, p_now TIMESTAMP, p_default_tier TEXT,
                                 p_lock BOOLEAN)
RETURNS kauri_quota_outcome LANGUAGE plpgsql AS $f$
DECLARE
    o kauri_quota_outcome;
BEGIN
    IF p_lock THEN
        PERFORM pg_advisory_xact_lock(hashtextextended(p_user::text, 7419730114));
    END IF;
    SELECT * INTO o FROM kauri_quota_state(p_user, p_day);
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'KQ001', MESSAGE = 'unknown user';
    END IF;
    RETURN kauri_quota_complete(o, p_user, p_day, p_now, p_default_tier);
END
$f$;

-- Adds a delta to one day and to the month-to-date totals of that day and
-- every later day of the same month (the month-to-date invariant).
CREATE FUNCTION kauri_quota_apply(p_user users.user_id%TYPE, p_day DATE, p_messages BIGINT, p_tokens BIGINT,
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
CREATE FUNCTION kauri_quota_check_bound(o kauri_quota_outcome, p_messages BIGINT, p_tokens BIGINT, p_max BIGINT)
RETURNS VOID LANGUAGE plpgsql AS $f$
BEGIN
    IF o.messages_this_month + p_messages > p_max THEN
        RAISE EXCEPTION USING ERRCODE = 'KQ007', MESSAGE = format('messages_this_month would exceed %s', p_max);
    END IF;
    IF o.tokens_this_month + p_tokens > p_max THEN
        RAISE EXCEPTION USING ERRCODE = 'KQ007', MESSAGE = format('tokens_this_month would exceed %s', p_max);
    END IF;
END
$f$;

CREATE FUNCTION kauri_quota_log(p_user users.user_id%TYPE, p_type TEXT, p_messages BIGINT, p_tokens BIGINT,
                                p_tier TEXT, p_ip TEXT, p_ua TEXT, p_meta JSON, p_now TIMESTAMP, p_day DATE,
                                p_request_id TEXT)
RETURNS VOID LANGUAGE sql AS $f$
    INSERT INTO usage_logs (user_id, event_type, messages_count, tokens_count, quota_tier, request_ip, user_agent,
                            event_metadata, event_timestamp, usage_date, request_id)
    VALUES (p_user, p_type, p_messages, p_tokens, p_tier, p_ip, p_ua, p_meta, p_now, p_day, p_request_id)
$f$;

-- Audits each limit whose usage crossed the warning threshold.
CREATE FUNCTION kauri_quota_warn(p_user users.user_id%TYPE, p_day DATE, p_now TIMESTAMP, o kauri_quota_outcome,
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
CREATE FUNCTION kauri_quota_logged_request(p_user users.user_id%TYPE, p_day DATE, p_request_id TEXT,
                                           p_types TEXT[])
RETURNS TABLE (event_type TEXT, denied_by TEXT)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $f$
    SELECT l.event_type, l.event_metadata::json ->> 'limit' FROM usage_logs l
     WHERE l.user_id = p_user AND l.usage_date = p_day AND l.request_id = p_request_id
       AND l.event_type = ANY (p_types)
     LIMIT 1
$f$;

-- Gives p_day's row of p_user a fast-path budget (see the columns above)
-- from o, the state after an admitted request: how many more messages and
-- tokens may be taken without breaking a limit, reaching a month's token
-- limit (a month at it refuses every request) or crossing a warning
-- threshold. Only the latest row of its month gets one: it alone carries
-- the month's totals. The budget is checked against the rules themselves
-- before it is stored, so an error in it can only cost speed.
CREATE FUNCTION kauri_quota_arm(p_user users.user_id%TYPE, p_day DATE, p_now TIMESTAMP, o kauri_quota_outcome,
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
    -- tier (see kauri_quota_consume).
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
       AND NOT EXISTS (SELECT 1 FROM user_usage l
                        WHERE l.user_id = p_user AND l.usage_date > p_day
                          AND l.usage_date < (date_trunc('month', p_day) + interval '1 month')::date);
END
$f$;

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
CREATE FUNCTION kauri_quota_consume(p_user users.user_id%TYPE, p_day DATE, p_now TIMESTAMP, p_messages BIGINT,
                                    p_tokens BIGINT, p_reserve BOOLEAN, p_reservation_id TEXT,
                                    p_expires_at TIMESTAMP, p_request_id TEXT, p_ip TEXT, p_ua TEXT,
                                    p_threshold DOUBLE PRECISION, p_default_tier TEXT, p_key_mode TEXT,
                                    p_max BIGINT)
RETURNS kauri_quota_outcome LANGUAGE plpgsql AS $f$
DECLARE
    o kauri_quota_outcome;
    k RECORD;
    v_op TEXT;
    v_fp TEXT;
    v_kind TEXT;
    v_limit BIGINT;
    v_usage BIGINT;
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
               AND t.messages_per_day IS NOT DISTINCT FROM d.fast_per_day
               AND t.messages_per_month IS NOT DISTINCT FROM d.fast_per_month
               AND t.tokens_per_month IS NOT DISTINCT FROM d.fast_tokens_per_month
            RETURNING u.email::text, u.subscription_tier::text, u.subscription_status::text,
                      u.subscription_start_date::timestamp, u.subscription_end_date::timestamp,
                      u.trial_end_date::timestamp, u.created_at::timestamp, t.tier_id::text, t.name::text,
                      t.name_fr::text, t.messages_per_day::bigint, t.messages_per_month::bigint,
                      t.tokens_per_month::bigint, t.price_fcfa::bigint, t.display_order::integer, t.is_visible,
                      d.messages_today::bigint, d.tokens_today::bigint, d.messages_this_month::bigint,
                      d.tokens_this_month::bigint
        ), audit AS (
            INSERT INTO usage_logs (user_id, event_type, messages_count, tokens_count, quota_tier, request_ip,
                                    user_agent, event_metadata, event_timestamp, usage_date, request_id)
            SELECT p_user, 'message_sent', p_messages, p_tokens, up.tier_id, p_ip, p_ua, NULL, p_now, p_day,
                   p_request_id
              FROM up
        )
        SELECT TRUE, 'none', FALSE, NULL, up.*, TRUE, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL INTO o FROM up;
        IF FOUND THEN
            RETURN o;
        END IF;
    END IF;
    SELECT * INTO o FROM kauri_quota_state(p_user, p_day);
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'KQ001', MESSAGE = 'unknown user';
    END IF;
    -- The general path.
    o := kauri_quota_complete(o, p_user, p_day, p_now, p_default_tier);
    v_op := CASE WHEN p_reserve THEN 'reserve' ELSE 'consume' END;
    v_fp := v_op || ':' || p_messages || ':' || p_tokens;
    IF p_key_mode = 'auto-retry' THEN
        -- The library's own key, retried after a lost acknowledgement: the
        -- audit row written with it tells whether the first attempt landed.
        SELECT * INTO k FROM kauri_quota_logged_request(p_user, p_day, p_request_id,
                                                        ARRAY['message_sent', 'quota_exceeded', 'reservation_created']);
        IF FOUND THEN
            o.allowed := k.event_type <> 'quota_exceeded';
            o.denied_by := CASE WHEN o.allowed THEN 'none' ELSE k.denied_by END;
            SELECT r.reservation_id INTO o.reservation_id FROM kauri_quota_reservations r
             WHERE r.user_id = p_user AND r.request_id = p_request_id;
            o.replayed := TRUE;
            RETURN o;
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
            RETURN o;
        END IF;
    END IF;
    v_kind := kauri_quota_evaluate(o.per_day, o.per_month, o.tokens_per_month, o.messages_today,
                                   o.messages_this_month, o.tokens_this_month, p_messages, p_tokens);
    IF v_kind = 'none' THEN
        PERFORM kauri_quota_check_bound(o, p_messages, p_tokens, p_max);
        PERFORM kauri_quota_apply(p_user, p_day, p_messages, p_tokens, p_now, o.day_found);
        IF p_reserve THEN
            INSERT INTO kauri_quota_reservations (reservation_id, user_id, usage_date, messages, estimated_tokens,
                                                  state, request_id, created_at, expires_at)
            VALUES (p_reservation_id, p_user, p_day, p_messages, p_tokens, 'open', p_request_id, p_now, p_expires_at);
            PERFORM kauri_quota_log(p_user, 'reservation_created', p_messages, p_tokens, o.tier_id, p_ip, p_ua,
                json_build_object('reservation_id', p_reservation_id,
                                  'expires_at', kauri_quota_time_text(p_expires_at)),
                p_now, p_day, p_request_id);
            o.reservation_id := p_reservation_id;
        ELSE
            INSERT INTO usage_logs (user_id, event_type, messages_count, tokens_count, quota_tier, request_ip,
                                    user_agent, event_metadata, event_timestamp, usage_date, request_id)
            VALUES (p_user, 'message_sent', p_messages, p_tokens, o.tier_id, p_ip, p_ua, NULL, p_now, p_day,
                    p_request_id);
        END IF;
        IF o.per_day IS NOT NULL OR o.per_month IS NOT NULL OR o.tokens_per_month IS NOT NULL THEN
            PERFORM kauri_quota_warn(p_user, p_day, p_now, o, p_messages, p_tokens, p_threshold);
        END IF;
        o.messages_today := o.messages_today + p_messages;
        o.tokens_today := o.tokens_today + p_tokens;
        o.messages_this_month := o.messages_this_month + p_messages;
        o.tokens_this_month := o.tokens_this_month + p_tokens;
        o.allowed := TRUE;
        o.denied_by := 'none';
        PERFORM kauri_quota_arm(p_user, p_day, p_now, o, p_threshold, p_max);
    ELSE
        v_limit := CASE v_kind WHEN 'daily' THEN o.per_day WHEN 'monthly' THEN o.per_month ELSE o.tokens_per_month END;
        v_usage := CASE v_kind WHEN 'daily' THEN o.messages_today WHEN 'monthly' THEN o.messages_this_month
                               ELSE o.tokens_this_month END;
        PERFORM kauri_quota_log(p_user, 'quota_exceeded', 0, 0, o.tier_id, p_ip, p_ua,
            json_build_object('limit', v_kind, 'limit_value', v_limit, 'usage', v_usage,
                              'requested_messages', p_messages, 'requested_tokens', p_tokens),
            p_now, p_day, p_request_id);
        o.allowed := FALSE;
        o.denied_by := v_kind;
    END IF;
    IF p_key_mode = 'caller' THEN
        INSERT INTO kauri_quota_idempotency_keys (user_id, request_id, operation, fingerprint, allowed, denied_by,
                                                  reservation_id, usage_date, created_at)
        VALUES (p_user, p_request_id, v_op, v_fp, o.allowed, NULLIF(o.denied_by, 'none'), o.reservation_id,
                p_day, p_now);
    END IF;
    RETURN o;
END
$f$;

-- increment_usage: an unconditional after-the-fact record.
CREATE FUNCTION kauri_quota_record(p_user users.user_id%TYPE, p_day DATE, p_now TIMESTAMP, p_messages BIGINT,
                                   p_tokens BIGINT, p_request_id TEXT, p_ip TEXT, p_ua TEXT,
                                   p_threshold DOUBLE PRECISION, p_default_tier TEXT, p_max BIGINT,
                                   p_key_mode TEXT)
RETURNS kauri_quota_outcome LANGUAGE plpgsql AS $f$
DECLARE
    o kauri_quota_outcome;
    k RECORD;
    v_fp TEXT := 'record:' || p_messages || ':' || p_tokens;
BEGIN
    o := kauri_quota_load(p_user, p_day, p_now, p_default_tier, TRUE);
    IF p_key_mode = 'auto-retry' THEN
        PERFORM 1 FROM kauri_quota_logged_request(p_user, p_day, p_request_id, ARRAY['usage_recorded']);
        IF FOUND THEN
            o.replayed := TRUE;
            o.allowed := TRUE;
            RETURN o;
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
            RETURN o;
        END IF;
    END IF;
    PERFORM kauri_quota_check_bound(o, p_messages, p_tokens, p_max);
    PERFORM kauri_quota_apply(p_user, p_day, p_messages, p_tokens, p_now, o.day_found);
    PERFORM kauri_quota_log(p_user, 'usage_recorded', p_messages, p_tokens, o.tier_id, p_ip, p_ua, NULL, p_now,
                            p_day, p_request_id);
    PERFORM kauri_quota_warn(p_user, p_day, p_now, o, p_messages, p_tokens, p_threshold);
    IF p_key_mode = 'caller' THEN
        INSERT INTO kauri_quota_idempotency_keys (user_id, request_id, operation, fingerprint, allowed, denied_by,
                                                  reservation_id, usage_date, created_at)
        VALUES (p_user, p_request_id, 'record', v_fp, TRUE, NULL, NULL, p_day, p_now);
    END IF;
    o.messages_today := o.messages_today + p_messages;
    o.tokens_today := o.tokens_today + p_tokens;
    o.messages_this_month := o.messages_this_month + p_messages;
    o.tokens_this_month := o.tokens_this_month + p_tokens;
    o.allowed := TRUE;
    o.replayed := FALSE;
    PERFORM kauri_quota_arm(p_user, p_day, p_now, o, p_threshold, p_max);
    RETURN o;
END
$f$;

-- commit (p_actual set) or release (p_actual NULL) of a reservation. The
-- user row is locked before the reservation row, as consume does.
CREATE FUNCTION kauri_quota_settle(p_reservation_id TEXT, p_actual BIGINT, p_now TIMESTAMP, p_day DATE,
                                   p_default_tier TEXT, p_max BIGINT)
RETURNS kauri_quota_outcome LANGUAGE plpgsql AS $f$
DECLARE
    o kauri_quota_outcome;
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
        RAISE EXCEPTION USING ERRCODE = 'KQ004', MESSAGE = 'no such reservation';
    END IF;
    PERFORM kauri_quota_lock(v_user);
    SELECT * INTO r FROM kauri_quota_reservations WHERE reservation_id = p_reservation_id FOR UPDATE;
    IF r.state <> 'open' THEN
        RAISE EXCEPTION USING ERRCODE = 'KQ005', MESSAGE = r.state;
    END IF;
    IF p_now >= r.expires_at THEN
        RAISE EXCEPTION USING ERRCODE = 'KQ005', MESSAGE = 'expired';
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
            RAISE EXCEPTION USING ERRCODE = 'KQ007', MESSAGE = format('tokens_this_month would exceed %s', p_max);
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
    o := kauri_quota_load(r.user_id, p_day, p_now, p_default_tier, FALSE);
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
    RETURN o;
END
$f$;

-- Settles open reservations past their TTL at their estimate.
CREATE FUNCTION kauri_quota_expire(p_now TIMESTAMP, p_limit INTEGER)
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

-- Administrative resets of one user (p_user) or of all users (NULL).
-- Users are locked in user_id order so that concurrent resets never deadlock.
-- (Two users whose ids hash alike share a lock; that only serialises them.)
CREATE FUNCTION kauri_quota_reset(p_daily BOOLEAN, p_user users.user_id%TYPE, p_day DATE, p_now TIMESTAMP)
RETURNS BIGINT LANGUAGE plpgsql AS $f$
DECLARE
    r RECORD;
    v_first DATE := date_trunc('month', p_day)::date;
    v_next DATE := (date_trunc('month', p_day) + interval '1 month')::date;
    v_users BIGINT := 0;
    v_last TEXT := NULL;
BEGIN
    IF p_user IS NOT NULL THEN
        PERFORM kauri_quota_lock(p_user);
        PERFORM 1 FROM users WHERE user_id = p_user;
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'KQ001', MESSAGE = 'unknown user';
        END IF;
    END IF;
    IF p_daily THEN
        FOR r IN SELECT uu.user_id, uu.messages_today, uu.tokens_today FROM user_usage uu
                  WHERE uu.usage_date = p_day AND (p_user IS NULL OR uu.user_id = p_user)
                    AND (uu.messages_today <> 0 OR uu.tokens_today <> 0)
                  ORDER BY uu.user_id LOOP
            IF p_user IS NULL THEN
                PERFORM kauri_quota_lock(r.user_id);
            END IF;
            -- Re-read under the lock: a consume may have committed meanwhile.
            SELECT messages_today, tokens_today INTO r.messages_today, r.tokens_today
              FROM user_usage WHERE user_id = r.user_id AND usage_date = p_day;
            PERFORM kauri_quota_apply(r.user_id, p_day, -r.messages_today, -r.tokens_today, p_now, TRUE);
            PERFORM kauri_quota_log(r.user_id, 'daily_reset', -r.messages_today, -r.tokens_today, NULL, NULL, NULL,
                                    NULL, p_now, p_day, NULL);
            v_users := v_users + 1;
        END LOOP;
    ELSE
        FOR r IN SELECT uu.user_id, uu.usage_date FROM user_usage uu
                  WHERE uu.usage_date >= v_first AND uu.usage_date < v_next
                    AND (p_user IS NULL OR uu.user_id = p_user)
                    AND (uu.messages_today <> 0 OR uu.tokens_today <> 0 OR uu.messages_this_month <> 0
                         OR uu.tokens_this_month <> 0)
                  ORDER BY uu.user_id, uu.usage_date LOOP
            IF v_last IS DISTINCT FROM r.user_id::text THEN
                IF p_user IS NULL THEN
                    PERFORM kauri_quota_lock(r.user_id);
                END IF;
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

-- Changes a subscription and audits it; returns the subscription before.
CREATE FUNCTION kauri_quota_set_subscription(p_user users.user_id%TYPE, p_tier TEXT, p_status TEXT,
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
        RAISE EXCEPTION USING ERRCODE = 'KQ001', MESSAGE = 'unknown user';
    END IF;
    PERFORM 1 FROM subscription_tiers WHERE tier_id = p_tier;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'KQ002', MESSAGE = 'unknown tier';
    END IF;
    UPDATE users SET subscription_tier = p_tier, subscription_status = p_status, subscription_start_date = p_now,
                     subscription_end_date = p_end, trial_end_date = p_trial_end
     WHERE user_id = p_user;
    PERFORM kauri_quota_log(p_user, p_event, 0, 0, p_tier, p_ip, p_ua,
        json_build_object('from_tier', o.sub_tier, 'to_tier', p_tier, 'from_status', o.sub_status,
                          'to_status', p_status), p_now, NULL, p_request_id);
    RETURN o;
END
$f$;

-- Creates a user on a tier (status active, start now) and audits it.
CREATE FUNCTION kauri_quota_create_user(p_user users.user_id%TYPE, p_email TEXT, p_tier TEXT, p_now TIMESTAMP)
RETURNS VOID LANGUAGE plpgsql AS $f$
BEGIN
    PERFORM 1 FROM subscription_tiers WHERE tier_id = p_tier;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'KQ002', MESSAGE = 'unknown tier';
    END IF;
    INSERT INTO users (user_id, email, created_at, subscription_tier, subscription_status, subscription_start_date)
    VALUES (p_user, p_email, p_now, p_tier, 'active', p_now)
    ON CONFLICT (user_id) DO NOTHING;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'KQ006', MESSAGE = 'user exists';
    END IF;
    PERFORM kauri_quota_log(p_user, 'subscription_assigned', 0, 0, p_tier, NULL, NULL,
        json_build_object('tier', p_tier, 'status', 'active'), p_now, NULL, NULL);
END
$f$;
