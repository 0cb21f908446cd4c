-- The functions 0008 created stay: 0008's down script removes them. What
-- only the repeatable set (schema/postgres/functions/) added goes here, so
-- that 0008's unqualified DROP FUNCTION names stay unambiguous:
-- kauri_quota_consume's 16-argument form (p_shadow, set version 3), whose
-- first argument has the type of users.user_id (text, or uuid in an
-- adopted database).
DO $d$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT oid::regprocedure FROM pg_proc
             WHERE proname = 'kauri_quota_consume' AND pronargs = 16 AND pg_function_is_visible(oid) LOOP
        EXECUTE 'DROP FUNCTION ' || f::text;
    END LOOP;
END
$d$;
DROP TABLE IF EXISTS kauri_quota_function_set;
