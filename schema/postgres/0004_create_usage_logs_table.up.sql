-- Audit trail (the original migration 64df4342ae35). The JSON column is
-- event_metadata, never metadata.
DO $kq$
DECLARE
    id_type text := (SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
                      WHERE a.attrelid = 'users'::regclass AND a.attname = 'user_id' AND NOT a.attisdropped);
BEGIN
    EXECUTE format($sql$
        CREATE TABLE usage_logs (
            id               SERIAL PRIMARY KEY,
            user_id          %s NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
            event_type       VARCHAR(50) NOT NULL,
            messages_count   BIGINT NOT NULL DEFAULT 0,
            tokens_count     BIGINT NOT NULL DEFAULT 0,
            quota_tier       VARCHAR(20),
            request_ip       VARCHAR(45),
            user_agent       VARCHAR(1024),
            event_metadata   JSON,
            event_timestamp  TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'UTC')
        )$sql$, id_type);
END
$kq$;

CREATE INDEX ix_usage_logs_user_id ON usage_logs (user_id);

CREATE INDEX ix_usage_logs_event_type ON usage_logs (event_type);

CREATE INDEX ix_usage_logs_event_timestamp ON usage_logs (event_timestamp);

CREATE INDEX ix_usage_logs_user_event ON usage_logs (user_id, event_type);
