#!/usr/bin/python3
"""The subscriber pages of kauri-user-service, driven in headless Chromium.

Every test starts its own service on a free loopback port with a fresh
SQLite database and a generated token secret, drives the pages through
Selenium, consumes messages with the kauri-quota CLI on the same database,
saves screenshots in English and French, and stops the service.

Run by CTest (label web):
    /usr/bin/python3 test_pages.py --service PATH --cli PATH --screenshots DIR [unittest args]

A missing Chromium, chromedriver or Selenium is a failure, never a skip: the
pages are only tested if the browser really runs.
"""

import argparse
import base64
import json
import os
import re
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WAIT_SECONDS = 20

# Filled from the command line in main().
CONFIG = {"service": None, "cli": None, "screenshots": None}

# Thousands separators a price may use: narrow no-break space, no-break
# space or a plain space ("7 000 FCFA").
SPACE = "[\u202f\u00a0 ]"


def price_pattern(amount):
    digits = str(amount)
    groups = []
    while digits:
        groups.insert(0, digits[-3:])
        digits = digits[:-3]
    return re.compile("^" + SPACE.join(groups) + SPACE + "FCFA$")


def plain(text):
    """Text with its no-break spaces turned into plain ones, for comparisons."""
    return text.replace("\u202f", " ").replace("\u00a0", " ").strip()


