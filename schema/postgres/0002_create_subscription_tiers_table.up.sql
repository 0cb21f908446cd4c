-- Subscription tiers (the original migration b956f692ab8b). A NULL limit
-- means unlimited; 0 means zero. features is a JSON object of booleans.
-- Limits are 64-bit here; an adopted database keeps its INTEGER columns.
CREATE TABLE subscription_tiers (
    tier_id             VARCHAR(20) PRIMARY KEY,
    name                VARCHAR(50) NOT NULL,
    name_fr             VARCHAR(50) NOT NULL,
    messages_per_day    BIGINT CHECK (messages_per_day IS NULL OR messages_per_day >= 0),
    messages_per_month  BIGINT CHECK (messages_per_month IS NULL OR messages_per_month >= 0),
    tokens_per_month    BIGINT CHECK (tokens_per_month IS NULL OR tokens_per_month >= 0),
    price_fcfa          BIGINT NOT NULL DEFAULT 0 CHECK (price_fcfa >= 0),
    features            JSON NOT NULL DEFAULT '{}',
    display_order       INTEGER NOT NULL DEFAULT 0,
    is_visible          BOOLEAN NOT NULL DEFAULT TRUE,
    created_at          TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'),
    updated_at          TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'UTC')
);

CREATE INDEX ix_subscription_tiers_tier_id ON subscription_tiers (tier_id);

INSERT INTO subscription_tiers
    (tier_id, name, name_fr, messages_per_day, messages_per_month, tokens_per_month, price_fcfa, features, display_order, is_visible)
VALUES
    ('free', 'Free', 'Gratuit', 5, 150, 100000, 0,
     '{"document_sourcing":false,"pdf_generation":false,"priority_support":false,"api_access":false}', 0, TRUE),
    ('pro', 'Pro', 'Pro', 100, 3000, 3000000, 7000,
     '{"document_sourcing":true,"pdf_generation":true,"priority_support":false,"api_access":false}', 1, TRUE),
    ('max', 'Max', 'Max', 500, 15000, 15000000, 22000,
     '{"document_sourcing":true,"pdf_generation":true,"priority_support":true,"api_access":false}', 2, TRUE),
    ('enterprise', 'Enterprise', 'Entreprise', NULL, NULL, NULL, 85000,
     '{"document_sourcing":true,"pdf_generation":true,"priority_support":true,"api_access":true}', 3, TRUE);
