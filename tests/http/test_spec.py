"""The spec's Tests 1-4 over HTTP, field by field, and the rest of the
contract: registration and login, tiers, upgrade, health, metrics, pages,
request logs and a graceful stop."""
import re
import sys
import unittest

import harness
from harness import unique_email

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
INSTANT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


class SpecTests(harness.ServiceTest, unittest.TestCase):
    def test_1_tiers_with_prices_limits_and_features(self):
        r = self.svc.get("/api/v1/subscription/tiers")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.headers["Content-Type"].startswith("application/json"))
        tiers = r.json()
        self.assertEqual([t["tier_id"] for t in tiers], ["free", "pro", "max", "enterprise"])
        by_id = {t["tier_id"]: t for t in tiers}
        self.assertEqual([t["price_fcfa"] for t in tiers], [0, 7000, 22000, 85000])
        self.assertEqual(by_id["free"]["messages_per_day"], 5)
        self.assertEqual(by_id["free"]["messages_per_month"], 150)
        self.assertEqual(by_id["free"]["tokens_per_month"], 100000)
        self.assertEqual(by_id["pro"]["messages_per_day"], 100)
        self.assertEqual(by_id["pro"]["messages_per_month"], 3000)
        self.assertEqual(by_id["max"]["messages_per_day"], 500)
        for key in ("messages_per_day", "messages_per_month", "tokens_per_month"):
            self.assertIsNone(by_id["enterprise"][key])
        self.assertEqual(by_id["free"]["name_fr"], "Gratuit")
        self.assertEqual(by_id["enterprise"]["name_fr"], "Entreprise")
        self.assertEqual([t["display_order"] for t in tiers], [0, 1, 2, 3])
        for t in tiers:
            self.assertEqual(set(t) >= {"tier_id", "name", "name_fr", "messages_per_day", "messages_per_month",
                                        "tokens_per_month", "price_fcfa", "features", "display_order"}, True)
            self.assertTrue(all(isinstance(v, bool) for v in t["features"].values()))
        self.assertFalse(by_id["free"]["features"].get("document_sourcing", False))
        self.assertTrue(by_id["pro"]["features"]["document_sourcing"])
        self.assertTrue(by_id["pro"]["features"]["pdf_generation"])
        self.assertTrue(by_id["max"]["features"]["priority_support"])
        self.assertTrue(by_id["enterprise"]["features"]["api_access"])

    def test_one_tier_and_hidden_or_unknown_tiers(self):
        r = self.svc.get("/api/v1/subscription/tier/pro")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["tier_id"], "pro")
        self.assertEqual(r.json()["price_fcfa"], 7000)
        for bad in ("gold", "PRO", "a%20b", "x" * 30, "%00"):
            r = self.svc.get("/api/v1/subscription/tier/" + bad)
            self.assertEqual(r.status, 404, bad)
            self.assertEqual(r.json(), {"detail": "Tier not found"})
        self.db.sql("UPDATE subscription_tiers SET is_visible = %s WHERE tier_id = 'max'"
                    % ("0" if self.db.backend == "sqlite" else "false"))
        self.assertEqual(self.svc.get("/api/v1/subscription/tier/max").status, 404)
        ids = [t["tier_id"] for t in self.svc.get("/api/v1/subscription/tiers").json()]
        self.assertEqual(ids, ["free", "pro", "enterprise"])

    def test_2_registration_gives_the_free_plan(self):
        r = self.svc.register("Test_Quota@Kauri.com", "TestPassword123")
        self.assertEqual(r.status, 201, r.body)
        u = r.json()
        self.assertRegex(u["user_id"], UUID)
        self.assertEqual(u["email"], "test_quota@kauri.com")
        self.assertEqual(u["subscription_tier"], "free")
        self.assertEqual(u["subscription_status"], "active")
        self.assertRegex(u["subscription_start_date"], INSTANT)
        # In the library's users table, with its subscription, in one go.
        row = self.db.sql("SELECT subscription_tier, subscription_status FROM users WHERE user_id = '%s'"
                          % u["user_id"])
        self.assertEqual(row, "free|active")
        # The password is stored as argon2id, in the service's own table.
        h = self.db.sql("SELECT password_hash FROM kauri_user_credentials WHERE user_id = '%s'" % u["user_id"])
        self.assertTrue(h.startswith("$argon2id$"), h)
        self.assertNotIn("TestPassword123", self.svc.log())
        # The same address again, in any case: 409.
        r = self.svc.register("TEST_QUOTA@kauri.com", "AnotherPassword1")
        self.assertEqual(r.status, 409)
        self.assertEqual(r.json(), {"detail": "Email already registered"})

    def test_login_answers_the_spec_fields(self):
        email = unique_email()
        reg = self.svc.register(email).json()
        r = self.svc.login(email.upper())
        self.assertEqual(r.status, 200, r.body)
        body = r.json()
        self.assertEqual(set(body), {"access_token", "token_type", "expires_in", "user"})
        self.assertEqual(body["token_type"], "bearer")
        self.assertEqual(body["expires_in"], 3600)
        self.assertEqual(body["user"], {"user_id": reg["user_id"], "email": email, "subscription_tier": "free",
                                        "subscription_status": "active"})
        self.assertEqual(body["access_token"].count("."), 2)
        self.assertNotIn(body["access_token"], self.svc.log())
        wrong = self.svc.login(email, "WrongPassword123")
        unknown = self.svc.login(unique_email("nobody"))
        self.assertEqual(wrong.status, 401)
        self.assertEqual(unknown.status, 401)
        self.assertEqual(wrong.json(), unknown.json())
        self.assertEqual(wrong.json(), {"detail": "Incorrect email or password"})

    def test_3_quota_of_a_fresh_free_user(self):
        token, user_id = self.svc.token_for(unique_email())
        r = self.svc.get("/api/v1/subscription/quota", token=token)
        self.assertEqual(r.status, 200, r.body)
        q = r.json()
        expected = {
            "user_id": user_id,
            "subscription_tier": "free",
            "tier_name": "Free",
            "tier_name_fr": "Gratuit",
            "messages_per_day_limit": 5,
            "messages_per_month_limit": 150,
            "messages_today": 0,
            "messages_remaining_today": 5,
            "messages_remaining_month": 150,
            "can_send_message": True,
            "is_quota_exceeded": False,
            "needs_upgrade": False,
            "warning_threshold_reached": False,
        }
        for key, value in expected.items():
            self.assertIn(key, q)
            self.assertEqual(q[key], value, key)
            self.assertIs(type(q[key]), type(value), key)
        # The library's additional fields.
        self.assertEqual(q["subscription_status"], "active")
        self.assertEqual(q["messages_this_month"], 0)
        self.assertEqual(q["tokens_per_month_limit"], 100000)
        self.assertEqual(q["tokens_today"], 0)
        self.assertEqual(q["tokens_this_month"], 0)
        self.assertEqual(q["tokens_remaining_month"], 100000)
        self.assertRegex(q["usage_date"], r"^\d{4}-\d\d-\d\d$")
        self.assertRegex(q["daily_resets_at"], INSTANT)
        self.assertRegex(q["monthly_resets_at"], INSTANT)
        self.assertTrue(q["daily_resets_at"].endswith("T00:00:00.000000Z"))
        self.assertEqual(r.headers["Cache-Control"], "no-store")

    def test_4_usage_stats_with_percentages_and_warnings(self):
        token, user_id = self.svc.token_for(unique_email())
        r = self.svc.get("/api/v1/subscription/usage/stats", token=token)
        self.assertEqual(r.status, 200, r.body)
        s = r.json()
        self.assertEqual(s["quota"]["user_id"], user_id)
        self.assertEqual(s["quota"]["messages_remaining_today"], 5)
        self.assertEqual(s["daily_percent"], 0)
        self.assertEqual(s["monthly_percent"], 0)
        self.assertEqual(s["tokens_percent"], 0)
        self.assertEqual(s["warnings"], [])
        # 4 of 5 messages today (written as a chat host would, through the
        # library's tables): 80% raises the warning.
        today = s["quota"]["usage_date"]
        self.db.sql("INSERT INTO user_usage (user_id, usage_date, messages_today, messages_this_month, "
                    "tokens_this_month, tokens_today) VALUES ('%s', '%s', 4, 4, 0, 0)" % (user_id, today))
        s = self.svc.get("/api/v1/subscription/usage/stats", token=token).json()
        self.assertAlmostEqual(s["daily_percent"], 80.0)
        self.assertTrue(s["quota"]["warning_threshold_reached"])
        self.assertEqual(len(s["warnings"]), 1)
        q = self.svc.get("/api/v1/subscription/quota", token=token).json()
        self.assertEqual(q["messages_today"], 4)
        self.assertEqual(q["messages_remaining_today"], 1)

    def test_upgrade_applies_at_once(self):
        token, user_id = self.svc.token_for(unique_email())
        r = self.svc.post("/api/v1/subscription/upgrade", {"target_tier": "pro"}, token=token)
        self.assertEqual(r.status, 200, r.body)
        u = r.json()
        self.assertIs(u["success"], True)
        self.assertIsInstance(u["message"], str)
        self.assertEqual(u["subscription_tier"], "pro")
        self.assertEqual(u["subscription_status"], "active")
        self.assertEqual(u["subscription"]["user_id"], user_id)
        q = self.svc.get("/api/v1/subscription/quota", token=token).json()
        self.assertEqual(q["subscription_tier"], "pro")
        self.assertEqual(q["messages_per_day_limit"], 100)
        again = self.svc.post("/api/v1/subscription/upgrade", {"target_tier": "pro"}, token=token).json()
        self.assertIs(again["success"], False)
        self.assertEqual(again["subscription_tier"], "pro")
        r = self.svc.post("/api/v1/subscription/upgrade", {"target_tier": "enterprise"}, token=token)
        q = self.svc.get("/api/v1/subscription/quota", token=token).json()
        self.assertIsNone(q["messages_per_day_limit"])
        self.assertIsNone(q["messages_remaining_today"])

    def test_health_and_metrics(self):
        r = self.svc.get("/healthz")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json(), {"status": "ok"})
        token, user_id = self.svc.token_for(unique_email())
        self.svc.get("/api/v1/subscription/quota", token=token)
        self.svc.get("/api/v1/subscription/tier/pro")
        r = self.svc.get("/metrics")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.headers["Content-Type"].startswith("text/plain; version=0.0.4"))
        text = r.body
        self.assertTrue(text.endswith("\n"))
        self.assertIn('kauri_http_requests_total{method="GET",route="/api/v1/subscription/quota",status="200"} 1',
                      text)
        self.assertIn('route="/api/v1/subscription/tier/{tier_id}",status="200"} 1', text)
        self.assertIn("kauri_http_request_duration_seconds_bucket", text)
        self.assertIn("kauri_quota_call_duration_seconds", text)
        self.assertNotIn(user_id, text)
        self.assertNotIn("/tier/pro", text)
        # One TYPE line per metric name.
        types = [l.split()[2] for l in text.splitlines() if l.startswith("# TYPE")]
        self.assertEqual(len(types), len(set(types)))

    def test_pages_are_served_from_the_embedded_folder(self):
        for path, asset in (("/", "pricing.html"), ("/account", "account.html")):
            r = self.svc.get(path, headers={"Accept-Language": "fr-SN,fr;q=0.9,en;q=0.5"})
            if r.status == 404:
                # The folder has no such page yet: a JSON 404, never a 500.
                self.assertEqual(r.json(), {"detail": "Not found"})
                continue
            self.assertEqual(r.status, 200, path)
            self.assertTrue(r.headers["Content-Type"].startswith("text/html"))
            self.assertEqual(r.headers["Cache-Control"], "no-store")
            self.assertIn("default-src 'self'", r.headers["Content-Security-Policy"])
            self.assertNotIn("{{lang}}", r.body)
        self.assertEqual(self.svc.get("/static/no-such-file.js").status, 404)
        self.assertEqual(self.svc.get("/static/../main.cpp").status, 404)
        self.assertEqual(self.svc.get("/nowhere").status, 404)

    def test_keep_alive_requests_are_not_held_back_by_nagle(self):
        import http.client
        import signal
        import time
        conn = http.client.HTTPConnection("127.0.0.1", self.svc.port, timeout=30)
        conn.request("GET", "/metrics")
        conn.getresponse().read()
        took = []
        for _ in range(21):
            started = time.monotonic()
            conn.request("GET", "/metrics")
            r = conn.getresponse()
            r.read()
            took.append(time.monotonic() - started)
            self.assertEqual(r.status, 200)
        conn.close()
        # Headers and body are two writes: with Nagle on, every answer would
        # wait for the client's delayed ACK (about 40 ms each). The median
        # holds that apart from a loaded machine's occasional slow answer.
        self.assertLess(sorted(took)[10], 0.03, took)

    def test_request_log_names_route_patterns_never_secrets(self):
        token, user_id = self.svc.token_for(unique_email(), "SecretPassw0rd!")
        self.svc.get("/api/v1/subscription/tier/enterprise")
        self.svc.get("/api/v1/subscription/quota", token=token)
        # A request is logged just after its answer is sent.
        import time
        deadline = time.monotonic() + 10
        while "GET /api/v1/subscription/quota 200" not in self.svc.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        log = self.svc.log()
        self.assertRegex(log, r"POST /api/v1/auth/register 201 \d+\.\d{3}ms")
        self.assertRegex(log, r"GET /api/v1/subscription/tier/\{tier_id\} 200 ")
        self.assertRegex(log, r"GET /api/v1/subscription/quota 200 ")
        for secret in ("SecretPassw0rd!", token, token.split(".")[2], user_id, "enterprise"):
            self.assertNotIn(secret, log)


