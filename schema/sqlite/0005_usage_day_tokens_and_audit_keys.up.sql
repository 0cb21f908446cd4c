-- Library addition: per-day tokens, and the day and request id of each
-- audit row, so that the audit rows of a user and day add up to that day's
-- counters (reconciliation) and a request can be traced.
ALTER TABLE user_usage ADD COLUMN tokens_today INTEGER NOT NULL DEFAULT 0;

-- Existing rows: a day's tokens are its month-to-date total minus the
-- previous day's of the same month.
UPDATE user_usage
   SET tokens_today = tokens_this_month - COALESCE(
       (SELECT p.tokens_this_month FROM user_usage p
         WHERE p.user_id = user_usage.user_id
           AND p.usage_date < user_usage.usage_date
           AND substr(p.usage_date, 1, 7) = substr(user_usage.usage_date, 1, 7)
         ORDER BY p.usage_date DESC LIMIT 1), 0);

ALTER TABLE usage_logs ADD COLUMN usage_date DATE;

ALTER TABLE usage_logs ADD COLUMN request_id TEXT;

CREATE INDEX ix_usage_logs_user_date ON usage_logs (user_id, usage_date);
