-- Library addition: the subscription lifecycle. Each user may have its own
-- IANA zone for days and months (NULL: the service's), a change scheduled
-- for the end of the paid period (a lower tier, or the default tier when
-- canceled at the period's end) with the end of its own paid period, and
-- the payments that bought its periods. Every column is nullable or has a
-- default, so an adopted original database takes them as is.
ALTER TABLE users ADD COLUMN time_zone VARCHAR(64);

ALTER TABLE users ADD COLUMN scheduled_tier VARCHAR(20);

ALTER TABLE users ADD COLUMN scheduled_end_date DATETIME;

ALTER TABLE users ADD COLUMN cancel_at_period_end INTEGER NOT NULL DEFAULT 0;

CREATE TABLE subscription_payments (
    id              INTEGER PRIMARY KEY,
    provider        VARCHAR(32) NOT NULL,
    transaction_id  VARCHAR(128) NOT NULL,
    user_id         TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    tier_id         VARCHAR(20) NOT NULL,
    months          INTEGER NOT NULL,
    amount          BIGINT NOT NULL,
    currency        VARCHAR(3) NOT NULL,
    status          VARCHAR(10) NOT NULL CHECK (status IN ('pending', 'applied', 'failed')),
    effect          VARCHAR(10) NOT NULL DEFAULT 'none',
    period_start    DATETIME,
    period_end      DATETIME,
    failure_reason  TEXT,
    created_at      DATETIME NOT NULL,
    updated_at      DATETIME NOT NULL
);

CREATE UNIQUE INDEX ux_subscription_payments_key ON subscription_payments (provider, transaction_id);

CREATE INDEX ix_subscription_payments_user ON subscription_payments (user_id, created_at);

-- The sweep looks for paid periods and trials that ended.
CREATE INDEX ix_users_lifecycle_due ON users (subscription_end_date) WHERE subscription_end_date IS NOT NULL;

CREATE INDEX ix_users_trial_due ON users (trial_end_date) WHERE subscription_status = 'trialing';

-- A user's zone decides which day counts: a change of it can admit a
-- denied user, so the change feed announces it too.
DROP TRIGGER kauri_quota_changed_subscription;

CREATE TRIGGER kauri_quota_changed_subscription
AFTER UPDATE OF subscription_tier, subscription_status, subscription_start_date, subscription_end_date,
                trial_end_date, time_zone ON users
WHEN OLD.subscription_tier IS NOT NEW.subscription_tier
  OR OLD.subscription_status IS NOT NEW.subscription_status
  OR OLD.subscription_start_date IS NOT NEW.subscription_start_date
  OR OLD.subscription_end_date IS NOT NEW.subscription_end_date
  OR OLD.trial_end_date IS NOT NEW.trial_end_date
  OR OLD.time_zone IS NOT NEW.time_zone
BEGIN
    UPDATE kauri_quota_change_counter SET value = value + 1 WHERE id = 1;
END;
