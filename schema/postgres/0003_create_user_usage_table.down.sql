DROP TABLE user_usage;
