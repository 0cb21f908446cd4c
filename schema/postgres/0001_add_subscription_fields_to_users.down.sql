-- Removes the subscription columns. The users table and its rows belong to
-- the host and are kept.
DROP INDEX IF EXISTS ix_users_subscription_status;

DROP INDEX IF EXISTS ix_users_subscription_tier;

ALTER TABLE users DROP COLUMN IF EXISTS trial_end_date;

ALTER TABLE users DROP COLUMN IF EXISTS subscription_end_date;

ALTER TABLE users DROP COLUMN IF EXISTS subscription_start_date;

ALTER TABLE users DROP COLUMN IF EXISTS subscription_status;

ALTER TABLE users DROP COLUMN IF EXISTS subscription_tier;
