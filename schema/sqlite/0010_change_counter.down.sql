DROP TRIGGER IF EXISTS kauri_quota_changed_usage_deleted;
DROP TRIGGER IF EXISTS kauri_quota_changed_usage_decreased;
DROP TRIGGER IF EXISTS kauri_quota_changed_tier_deleted;
DROP TRIGGER IF EXISTS kauri_quota_changed_tier_updated;
DROP TRIGGER IF EXISTS kauri_quota_changed_tier_inserted;
DROP TRIGGER IF EXISTS kauri_quota_changed_user_deleted;
DROP TRIGGER IF EXISTS kauri_quota_changed_subscription;
DROP TABLE IF EXISTS kauri_quota_change_counter;
