-- Daily usage counters (the original migration 5f20090c835c). One row per
-- user and day of the quota time zone; the month columns of a row hold the
-- month-to-date totals up to and including that day (64-bit counts: a
-- database created by the original system keeps its INTEGER columns, and a
-- count that does not fit them is refused). user_id takes the type
-- of users.user_id (UUID in the original database, TEXT when created here).
DO $kq$
DECLARE
    id_type text := (SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
                      WHERE a.attrelid = 'users'::regclass AND a.attname = 'user_id' AND NOT a.attisdropped);
BEGIN
    EXECUTE format($sql$
        CREATE TABLE user_usage (
            id                   SERIAL PRIMARY KEY,
            user_id              %s NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
            usage_date           DATE NOT NULL,
            messages_today       BIGINT NOT NULL DEFAULT 0,
            messages_this_month  BIGINT NOT NULL DEFAULT 0,
            tokens_this_month    BIGINT NOT NULL DEFAULT 0,
            created_at           TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'),
            updated_at           TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'UTC')
        )$sql$, id_type);
END
$kq$;

CREATE INDEX ix_user_usage_user_id ON user_usage (user_id);

CREATE INDEX ix_user_usage_usage_date ON user_usage (usage_date);

CREATE UNIQUE INDEX ix_user_usage_user_date ON user_usage (user_id, usage_date);
