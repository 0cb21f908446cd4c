-- Removes the lifecycle columns, the payments and their indexes, and puts
-- back migration 0010's change-feed trigger.
DROP TRIGGER IF EXISTS kauri_quota_changed_subscription;

CREATE TRIGGER kauri_quota_changed_subscription
AFTER UPDATE OF subscription_tier, subscription_status, subscription_start_date, subscription_end_date,
                trial_end_date ON users
WHEN OLD.subscription_tier IS NOT NEW.subscription_tier
  OR OLD.subscription_status IS NOT NEW.subscription_status
  OR OLD.subscription_start_date IS NOT NEW.subscription_start_date
  OR OLD.subscription_end_date IS NOT NEW.subscription_end_date
  OR OLD.trial_end_date IS NOT NEW.trial_end_date
BEGIN
    UPDATE kauri_quota_change_counter SET value = value + 1 WHERE id = 1;
END;

DROP INDEX IF EXISTS ix_users_trial_due;

DROP INDEX IF EXISTS ix_users_lifecycle_due;

DROP INDEX IF EXISTS ix_subscription_payments_user;

DROP INDEX IF EXISTS ux_subscription_payments_key;

DROP TABLE IF EXISTS subscription_payments;

ALTER TABLE users DROP COLUMN cancel_at_period_end;

ALTER TABLE users DROP COLUMN scheduled_end_date;

ALTER TABLE users DROP COLUMN scheduled_tier;

ALTER TABLE users DROP COLUMN time_zone;
