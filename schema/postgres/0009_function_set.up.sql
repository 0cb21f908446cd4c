-- The record of the installed function set (schema/postgres/functions/):
-- one row, written by `kauri-quota migrate` each time it installs the set.
--   version    the set's version (bumped when the calls change)
--   hash       the hash of the embedded text that was installed
--   functions  the names of the functions the set defines
--   live_hash  the hash of what the catalog then held for those functions
--              (pg_get_functiondef), so that a hand edit is detectable
-- The functions themselves are installed after the migrations, not here.
CREATE TABLE kauri_quota_function_set (
    id           SMALLINT PRIMARY KEY CHECK (id = 1),
    version      INTEGER NOT NULL,
    hash         TEXT NOT NULL,
    functions    TEXT[] NOT NULL,
    live_hash    TEXT NOT NULL,
    installed_at TIMESTAMP NOT NULL
);
