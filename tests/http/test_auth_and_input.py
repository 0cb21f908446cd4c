"""Bearer tokens (every way a token can be wrong answers 401 with
WWW-Authenticate), a token reaches only its own user's data, bad bodies get
4xx and change nothing, and 32 concurrent clients all get correct answers."""
import base64
import hashlib
import hmac
import http.client
import json
import sys
import threading
import time
import unittest

import jwt  # Debian python3-jwt: tokens minted by another implementation

import harness
from harness import unique_email

QUOTA = "/api/v1/subscription/quota"


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header, payload, key):
    signing_input = b64(json.dumps(header).encode()) + "." + b64(json.dumps(payload).encode())
    sig = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64(sig)


class AuthTests(harness.ServiceTest, unittest.TestCase):
    def assert_401(self, r, invalid_token=True):
        self.assertEqual(r.status, 401, r.body)
        self.assertIn("detail", r.json())
        challenge = r.headers["WWW-Authenticate"]
        self.assertTrue(challenge.startswith("Bearer"), challenge)
        if invalid_token:
            self.assertIn('error="invalid_token"', challenge)

    def test_every_bad_token_is_401(self):
        token, user_id = self.svc.token_for(unique_email())
        key = self.svc.secret
        now = int(time.time())
        self.assertEqual(self.svc.get(QUOTA, token=token).status, 200)
        self.assert_401(self.svc.get(QUOTA), invalid_token=False)
        self.assert_401(self.svc.get(QUOTA, headers={"Authorization": "Basic dXNlcjpwYXNz"}), invalid_token=False)
        self.assert_401(self.svc.get(QUOTA, headers={"Authorization": "Token " + token}), invalid_token=False)
        self.assert_401(self.svc.get(QUOTA, headers={"Authorization": "Bearer"}), invalid_token=False)
        self.assertEqual(self.svc.get(QUOTA, headers={"Authorization": "bearer " + token}).status, 200)
        self.assert_401(self.svc.get(QUOTA, token="not-a-token"))
        h, p, s = token.split(".")
        payload = json.loads(base64.urlsafe_b64decode(p + "=="))
        other = dict(payload, sub="00000000-0000-4000-8000-000000000000")
        self.assert_401(self.svc.get(QUOTA, token=h + "." + b64(json.dumps(other).encode()) + "." + s))
        self.assert_401(self.svc.get(QUOTA, token=h + "." + p + "." + ("A" if s[0] != "A" else "B") + s[1:]))
        self.assert_401(self.svc.get(QUOTA, token=h + "." + p + "."))
        self.assert_401(self.svc.get(QUOTA, token=token + "=="))
        claims = {"sub": user_id, "iat": now, "exp": now + 600}
        self.assertEqual(self.svc.get(QUOTA, token=forge({"alg": "HS256", "typ": "JWT"}, claims, key)).status, 200)
        self.assert_401(self.svc.get(QUOTA, token=forge({"alg": "none"}, claims, key)))
        self.assert_401(self.svc.get(QUOTA, token=b64(b'{"alg":"none"}') + "." + b64(json.dumps(claims).encode())
                                     + "."))
        self.assert_401(self.svc.get(QUOTA, token=jwt.encode(claims, key, algorithm="HS512")))
        self.assert_401(self.svc.get(QUOTA, token=forge({"alg": "hs256"}, claims, key)))
        self.assert_401(self.svc.get(QUOTA, token=jwt.encode(claims, b"another secret of 32 bytes......",
                                                             algorithm="HS256")))
        # PyJWT's own HS256 token with the shared secret is accepted...
        self.assertEqual(self.svc.get(QUOTA, token=jwt.encode(claims, key, algorithm="HS256")).status, 200)
        # ...but not once expired, nor before nbf / iat (beyond the leeway).
        self.assert_401(self.svc.get(QUOTA, token=jwt.encode(dict(claims, exp=now - 120), key, algorithm="HS256")))
        self.assert_401(self.svc.get(QUOTA, token=jwt.encode(dict(claims, nbf=now + 600), key, algorithm="HS256")))
        self.assert_401(self.svc.get(QUOTA, token=jwt.encode(dict(claims, iat=now + 600), key, algorithm="HS256")))
        self.assert_401(self.svc.get(QUOTA, token=jwt.encode({"sub": user_id}, key, algorithm="HS256")))
        self.assert_401(self.svc.get(QUOTA, token="a." * 3000 + "b"))
        for path in ("/api/v1/subscription/usage/stats",):
            self.assert_401(self.svc.get(path), invalid_token=False)
        self.assert_401(self.svc.post("/api/v1/subscription/upgrade", {"target_tier": "pro"}), invalid_token=False)

    def test_a_deleted_users_token_is_401(self):
        token, user_id = self.svc.token_for(unique_email())
        self.db.sql("DELETE FROM users WHERE user_id = '%s'" % user_id)
        self.assert_401(self.svc.get(QUOTA, token=token))
        self.assert_401(self.svc.get("/api/v1/subscription/usage/stats", token=token))
        self.assert_401(self.svc.post("/api/v1/subscription/upgrade", {"target_tier": "pro"}, token=token))

    def test_a_token_reads_and_changes_only_its_own_user(self):
        token_a, user_a = self.svc.token_for(unique_email("a"))
        token_b, user_b = self.svc.token_for(unique_email("b"))
        self.assertEqual(self.svc.post("/api/v1/subscription/upgrade", {"target_tier": "max"}, token=token_a).status,
                         200)
        qa = self.svc.get(QUOTA, token=token_a).json()
        qb = self.svc.get(QUOTA, token=token_b).json()
        self.assertEqual((qa["user_id"], qa["subscription_tier"]), (user_a, "max"))
        self.assertEqual((qb["user_id"], qb["subscription_tier"]), (user_b, "free"))
        # A user id in the query or the body is ignored: there is none in any URL.
        qb2 = self.svc.get(QUOTA + "?user_id=" + user_a, token=token_b).json()
        self.assertEqual(qb2["user_id"], user_b)
        r = self.svc.post("/api/v1/subscription/upgrade", {"target_tier": "pro", "user_id": user_a}, token=token_b)
        self.assertEqual(r.json()["subscription"]["user_id"], user_b)
        self.assertEqual(self.svc.get(QUOTA, token=token_a).json()["subscription_tier"], "max")


