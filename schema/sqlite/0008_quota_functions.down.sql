-- On PostgreSQL this version removes the server-side functions that make
-- each operation one round trip. SQLite runs the same logic in process, so
-- there is nothing to remove; the version exists to keep one numbering.
SELECT 1;
