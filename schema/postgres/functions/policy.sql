-- kauri_quota function set, file policy.sql: the policy twins: pure functions that decide as src/core/policy.cpp does.
--
-- The server-side functions are repeatable, not a migration: every file of
-- schema/postgres/functions/ is embedded in the library, and `kauri-quota
-- migrate` reinstalls the whole set (CREATE OR REPLACE, one transaction,
-- under the migration lock) whenever its hash differs from the one recorded
-- in kauri_quota_function_set. Migration 0008 installed the 0.1.0 bodies;
-- this set supersedes them. The set's version (function_set_version in
-- src/postgres/function_set.hpp) is bumped whenever the calls change.
--
-- Rolling upgrades: hosts are upgraded one at a time, and a library keeps
-- working on a newer set that a newer library installed. So a new set must
-- stay compatible with the previous release's calls: keep every function,
-- its parameters and the kauri_quota_outcome columns that release uses; add
-- new functions (or new parameters with defaults) instead of changing them.
-- CREATE OR REPLACE cannot change a function's parameters or result type;
-- a change that needs that is a new function.
--
-- Errors raised with SQLSTATE class KQ are mapped by the library
-- (describe in src/postgres/connection.cpp): KQ001 unknown user, KQ002
-- unknown tier, KQ003 idempotency mismatch, KQ004 reservation not found,
-- KQ005 reservation closed, KQ006 user exists, KQ007 counter bound exceeded,
-- KQ008 a lifecycle transition is due (the library writes it and retries).
-- A function raises the code and the facts, never the words: DETAIL holds
-- the subject (the user, tier or reservation id; KQ007 the counter), HINT
-- a second fact (KQ005 'expired' the estimate, KQ007 the bound), and the
-- library words the message with src/core/error_text (the words SQLite
-- uses). MESSAGE stays what the previous release reads (KQ003 the stored
-- operation, KQ005 the state or 'expired').
-- (The header of 0008 lists KQ001-KQ006 only; 0008 cannot be corrected,
-- since a released migration is immutable and its checksum is compared.)
--
-- p_user is declared with the type of users.user_id, so the same functions
-- serve a UUID column (the original database) and a TEXT one.

-- Which limit admitting p_messages more messages and p_tokens more tokens
-- would break: 'daily', 'monthly', 'tokens' or 'none'.
-- twin: src/core/policy.cpp evaluate
CREATE OR REPLACE FUNCTION kauri_quota_evaluate(per_day BIGINT, per_month BIGINT, tokens_limit BIGINT, m_today BIGINT,
                                     m_month BIGINT, t_month BIGINT, p_messages BIGINT, p_tokens BIGINT)
RETURNS TEXT LANGUAGE sql IMMUTABLE AS $f$
    SELECT CASE
        WHEN p_messages > 0 AND per_day IS NOT NULL AND (per_day <= 0 OR m_today + p_messages > per_day) THEN 'daily'
        WHEN p_messages > 0 AND per_month IS NOT NULL AND (per_month <= 0 OR m_month + p_messages > per_month) THEN 'monthly'
        WHEN tokens_limit IS NOT NULL AND NOT (p_messages = 0 AND p_tokens = 0)
             AND (t_month >= tokens_limit OR t_month + p_tokens > tokens_limit) THEN 'tokens'
        ELSE 'none'
    END
$f$;

-- True when `used` is at or above `threshold` of `lim` (a zero limit is).
-- twin: src/core/policy.cpp reached
CREATE OR REPLACE FUNCTION kauri_quota_reached(used BIGINT, lim BIGINT, threshold DOUBLE PRECISION)
RETURNS BOOLEAN LANGUAGE sql IMMUTABLE AS $f$
    SELECT lim <= 0 OR used::float8 >= threshold * lim - abs(threshold * lim) * 1e-14
$f$;

-- True when usage going from `before` to `after` crosses `threshold` of
-- `lim` (never when there is no limit).
-- twin: src/core/policy.cpp warnings_crossed
CREATE OR REPLACE FUNCTION kauri_quota_crosses(before BIGINT, after BIGINT, lim BIGINT, threshold DOUBLE PRECISION)
RETURNS BOOLEAN LANGUAGE sql IMMUTABLE AS $f$
    SELECT lim IS NOT NULL AND NOT kauri_quota_reached(before, lim, threshold)
           AND kauri_quota_reached(after, lim, threshold)
$f$;

-- How much `used` may grow and stay below `threshold` of `lim`: NULL (no
-- bound) when it has already reached it or there is no limit. The smallest
-- integer that has reached it is the ceiling of the bound
-- kauri_quota_reached compares with, computed the same way.
-- twin: none in C++ (SQLite has no fast path); derived from kauri_quota_reached, which is src/core/policy.cpp reached
CREATE OR REPLACE FUNCTION kauri_quota_below(used BIGINT, lim BIGINT, threshold DOUBLE PRECISION)
RETURNS BIGINT LANGUAGE sql IMMUTABLE AS $f$
    SELECT CASE WHEN lim IS NULL OR kauri_quota_reached(used, lim, threshold) THEN NULL
                ELSE ceil(threshold * lim - abs(threshold * lim) * 1e-14)::bigint - 1 - used END
$f$;