class StartupTests(unittest.TestCase):
    def setUp(self):
        self.db = harness.Database()

    def tearDown(self):
        self.db.drop()

    def run_service(self, *args):
        import subprocess
        return subprocess.run([harness.SERVICE, "--db", self.db.url, "--listen", "127.0.0.1:0", *args],
                              capture_output=True, text=True, timeout=60)

    def test_refuses_to_start_without_a_strong_secret(self):
        import os
        short = os.path.join(self.db.tmp, "short")
        with open(short, "w") as f:
            f.write("x" * 31 + "\n")
        r = self.run_service("--migrate", "--jwt-secret-file", short)
        self.assertEqual(r.returncode, 1)
        self.assertIn("at least 32", r.stderr)
        self.assertEqual(r.stdout, "")
        r = self.run_service("--migrate")
        self.assertEqual(r.returncode, 1)
        self.assertIn("--jwt-secret-file", r.stderr)

    def test_refuses_an_unmigrated_database_and_reverts_its_own_migration(self):
        import os
        import secrets
        secret = os.path.join(self.db.tmp, "secret")
        with open(secret, "wb") as f:
            f.write(secrets.token_hex(32).encode())
        r = self.run_service("--jwt-secret-file", secret)
        self.assertEqual(r.returncode, 1)
        self.assertIn("--migrate", r.stderr)
        svc = harness.Service(self.db, secret=secrets.token_hex(20).encode())
        self.assertEqual(svc.register(unique_email()).status, 201)
        self.assertEqual(svc.stop(), 0)
        r = self.run_service("--migrate-down")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.db.sql("SELECT count(*) FROM kauri_user_service_migrations"), "0")
        # The library's tables and rows are untouched.
        self.assertEqual(self.db.sql("SELECT count(*) FROM users"), "1")
        r = self.run_service("--jwt-secret-file", secret)
        self.assertEqual(r.returncode, 1)
        svc = harness.Service(self.db)
        self.assertEqual(svc.get("/healthz").status, 200)
        self.assertEqual(svc.stop(signal_name_int()), 0)

    def test_usage_errors_exit_2(self):
        self.assertEqual(self.run_service("--nope").returncode, 2)
        self.assertEqual(self.run_service("--listen", "nowhere").returncode, 2)
        self.assertEqual(self.run_service("--token-ttl", "forever").returncode, 2)
        self.assertEqual(self.run_service("--threads", "0").returncode, 2)
        r = self.run_service("--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("KAURI_JWT_SECRET_FILE", r.stdout)


def signal_name_int():
    import signal
    return signal.SIGINT


class GracefulStopTests(unittest.TestCase):
    def test_sigterm_finishes_the_request_in_flight_and_exits_0(self):
        import http.client
        import signal
        import json
        import time
        import urllib.error
        import urllib.request
        db = harness.Database()
        try:
            svc = harness.Service(db)
            # A request is in flight once the service has accepted its
            # connection and started reading it; a connection still in the
            # listen backlog when the signal comes is refused. So: one answered
            # request first (the connection is the service's now), then a
            # registration whose body is held back until after the signal.
            conn = http.client.HTTPConnection("127.0.0.1", svc.port, timeout=30)
            conn.request("GET", "/healthz")
            first = conn.getresponse()
            first.read()
            self.assertEqual(first.status, 200)
            body = json.dumps({"email": unique_email(), "password": "TestPassword123"}).encode()
            conn.putrequest("POST", "/api/v1/auth/register")
            conn.putheader("Content-Type", "application/json")
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body[:10])
            time.sleep(0.3)  # the service is reading the body
            svc.proc.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            conn.send(body[10:])
            r = conn.getresponse()
            self.assertEqual(r.status, 201, r.read())
            conn.close()
            self.assertEqual(svc.stop(), 0)
            # No new connections afterwards.
            with self.assertRaises((urllib.error.URLError, ConnectionError)):
                urllib.request.urlopen(svc.base + "/healthz", timeout=5)
        finally:
            db.drop()


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"] + sys.argv[1:])
