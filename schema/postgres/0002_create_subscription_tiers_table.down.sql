DROP TABLE subscription_tiers;
