-- Library addition: idempotency keys. A key is stored in the same
-- transaction as the usage it guards, so a retried request_id returns the
-- original outcome and never counts twice. The library also keys its own
-- retries, so that a commit whose acknowledgement was lost is not applied
-- twice.
DO $kq$
DECLARE
    id_type text := (SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
                      WHERE a.attrelid = 'users'::regclass AND a.attname = 'user_id' AND NOT a.attisdropped);
BEGIN
    EXECUTE format($sql$
        CREATE TABLE kauri_quota_idempotency_keys (
            user_id        %s NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
            request_id     TEXT NOT NULL,
            operation      VARCHAR(20) NOT NULL,
            fingerprint    TEXT NOT NULL,
            allowed        BOOLEAN NOT NULL,
            denied_by      VARCHAR(20),
            reservation_id TEXT,
            usage_date     DATE NOT NULL,
            created_at     TIMESTAMP NOT NULL,
            PRIMARY KEY (user_id, request_id)
        )$sql$, id_type);
END
$kq$;

CREATE INDEX ix_kauri_quota_idempotency_keys_created_at ON kauri_quota_idempotency_keys (created_at);
