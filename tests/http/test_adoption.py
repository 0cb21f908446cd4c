"""Adoption of a database built like the original one: its users table has
the original service's hashed_password column with bcrypt "$2b$" hashes as
passlib wrote them. An existing user logs in with its old password, keeps
its id, and is rehashed to argon2id in the service's own table; the
original column is left as it was."""
import sys
import unittest

import bcrypt  # Debian python3-bcrypt, the library passlib uses for "$2b$"

import harness
from harness import unique_email

ALICE = "7336840a-b662-428b-b912-ffcf4dd0635d"
HENRI = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"

POSTGRES_ORIGINAL = """
CREATE TABLE users (
    user_id UUID PRIMARY KEY, email VARCHAR(255) NOT NULL UNIQUE, hashed_password VARCHAR(255) NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT now(),
    subscription_tier VARCHAR(20) NOT NULL DEFAULT 'free', subscription_status VARCHAR(20) NOT NULL DEFAULT 'active',
    subscription_start_date TIMESTAMP, subscription_end_date TIMESTAMP, trial_end_date TIMESTAMP);
CREATE INDEX ix_users_subscription_tier ON users (subscription_tier);
CREATE INDEX ix_users_subscription_status ON users (subscription_status);
CREATE TABLE subscription_tiers (
    tier_id VARCHAR(20) PRIMARY KEY, name VARCHAR(50) NOT NULL, name_fr VARCHAR(50) NOT NULL,
    messages_per_day INTEGER, messages_per_month INTEGER, tokens_per_month INTEGER,
    price_fcfa INTEGER NOT NULL DEFAULT 0, features JSON NOT NULL DEFAULT '{}',
    display_order INTEGER NOT NULL DEFAULT 0, is_visible BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMP NOT NULL DEFAULT now(), updated_at TIMESTAMP NOT NULL DEFAULT now());
CREATE INDEX ix_subscription_tiers_tier_id ON subscription_tiers (tier_id);
INSERT INTO subscription_tiers (tier_id, name, name_fr, messages_per_day, messages_per_month, tokens_per_month,
                                price_fcfa, features, display_order) VALUES
 ('free', 'Free', 'Gratuit', 5, 150, 100000, 0, '{"document_sourcing": false, "pdf_generation": false}', 0),
 ('pro', 'Pro', 'Pro', 100, 3000, 3000000, 7000, '{"document_sourcing": true, "pdf_generation": true}', 1),
 ('max', 'Max', 'Max', 500, 15000, 15000000, 22000,
  '{"document_sourcing": true, "pdf_generation": true, "priority_support": true}', 2),
 ('enterprise', 'Enterprise', 'Entreprise', NULL, NULL, NULL, 85000,
  '{"document_sourcing": true, "pdf_generation": true, "priority_support": true, "api_access": true}', 3);
CREATE TABLE user_usage (
    id SERIAL PRIMARY KEY, user_id UUID NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    usage_date DATE NOT NULL, messages_today INTEGER NOT NULL DEFAULT 0,
    messages_this_month INTEGER NOT NULL DEFAULT 0, tokens_this_month INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL DEFAULT now(), updated_at TIMESTAMP NOT NULL DEFAULT now());
CREATE INDEX ix_user_usage_user_id ON user_usage (user_id);
CREATE INDEX ix_user_usage_usage_date ON user_usage (usage_date);
CREATE UNIQUE INDEX ix_user_usage_user_date ON user_usage (user_id, usage_date);
CREATE TABLE usage_logs (
    id SERIAL PRIMARY KEY, user_id UUID NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    event_type VARCHAR(50) NOT NULL, messages_count INTEGER NOT NULL DEFAULT 0,
    tokens_count INTEGER NOT NULL DEFAULT 0, quota_tier VARCHAR(20), request_ip VARCHAR(45),
    user_agent VARCHAR(500), event_metadata JSON, event_timestamp TIMESTAMP NOT NULL DEFAULT now());
CREATE INDEX ix_usage_logs_user_id ON usage_logs (user_id);
CREATE INDEX ix_usage_logs_event_type ON usage_logs (event_type);
CREATE INDEX ix_usage_logs_event_timestamp ON usage_logs (event_timestamp);
CREATE INDEX ix_usage_logs_user_event ON usage_logs (user_id, event_type);
CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY);
INSERT INTO alembic_version VALUES ('64df4342ae35');
"""