class service:
    """One kauri-user-service process on 127.0.0.1:<free port>."""

    def __init__(self, workdir, extra_args=()):
        self.workdir = workdir
        self.db_url = "sqlite:" + os.path.join(workdir, "kauri_quota.db")
        secret_path = os.path.join(workdir, "jwt.secret")
        with open(secret_path, "w", encoding="ascii") as f:
            f.write(secrets.token_hex(32))
        os.chmod(secret_path, 0o600)
        self.stderr_path = os.path.join(workdir, "service.stderr")
        env = {k: v for k, v in os.environ.items() if not k.startswith("KAURI_")}
        self.stderr = open(self.stderr_path, "wb")
        self.process = subprocess.Popen(
            [CONFIG["service"], "--db", self.db_url, "--listen", "127.0.0.1:0", "--jwt-secret-file", secret_path,
             "--migrate"] + list(extra_args),
            stdout=subprocess.PIPE, stderr=self.stderr, env=env)
        self.base_url = self._read_address()

    def _read_address(self):
        deadline = time.monotonic() + 30
        line = b""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.process.stdout], [], [], 0.5)
            if ready:
                chunk = os.read(self.process.stdout.fileno(), 1)
                if not chunk:
                    break
                line += chunk
                if chunk == b"\n":
                    break
            elif self.process.poll() is not None:
                break
        match = re.match(r"listening on (http://127\.0\.0\.1:\d+)\s*$", line.decode("utf-8", "replace"))
        if not match:
            self.stop()
            raise AssertionError("the service did not print its address (got %r); stderr:\n%s" % (line, self.log()))
        return match.group(1)

    def log(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")[-4000:]

    def stop(self):
        """SIGTERM, then the exit status (the service must stop cleanly with 0)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process.stdout.close()
        self.stderr.close()
        return self.process.returncode

    def call(self, method, path, body=None, token=None, raw=None, headers=None):
        """One API call; returns (status, parsed JSON)."""
        data = raw if body is None else json.dumps(body).encode()
        hdrs = {"Content-Type": "application/json"}
        if token:
            hdrs["Authorization"] = "Bearer " + token
        hdrs.update(headers or {})
        request = urllib.request.Request(self.base_url + path, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def register(self, email, password):
        status, body = self.call("POST", "/api/v1/auth/register", {"email": email, "password": password})
        if status != 201:
            raise AssertionError("registering %s gave %d %r" % (email, status, body))
        return body["user_id"]

    def consume(self, user_id):
        """One message through the kauri-quota CLI; its exit status (0 allowed, 3 denied)."""
        result = subprocess.run([CONFIG["cli"], "--db", self.db_url, "consume", user_id], capture_output=True,
                                timeout=30)
        return result.returncode


def make_browser(accept_language, profile_dir):
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            raise AssertionError("%s is missing: install chromium and chromium-driver" % path)
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as e:
        raise AssertionError("python3-selenium is missing (%s); run with /usr/bin/python3" % e)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--user-data-dir=" + profile_dir,
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-gpu", "--window-size=1280,900", "--hide-scrollbars",
                 "--lang=" + accept_language.split(",")[0]):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"intl.accept_languages": accept_language})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


class page_test(unittest.TestCase):
    """A fresh service and browser per test; screenshots in CONFIG['screenshots']."""

    accept_language = "en-US,en"

    def service_args(self):
        return ()

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="kq-web-")
        self.service = service(self.workdir, self.service_args())
        try:
            self.browser = make_browser(self.accept_language, os.path.join(self.workdir, "profile"))
        except BaseException:
            self.service.stop()
            raise
        self.browser.set_script_timeout(WAIT_SECONDS)

    def tearDown(self):
        # unittest records the test's failure on its outcome before tearDown.
        outcome = getattr(self, "_outcome", None)
        if outcome is not None and not outcome.success:
            self.screenshot("failure")
        self.browser.quit()
        status = self.service.stop()
        log = self.service.log()
        shutil.rmtree(self.workdir, ignore_errors=True)
        self.assertEqual(status, 0, "the service did not exit cleanly on SIGTERM; stderr:\n" + log)

    # -- helpers ---------------------------------------------------------

    def open(self, path):
        self.browser.get(self.service.base_url + path)

    def wait(self, condition, what):
        from selenium.common.exceptions import TimeoutException
        from selenium.webdriver.support.ui import WebDriverWait
        try:
            return WebDriverWait(self.browser, WAIT_SECONDS, poll_frequency=0.1).until(lambda d: condition())
        except TimeoutException:
            raise AssertionError("timed out waiting for " + what) from None

    def find(self, css):
        from selenium.webdriver.common.by import By
        return self.browser.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css):
        from selenium.webdriver.common.by import By
        return self.browser.find_elements(By.CSS_SELECTOR, css)

    def visible(self, css):
        elements = self.find_all(css)
        return bool(elements) and elements[0].is_displayed()

    def text(self, css):
        return plain(self.find(css).text)

    def switch_language(self, lang):
        self.find('[data-lang="%s"]' % lang).click()
        self.wait(lambda: self.browser.execute_script("return document.documentElement.lang") == lang,
                  "the page to switch to " + lang)

    def screenshot(self, name):
        """The whole page (beyond the window) as PNG, named after the test class and `name`."""
        directory = CONFIG["screenshots"]
        os.makedirs(directory, exist_ok=True)
        time.sleep(0.4)  # the bars animate their width for 0.3 s
        size = self.browser.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
        shot = self.browser.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 4000), "scale": 1}})
        path = os.path.join(directory, "%s-%s.png" % (type(self).__name__, name))
        with open(path, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        return path

    def assert_no_console_errors(self):
        """No script error and no refused resource (a CSP violation shows here)."""
        try:
            entries = self.browser.get_log("browser")
        except Exception:  # chromedriver without the log endpoint: nothing to check
            return
        severe = [e["message"] for e in entries if e.get("level") == "SEVERE"]
        self.assertEqual(severe, [], "browser console errors")


class pricing_checks(page_test):
    """What the pricing page must show: the four tiers, their FCFA prices and limits."""

    expected = [("free", "Free", "Gratuit", 0), ("pro", "Pro", "Pro", 7000), ("max", "Max", "Max", 22000),
                ("enterprise", "Enterprise", "Entreprise", 85000)]

    def cards(self):
        self.wait(lambda: self.find("#tiers").get_attribute("data-count") == "4", "the four tier cards")
        return self.find_all("#tiers .tier-card")

    def check_cards(self, lang):
        cards = self.cards()
        self.assertEqual([c.get_attribute("data-tier") for c in cards], [e[0] for e in self.expected])
        for card, (tier_id, name_en, name_fr, price) in zip(cards, self.expected):
            from selenium.webdriver.common.by import By
            name = card.find_element(By.CSS_SELECTOR, ".tier-name").text
            amount = card.find_element(By.CSS_SELECTOR, ".price-amount").text
            period = card.find_element(By.CSS_SELECTOR, ".price-period").text
            limits = [plain(li.text) for li in card.find_elements(By.CSS_SELECTOR, ".tier-limits li")]
            self.assertEqual(name, name_fr if lang == "fr" else name_en)
            self.assertRegex(amount, price_pattern(price), "the price of " + tier_id)
            if price == 0:
                self.assertEqual(period, "par mois, sans carte bancaire" if lang == "fr" else "per month, no card needed")
            else:
                self.assertEqual(period, "par mois" if lang == "fr" else "per month")
            cta = card.find_element(By.CSS_SELECTOR, "a.button")
            self.assertTrue(cta.get_attribute("href").endswith("/account?plan=" + tier_id))
            if tier_id == "free":
                expected = (["5 messages par jour", "150 messages par mois", "100 000 jetons par mois"] if lang == "fr"
                            else ["5 messages per day", "150 messages per month", "100 000 tokens per month"])
                self.assertEqual(limits, expected)
            if tier_id == "enterprise":
                expected = (["Messages illimités par jour", "Messages illimités par mois", "Jetons illimités"]
                            if lang == "fr" else
                            ["Unlimited messages per day", "Unlimited messages per month", "Unlimited tokens"])
                self.assertEqual(limits, expected)



class pricing_page(pricing_checks):
    """GET /: the four visible tiers, their FCFA prices and limits, in English and French."""

    def test_shows_the_four_tiers_and_their_prices_in_english_and_french(self):
        self.open("/")
        self.assertEqual(self.browser.execute_script("return document.documentElement.lang"), "en")
        self.check_cards("en")
        self.assertEqual(self.text("h1"), "Simple plans, prices in FCFA")
        self.screenshot("en")
        self.switch_language("fr")
        self.check_cards("fr")
        self.assertEqual(self.text("h1"), "Des offres simples, en FCFA")
        self.screenshot("fr")
        # The choice is remembered: a reload stays in French.
        self.browser.refresh()
        self.check_cards("fr")
        self.assert_no_console_errors()

    def test_fits_a_phone_screen_in_both_languages(self):
        self.browser.set_window_size(390, 844)
        self.open("/")
        for lang in ("en", "fr"):
            self.switch_language(lang)
            self.check_cards(lang)
            overflow = self.browser.execute_script(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
            self.assertLessEqual(overflow, 0, "the page scrolls sideways on a phone")
            self.screenshot("phone-" + lang)

    def test_a_call_to_action_leads_to_the_account_page(self):
        self.open("/")
        self.cards()
        self.find('[data-cta="pro"]').click()
        self.wait(lambda: self.visible("#register-form"), "the registration form")
        self.assertTrue(self.browser.current_url.endswith("/account?plan=pro"))
        self.screenshot("cta-en")
        self.switch_language("fr")
        self.assertEqual(self.text("#register-panel h1"), "Créer un compte")
        self.screenshot("cta-fr")


class pricing_page_french_browser(pricing_checks):
    """A browser that asks for French gets the French page without touching the switch."""

    accept_language = "fr-FR,fr"

    def test_shows_the_four_tiers_and_their_prices_in_english_and_french(self):
        self.open("/")
        self.assertEqual(self.browser.execute_script("return document.documentElement.lang"), "fr")
        self.check_cards("fr")
        self.screenshot("fr")
        self.switch_language("en")
        self.check_cards("en")
        self.screenshot("en")


class account_page(page_test):
    """GET /account: log in or register, the quota bars, the warning, the exceeded state, the upgrade."""

    password = "correct horse battery"

    def log_in(self, email, password):
        self.wait(lambda: self.visible("#login-form"), "the login form")
        self.find("#login-email").send_keys(email)
        self.find("#login-password").send_keys(password)
        self.find("#login-submit").click()

    def bar(self, name):
        element = self.find("#bar-" + name)
        return (element.get_attribute("aria-valuenow"), element.get_attribute("aria-valuemax"),
                self.text("#text-" + name))

    def wait_bar(self, name, used, limit, shown):
        self.wait(lambda: self.visible("#dashboard") and self.bar(name) == (used, limit, shown),
                  "bar %s to be %s/%s (%r), it is %r" % (name, used, limit, shown, self.bar(name)
                                                       if self.find_all("#bar-" + name) else None))

    def refresh(self):
        self.wait(lambda: self.find("#refresh").is_enabled(), "the refresh button")
        self.find("#refresh").click()

    def test_a_registered_user_logs_in_and_sees_zero_of_five(self):
        self.service.register("ama@example.org", self.password)
        self.open("/account")
        self.log_in("Ama@Example.org", self.password)
        self.wait_bar("today", "0", "5", "0 / 5")
        self.assertEqual(self.bar("month"), ("0", "150", "0 / 150"))
        self.assertEqual(self.bar("tokens"), ("0", "100000", "0 / 100 000"))
        self.assertEqual(self.text("#plan-name"), "Free")
        self.assertIn("ama@example.org", self.text("#signed-in-as"))
        self.assertFalse(self.visible("#warning"))
        self.assertFalse(self.visible("#exceeded"))
        # Free users are offered the three higher tiers.
        self.assertEqual([b.get_attribute("data-upgrade") for b in self.find_all("[data-upgrade]")],
                         ["pro", "max", "enterprise"])
        self.screenshot("en")
        self.switch_language("fr")
        self.assertEqual(self.text("#plan-name"), "Gratuit")
        self.assertEqual(self.text("#label-today"), "Messages aujourd’hui")
        self.assertEqual(self.bar("tokens")[2], "0 / 100 000")
        self.screenshot("fr")
        # The session survives a reload.
        self.browser.refresh()
        self.wait_bar("today", "0", "5", "0 / 5")
        self.assert_no_console_errors()

    def test_warning_after_four_messages_exceeded_after_five_and_upgrade_to_pro(self):
        user_id = self.service.register("kofi@example.org", self.password)
        self.open("/account")
        self.log_in("kofi@example.org", self.password)
        self.wait_bar("today", "0", "5", "0 / 5")

        for _ in range(4):
            self.assertEqual(self.service.consume(user_id), 0)
        self.refresh()
        self.wait_bar("today", "4", "5", "4 / 5")
        self.wait(lambda: self.visible("#warning"), "the 80% warning banner")
        self.assertFalse(self.visible("#exceeded"))
        self.assertIn("80%", self.text("#warning"))
        self.assertEqual(self.find("#bar-today").get_attribute("data-level"), "high")
        self.screenshot("warning-en")
        self.switch_language("fr")
        self.assertIn("80 %", self.text("#warning"))
        self.screenshot("warning-fr")
        self.switch_language("en")

        self.assertEqual(self.service.consume(user_id), 0)
        self.assertEqual(self.service.consume(user_id), 3, "the 6th message must be denied")
        self.refresh()
        self.wait_bar("today", "5", "5", "5 / 5")
        self.wait(lambda: self.visible("#exceeded"), "the quota exceeded state")
        self.assertFalse(self.visible("#warning"))
        self.assertEqual(self.text("#exceeded h2"), "Quota exceeded")
        _, quota = self.service_quota_via_browser()
        reset = self.find("#reset-time")
        self.assertEqual(reset.get_attribute("datetime"), quota["daily_resets_at"])
        weekdays_en = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
        self.assertTrue(any(day in reset.text for day in weekdays_en), reset.text)
        self.screenshot("exceeded-en")
        self.switch_language("fr")
        self.assertEqual(self.text("#exceeded h2"), "Quota dépassé")
        reset = self.find("#reset-time")
        weekdays_fr = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
        self.assertTrue(any(day in reset.text for day in weekdays_fr), reset.text)
        self.screenshot("exceeded-fr")

        self.find('[data-upgrade="pro"]').click()
        self.wait(lambda: self.find("#plan-name").get_attribute("data-tier") == "pro", "the plan to become Pro")
        self.wait_bar("today", "5", "100", "5 / 100")
        self.assertEqual(self.bar("month"), ("5", "3000", "5 / 3 000"))
        self.assertEqual(self.bar("tokens"), ("0", "3000000", "0 / 3 000 000"))
        self.assertFalse(self.visible("#exceeded"))
        self.assertFalse(self.visible("#warning"))
        self.assertEqual(self.text("#notice"), "Vous êtes maintenant sur l’offre Pro.")
        self.assertEqual([b.get_attribute("data-upgrade") for b in self.find_all("[data-upgrade]")],
                         ["max", "enterprise"])
        self.screenshot("pro-fr")
        self.switch_language("en")
        self.assertEqual(self.text("#notice"), "You are now on the Pro plan.")
        self.screenshot("pro-en")
        # The next message goes through again.
        self.assertEqual(self.service.consume(user_id), 0)
        self.assert_no_console_errors()

    def service_quota_via_browser(self):
        """The quota JSON fetched with the page's own token, as the page sees it."""
        answer = self.browser.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "fetch('/api/v1/subscription/quota', {headers: {Authorization: 'Bearer ' +"
            " sessionStorage.getItem('kauri.access_token')}})"
            ".then(r => r.json().then(b => done([r.status, b])), e => done([0, String(e)]));")
        self.assertEqual(answer[0], 200, answer)
        return answer

    def test_register_through_the_form_and_errors_from_the_service_are_shown(self):
        self.open("/account?plan=pro")
        self.wait(lambda: self.visible("#register-form"), "the registration form")
        # A password under 8 characters: the service's 422 detail is shown.
        self.find("#register-email").send_keys("awa@example.org")
        self.find("#register-password").send_keys("short")
        self.find("#register-submit").click()
        self.wait(lambda: self.visible("#register-error"), "the registration error")
        self.assertNotEqual(self.text("#register-error"), "")
        self.screenshot("register-error-en")
        self.find("#register-password").clear()
        self.find("#register-password").send_keys(self.password)
        self.find("#register-submit").click()
        self.wait_bar("today", "0", "5", "0 / 5")
        self.assertEqual(self.text("#notice"), "Account created. Welcome!")
        # The plan chosen on the pricing page is the one offered first.
        self.assertIn("button-primary", self.find('[data-upgrade="pro"]').get_attribute("class"))
        self.screenshot("registered-en")
        self.switch_language("fr")
        self.assertEqual(self.text("#notice"), "Compte créé. Bienvenue !")
        self.screenshot("registered-fr")

        # Log out, then a wrong password: the service's 401 detail is shown.
        self.find("#logout").click()
        self.log_in("awa@example.org", "wrong password")
        self.wait(lambda: self.visible("#login-error"), "the login error")
        status, body = self.service.call("POST", "/api/v1/auth/login",
                                         {"email": "awa@example.org", "password": "wrong password"})
        self.assertEqual(status, 401)
        self.assertEqual(self.text("#login-error"), "Adresse e-mail ou mot de passe incorrect.")
        self.screenshot("login-error-fr")
        self.switch_language("en")
        self.assertEqual(self.text("#login-error"), plain(body["detail"]))  # the service's own words
        self.screenshot("login-error-en")
        self.switch_language("fr")

        # Registering the same email again: the 409 detail is shown.
        self.find("#show-register").click()
        self.find("#register-email").send_keys("AWA@example.org")
        self.find("#register-password").send_keys(self.password)
        self.find("#register-submit").click()
        self.wait(lambda: self.visible("#register-error"), "the duplicate-email error")
        status, body = self.service.call("POST", "/api/v1/auth/register",
                                         {"email": "awa@example.org", "password": self.password})
        self.assertEqual(status, 409)
        self.assertEqual(self.text("#register-error"), "Un compte existe déjà pour cette adresse e-mail.")
        self.screenshot("register-taken-fr")
        self.switch_language("en")
        self.assertEqual(self.text("#register-error"), plain(body["detail"]))
        self.screenshot("register-taken-en")

    def test_every_field_has_a_label_and_every_bar_a_name(self):
        self.open("/account")
        self.wait(lambda: self.visible("#login-form"), "the login form")
        for lang in ("en", "fr"):
            self.switch_language(lang)
            unlabelled = self.browser.execute_script(
                "return [...document.querySelectorAll('input')].filter(i => !i.labels.length"
                " || !i.labels[0].textContent.trim()).map(i => i.id)")
            self.assertEqual(unlabelled, [], "inputs without a visible label")
            unnamed = self.browser.execute_script(
                "return [...document.querySelectorAll('[role=progressbar]')].filter(b => {"
                " const l = document.getElementById(b.getAttribute('aria-labelledby'));"
                " return !l || !l.textContent.trim(); }).map(b => b.id)")
            self.assertEqual(unnamed, [], "progress bars without a name")
            self.screenshot("login-" + lang)

    def test_an_invalid_session_returns_to_the_login_form(self):
        self.service.register("yao@example.org", self.password)
        self.open("/account")
        self.log_in("yao@example.org", self.password)
        self.wait_bar("today", "0", "5", "0 / 5")
        self.browser.execute_script("sessionStorage.setItem('kauri.access_token', 'not-a-token')")
        self.refresh()
        self.wait(lambda: self.visible("#login-form"), "the login form after a 401")
        self.assertEqual(self.text("#login-error"), "Your session has expired. Please log in again.")
        self.screenshot("expired-en")
        self.switch_language("fr")
        self.assertEqual(self.text("#login-error"), "Votre session a expiré. Veuillez vous reconnecter.")
        self.screenshot("expired-fr")


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "http"))
import fake_cinetpay  # noqa: E402  (the HTTP tests' fake CinetPay)


