-- Daily usage counters (the original migration 5f20090c835c). One row per
-- user and day of the quota time zone; the month columns of a row hold the
-- month-to-date totals up to and including that day.
CREATE TABLE user_usage (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id              TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    usage_date           DATE NOT NULL,
    messages_today       INTEGER NOT NULL DEFAULT 0,
    messages_this_month  INTEGER NOT NULL DEFAULT 0,
    tokens_this_month    INTEGER NOT NULL DEFAULT 0,
    created_at           DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    updated_at           DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now'))
);

CREATE INDEX ix_user_usage_user_id ON user_usage (user_id);

CREATE INDEX ix_user_usage_usage_date ON user_usage (usage_date);

CREATE UNIQUE INDEX ix_user_usage_user_date ON user_usage (user_id, usage_date);
