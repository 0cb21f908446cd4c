"""The chat page in headless Chromium (python3-selenium + chromium-driver
from Debian): five messages on the free tier, the 80% warning after the
fourth, and the quota-exceeded dialog on the sixth, in English (signed in
through the login form, which the gate forwards to the user service) and in
French (with a pasted token). The real kauri-user-service runs on the same
database. Screenshots go to $KQ_ARTIFACTS."""
import os
import tempfile
import unittest

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from gate_support import GateTestCase

ARTIFACTS = os.environ.get("KQ_ARTIFACTS") or tempfile.mkdtemp(prefix="kq-gate-web-")


def browser(lang):
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1100,900", f"--lang={lang}", "--user-data-dir=" + tempfile.mkdtemp(prefix="kq-chrome-")):
        opts.add_argument(flag)
    opts.add_experimental_option("prefs", {"intl.accept_languages": "fr-FR,fr" if lang == "fr" else "en-GB,en"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


class ChatPage(GateTestCase):
    def setUp(self):
        super().setUp()
        os.makedirs(ARTIFACTS, exist_ok=True)
        # The real user service on the same database: the page signs in
        # through it, and its address is the pricing link.
        self.users = self.start_user_service()
        self.users_url = f"http://127.0.0.1:{self.users.port}"
        status, _, body, _ = self.users.request("POST", "/api/v1/auth/register",
                                                {"email": "web@kauri.example", "password": "s3cret-pass"})
        self.assertEqual(status, 201, body)
        self.user_id = body["user_id"]
        self.gate = self.start_gate("--user-service-url", self.users_url, "--stub-latency", "50ms")
        self.driver = None

    def tearDown(self):
        if self.driver:
            self.driver.quit()
        super().tearDown()

    def shot(self, name):
        path = os.path.join(ARTIFACTS, name + ".png")
        self.driver.save_screenshot(path)
        return path

    def run_page(self, lang):
        self.driver = d = browser(lang)
        wait = WebDriverWait(d, 20)
        try:
            d.get(f"http://127.0.0.1:{self.gate.port}/chat")
            wait.until(lambda drv: drv.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1")
            self.assertEqual(d.find_element(By.TAG_NAME, "html").get_attribute("lang"), lang)
            self.shot(f"chat-{lang}-login")
            if lang == "en":
                d.find_element(By.ID, "email").send_keys("web@kauri.example")
                d.find_element(By.ID, "password").send_keys("wrong")
                d.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()
                wait.until(ec.visibility_of_element_located((By.ID, "login-error")))
                self.assertIn("Incorrect", d.find_element(By.ID, "login-error").text)
                d.find_element(By.ID, "password").clear()
                d.find_element(By.ID, "password").send_keys("s3cret-pass")
                d.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()
            else:
                status, _, body, _ = self.users.request("POST", "/api/v1/auth/login",
                                                        {"email": "web@kauri.example", "password": "s3cret-pass"})
                self.assertEqual(status, 200, body)
                d.find_element(By.ID, "token").send_keys(body["access_token"])
                d.find_element(By.CSS_SELECTOR, "#token-form button[type=submit]").click()
            wait.until(ec.visibility_of_element_located((By.ID, "chat")))
            remaining = d.find_element(By.ID, "remaining")
            wait.until(lambda drv: remaining.text != "")
            self.assertIn("5", remaining.text)
            warning = d.find_element(By.ID, "warning")
            for i in range(1, 6):
                box = d.find_element(By.ID, "message")
                box.send_keys(f"message number {i}")
                d.find_element(By.ID, "send").click()
                wait.until(lambda drv: len(drv.find_elements(By.CSS_SELECTOR, "#messages li.assistant")) == i)
                wait.until(lambda drv: str(5 - i) in remaining.text)
                self.assertEqual(warning.is_displayed(), i >= 4, f"warning after message {i}")
                if i == 4:
                    self.shot(f"chat-{lang}-warning")
            self.assertIn("5", warning.text)
            d.find_element(By.ID, "message").send_keys("one too many")
            d.find_element(By.ID, "send").click()
            dialog = d.find_element(By.ID, "quota-dialog")
            wait.until(lambda drv: dialog.get_attribute("open") is not None and dialog.is_displayed())
            self.shot(f"chat-{lang}-dialog")
            message = d.find_element(By.ID, "quota-dialog-message").text
            reset = d.find_element(By.ID, "quota-dialog-reset").text
            upgrade = d.find_element(By.ID, "quota-dialog-upgrade")
            self.assertTrue(upgrade.get_attribute("href").startswith(self.users_url))
            if lang == "fr":
                self.assertIn("limite quotidienne de 5 messages", message)
                self.assertIn("Pro", message)
                self.assertIn("renouvelé", reset)
                self.assertEqual(upgrade.text, "Voir les offres")
            else:
                self.assertIn("daily limit of 5 messages", message)
                self.assertIn("Pro", message)
                self.assertIn("resets", reset)
                self.assertEqual(upgrade.text, "See the plans")
            self.assertNotIn("T00:00", message + reset)  # the reset instant is shown once, readably
            d.find_element(By.ID, "quota-dialog-close").click()
            wait.until(lambda drv: dialog.get_attribute("open") is None)
            # The refused message was not sent: it is back in the box.
            self.assertEqual(d.find_element(By.ID, "message").get_attribute("value"), "one too many")
            self.assertEqual(len(d.find_elements(By.CSS_SELECTOR, "#messages li.user")), 5)
            # The page broke no content-security rule (inline code would have).
            errors = [e for e in d.get_log("browser") if "Content Security Policy" in e.get("message", "")]
            self.assertEqual(errors, [])
        except Exception:
            self.shot(f"chat-{lang}-failure")
            raise

    def test_english(self):
        self.run_page("en")

    def test_french(self):
        self.run_page("fr")


if __name__ == "__main__":
    unittest.main()
