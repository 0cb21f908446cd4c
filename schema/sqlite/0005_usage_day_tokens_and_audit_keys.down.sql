DROP INDEX IF EXISTS ix_usage_logs_user_date;

ALTER TABLE usage_logs DROP COLUMN request_id;

ALTER TABLE usage_logs DROP COLUMN usage_date;

ALTER TABLE user_usage DROP COLUMN tokens_today;
