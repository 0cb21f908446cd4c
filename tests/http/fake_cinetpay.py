"""A fake CinetPay checkout API on loopback for the payment tests.

It answers POST /v2/payment (initialisation) and POST /v2/payment/check
like the real API (codes as strings, amounts as strings in the check's
data), with answers the test chooses per transaction, and it signs
notifications as CinetPay does: x-token = hex HMAC-SHA256 with the secret
key over the 16 form fields in the documented order.
"""
import hashlib
import hmac
import http.server
import json
import threading
import time
import urllib.parse

SITE_ID = "445160"
API_KEY = "12912847765bc0db748fdd44.94385148"
SECRET_KEY = "d9a7e2b4c1f0835e6a2b7c9d0e1f2a3b"

FIELDS = ("cpm_site_id", "cpm_trans_id", "cpm_trans_date", "cpm_amount", "cpm_currency", "signature",
          "payment_method", "cel_phone_num", "cpm_phone_prefixe", "cpm_language", "cpm_version",
          "cpm_payment_config", "cpm_page_action", "cpm_custom", "cpm_designation", "cpm_error_message")


def sign(form, secret=SECRET_KEY):
    data = "".join(form.get(name, "") for name in FIELDS)
    return hmac.new(secret.encode(), data.encode(), hashlib.sha256).hexdigest()


class FakeCinetPay:
    """Modes of the initialisation: "ok", "error" (code 608 without data),
    "timeout". Modes of a check: "accepted", "refused", "waiting",
    "wrong_amount", "wrong_currency", "timeout", "error_no_data" (609
    without data), "refused_no_data" (627 without data)."""

    def __init__(self, delay=3.0):
        self.lock = threading.Lock()
        self.init_mode = "ok"
        self.check_modes = {}  # transaction id -> mode; default "waiting"
        self.inits = []  # JSON bodies of the initialisations received
        self.checks = []  # transaction ids of the checks received
        self.created = {}  # transaction id -> init body
        self.delay = delay
        # Where initialisation sends the customer; GET /checkout/ID on this
        # server answers a small page, for a browser that follows it.
        self.payment_base = "https://checkout.cinetpay.example/payment/"
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def answer(self, body):
                data = json.dumps(body).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the service gave up waiting (the timeout modes)

            def do_GET(self):
                data = b"<!doctype html><title>CinetPay</title><h1>CinetPay checkout</h1>"
                self.send_response(200 if self.path.startswith("/checkout/") else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                if body.get("apikey") != API_KEY or body.get("site_id") != SITE_ID:
                    return self.answer({"code": "609", "message": "AUTH_NOT_FOUND", "data": []})
                if self.path == "/v2/payment":
                    return self.initialise(body)
                if self.path == "/v2/payment/check":
                    return self.check(body)
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def initialise(self, body):
                with fake.lock:
                    fake.inits.append(body)
                    mode = fake.init_mode
                if mode == "timeout":
                    time.sleep(fake.delay)
                    return self.answer({"code": "201", "message": "CREATED", "data": {}})
                if mode == "error":
                    return self.answer({"code": "608", "message": "MINIMUM_REQUIRED_FIELDS",
                                        "description": "Les champs suivants sont requis"})
                tid = body["transaction_id"]
                with fake.lock:
                    fake.created[tid] = body
                return self.answer({"code": "201", "message": "CREATED",
                                    "description": "Transaction created with success",
                                    "data": {"payment_token": "tok" + tid,
                                             "payment_url": fake.payment_base + tid},
                                    "api_response_id": "1234.5678"})

            def check(self, body):
                tid = body.get("transaction_id", "")
                with fake.lock:
                    fake.checks.append(tid)
                    mode = fake.check_modes.get(tid, "waiting")
                    order = fake.created.get(tid, {})
                amount = str(order.get("amount", 0))
                currency = order.get("currency", "XOF")
                data = {"amount": amount, "currency": currency, "status": "ACCEPTED", "payment_method": "OM",
                        "description": order.get("description", ""), "metadata": order.get("metadata"),
                        "operator_id": "MP2311.1234.A5678", "payment_date": "2026-12-01 10:00:00"}
                if mode == "timeout":
                    time.sleep(fake.delay)
                    return self.answer({"code": "00", "message": "SUCCES", "data": data})
                if mode == "accepted":
                    return self.answer({"code": "00", "message": "SUCCES", "data": data})
                if mode == "wrong_amount":
                    data["amount"] = str(int(amount) - 5)
                    return self.answer({"code": "00", "message": "SUCCES", "data": data})
                if mode == "wrong_currency":
                    data["currency"] = "XAF" if currency == "XOF" else "XOF"
                    return self.answer({"code": "00", "message": "SUCCES", "data": data})
                if mode == "error_no_data":
                    return self.answer({"code": "609", "message": "AUTH_NOT_FOUND",
                                        "description": "Site id or api key not found"})
                if mode == "refused_no_data":
                    return self.answer({"code": "627", "message": "TRANSACTION_CANCEL"})
                if mode == "refused":
                    data["status"] = "REFUSED"
                    return self.answer({"code": "600", "message": "PAYMENT_FAILED", "data": data})
                data["status"] = "WAITING_FOR_CUSTOMER"
                return self.answer({"code": "662", "message": "WAITING_CUSTOMER_PAYMENT", "data": data})

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.base = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def set_check(self, transaction_id, mode):
        with self.lock:
            self.check_modes[transaction_id] = mode

    def check_count(self, transaction_id):
        with self.lock:
            return self.checks.count(transaction_id)

    def notification(self, transaction_id, **overrides):
        """The form CinetPay posts for `transaction_id` (its stored order)."""
        with self.lock:
            order = dict(self.created.get(transaction_id, {}))
        form = {
            "cpm_site_id": SITE_ID,
            "cpm_trans_id": transaction_id,
            "cpm_trans_date": "2026-12-01 10:00:00",
            "cpm_amount": str(order.get("amount", 7000)),
            "cpm_currency": order.get("currency", "XOF"),
            "signature": "a1b2c3d4e5",
            "payment_method": "OM",
            "cel_phone_num": "0700000000",
            "cpm_phone_prefixe": "225",
            "cpm_language": "fr",
            "cpm_version": "V4",
            "cpm_payment_config": "Single",
            "cpm_page_action": "Payment",
            "cpm_custom": order.get("metadata", "") or "",
            "cpm_designation": order.get("description", "Kauri & co / 100% #1"),
            "cpm_error_message": "",
        }
        form.update(overrides)
        return form

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def encode(form):
    return urllib.parse.urlencode(form).encode()
