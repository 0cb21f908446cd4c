DROP INDEX IF EXISTS ix_usage_logs_user_date;

ALTER TABLE usage_logs DROP COLUMN IF EXISTS request_id;

ALTER TABLE usage_logs DROP COLUMN IF EXISTS usage_date;

ALTER TABLE user_usage DROP COLUMN IF EXISTS tokens_today;
