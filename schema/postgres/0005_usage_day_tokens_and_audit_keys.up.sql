-- Library addition: per-day tokens, and the day and request id of each
-- audit row, so that the audit rows of a user and day add up to that day's
-- counters (reconciliation) and a request can be traced. Adding a column
-- with a constant default is instant on PostgreSQL 11 and later.
ALTER TABLE user_usage ADD COLUMN IF NOT EXISTS tokens_today BIGINT NOT NULL DEFAULT 0;

-- Existing rows: a day's tokens are its month-to-date total minus the
-- previous day's of the same month. Batched by id range.
-- kq:batches-by-id user_usage
UPDATE user_usage u
   SET tokens_today = u.tokens_this_month - COALESCE(
       (SELECT p.tokens_this_month FROM user_usage p
         WHERE p.user_id = u.user_id AND p.usage_date < u.usage_date
           AND p.usage_date >= date_trunc('month', u.usage_date)::date
         ORDER BY p.usage_date DESC LIMIT 1), 0)
 WHERE u.id > $1 AND u.id <= $2 AND u.tokens_this_month <> 0;

ALTER TABLE usage_logs ADD COLUMN IF NOT EXISTS usage_date DATE;

ALTER TABLE usage_logs ADD COLUMN IF NOT EXISTS request_id TEXT;

-- kq:no-transaction
CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_usage_logs_user_date ON usage_logs (user_id, usage_date);