class InputTests(harness.ServiceTest, unittest.TestCase):
    def counts(self):
        return (self.db.sql("SELECT count(*) FROM users"), self.db.sql("SELECT count(*) FROM kauri_user_credentials"),
                self.db.sql("SELECT count(*) FROM usage_logs"))

    def raw(self, method, path, body, headers):
        conn = http.client.HTTPConnection("127.0.0.1", self.svc.port, timeout=30)
        conn.putrequest(method, path)
        for k, v in headers.items():
            conn.putheader(k, v)
        conn.endheaders()
        if body:
            conn.send(body)
        r = conn.getresponse()
        out = (r.status, r.read().decode())
        conn.close()
        return out

    def test_bad_registration_bodies_are_4xx_and_change_nothing(self):
        token, _ = self.svc.token_for(unique_email())
        before = self.counts()
        reg = "/api/v1/auth/register"
        cases = [
            (b"not json", 400),
            (b'{"email": "a@b.example", "password": "x12345678"', 400),
            (b"[1, 2]", 422),
            (b'"just a string"', 422),
            (b"{}", 422),
            (json.dumps({"email": "a@b.example"}).encode(), 422),
            (json.dumps({"password": "LongEnough1"}).encode(), 422),
            (json.dumps({"email": 42, "password": "LongEnough1"}).encode(), 422),
            (json.dumps({"email": "a@b.example", "password": 12345678}).encode(), 422),
            (json.dumps({"email": ["a@b.example"], "password": "LongEnough1"}).encode(), 422),
            (json.dumps({"email": "a@b.example", "password": "short"}).encode(), 422),
            (json.dumps({"email": "a@b.example", "password": "é" * 7}).encode(), 422),
            (json.dumps({"email": "not-an-email", "password": "LongEnough1"}).encode(), 422),
            (json.dumps({"email": "a@localhost", "password": "LongEnough1"}).encode(), 422),
            (json.dumps({"email": "a b@c.example", "password": "LongEnough1"}).encode(), 422),
            (json.dumps({"email": "a\u0000@c.example", "password": "LongEnough1"}).encode(), 422),
            (json.dumps({"email": "a\n@c.example", "password": "LongEnough1"}).encode(), 422),
            (json.dumps({"email": "a\u007f@c.example", "password": "LongEnough1"}).encode(), 422),
            (b'{"email": "a\xff@c.example", "password": "LongEnough1"}', 400),
            (b'{"email": "a\xc3@c.example", "password": "LongEnough1"}', 400),
            (json.dumps({"email": "x" * 300 + "@c.example", "password": "LongEnough1"}).encode(), 422),
            (json.dumps({"email": "a@b.example", "password": "p" * 2000}).encode(), 422),
        ]
        for body, status in cases:
            r = self.svc.request("POST", reg, raw=body, headers={"Content-Type": "application/json"})
            self.assertEqual(r.status, status, body[:80])
            self.assertIsInstance(r.json()["detail"], str)
        r = self.svc.request("POST", reg, raw=b"{" + b" " * (1024 * 1024) + b"}")
        self.assertEqual(r.status, 413)
        self.assertEqual(self.raw("POST", reg, b"5\r\n{}   \r\n0\r\n\r\n", {"Transfer-Encoding": "chunked"})[0], 411)
        self.assertEqual(self.raw("POST", reg, b"", {})[0], 411)
        # Upgrade: unknown, hidden and malformed tiers, wrong types.
        up = "/api/v1/subscription/upgrade"
        for body, status in (({"target_tier": "gold"}, 404), ({"target_tier": "PRO"}, 404),
                             ({"target_tier": 7}, 422), ({}, 422), ({"target_tier": None}, 422),
                             ({"target_tier": "\u0000"}, 404)):
            r = self.svc.post(up, body, token=token)
            self.assertEqual(r.status, status, body)
        self.assertEqual(self.svc.request("POST", up, raw=b"nope", token=token).status, 400)
        self.assertEqual(self.counts(), before)
        self.assertEqual(self.svc.get(QUOTA, token=token).json()["subscription_tier"], "free")
        # The server is still in step after all of that.
        self.assertEqual(self.svc.get("/healthz").status, 200)

    def test_bad_login_bodies(self):
        login = "/api/v1/auth/login"
        self.assertEqual(self.svc.request("POST", login, raw=b"nope").status, 400)
        self.assertEqual(self.svc.post(login, {"email": "a@b.example"}).status, 422)
        self.assertEqual(self.svc.post(login, {"email": 1, "password": "x"}).status, 422)
        self.assertEqual(self.svc.post(login, {"email": "garbage", "password": "LongEnough1"}).status, 401)


