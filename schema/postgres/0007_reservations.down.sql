DROP TABLE kauri_quota_reservations;
