-- On PostgreSQL this version removes the record of the installed function
-- set. SQLite has nothing to remove; the version exists to keep one
-- numbering.
SELECT 1;
