-- Library addition: reservations. A reservation counts one message and an
-- estimate of its tokens at once; commit settles the tokens to the actual
-- count in the reservation's own day, release refunds both, and one left
-- open past expires_at is settled at its estimate.
CREATE TABLE kauri_quota_reservations (
    reservation_id    TEXT PRIMARY KEY NOT NULL,
    user_id           TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    usage_date        DATE NOT NULL,
    messages          INTEGER NOT NULL,
    estimated_tokens  INTEGER NOT NULL,
    actual_tokens     INTEGER,
    state             VARCHAR(20) NOT NULL DEFAULT 'open',
    request_id        TEXT,
    created_at        DATETIME NOT NULL,
    expires_at        DATETIME NOT NULL,
    settled_at        DATETIME
);

CREATE INDEX ix_kauri_quota_reservations_user_id ON kauri_quota_reservations (user_id);

CREATE INDEX ix_kauri_quota_reservations_open ON kauri_quota_reservations (expires_at) WHERE state = 'open';
