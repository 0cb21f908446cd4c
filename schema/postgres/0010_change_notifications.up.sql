-- Library addition: change notifications behind the denial cache. Every
-- change that can turn a denial into an admission is announced on the
-- channel kauri_quota_changes when it commits, whoever makes it (this
-- library, another process, the CLI, hand SQL): a subscription column of a
-- user, a decrease of a user's counters (a reset, a refund), a deleted
-- usage row or user (payload: the user id), and any change to the tiers
-- (payload '*': everyone). A service with the denial cache LISTENs and
-- drops the entries concerned.
--
-- A transaction sends at most two notifications: the first user it
-- changes, then '*' as soon as it changes a second one, so a bulk reset
-- or a bulk edit of users costs two messages, not one per row. These
-- functions belong to this migration, not to the repeatable function set.

-- Announces that `p_user` changed (or everyone, after a second user). The
-- transaction-local setting kauri_quota.announced remembers what this
-- transaction already sent; a rolled-back savepoint forgets both.
CREATE FUNCTION kauri_quota_announce(p_user TEXT) RETURNS VOID LANGUAGE plpgsql AS $f$
DECLARE
    v_sent TEXT := current_setting('kauri_quota.announced', true);
BEGIN
    IF v_sent = '*' OR v_sent = p_user THEN
        RETURN;
    END IF;
    IF v_sent IS NULL OR v_sent = '' THEN
        PERFORM pg_notify('kauri_quota_changes', p_user);
        PERFORM set_config('kauri_quota.announced', p_user, true);
    ELSE
        PERFORM pg_notify('kauri_quota_changes', '*');
        PERFORM set_config('kauri_quota.announced', '*', true);
    END IF;
END
$f$;

-- Row triggers of users and user_usage: the changed row's user.
CREATE FUNCTION kauri_quota_announce_row() RETURNS TRIGGER LANGUAGE plpgsql AS $f$
BEGIN
    PERFORM kauri_quota_announce(OLD.user_id::text);
    IF TG_OP = 'UPDATE' AND NEW.user_id IS DISTINCT FROM OLD.user_id THEN
        PERFORM kauri_quota_announce(NEW.user_id::text);
    END IF;
    RETURN NULL;
END
$f$;

-- Statement triggers (tiers, TRUNCATE): everyone, once per statement.
CREATE FUNCTION kauri_quota_announce_all() RETURNS TRIGGER LANGUAGE plpgsql AS $f$
BEGIN
    IF current_setting('kauri_quota.announced', true) IS DISTINCT FROM '*' THEN
        PERFORM pg_notify('kauri_quota_changes', '*');
        PERFORM set_config('kauri_quota.announced', '*', true);
    END IF;
    RETURN NULL;
END
$f$;

CREATE TRIGGER kauri_quota_changed_subscription
AFTER UPDATE OF subscription_tier, subscription_status, subscription_start_date, subscription_end_date,
                trial_end_date ON users
FOR EACH ROW
WHEN (OLD.subscription_tier IS DISTINCT FROM NEW.subscription_tier
      OR OLD.subscription_status IS DISTINCT FROM NEW.subscription_status
      OR OLD.subscription_start_date IS DISTINCT FROM NEW.subscription_start_date
      OR OLD.subscription_end_date IS DISTINCT FROM NEW.subscription_end_date
      OR OLD.trial_end_date IS DISTINCT FROM NEW.trial_end_date)
EXECUTE FUNCTION kauri_quota_announce_row();

CREATE TRIGGER kauri_quota_changed_user_deleted AFTER DELETE ON users
FOR EACH ROW EXECUTE FUNCTION kauri_quota_announce_row();

CREATE TRIGGER kauri_quota_changed_users_truncated AFTER TRUNCATE ON users
FOR EACH STATEMENT EXECUTE FUNCTION kauri_quota_announce_all();

CREATE TRIGGER kauri_quota_changed_tiers AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON subscription_tiers
FOR EACH STATEMENT EXECUTE FUNCTION kauri_quota_announce_all();

-- Only a decrease: consume and record only ever add, and the WHEN clause
-- is evaluated without calling the function, so the hot path pays nothing.
CREATE TRIGGER kauri_quota_changed_usage_decreased
AFTER UPDATE OF messages_today, tokens_today, messages_this_month, tokens_this_month ON user_usage
FOR EACH ROW
WHEN (NEW.messages_today < OLD.messages_today
      OR NEW.tokens_today < OLD.tokens_today
      OR NEW.messages_this_month < OLD.messages_this_month
      OR NEW.tokens_this_month < OLD.tokens_this_month)
EXECUTE FUNCTION kauri_quota_announce_row();

CREATE TRIGGER kauri_quota_changed_usage_deleted AFTER DELETE ON user_usage
FOR EACH ROW EXECUTE FUNCTION kauri_quota_announce_row();

CREATE TRIGGER kauri_quota_changed_usage_truncated AFTER TRUNCATE ON user_usage
FOR EACH STATEMENT EXECUTE FUNCTION kauri_quota_announce_all();
