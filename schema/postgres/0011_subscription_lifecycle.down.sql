-- Back to 0010: its subscription trigger, without the zone.
DROP TRIGGER IF EXISTS kauri_quota_changed_subscription ON users;
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

-- The forms only the function set's version 4 added (the lifecycle calls,
-- which read the columns dropped below), so that the unqualified DROP
-- FUNCTION names of 0008's down stay unambiguous. Their first argument has
-- the type of users.user_id, so they are found by name and argument count.
DO $d$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT oid::regprocedure FROM pg_proc
             WHERE pg_function_is_visible(oid)
               AND ((proname = 'kauri_quota_consume' AND pronargs = 17)
                    OR (proname = 'kauri_quota_record' AND pronargs = 13)
                    OR (proname = 'kauri_quota_settle' AND pronargs = 7)
                    OR (proname = 'kauri_quota_load' AND pronargs = 6)
                    OR (proname = 'kauri_quota_complete' AND pronargs = 6)
                    OR (proname = 'kauri_quota_create_user' AND pronargs = 5)
                    OR proname IN ('kauri_quota_transition_due', 'kauri_quota_user_day')) LOOP
        EXECUTE 'DROP FUNCTION ' || f::text;
    END LOOP;
END
$d$;

DROP INDEX IF EXISTS ix_users_trial_due;
DROP INDEX IF EXISTS ix_users_lifecycle_due;
DROP TABLE IF EXISTS subscription_payments;
ALTER TABLE users DROP COLUMN IF EXISTS cancel_at_period_end;
ALTER TABLE users DROP COLUMN IF EXISTS scheduled_end_date;
ALTER TABLE users DROP COLUMN IF EXISTS scheduled_tier;
ALTER TABLE users DROP COLUMN IF EXISTS time_zone;
