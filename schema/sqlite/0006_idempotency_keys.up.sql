-- Library addition: idempotency keys. A key is stored in the same
-- transaction as the usage it guards, so a retried request_id returns the
-- original outcome and never counts twice.
CREATE TABLE kauri_quota_idempotency_keys (
    user_id        TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    request_id     TEXT NOT NULL,
    operation      VARCHAR(20) NOT NULL,
    fingerprint    TEXT NOT NULL,
    allowed        BOOLEAN NOT NULL,
    denied_by      VARCHAR(20),
    reservation_id TEXT,
    usage_date     DATE NOT NULL,
    created_at     DATETIME NOT NULL,
    PRIMARY KEY (user_id, request_id)
);

CREATE INDEX ix_kauri_quota_idempotency_keys_created_at ON kauri_quota_idempotency_keys (created_at);
