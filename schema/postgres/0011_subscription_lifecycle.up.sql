-- Library addition: the subscription lifecycle. Trials, paid periods with a
-- grace period, scheduled changes and cancellations at the end of a paid
-- period, payments (idempotent by provider and transaction id) and a time
-- zone of the user's own for its days and months. Every new column is
-- nullable or has a default, so a database the original system created
-- (adopted by 0001-0004) takes them without a rewrite of its rows.
ALTER TABLE users ADD COLUMN IF NOT EXISTS time_zone VARCHAR(64);
ALTER TABLE users ADD COLUMN IF NOT EXISTS scheduled_tier VARCHAR(20);
ALTER TABLE users ADD COLUMN IF NOT EXISTS scheduled_end_date TIMESTAMP;
ALTER TABLE users ADD COLUMN IF NOT EXISTS cancel_at_period_end BOOLEAN NOT NULL DEFAULT FALSE;

-- The payments. user_id takes the type of users.user_id (UUID in the
-- original database, text in one the library created).
DO $kq$
DECLARE
    id_type text := (SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
                      WHERE a.attrelid = 'users'::regclass AND a.attname = 'user_id' AND NOT a.attisdropped);
BEGIN
    EXECUTE format($sql$
        CREATE TABLE subscription_payments (
            id              BIGSERIAL PRIMARY KEY,
            provider        VARCHAR(32) NOT NULL,
            transaction_id  VARCHAR(128) NOT NULL,
            user_id         %s NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
            tier_id         VARCHAR(20) NOT NULL,
            months          INTEGER NOT NULL,
            amount          BIGINT NOT NULL,
            currency        VARCHAR(3) NOT NULL,
            status          VARCHAR(10) NOT NULL CHECK (status IN ('pending', 'applied', 'failed')),
            effect          VARCHAR(10) NOT NULL DEFAULT 'none',
            period_start    TIMESTAMP,
            period_end      TIMESTAMP,
            failure_reason  TEXT,
            created_at      TIMESTAMP NOT NULL,
            updated_at      TIMESTAMP NOT NULL,
            CONSTRAINT ux_subscription_payments_key UNIQUE (provider, transaction_id)
        )$sql$, id_type);
END
$kq$;

CREATE INDEX ix_subscription_payments_user ON subscription_payments (user_id, created_at);

-- The sweep (due_subscriptions) reads the users whose paid period or trial
-- may have ended: two partial indexes, so that it is an index scan over
-- those users only, whatever the size of the host's table.
CREATE INDEX ix_users_lifecycle_due ON users (subscription_end_date) WHERE subscription_end_date IS NOT NULL;
CREATE INDEX ix_users_trial_due ON users (trial_end_date) WHERE subscription_status = 'trialing';

-- The change feed (0010) also announces a change of the user's zone: it
-- changes which day, and so which counters, apply.
DROP TRIGGER IF EXISTS kauri_quota_changed_subscription ON users;
CREATE TRIGGER kauri_quota_changed_subscription
AFTER UPDATE OF subscription_tier, subscription_status, subscription_start_date, subscription_end_date,
                trial_end_date, time_zone ON users
FOR EACH ROW
WHEN (OLD.subscription_tier IS DISTINCT FROM NEW.subscription_tier
      OR OLD.subscription_status IS DISTINCT FROM NEW.subscription_status
      OR OLD.subscription_start_date IS DISTINCT FROM NEW.subscription_start_date
      OR OLD.subscription_end_date IS DISTINCT FROM NEW.subscription_end_date
      OR OLD.trial_end_date IS DISTINCT FROM NEW.trial_end_date
      OR OLD.time_zone IS DISTINCT FROM NEW.time_zone)
EXECUTE FUNCTION kauri_quota_announce_row();
