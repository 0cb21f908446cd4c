"""kauri-chat-gate over real HTTP on loopback, on the backend KQ_TEST_BACKEND
names (see gate_support.py). Each class is one CTest test per backend."""
import concurrent.futures
import json
import re
import signal
import sqlite3
import subprocess
import threading
import time
import unittest

from gate_support import GATE, FakeServer, GateTestCase, parse_rate_limit

CHAT = "/api/v1/chat"


class ChatFlow(GateTestCase):
    def test_five_messages_then_429_with_retry_after_and_rate_limit_fields(self):
        self.db.add_user("alice")
        gate = self.start_gate("--stub-tokens", "11")
        for i in range(5):
            status, headers, body, _ = gate.request("POST", CHAT, {"message": f"hello {i}", "max_tokens": 40},
                                                    self.auth("alice"))
            self.assertEqual(status, 200, body)
            self.assertEqual(set(body), {"reply", "usage", "quota"})
            self.assertIn(f"hello {i}", body["reply"])
            usage = body["usage"]
            self.assertEqual(usage["completion_tokens"], 11)
            self.assertEqual(usage["total_tokens"], usage["prompt_tokens"] + usage["completion_tokens"])
            self.assertEqual(body["quota"]["messages_today"], i + 1)
            self.assertEqual(body["quota"]["messages_remaining_today"], 4 - i)
            policy = parse_rate_limit(headers["ratelimit-policy"])
            state = parse_rate_limit(headers["ratelimit"])
            self.assertEqual(policy["daily"], {"q": 5, "w": 86400})
            self.assertEqual(policy["monthly"]["q"], 150)
            self.assertEqual(policy["tokens"]["q"], 100000)
            self.assertEqual(state["daily"]["r"], 4 - i)
            self.assertGreater(state["daily"]["t"], 0)
            self.assertLessEqual(state["daily"]["t"], 86400)
        # The tokens counted are the generator's, not the 40 reserved.
        q = self.quota(gate, "alice")
        self.assertEqual(q["tokens_this_month"], 5 * (11 + 2))  # "hello i" is 7 bytes: 2 prompt tokens

        status, headers, body, _ = gate.request("POST", CHAT, {"message": "one more"}, self.auth("alice"))
        self.assertEqual(status, 429, body)
        retry = int(headers["retry-after"])
        self.assertGreater(retry, 0)
        self.assertLessEqual(retry, 86400)
        self.assertEqual(parse_rate_limit(headers["ratelimit"])["daily"]["r"], 0)
        self.assertEqual(body["error"], "quota_exceeded")
        self.assertEqual(body["limit"], "daily")
        self.assertEqual(body["limit_value"], 5)
        self.assertEqual(body["suggested_tier"], "pro")
        self.assertEqual(body["message"], body["message_en"])
        self.assertIn("message_fr", body)
        # A denial is not counted.
        self.assertEqual(self.quota(gate, "alice")["messages_today"], 5)

    def test_denial_message_follows_accept_language(self):
        self.db.add_user("bob")
        self.db.cli("tier", "set", "free", "--daily", "0")
        gate = self.start_gate()
        status, headers, body, _ = gate.request("POST", CHAT, {"message": "salut"},
                                                self.auth("bob", **{"Accept-Language": "fr-CM, en;q=0.5"}))
        self.assertEqual(status, 429)
        self.assertEqual(headers["content-language"], "fr")
        self.assertEqual(parse_rate_limit(headers["ratelimit-policy"])["daily"]["q"], 0)
        self.assertEqual(body["message"], body["message_fr"])
        self.assertNotEqual(body["message_fr"], body["message_en"])
        status, _, body, _ = gate.request("POST", CHAT, {"message": "hi"},
                                          self.auth("bob", **{"Accept-Language": "en-GB, fr;q=0.9"}))
        self.assertEqual(body["message"], body["message_en"])

    def test_default_max_tokens_is_the_estimate_and_tokens_limit_denies(self):
        self.db.add_user("carol")
        self.db.cli("tier", "set", "free", "--tokens", "1000")
        gate = self.start_gate("--default-max-tokens", "600", "--stub-tokens", "10")
        status, _, body, _ = gate.request("POST", CHAT, {"message": "abcd"}, self.auth("carol"))
        self.assertEqual(status, 200, body)
        self.assertEqual(self.quota(gate, "carol")["tokens_this_month"], 11)
        # 11 used + an estimate of 990 is over 1000: denied on tokens.
        status, headers, body, _ = gate.request("POST", CHAT, {"message": "abcd", "max_tokens": 990},
                                                self.auth("carol"))
        self.assertEqual(status, 429, body)
        self.assertEqual(body["limit"], "tokens")
        self.assertIn("retry-after", headers)

    def test_generator_failure_is_502_and_not_counted(self):
        self.db.add_user("dave")
        gate = self.start_gate("--stub-failure-rate", "1")
        for _ in range(7):
            status, headers, body, _ = gate.request("POST", CHAT, {"message": "x"}, self.auth("dave"))
            self.assertEqual(status, 502, body)
            self.assertEqual(set(body), {"detail"})
        q = self.quota(gate, "dave")
        self.assertEqual(q["messages_today"], 0)
        self.assertEqual(q["tokens_this_month"], 0)
        events = self.db.cli("events", "dave", "--json", json_out=False)
        self.assertIn("reservation_released", events)

    def test_health_metrics_and_graceful_stop(self):
        self.db.add_user("erin")
        gate = self.start_gate()
        status, _, body, _ = gate.request("GET", "/healthz")
        self.assertEqual((status, body), (200, {"status": "ok"}))
        gate.request("POST", CHAT, {"message": "hi"}, self.auth("erin"))
        gate.request("POST", CHAT, {"message": "hi"})
        status, headers, _, raw = gate.request("GET", "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(headers["content-type"].startswith("text/plain; version=0.0.4"))
        text = raw.decode()
        self.assertRegex(text, r'kauri_quota_decisions_total\{result="allowed"[^}]*\} 1')
        self.assertRegex(text, r'kauri_http_requests_total\{[^}]*route="/api/v1/chat"[^}]*status="200"[^}]*\} 1')
        self.assertRegex(text, r'kauri_http_requests_total\{[^}]*route="/api/v1/chat"[^}]*status="401"[^}]*\} 1')
        self.assertIn("kauri_http_request_duration_seconds_bucket", text)
        self.assertIn("kauri_gate_reservations_expired_total 0", text)
        # promtool (Debian's prometheus package) finds no lint problem.
        lint = subprocess.run(["promtool", "check", "metrics"], input=raw, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=60)
        self.assertEqual(lint.returncode, 0, lint.stdout.decode())
        log = gate.log_text()
        self.assertIn("POST /api/v1/chat 200", log)
        self.assertNotIn("Bearer", log)
        self.assertNotIn("hi", re.sub(r"[a-z_]*chat[a-z_/]*", "", log))
        self.assertEqual(gate.stop(), 0)

    def test_login_is_forwarded_to_the_user_service(self):
        seen = []

        def answer(path, headers, body):
            seen.append((path, body))
            if body == {"email": "a@b.example", "password": "correct horse"}:
                return 200, {"access_token": "t0k", "token_type": "bearer", "expires_in": 3600}, 0
            return 401, {"detail": "Incorrect email or password"}, 0

        users = FakeServer(answer)
        try:
            gate = self.start_gate("--user-service-url", users.url + "/")
            status, _, body, _ = gate.request("POST", "/api/v1/auth/login",
                                              {"email": "a@b.example", "password": "correct horse"})
            self.assertEqual((status, body["access_token"]), (200, "t0k"))
            status, _, body, _ = gate.request("POST", "/api/v1/auth/login", {"email": "a@b.example", "password": "no"})
            self.assertEqual(status, 401)
            self.assertEqual(seen[0][0], "/api/v1/auth/login")
            status, _, body, _ = gate.request("GET", "/api/v1/chat/config")
            self.assertEqual(body, {"login": True, "pricing_url": users.url + "/"})
        finally:
            users.close()
        gate2 = self.start_gate()
        status, _, body, _ = gate2.request("POST", "/api/v1/auth/login", {"email": "a@b.example", "password": "x"})
        self.assertEqual(status, 503)


class Shadow(GateTestCase):
    def test_shadow_mode_admits_what_a_limit_would_refuse_and_audits_it(self):
        self.db.add_user("alice")
        self.db.cli("tier", "set", "free", "--daily", "1")
        gate = self.start_gate("--shadow", "--stub-tokens", "5")
        for i in range(3):
            status, headers, body, _ = gate.request("POST", CHAT, {"message": "hey", "max_tokens": 9},
                                                    self.auth("alice"))
            self.assertEqual(status, 200, body)
            self.assertIn("ratelimit", headers)
        q = self.quota(gate, "alice")
        self.assertEqual(q["messages_today"], 3)
        # Shadow admissions get a reservation like any other, so all three
        # are settled at their actual tokens (1 + 5), not at the estimate.
        self.assertEqual(q["tokens_this_month"], 3 * 6)
        events = self.db.cli("events", "alice", "--type", "quota_exceeded", json_out=True)
        rows = events if isinstance(events, list) else events.get("events", [])
        self.assertEqual(len(rows), 2)
        meta = [r["event_metadata"] for r in rows]
        meta = [json.loads(m) if isinstance(m, str) else m for m in meta]
        self.assertTrue(all(m.get("shadow") is True for m in meta), meta)
        text = gate.request("GET", "/metrics")[3].decode()
        self.assertRegex(text, r'kauri_quota_decisions_total\{result="shadow_denied",limit="daily"\} 2')


class DenyCache(GateTestCase):
    def test_repeated_denials_come_from_memory_until_another_program_upgrades(self):
        self.db.add_user("alice")
        self.db.cli("tier", "set", "free", "--daily", "1")
        gate = self.start_gate("--deny-cache-ttl", "60s")
        self.assertEqual(gate.request("POST", CHAT, {"message": "a"}, self.auth("alice"))[0], 200)
        # The commit lowered the token counter below the estimate, which the
        # database announces (PostgreSQL: a notification a few ms later);
        # let it land before the denials are cached.
        time.sleep(0.3)
        for _ in range(4):
            status, headers, body, _ = gate.request("POST", CHAT, {"message": "b"}, self.auth("alice"))
            self.assertEqual(status, 429, body)
            self.assertGreater(int(headers["retry-after"]), 0)
            self.assertEqual(body["limit"], "daily")
        text = gate.request("GET", "/metrics")[3].decode()
        self.assertIn("kauri_quota_cached_denials_total 3", text)
        # Only the denial that went to the storage is audited.
        events = self.db.cli("events", "alice", "--type", "quota_exceeded", json_out=True)
        rows = events if isinstance(events, list) else events.get("events", [])
        self.assertEqual(len(rows), 1)
        # An upgrade made by another program reaches the gate through the
        # database's change feed: admitted within a second, far inside the
        # 60 s TTL.
        self.db.cli("upgrade", "alice", "pro")
        deadline = time.time() + 1
        status = 429
        while status == 429 and time.time() < deadline:
            status = gate.request("POST", CHAT, {"message": "c"}, self.auth("alice"))[0]
            if status == 429:
                time.sleep(0.05)
        self.assertEqual(status, 200)

    def test_zero_turns_it_off(self):
        self.db.add_user("alice")
        self.db.cli("tier", "set", "free", "--daily", "0")
        gate = self.start_gate("--deny-cache-ttl", "0")
        for _ in range(3):
            self.assertEqual(gate.request("POST", CHAT, {"message": "b"}, self.auth("alice"))[0], 429)
        self.assertIn("kauri_quota_cached_denials_total 0", gate.request("GET", "/metrics")[3].decode())


class BadRequests(GateTestCase):
    def test_bodies_are_validated_strictly(self):
        self.db.add_user("alice")
        gate = self.start_gate()
        cases = [
            ("not json", 400), ("[1]", 422), ('"hi"', 422), ("{}", 422),
            ('{"message": 5}', 422), ('{"message": null}', 422), ('{"message": "   "}', 422),
            ('{"message": "hi", "max_tokens": 0}', 422), ('{"message": "hi", "max_tokens": -3}', 422),
            ('{"message": "hi", "max_tokens": 1.5}', 422), ('{"message": "hi", "max_tokens": "10"}', 422),
            ('{"message": "hi", "max_tokens": true}', 422),
            ('{"message": "hi", "max_tokens": 99999999999999999999}', 422),
            ('{"message": "hi", "max_tokens": 40000}', 422),
            ('{"message": "hi", "model": "gpt"}', 422),
            ('{"message": "' + "x" * 40000 + '"}', 422),
            (b'{"message": "\xff\xfe"}', 400),
        ]
        for body, expected in cases:
            status, _, answer, _ = gate.request("POST", CHAT, body, self.auth("alice"))
            self.assertEqual(status, expected, (body[:60], answer))
            self.assertIsInstance(answer.get("detail"), str, body[:60])
        status, _, _, _ = gate.request("POST", CHAT, '{"message": "' + "x" * 70000 + '"}', self.auth("alice"))
        self.assertEqual(status, 413)
        # (An empty header value never reaches the handler: cpp-httplib drops it.)
        for key in ["x" * 129, "has space", "caf\u00e9"]:
            headers = self.auth("alice", **{"Idempotency-Key": key.encode("utf-8").decode("latin-1")})
            status, _, answer, _ = gate.request("POST", CHAT, {"message": "hi"}, headers)
            self.assertEqual(status, 400, (key, answer))
        # Nothing above was counted.
        self.assertEqual(self.quota(gate, "alice")["messages_today"], 0)

    def test_authentication_failures_are_401_with_www_authenticate(self):
        self.db.add_user("alice")
        gate = self.start_gate()
        good = self.token("alice")
        header, payload, sig = good.split(".")
        tampered = header + "." + payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + "." + sig
        cases = {
            "none": {},
            "basic": {"Authorization": "Basic YWxpY2U6cHc="},
            "garbage": {"Authorization": "Bearer not-a-token"},
            "tampered": {"Authorization": "Bearer " + tampered},
            "expired": {"Authorization": "Bearer " + self.token("alice", ttl=-120)},
            "other-secret": {"Authorization": "Bearer " + __import__("gate_support").mint(b"k" * 40, "alice")},
            "alg-none": {"Authorization": "Bearer " + header.replace(header, __import__("gate_support").b64url(
                b'{"alg":"none","typ":"JWT"}')) + "." + payload + "."},
            "unknown-user": {"Authorization": "Bearer " + self.token("mallory")},
        }
        for name, headers in cases.items():
            status, h, body, _ = gate.request("POST", CHAT, {"message": "hi"}, headers)
            self.assertEqual(status, 401, name)
            self.assertTrue(h.get("www-authenticate", "").startswith("Bearer"), name)
            self.assertIn("detail", body, name)
        status, _, _, _ = gate.request("GET", "/api/v1/chat/quota")
        self.assertEqual(status, 401)
        # The scheme is case-insensitive.
        status, _, _, _ = gate.request("POST", CHAT, {"message": "hi"}, {"Authorization": "bearer " + good})
        self.assertEqual(status, 200)


class Idempotency(GateTestCase):
    def test_a_retry_returns_the_first_outcome_and_counts_once(self):
        self.db.add_user("alice")
        gate = self.start_gate()
        h = self.auth("alice", **{"Idempotency-Key": "k-1"})
        first = gate.request("POST", CHAT, {"message": "hello", "max_tokens": 20}, h)
        self.assertEqual(first[0], 200)
        # Same meaning, other spelling: the same request.
        again = gate.request("POST", CHAT, '{ "max_tokens" : 20, "message":"hello" }', h)
        self.assertEqual(again[0], 200)
        self.assertEqual(again[3], first[3])
        self.assertEqual(again[1]["ratelimit"], first[1]["ratelimit"])
        self.assertEqual(self.quota(gate, "alice")["messages_today"], 1)

    def test_the_same_key_with_another_body_is_422(self):
        self.db.add_user("alice")
        gate = self.start_gate()
        h = self.auth("alice", **{"Idempotency-Key": "k-2"})
        self.assertEqual(gate.request("POST", CHAT, {"message": "hello"}, h)[0], 200)
        for other in ({"message": "hello!"}, {"message": "hello", "max_tokens": 512}, {"message": "hello", "max_tokens": 7}):
            status, _, body, _ = gate.request("POST", CHAT, other, h)
            self.assertEqual(status, 422, other)
            self.assertIn("Idempotency-Key", body["detail"])
        self.assertEqual(self.quota(gate, "alice")["messages_today"], 1)
        # Keys belong to their user: bob may use the same one.
        self.db.add_user("bob")
        self.assertEqual(gate.request("POST", CHAT, {"message": "other"},
                                      self.auth("bob", **{"Idempotency-Key": "k-2"}))[0], 200)

    def test_concurrent_retries_of_one_key_get_one_outcome(self):
        self.db.add_user("alice")
        gate = self.start_gate("--stub-latency", "300ms", "--threads", "16")
        h = self.auth("alice", **{"Idempotency-Key": "same-key"})
        with concurrent.futures.ThreadPoolExecutor(12) as pool:
            results = list(pool.map(lambda _: gate.request("POST", CHAT, {"message": "hi"}, h), range(12)))
        self.assertEqual({r[0] for r in results}, {200})
        self.assertEqual(len({r[3] for r in results}), 1)
        self.assertEqual(self.quota(gate, "alice")["messages_today"], 1)

    def test_denials_and_failures_replay_too(self):
        self.db.add_user("alice")
        self.db.cli("tier", "set", "free", "--daily", "1")
        gate = self.start_gate()
        self.assertEqual(gate.request("POST", CHAT, {"message": "a"}, self.auth("alice"))[0], 200)
        h = self.auth("alice", **{"Idempotency-Key": "denied-1"})
        first = gate.request("POST", CHAT, {"message": "b"}, h)
        self.assertEqual(first[0], 429)
        self.db.cli("upgrade", "alice", "pro")
        again = gate.request("POST", CHAT, {"message": "b"}, h)
        self.assertEqual((again[0], again[3]), (429, first[3]))
        self.assertEqual(gate.request("POST", CHAT, {"message": "b"},
                                      self.auth("alice", **{"Idempotency-Key": "denied-2"}))[0], 200)

    def test_across_two_gates_on_one_database(self):
        self.db.add_user("alice")
        a = self.start_gate()
        b = self.start_gate()
        h = self.auth("alice", **{"Idempotency-Key": "shared-1"})
        first = a.request("POST", CHAT, {"message": "hello", "max_tokens": 30}, h)
        self.assertEqual(first[0], 200)
        # Another process: the count is replayed, the reply text is not kept there.
        status, headers, body, _ = b.request("POST", CHAT, {"message": "hello", "max_tokens": 30}, h)
        self.assertEqual(status, 200, body)
        self.assertIs(body["replayed"], True)
        self.assertIsNone(body["reply"])
        self.assertEqual(body["usage"]["total_tokens"], first[2]["usage"]["total_tokens"])
        self.assertIn("ratelimit", headers)
        # Another body under the same key, in the other process: 422 (also
        # with the same max_tokens, which the library alone cannot tell).
        status, _, body, _ = b.request("POST", CHAT, {"message": "something else", "max_tokens": 30}, h)
        self.assertEqual(status, 422, body)
        status, _, body, _ = b.request("POST", CHAT, {"message": "hello", "max_tokens": 31}, h)
        self.assertEqual(status, 422, body)
        self.assertEqual(self.quota(a, "alice")["messages_today"], 1)


class Sweeper(GateTestCase):
    def test_a_killed_gates_reservation_is_settled_at_its_estimate(self):
        self.db.add_user("alice")
        dying = self.start_gate("--stub-latency", "10s", "--reservation-ttl", "1s")
        thread = threading.Thread(target=lambda: self._ignore(dying.request, "POST", CHAT,
                                                              {"message": "hello", "max_tokens": 77},
                                                              self.auth("alice"), timeout=15))
        thread.start()
        deadline = time.time() + 10
        while time.time() < deadline and self.db.cli("events", "alice").count("reservation") == 0:
            time.sleep(0.05)
        dying.stop(signal.SIGKILL)
        thread.join()
        sweeper = self.start_gate("--sweep-interval", "200ms", "--reservation-ttl", "1s")
        deadline = time.time() + 10
        text = ""
        while time.time() < deadline:
            text = sweeper.request("GET", "/metrics")[3].decode()
            if "kauri_gate_reservations_expired_total 1" in text:
                break
            time.sleep(0.1)
        self.assertIn("kauri_gate_reservations_expired_total 1", text)
        q = self.quota(sweeper, "alice")
        self.assertEqual(q["messages_today"], 1)
        self.assertEqual(q["tokens_this_month"], 77)
        self.assertIn("settled 1 expired reservation", sweeper.log_text())
        self.assertEqual(sweeper.stop(), 0)  # SIGTERM stops the sweeper too

    def sql(self, statement):
        if self.db.pg_name:
            conninfo = re.sub(r"dbname=\S+", "dbname=" + self.db.pg_name, self.db.pg_admin)
            return subprocess.run(["psql", conninfo, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", statement],
                                  check=True, stdout=subprocess.PIPE, text=True, timeout=60).stdout.strip()
        con = sqlite3.connect(self.db.url[len("sqlite:"):], timeout=30)
        try:
            rows = con.execute(statement).fetchall()
            con.commit()
        finally:
            con.close()
        return "\n".join("|".join("" if v is None else str(v) for v in row) for row in rows)

    def test_two_sweepers_write_a_lapsed_subscriptions_expiry_once(self):
        self.db.add_user("kwame", tier="pro")
        # A paid period that ended when it started (the start is in the past,
        # in the column's own format): with no grace, it is due to expire.
        self.sql("UPDATE users SET subscription_end_date = subscription_start_date WHERE user_id = 'kwame'")
        gates = [self.start_gate("--sweep-interval", "100ms", "--grace-period", "0") for _ in range(2)]
        deadline = time.time() + 15
        status = ""
        while time.time() < deadline:
            status = self.sql("SELECT subscription_status FROM users WHERE user_id = 'kwame'")
            if status == "expired":
                break
            time.sleep(0.1)
        self.assertEqual(status, "expired")
        time.sleep(0.5)  # more sweeps by both gates: nothing more to write
        self.assertEqual(self.sql("SELECT COUNT(*) FROM usage_logs WHERE user_id = 'kwame' "
                                  "AND event_type = 'subscription_expired'"), "1")
        texts = [g.request("GET", "/metrics")[3].decode() for g in gates]
        totals = [float(re.search(r"^kauri_gate_subscription_transitions_total (\S+)$", t, re.M).group(1))
                  for t in texts]
        self.assertEqual(sum(totals), 1)
        self.assertIn("wrote 1 subscription transition", "".join(g.log_text() for g in gates))
        for g in gates:
            self.assertEqual(g.stop(), 0)

    def test_grace_period_option_is_checked(self):
        for bad in ("91d", "-1h", "soon"):
            gate = subprocess.run([GATE, "--db", self.db.url, "--jwt-secret-file", self.secret_file, "--listen",
                                   "127.0.0.1:0", "--grace-period", bad], capture_output=True, text=True, timeout=30)
            self.assertEqual(gate.returncode, 2, bad)
            self.assertIn("--grace-period", gate.stderr)

    @staticmethod
    def _ignore(f, *args, **kw):
        try:
            f(*args, **kw)
        except Exception:
            pass


class Upstream(GateTestCase):
    def setUp(self):
        super().setUp()

        def answer(path, headers, body):
            msg = body["messages"][0]["content"] if body else ""
            if msg == "fail":
                return 500, {"error": {"message": "boom"}}, 0
            if msg == "slow":
                return 200, {}, 3
            if msg == "garbage":
                return 200, {"choices": []}, 0
            return 200, {"id": "c1", "object": "chat.completion",
                         "choices": [{"index": 0, "message": {"role": "assistant", "content": "upstream says hi"},
                                      "finish_reason": "stop"}],
                         "usage": {"prompt_tokens": 9, "completion_tokens": 21, "total_tokens": 30}}, 0

        self.upstream = FakeServer(answer)
        self.db.add_user("alice")

    def tearDown(self):
        super().tearDown()
        self.upstream.close()

    def test_usage_comes_from_the_upstream_and_failures_release(self):
        key_file = self.dir + "/upstream-key"
        with open(key_file, "w") as f:
            f.write("sk-short\n")  # a provider's key may be short: it is not the token secret
        gate = self.start_gate("--upstream", self.upstream.url + "/", "--upstream-model", "tiny",
                               "--upstream-timeout", "1s", "--upstream-key-file", key_file)
        status, _, body, _ = gate.request("POST", CHAT, {"message": "hello", "max_tokens": 100}, self.auth("alice"))
        self.assertEqual(status, 200, body)
        self.assertEqual(body["reply"], "upstream says hi")
        self.assertEqual(body["usage"], {"prompt_tokens": 9, "completion_tokens": 21, "total_tokens": 30})
        path, headers, sent = self.upstream.requests[0]
        self.assertEqual(path, "/v1/chat/completions")
        self.assertEqual(sent, {"model": "tiny", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 100})
        self.assertEqual(headers.get("Authorization"), "Bearer sk-short")
        for msg in ("fail", "slow", "garbage"):
            started = time.time()
            status, _, body, _ = gate.request("POST", CHAT, {"message": msg}, self.auth("alice"))
            self.assertEqual(status, 502, (msg, body))
            self.assertLess(time.time() - started, 2.9, msg)  # the read timeout, not the upstream's pace
        q = self.quota(gate, "alice")
        self.assertEqual((q["messages_today"], q["tokens_this_month"]), (1, 30))

    def test_an_unreachable_upstream_is_502(self):
        self.upstream.close()
        gate = self.start_gate("--upstream", self.upstream.url, "--upstream-timeout", "1s")
        status, _, body, _ = gate.request("POST", CHAT, {"message": "hello"}, self.auth("alice"))
        self.assertEqual(status, 502, body)
        self.assertEqual(self.quota(gate, "alice")["messages_today"], 0)
        self.upstream = FakeServer(lambda *a: (200, {}, 0))  # for tearDown


if __name__ == "__main__":
    unittest.main()
