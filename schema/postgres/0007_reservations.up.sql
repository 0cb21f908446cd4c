-- Library addition: reservations. A reservation counts one message and an
-- estimate of its tokens at once; commit settles the tokens to the actual
-- count in the reservation's own day, release refunds both, and one left
-- open past expires_at is settled at its estimate.
DO $kq$
DECLARE
    id_type text := (SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
                      WHERE a.attrelid = 'users'::regclass AND a.attname = 'user_id' AND NOT a.attisdropped);
BEGIN
    EXECUTE format($sql$
        CREATE TABLE kauri_quota_reservations (
            reservation_id    TEXT PRIMARY KEY,
            user_id           %s NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
            usage_date        DATE NOT NULL,
            messages          BIGINT NOT NULL,
            estimated_tokens  BIGINT NOT NULL,
            actual_tokens     BIGINT,
            state             VARCHAR(20) NOT NULL DEFAULT 'open',
            request_id        TEXT,
            created_at        TIMESTAMP NOT NULL,
            expires_at        TIMESTAMP NOT NULL,
            settled_at        TIMESTAMP
        )$sql$, id_type);
END
$kq$;

CREATE INDEX ix_kauri_quota_reservations_user_id ON kauri_quota_reservations (user_id);

CREATE INDEX ix_kauri_quota_reservations_open ON kauri_quota_reservations (expires_at) WHERE state = 'open';
