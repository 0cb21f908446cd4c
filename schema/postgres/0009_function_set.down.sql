-- The functions stay: 0008's down script removes them.
DROP TABLE IF EXISTS kauri_quota_function_set;
