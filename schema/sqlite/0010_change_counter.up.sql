-- Library addition: the change counter behind the denial cache. One row
-- whose value moves whenever a change that can turn a denial into an
-- admission commits, whoever makes it (this library, another process, the
-- CLI, hand SQL): a subscription column of a user, a tier, a decrease of a
-- user's counters (a reset, a refund), a deleted usage row or user. A
-- service with the denial cache reads it before answering from memory and
-- drops every cached denial when it moved.
CREATE TABLE kauri_quota_change_counter (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    value   INTEGER NOT NULL
);

INSERT INTO kauri_quota_change_counter (id, value) VALUES (1, 0);

CREATE TRIGGER kauri_quota_changed_subscription
AFTER UPDATE OF subscription_tier, subscription_status, subscription_start_date, subscription_end_date,
                trial_end_date ON users
WHEN OLD.subscription_tier IS NOT NEW.subscription_tier
  OR OLD.subscription_status IS NOT NEW.subscription_status
  OR OLD.subscription_start_date IS NOT NEW.subscription_start_date
  OR OLD.subscription_end_date IS NOT NEW.subscription_end_date
  OR OLD.trial_end_date IS NOT NEW.trial_end_date
BEGIN
    UPDATE kauri_quota_change_counter SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER kauri_quota_changed_user_deleted AFTER DELETE ON users
BEGIN
    UPDATE kauri_quota_change_counter SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER kauri_quota_changed_tier_inserted AFTER INSERT ON subscription_tiers
BEGIN
    UPDATE kauri_quota_change_counter SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER kauri_quota_changed_tier_updated AFTER UPDATE ON subscription_tiers
BEGIN
    UPDATE kauri_quota_change_counter SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER kauri_quota_changed_tier_deleted AFTER DELETE ON subscription_tiers
BEGIN
    UPDATE kauri_quota_change_counter SET value = value + 1 WHERE id = 1;
END;

-- Only a decrease: consume and record only ever add, so the hot path never
-- fires it.
CREATE TRIGGER kauri_quota_changed_usage_decreased
AFTER UPDATE OF messages_today, tokens_today, messages_this_month, tokens_this_month ON user_usage
WHEN NEW.messages_today < OLD.messages_today
  OR NEW.tokens_today < OLD.tokens_today
  OR NEW.messages_this_month < OLD.messages_this_month
  OR NEW.tokens_this_month < OLD.tokens_this_month
BEGIN
    UPDATE kauri_quota_change_counter SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER kauri_quota_changed_usage_deleted AFTER DELETE ON user_usage
BEGIN
    UPDATE kauri_quota_change_counter SET value = value + 1 WHERE id = 1;
END;