class ConcurrencyTests(harness.ServiceTest, unittest.TestCase):
    def test_32_clients_register_read_and_upgrade_at_once(self):
        errors = []
        results = {}
        barrier = threading.Barrier(32)

        def client(i):
            try:
                email = unique_email("c%02d" % i)
                barrier.wait(30)
                r = self.svc.register(email)
                assert r.status == 201, ("register", r.status, r.body)
                user_id = r.json()["user_id"]
                r = self.svc.login(email)
                assert r.status == 200, ("login", r.status, r.body)
                token = r.json()["access_token"]
                target = ("pro", "max", "enterprise")[i % 3]
                for _ in range(3):
                    q = self.svc.get(QUOTA, token=token)
                    assert q.status == 200 and q.json()["user_id"] == user_id, ("quota", q.status, q.body)
                r = self.svc.post("/api/v1/subscription/upgrade", {"target_tier": target}, token=token)
                assert r.status == 200 and r.json()["subscription_tier"] == target, ("upgrade", r.status, r.body)
                q = self.svc.get(QUOTA, token=token).json()
                assert q["subscription_tier"] == target and q["user_id"] == user_id, q
                s = self.svc.get("/api/v1/subscription/usage/stats", token=token)
                assert s.status == 200 and s.json()["quota"]["user_id"] == user_id, s.body
                results[i] = (user_id, target)
            except Exception as e:  # every failure is reported below
                errors.append((i, repr(e)))

        threads = [threading.Thread(target=client, args=(i,)) for i in range(32)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        self.assertEqual(errors, [])
        self.assertEqual(len(results), 32)
        self.assertEqual(len({u for u, _ in results.values()}), 32)
        self.assertEqual(self.db.sql("SELECT count(*) FROM users"), "32")
        for user_id, target in results.values():
            self.assertEqual(self.db.sql("SELECT subscription_tier FROM users WHERE user_id = '%s'" % user_id), target)
        self.assertNotRegex(self.svc.log(), r" 5\d\d ")


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"] + sys.argv[1:])