class account_payments(page_test):
    """GET /account with CinetPay payments on: after a confirmed payment the page shows Pro, the
    paid-until date, the payment, the renewal and the 30-day chart, in English and French."""

    password = account_page.password
    log_in = account_page.log_in
    bar = account_page.bar
    wait_bar = account_page.wait_bar

    def service_args(self):
        self.fake = fake_cinetpay.FakeCinetPay()
        self.fake.payment_base = self.fake.base + "/checkout/"
        key = os.path.join(self.workdir, "cinetpay.key")
        secret = os.path.join(self.workdir, "cinetpay.secret")
        with open(key, "w") as f:
            f.write(fake_cinetpay.API_KEY)
        with open(secret, "w") as f:
            f.write(fake_cinetpay.SECRET_KEY)
        return ["--cinetpay-api-url", self.fake.base + "/v2", "--cinetpay-site-id", fake_cinetpay.SITE_ID,
                "--cinetpay-api-key-file", key, "--cinetpay-secret-file", secret, "--public-url",
                "http://127.0.0.1:9"]

    def tearDown(self):
        try:
            super().tearDown()
        finally:
            self.fake.stop()

    def pay(self, token, tier="pro"):
        status, out = self.service.call("POST", "/api/v1/payments/checkout", {"tier": tier, "months": 1}, token=token)
        self.assertEqual(status, 201, out)
        tid = out["transaction_id"]
        self.fake.set_check(tid, "accepted")
        form = self.fake.notification(tid)
        status, _ = self.service.call("POST", "/api/v1/payments/cinetpay/notify", raw=fake_cinetpay.encode(form),
                                      headers={"Content-Type": "application/x-www-form-urlencoded",
                                               "x-token": fake_cinetpay.sign(form)})
        self.assertEqual(status, 200)
        return tid

    def test_after_a_payment_the_page_shows_pro_the_end_date_and_the_payment(self):
        from selenium.webdriver.common.by import By
        user_id = self.service.register("adjoa@example.org", self.password)
        status, login = self.service.call("POST", "/api/v1/auth/login",
                                          {"email": "adjoa@example.org", "password": self.password})
        self.assertEqual(status, 200)
        tid = self.pay(login["access_token"])
        for _ in range(3):
            self.assertEqual(self.service.consume(user_id), 0)
        _, sub = self.service.call("GET", "/api/v1/subscription", token=login["access_token"])
        end = sub["subscription_end_date"]

        self.open("/account")
        self.log_in("adjoa@example.org", self.password)
        self.wait(lambda: self.visible("#dashboard") and self.find("#plan-name").get_attribute("data-tier") == "pro",
                  "the plan to be Pro")
        self.wait_bar("today", "3", "100", "3 / 100")
        self.assertEqual(self.text("#plan-name"), "Pro")
        self.assertEqual(self.text("#plan-status"), "Active")
        expected_end = self.browser.execute_script(
            "return new Intl.DateTimeFormat('en-GB', {day: 'numeric', month: 'long', year: 'numeric'})"
            ".format(new Date(arguments[0]))", end)
        self.assertEqual(self.text("#plan-end"), plain(expected_end))
        rows = self.find_all("#payments-body tr")
        self.assertEqual([r.get_attribute("data-transaction") for r in rows], [tid])
        cells = [plain(c.text) for c in rows[0].find_elements(By.CSS_SELECTOR, "td")]
        self.assertEqual(cells[1:4], ["Pro, 1 month", "7 000 XOF", "Paid"])
        self.assertEqual(cells[4], plain(expected_end))
        self.assertTrue(self.visible("#renew"))
        self.assertEqual(self.text("#renew"), "Renew Pro: 1 month, 7 000 XOF")
        bars = self.find_all("#history-chart svg rect.bar")
        self.assertEqual(len(bars), 30)
        self.assertEqual(bars[-1].get_attribute("data-messages"), "3")
        self.assertIn("bar-today", bars[-1].get_attribute("class"))
        self.assertGreater(float(bars[-1].get_attribute("height")), 0)
        self.assertEqual(float(bars[0].get_attribute("height")), 0)
        self.assertIn("3 messages", self.text("#history-summary"))
        self.assertEqual(self.text("#upgrade .muted"),
                         "You pay with CinetPay (Mobile Money or card); the new plan applies once the payment is "
                         "confirmed.")
        self.screenshot("paid-en")

        self.switch_language("fr")
        self.assertEqual(self.text("#plan-status"), "Active")
        expected_fr = self.browser.execute_script(
            "return new Intl.DateTimeFormat('fr-FR', {day: 'numeric', month: 'long', year: 'numeric'})"
            ".format(new Date(arguments[0]))", end)
        self.assertEqual(self.text("#plan-end"), plain(expected_fr))
        cells = [plain(c.text) for c in self.find_all("#payments-body tr")[0].find_elements(By.CSS_SELECTOR, "td")]
        self.assertEqual(cells[1:4], ["Pro, 1 mois", "7 000 XOF", "Payé"])
        self.assertEqual(self.text("#renew"), "Renouveler Pro : 1 mois, 7 000 XOF")
        self.assertEqual(self.text("#history h2"), "Messages des 30 derniers jours")
        self.screenshot("paid-fr")
        self.assert_no_console_errors()

        # Cancel at period end: the page says until when the plan stays.
        self.find("#cancel").click()
        self.wait(lambda: self.visible("#plan-scheduled"), "the cancellation note")
        self.assertIn(plain(expected_fr), self.text("#plan-scheduled"))
        self.assertFalse(self.visible("#cancel"))
        self.screenshot("canceled-fr")
        self.switch_language("en")
        self.assertEqual(self.text("#plan-scheduled"),
                         "Your plan stays active until %s, then you move to the free plan." % plain(expected_end))
        self.screenshot("canceled-en")

        # Renew: a checkout at CinetPay, and the browser goes to its page.
        inits = len(self.fake.inits)
        self.find("#renew").click()
        self.wait(lambda: "/checkout/" in self.browser.current_url, "the CinetPay checkout page")
        self.assertEqual(len(self.fake.inits), inits + 1)
        self.assertEqual(self.fake.inits[-1]["amount"], 7000)
        self.assertTrue(self.browser.current_url.endswith(self.fake.inits[-1]["transaction_id"]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--service", required=True, help="the kauri-user-service binary")
    parser.add_argument("--cli", required=True, help="the kauri-quota binary")
    parser.add_argument("--screenshots", required=True, help="directory for the PNG screenshots")
    args, rest = parser.parse_known_args()
    CONFIG.update(service=args.service, cli=args.cli, screenshots=args.screenshots)
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
