"""Payments through CinetPay over HTTP: checkout, signed notifications
confirmed by the check API, renewals, refusals and every answer of the
check that must change nothing, against a fake CinetPay on loopback."""
import concurrent.futures
import datetime
import os
import subprocess
import sys
import unittest
import uuid

import fake_cinetpay
import harness
from harness import unique_email

CLI = os.environ.get("KQ_CLI", "")
NOTIFY = "/api/v1/payments/cinetpay/notify"
PUBLIC = "http://127.0.0.1:9/kauri"


def instant(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")


class PaymentTest(unittest.TestCase):
    extra_args = ()

    def setUp(self):
        self.fake = fake_cinetpay.FakeCinetPay(delay=3.0)
        self.db = harness.Database()
        key_file = os.path.join(self.db.tmp, "cinetpay-key")
        secret_file = os.path.join(self.db.tmp, "cinetpay-secret")
        with open(key_file, "w") as f:
            f.write(fake_cinetpay.API_KEY + "\n")
        with open(secret_file, "w") as f:
            f.write(fake_cinetpay.SECRET_KEY + "\n")
        args = ["--cinetpay-api-url", self.fake.base + "/v2", "--cinetpay-site-id", fake_cinetpay.SITE_ID,
                "--cinetpay-api-key-file", key_file, "--cinetpay-secret-file", secret_file,
                "--public-url", PUBLIC + "/", "--cinetpay-timeout", "1s"] + list(self.extra_args)
        try:
            self.svc = harness.Service(self.db, args)
        except Exception:
            self.db.drop()
            self.fake.stop()
            raise

    def tearDown(self):
        status = self.svc.stop()
        log = self.svc.log()
        self.db.drop()
        self.fake.stop()
        self.assertEqual(status, 0, "the service did not exit 0 on SIGTERM:\n" + log)
        self.assertNotIn(" 500 ", log, "a request answered 500:\n" + log)

    # --- helpers ---------------------------------------------------------------

    def user(self):
        return self.svc.token_for(unique_email("pay"))

    def checkout(self, token, tier="pro", months=1, lang=None):
        headers = {"Accept-Language": lang} if lang else None
        return self.svc.post("/api/v1/payments/checkout", {"tier": tier, "months": months}, token=token,
                             headers=headers)

    def paid_checkout(self, token, tier="pro", months=1):
        r = self.checkout(token, tier, months)
        self.assertEqual(r.status, 201, r.body)
        return r.json()["transaction_id"]

    def notify(self, form, token="sign", headers=None):
        hdrs = {"Content-Type": "application/x-www-form-urlencoded"}
        if token == "sign":
            hdrs["x-token"] = fake_cinetpay.sign(form)
        elif token is not None:
            hdrs["x-token"] = token
        hdrs.update(headers or {})
        return self.svc.request("POST", NOTIFY, raw=fake_cinetpay.encode(form), headers=hdrs)

    def subscription(self, token):
        r = self.svc.get("/api/v1/subscription", token=token)
        self.assertEqual(r.status, 200, r.body)
        return r.json()

    def payments(self, token):
        r = self.svc.get("/api/v1/payments", token=token)
        self.assertEqual(r.status, 200, r.body)
        return r.json()

    def audit_count(self, user_id, event):
        return int(self.db.sql("SELECT COUNT(*) FROM usage_logs WHERE user_id = '%s' AND event_type = '%s'"
                               % (user_id, event)))

    def pay(self, token, tier="pro", months=1):
        tid = self.paid_checkout(token, tier, months)
        self.fake.set_check(tid, "accepted")
        r = self.notify(self.fake.notification(tid))
        self.assertEqual(r.status, 200, r.body)
        return tid

    def consume(self, user_id):
        r = subprocess.run([CLI, "--db", self.db.url, "consume", user_id], capture_output=True, timeout=60)
        return r.returncode

    def assert_unchanged(self, token, before_sub, before_payments):
        self.assertEqual(self.subscription(token), before_sub)
        self.assertEqual(self.payments(token), before_payments)


class CheckoutAndNotificationTests(PaymentTest):
    def test_register_checkout_notify_check_gives_pro_for_a_month(self):
        token, user_id = self.user()
        r = self.checkout(token, lang="fr-FR,fr;q=0.9")
        self.assertEqual(r.status, 201, r.body)
        out = r.json()
        tid = out["transaction_id"]
        self.assertRegex(tid, r"^[A-Za-z0-9]{16,}$")
        self.assertEqual(out["amount"], 7000)
        self.assertEqual(out["currency"], "XOF")
        self.assertEqual(out["payment_url"], "https://checkout.cinetpay.example/payment/" + tid)
        init = self.fake.inits[-1]
        self.assertEqual(init["transaction_id"], tid)
        self.assertEqual(init["amount"], 7000)
        self.assertEqual(init["amount"] % 5, 0)
        self.assertEqual(init["currency"], "XOF")
        self.assertEqual(init["channels"], "ALL")
        self.assertEqual(init["lang"], "fr")
        self.assertEqual(init["metadata"], user_id)
        self.assertEqual(init["notify_url"], PUBLIC + NOTIFY)
        self.assertEqual(init["return_url"], PUBLIC + "/account")
        for c in "#/$_&":
            self.assertNotIn(c, init["description"])
        # Pending: nothing granted yet.
        self.assertEqual(self.subscription(token)["subscription_tier"], "free")
        [p] = self.payments(token)
        self.assertEqual((p["transaction_id"], p["status"], p["tier"], p["amount"]), (tid, "pending", "pro", 7000))

        # CinetPay's reachability ping, then the notification and its check.
        self.assertEqual(self.svc.get(NOTIFY).status, 200)
        self.fake.set_check(tid, "accepted")
        r = self.notify(self.fake.notification(tid))
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(self.fake.check_count(tid), 1)
        s = self.subscription(token)
        self.assertEqual((s["subscription_tier"], s["subscription_status"]), ("pro", "active"))
        start, end = instant(s["subscription_start_date"]), instant(s["subscription_end_date"])
        self.assertIn((end - start).days, (28, 29, 30, 31))
        if start.day <= 28:
            self.assertEqual((start.day, start.time()), (end.day, end.time()))
        [p] = self.payments(token)
        self.assertEqual((p["status"], p["effect"]), ("applied", "started"))
        self.assertEqual(p["period_end"], s["subscription_end_date"])
        self.assertEqual(self.audit_count(user_id, "payment_applied"), 1)

        # Pro's 100 messages a day: the 100th passes, the 101st is refused.
        q = self.svc.get("/api/v1/subscription/quota", token=token).json()
        self.assertEqual(q["messages_per_day_limit"], 100)
        self.db.sql("INSERT INTO user_usage (user_id, usage_date, messages_today, messages_this_month, "
                    "tokens_this_month, tokens_today) VALUES ('%s', '%s', 99, 99, 0, 0)" % (user_id, q["usage_date"]))
        self.assertEqual(self.consume(user_id), 0)
        self.assertEqual(self.consume(user_id), 3, "the 101st message of the day must be refused")
        self.assertEqual(self.svc.get("/api/v1/subscription/quota", token=token).json()["messages_today"], 100)

        # The per-day history the chart draws.
        h = self.svc.get("/api/v1/usage/history?days=30", token=token).json()
        self.assertEqual(len(h["days"]), 30)
        self.assertEqual(h["to"], q["usage_date"])
        self.assertEqual(h["days"][-1], {"date": q["usage_date"], "messages": 100, "tokens": 0})
        self.assertEqual(sum(d["messages"] for d in h["days"]), 100)
        self.assertEqual(self.svc.get("/api/v1/usage/history?days=0", token=token).status, 422)
        self.assertEqual(self.svc.get("/api/v1/usage/history?days=401", token=token).status, 422)
        self.assertEqual(self.svc.get("/api/v1/usage/history").status, 401)

    def test_twenty_identical_notifications_at_once_renew_once(self):
        token, user_id = self.user()
        tid = self.paid_checkout(token)
        self.fake.set_check(tid, "accepted")
        form = self.fake.notification(tid)
        with concurrent.futures.ThreadPoolExecutor(20) as pool:
            statuses = list(pool.map(lambda _: self.notify(form).status, range(20)))
        self.assertEqual(statuses, [200] * 20)
        self.assertEqual(self.audit_count(user_id, "payment_applied"), 1)
        s = self.subscription(token)
        [p] = self.payments(token)
        self.assertEqual((p["status"], p["effect"]), ("applied", "started"))
        self.assertEqual(s["subscription_end_date"], p["period_end"])
        # Later repeats do not even reach the check API.
        checks = self.fake.check_count(tid)
        self.assertEqual(self.notify(form).status, 200)
        self.assertEqual(self.fake.check_count(tid), checks)
        self.assertEqual(self.subscription(token), s)

    def test_tampered_unsigned_and_replayed_notifications_change_nothing(self):
        token, user_id = self.user()
        tid = self.paid_checkout(token)
        self.fake.set_check(tid, "accepted")
        before = (self.subscription(token), self.payments(token))
        form = self.fake.notification(tid)
        good = fake_cinetpay.sign(form)
        # Unsigned, wrongly signed, signed with another key, one field changed.
        self.assertEqual(self.notify(form, token=None).status, 401)
        self.assertEqual(self.notify(form, token="0" * 64).status, 401)
        self.assertEqual(self.notify(form, token=fake_cinetpay.sign(form, "another secret")).status, 401)
        self.assertEqual(self.notify(dict(form, cpm_amount="100"), token=good).status, 401)
        self.assertEqual(self.notify(dict(form, cpm_custom="someone else"), token=good).status, 401)
        self.assertEqual(self.notify(form, token=good[:-1]).status, 401)
        self.assertEqual(self.fake.check_count(tid), 0, "an unverified notification must not reach the check API")
        self.assert_unchanged(token, *before)
        # The x-token in upper case is the same token.
        self.assertEqual(self.notify(form, token=good.upper()).status, 200)
        s = self.subscription(token)
        self.assertEqual(s["subscription_tier"], "pro")
        # A correctly signed replay claiming another amount: already applied.
        after = (s, self.payments(token))
        self.assertEqual(self.notify(dict(form, cpm_amount="70000")).status, 200)
        self.assert_unchanged(token, *after)
        self.assertEqual(self.audit_count(user_id, "payment_applied"), 1)
        # An unknown transaction, signed: 200 and nothing.
        self.assertEqual(self.notify(self.fake.notification("NoSuchTransaction123")).status, 200)
        self.assertEqual(self.notify(self.fake.notification("bad id\r\nwith a newline")).status, 200)
        self.assertNotIn("with a newline", self.svc.log())
        self.assert_unchanged(token, *after)

    def test_renewal_before_the_end_extends_from_the_end(self):
        token, _ = self.user()
        self.pay(token)
        first = self.subscription(token)
        self.pay(token, months=2)
        second = self.subscription(token)
        self.assertEqual(second["subscription_tier"], "pro")
        self.assertEqual(second["subscription_start_date"], first["subscription_start_date"])
        old_end, new_end = instant(first["subscription_end_date"]), instant(second["subscription_end_date"])
        self.assertIn((new_end - old_end).days, range(59, 63))
        latest = self.payments(token)[0]
        self.assertEqual(latest["effect"], "extended")
        self.assertEqual(latest["months"], 2)
        self.assertEqual(latest["amount"], 14000)
        self.assertEqual(latest["period_start"], first["subscription_end_date"])
        self.assertEqual(latest["period_end"], second["subscription_end_date"])

    def test_refused_payment_is_marked_failed_and_changes_nothing(self):
        token, user_id = self.user()
        tid = self.paid_checkout(token)
        self.fake.set_check(tid, "refused")
        before = self.subscription(token)
        self.assertEqual(self.notify(self.fake.notification(tid)).status, 200)
        [p] = self.payments(token)
        self.assertEqual(p["status"], "failed")
        self.assertIn("600", p["failure_reason"])
        self.assertEqual(self.subscription(token), before)
        # Refused again: nothing more happens.
        self.assertEqual(self.notify(self.fake.notification(tid)).status, 200)
        self.assertEqual(self.subscription(token), before)
        self.assertEqual(self.audit_count(user_id, "payment_failed"), 1)
        # The customer paid after all (CinetPay notifies every change of
        # status): the check API's later ACCEPTED supersedes the refusal.
        self.fake.set_check(tid, "accepted")
        self.assertEqual(self.notify(self.fake.notification(tid)).status, 200)
        self.assertEqual(self.payments(token)[0]["status"], "applied")
        self.assertEqual(self.subscription(token)["subscription_tier"], "pro")
        self.assertEqual(self.audit_count(user_id, "payment_applied"), 1)

    def test_check_errors_without_data(self):
        token, user_id = self.user()
        tid = self.paid_checkout(token)
        before = (self.subscription(token), self.payments(token))
        # A configuration error without data: not final, nothing changes.
        self.fake.set_check(tid, "error_no_data")
        self.assertEqual(self.notify(self.fake.notification(tid)).status, 200)
        self.assert_unchanged(token, *before)
        # A cancellation code without data is a refusal.
        self.fake.set_check(tid, "refused_no_data")
        self.assertEqual(self.notify(self.fake.notification(tid)).status, 200)
        [p] = self.payments(token)
        self.assertEqual(p["status"], "failed")
        self.assertIn("627", p["failure_reason"])
        self.assertEqual(self.subscription(token), before[0])

    def test_waiting_and_wrong_amount_or_currency_change_nothing(self):
        token, user_id = self.user()
        tid = self.paid_checkout(token)
        before = (self.subscription(token), self.payments(token))
        for mode in ("waiting", "wrong_amount", "wrong_currency"):
            self.fake.set_check(tid, mode)
            self.assertEqual(self.notify(self.fake.notification(tid)).status, 200, mode)
            self.assert_unchanged(token, *before)
        self.assertEqual(self.fake.check_count(tid), 3)
        self.assertEqual(self.audit_count(user_id, "payment_applied"), 0)
        # Still pending: the real acceptance, later, applies it.
        self.fake.set_check(tid, "accepted")
        self.assertEqual(self.notify(self.fake.notification(tid)).status, 200)
        self.assertEqual(self.subscription(token)["subscription_tier"], "pro")

    def test_check_timeout_applies_nothing_and_asks_for_another_notification(self):
        token, _ = self.user()
        tid = self.paid_checkout(token)
        before = (self.subscription(token), self.payments(token))
        self.fake.set_check(tid, "timeout")
        r = self.notify(self.fake.notification(tid))
        self.assertEqual(r.status, 503, r.body)
        self.assertEqual(r.headers["Retry-After"], "60")
        self.assert_unchanged(token, *before)
        self.assertEqual(self.payments(token)[0]["status"], "pending")
        self.fake.set_check(tid, "accepted")
        self.assertEqual(self.notify(self.fake.notification(tid)).status, 200)
        self.assertEqual(self.subscription(token)["subscription_tier"], "pro")

    def test_initialisation_error_or_timeout_is_502_and_the_payment_failed(self):
        token, _ = self.user()
        for mode in ("error", "timeout"):
            self.fake.init_mode = mode
            r = self.checkout(token)
            self.assertEqual(r.status, 502, (mode, r.body))
            self.assertIn("payment provider", r.json()["detail"])
            p = self.payments(token)[0]
            self.assertEqual(p["status"], "failed", mode)
            self.assertIn("initialisation failed", p["failure_reason"])
        self.assertIn("608", self.payments(token)[1]["failure_reason"])
        self.assertEqual(self.subscription(token)["subscription_tier"], "free")

    def test_checkout_input(self):
        token, _ = self.user()
        self.assertEqual(self.svc.post("/api/v1/payments/checkout", {"tier": "pro"}).status, 401)
        self.assertEqual(self.checkout(token, tier="free").status, 422)
        self.assertEqual(self.checkout(token, tier="gold").status, 404)
        self.assertEqual(self.checkout(token, months=0).status, 422)
        self.assertEqual(self.checkout(token, months=37).status, 422)
        self.assertEqual(self.checkout(token, months="2").status, 422)
        r = self.checkout(token, tier="max", months=3)
        self.assertEqual(r.status, 201, r.body)
        self.assertEqual(r.json()["amount"], 66000)
        self.assertEqual(self.fake.inits[-1]["lang"], "en")
        self.assertEqual(self.payments(token)[0]["months"], 3)
        self.assertEqual(self.svc.get("/api/v1/payments").status, 401)

    def test_upgrade_with_payments_on_is_a_checkout_and_free_cancels_at_period_end(self):
        token, user_id = self.user()
        r = self.svc.post("/api/v1/subscription/upgrade", {"target_tier": "pro"}, token=token)
        self.assertEqual(r.status, 202, r.body)
        tid = r.json()["transaction_id"]
        self.assertTrue(r.json()["payment_url"].endswith(tid))
        self.assertEqual(self.subscription(token)["subscription_tier"], "free")
        self.fake.set_check(tid, "accepted")
        self.assertEqual(self.notify(self.fake.notification(tid)).status, 200)
        paid = self.subscription(token)
        self.assertEqual(paid["subscription_tier"], "pro")
        r = self.svc.post("/api/v1/subscription/upgrade", {"target_tier": "free"}, token=token)
        self.assertEqual(r.status, 200, r.body)
        s = self.subscription(token)
        self.assertEqual((s["subscription_tier"], s["subscription_status"]), ("pro", "active"))
        self.assertTrue(s["cancel_at_period_end"])
        self.assertEqual(s["scheduled_tier"], "free")
        self.assertEqual(s["subscription_end_date"], paid["subscription_end_date"])
        self.assertEqual(self.audit_count(user_id, "cancellation_scheduled"), 1)
        # Still Pro's limits until the end.
        self.assertEqual(self.svc.get("/api/v1/subscription/quota", token=token).json()["messages_per_day_limit"], 100)
        # Renewing the current tier clears the cancellation.
        self.pay(token)
        s = self.subscription(token)
        self.assertFalse(s["cancel_at_period_end"])
        self.assertIsNone(s["scheduled_tier"])


class ConfigurationTests(unittest.TestCase):
    def run_service(self, *args):
        db = harness.Database()
        try:
            secret = os.path.join(db.tmp, "jwt")
            with open(secret, "w") as f:
                f.write("x" * 40)
            r = subprocess.run([harness.SERVICE, "--db", db.url, "--listen", "127.0.0.1:0", "--jwt-secret-file",
                                secret, "--migrate"] + list(args), capture_output=True, text=True, timeout=60)
            return r.returncode, r.stderr
        finally:
            db.drop()

    def test_partial_or_bad_payment_configuration_refuses_to_start(self):
        tmp = harness.Database()
        try:
            key = os.path.join(tmp.tmp, "key")
            with open(key, "w") as f:
                f.write("k" * 20)
            empty = os.path.join(tmp.tmp, "empty")
            open(empty, "w").close()
            status, err = self.run_service("--cinetpay-site-id", "1", "--cinetpay-api-key-file", key)
            self.assertEqual(status, 2, err)
            self.assertIn("--cinetpay-secret-file", err)
            full = ["--cinetpay-site-id", "1", "--cinetpay-api-key-file", key, "--cinetpay-secret-file", key]
            status, err = self.run_service(*full)
            self.assertEqual(status, 2, err)
            self.assertIn("--public-url", err)
            status, err = self.run_service(*full, "--public-url", "ftp://x")
            self.assertEqual(status, 2, err)
            status, err = self.run_service(*full, "--public-url", "http://x", "--cinetpay-api-url", "api.example")
            self.assertEqual(status, 2, err)
            status, err = self.run_service("--cinetpay-site-id", "1", "--cinetpay-api-key-file", empty,
                                           "--cinetpay-secret-file", key, "--public-url", "http://x")
            self.assertEqual(status, 2, err)
            self.assertIn("empty", err)
            status, err = self.run_service("--currency", "EUR")
            self.assertEqual(status, 2, err)
            status, err = self.run_service("--grace-period", "91d")
            self.assertEqual(status, 2, err)
        finally:
            tmp.drop()


class PaymentsOffTests(harness.ServiceTest, unittest.TestCase):
    def test_without_cinetpay_upgrade_applies_at_once_and_checkout_is_off(self):
        token, _ = self.svc.token_for(unique_email("off"))
        self.assertEqual(self.svc.post("/api/v1/payments/checkout", {"tier": "pro"}, token=token).status, 404)
        self.assertEqual(self.svc.post(NOTIFY, raw=b"a=b").status, 404)
        r = self.svc.post("/api/v1/subscription/upgrade", {"target_tier": "pro"}, token=token)
        self.assertEqual(r.status, 200, r.body)
        s = self.svc.get("/api/v1/subscription", token=token).json()
        self.assertEqual(s["subscription_tier"], "pro")
        self.assertFalse(s["payments_enabled"])
        self.assertEqual(self.svc.get("/api/v1/payments", token=token).json(), [])


if __name__ == "__main__":
    if not CLI or not os.access(CLI, os.X_OK):
        sys.exit("KQ_CLI does not name the built kauri-quota")
    unittest.main(verbosity=2)
