-- Subscription fields on the host's users table (the original migration
-- 7dc92d559294). The users table belongs to the host application: when it
-- does not exist a minimal one is created; when it does, only the
-- subscription columns are added. SQLite adds a column with a constant
-- default without rewriting the table, so tier and status are added
-- NOT NULL DEFAULT at once; the start date is backfilled in batches.
CREATE TABLE IF NOT EXISTS users (
    user_id     TEXT PRIMARY KEY NOT NULL,
    email       TEXT,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now'))
);

ALTER TABLE users ADD COLUMN subscription_tier VARCHAR(20) NOT NULL DEFAULT 'free';

ALTER TABLE users ADD COLUMN subscription_status VARCHAR(20) NOT NULL DEFAULT 'active';

ALTER TABLE users ADD COLUMN subscription_start_date DATETIME;

ALTER TABLE users ADD COLUMN subscription_end_date DATETIME;

ALTER TABLE users ADD COLUMN trial_end_date DATETIME;

-- Existing users start their free plan now. Batched: the runner repeats
-- the statement, one short transaction per batch, until no row changes.
-- kq:backfill users subscription_start_date IS NULL
UPDATE users
   SET subscription_start_date = strftime('%Y-%m-%d %H:%M:%f', 'now')
 WHERE rowid IN (SELECT rowid FROM users WHERE subscription_start_date IS NULL LIMIT :batch);

CREATE INDEX IF NOT EXISTS ix_users_subscription_tier ON users (subscription_tier);

CREATE INDEX IF NOT EXISTS ix_users_subscription_status ON users (subscription_status);
