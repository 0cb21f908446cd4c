-- On PostgreSQL this version adds the record of the installed server-side
-- function set. SQLite runs the same logic in process, so there is nothing
-- to record; the version exists to keep one numbering.
SELECT 1;
