-- Audit trail (the original migration 64df4342ae35). The JSON column is
-- event_metadata, never metadata.
CREATE TABLE usage_logs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id          TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    event_type       VARCHAR(50) NOT NULL,
    messages_count   INTEGER NOT NULL DEFAULT 0,
    tokens_count     INTEGER NOT NULL DEFAULT 0,
    quota_tier       VARCHAR(20),
    request_ip       VARCHAR(45),
    user_agent       TEXT,
    event_metadata   TEXT,
    event_timestamp  DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now'))
);

CREATE INDEX ix_usage_logs_user_id ON usage_logs (user_id);

CREATE INDEX ix_usage_logs_event_type ON usage_logs (event_type);

CREATE INDEX ix_usage_logs_event_timestamp ON usage_logs (event_timestamp);

CREATE INDEX ix_usage_logs_user_event ON usage_logs (user_id, event_type);