# On SQLite, a host's own users table before the library's migrations (the
# original service ran on PostgreSQL; SQLite cannot drop a NOT NULL in place,
# so a host table there must allow users without an original hash).
SQLITE_ORIGINAL = """
CREATE TABLE users (user_id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE, hashed_password TEXT,
                    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)
"""


def passlib_hash(password):
    # passlib's bcrypt handler writes "$2b$" with 12 rounds by default; 4
    # rounds keep the test fast and change nothing in the format.
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4, prefix=b"2b")).decode()


class AdoptionTests(unittest.TestCase):
    def setUp(self):
        self.db = harness.Database()
        script = POSTGRES_ORIGINAL if self.db.backend == "postgresql" else SQLITE_ORIGINAL
        for statement in [s for s in script.split(";\n") if s.strip()]:
            self.db.sql(statement)
        self.alice_hash = passlib_hash("AlicePassword1")
        self.db.sql("INSERT INTO users (user_id, email, hashed_password) VALUES ('%s', 'Test_Quota@kauri.com', '%s')"
                    % (ALICE, self.alice_hash))
        self.db.sql("INSERT INTO users (user_id, email, hashed_password) VALUES ('%s', 'henri@example.com', '%s')"
                    % (HENRI, passlib_hash("HenriPassword1")))
        self.assertTrue(self.alice_hash.startswith("$2b$04$"))
        self.svc = harness.Service(self.db)  # --migrate adopts the database

    def tearDown(self):
        status = self.svc.stop()
        log = self.svc.log()
        self.db.drop()
        self.assertEqual(status, 0)
        self.assertNotIn(" 500 ", log)

    def test_an_original_user_logs_in_with_its_old_password_and_is_rehashed(self):
        self.assertEqual(self.svc.login("test_quota@kauri.com", "WrongPassword1").status, 401)
        self.assertEqual(self.db.sql("SELECT count(*) FROM kauri_user_credentials"), "0")
        r = self.svc.login("test_quota@kauri.com", "AlicePassword1")
        self.assertEqual(r.status, 200, r.body)
        body = r.json()
        self.assertEqual(body["user"]["user_id"], ALICE)
        self.assertEqual(body["user"]["subscription_tier"], "free")
        self.assertEqual(body["user"]["subscription_status"], "active")
        stored = self.db.sql("SELECT user_id, email, password_hash FROM kauri_user_credentials").split("|")
        self.assertEqual(stored[0], ALICE)
        self.assertEqual(stored[1], "test_quota@kauri.com")
        self.assertTrue(stored[2].startswith("$argon2id$"), stored[2])
        # The original column is not touched.
        self.assertEqual(self.db.sql("SELECT hashed_password FROM users WHERE user_id = '%s'" % ALICE),
                         self.alice_hash)
        # Later logins use the new hash; the token reaches the original user.
        r = self.svc.login("TEST_QUOTA@kauri.com", "AlicePassword1")
        self.assertEqual(r.status, 200)
        q = self.svc.get("/api/v1/subscription/quota", token=r.json()["access_token"])
        self.assertEqual(q.status, 200)
        self.assertEqual(q.json()["user_id"], ALICE)
        self.assertEqual(self.svc.login("test_quota@kauri.com", "WrongPassword1").status, 401)
        # The other original user is adopted on its own first login only.
        self.assertEqual(self.db.sql("SELECT count(*) FROM kauri_user_credentials"), "1")
        self.assertEqual(self.svc.login("henri@example.com", "HenriPassword1").status, 200)
        self.assertEqual(self.db.sql("SELECT count(*) FROM kauri_user_credentials"), "2")

    def test_an_original_email_cannot_be_registered_again(self):
        r = self.svc.register("henri@EXAMPLE.com", "SomethingElse1")
        self.assertEqual(r.status, 409)
        self.assertEqual(self.svc.login("henri@example.com", "SomethingElse1").status, 401)
        r = self.svc.register(unique_email("new"))
        self.assertEqual(r.status, 201, r.body)
        # Users registered here have no original hash.
        self.assertEqual(self.db.sql("SELECT count(*) FROM users WHERE hashed_password IS NULL"), "1")


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"] + sys.argv[1:])
