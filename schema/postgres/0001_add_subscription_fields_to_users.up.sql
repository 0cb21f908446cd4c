-- Subscription fields on the host's users table (the original migration
-- 7dc92d559294), the zero-downtime way: add the columns nullable (instant),
-- backfill existing rows in short batches, then make them NOT NULL with a
-- default, using a validated CHECK constraint so that SET NOT NULL does not
-- scan the table under an exclusive lock. The users table belongs to the
-- host; a minimal one is created only when there is none. Instants are
-- stored as UTC in TIMESTAMP columns, as the original system does.
CREATE TABLE IF NOT EXISTS users (
    user_id     TEXT PRIMARY KEY,
    email       TEXT,
    created_at  TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'UTC')
);

ALTER TABLE users ADD COLUMN IF NOT EXISTS subscription_tier VARCHAR(20);

ALTER TABLE users ADD COLUMN IF NOT EXISTS subscription_status VARCHAR(20);

ALTER TABLE users ADD COLUMN IF NOT EXISTS subscription_start_date TIMESTAMP;

ALTER TABLE users ADD COLUMN IF NOT EXISTS subscription_end_date TIMESTAMP;

ALTER TABLE users ADD COLUMN IF NOT EXISTS trial_end_date TIMESTAMP;

ALTER TABLE users ALTER COLUMN subscription_tier SET DEFAULT 'free';

ALTER TABLE users ALTER COLUMN subscription_status SET DEFAULT 'active';

-- kq:backfill users subscription_tier IS NULL OR subscription_status IS NULL OR subscription_start_date IS NULL
UPDATE users
   SET subscription_tier = COALESCE(subscription_tier, 'free'),
       subscription_status = COALESCE(subscription_status, 'active'),
       subscription_start_date = COALESCE(subscription_start_date, now() AT TIME ZONE 'UTC')
 WHERE ctid = ANY (ARRAY(SELECT ctid FROM users
                          WHERE subscription_tier IS NULL OR subscription_status IS NULL
                             OR subscription_start_date IS NULL
                          LIMIT $1));

ALTER TABLE users ADD CONSTRAINT kq_users_subscription_tier_nn CHECK (subscription_tier IS NOT NULL) NOT VALID;

ALTER TABLE users ADD CONSTRAINT kq_users_subscription_status_nn CHECK (subscription_status IS NOT NULL) NOT VALID;

-- kq:commit
ALTER TABLE users VALIDATE CONSTRAINT kq_users_subscription_tier_nn;

ALTER TABLE users VALIDATE CONSTRAINT kq_users_subscription_status_nn;

-- kq:commit
ALTER TABLE users ALTER COLUMN subscription_tier SET NOT NULL;

ALTER TABLE users ALTER COLUMN subscription_status SET NOT NULL;

ALTER TABLE users DROP CONSTRAINT kq_users_subscription_tier_nn;

ALTER TABLE users DROP CONSTRAINT kq_users_subscription_status_nn;

-- kq:no-transaction
CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_users_subscription_tier ON users (subscription_tier);

-- kq:no-transaction
CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_users_subscription_status ON users (subscription_status);
