# Locust users for the chat gate load test, driven by load_test.py, which
# starts the gates, mints the tokens and checks the database afterwards.
#
#   locust -f chat_locust.py --headless -u N -r N -t 20s --stop-timeout 10 -H GATE_A
#
# Environment (set by load_test.py):
#   KQ_GATES        comma-separated base URLs of the gates (two)
#   KQ_TOKENS       a JSON file {user: bearer token}
#   KQ_HOT          comma-separated hot users, who send a large share
#   KQ_OUT          a JSON-lines file: one line per chat request, with its
#                   Idempotency-Key, user, estimate and every attempt
#   KQ_KILLED       a file that exists once the driver has SIGKILLed the
#                   gate named in it: connection errors to that gate are
#                   then expected, and the request is retried on the other
#                   gate with the same Idempotency-Key
#
# Every answer must be 200, 429 with Retry-After, or 502 (a generator
# failure); a retry of a request cut off by the kill may also get 409 with
# Retry-After while its reservation is still open. Anything else is a
# failure, and Locust then exits 1.
import locust  # first: it monkey-patches the standard library for gevent

from locust import HttpUser, between, events, task

import gevent
import json
import os
import random
import time
import uuid

GATES = [g for g in os.environ.get("KQ_GATES", "").split(",") if g]
TOKENS = json.load(open(os.environ["KQ_TOKENS"])) if os.environ.get("KQ_TOKENS") else {}
HOT = [u for u in os.environ.get("KQ_HOT", "").split(",") if u]
COLD = [u for u in TOKENS if u not in HOT]
OUT = open(os.environ["KQ_OUT"], "a", encoding="utf-8") if os.environ.get("KQ_OUT") else None
KILLED = os.environ.get("KQ_KILLED", "")

# A retried request waits for its first attempt's reservation to expire
# and be swept: the reservation TTL plus the sweep interval, with margin.
RETRY_DEADLINE_S = float(os.environ.get("KQ_RETRY_DEADLINE", "20"))
REPLAY_SHARE = 0.1  # requests sent again with the same key after their answer
HOT_SHARE = 0.4

unexpected = []


def killed_gate():
    try:
        with open(KILLED, encoding="utf-8") as f:
            return f.read().strip()
    except OSError:
        return None


class ChatUser(HttpUser):
    wait_time = between(0.0, 0.02)
    host = GATES[0] if GATES else None

    def on_start(self):
        self.gate = random.randrange(len(GATES))

    def post(self, gate, user, key, body, name, allow_409=False):
        """One attempt; returns (status, retry_after, detail) with status 0
        for a connection cut off by the kill of `gate`."""
        started = time.monotonic()
        with self.client.post(GATES[gate] + "/api/v1/chat", data=body, name=name, catch_response=True,
                              headers={"Authorization": "Bearer " + TOKENS[user], "Idempotency-Key": key,
                                       "Content-Type": "application/json"}) as r:
            status = r.status_code or 0
            retry_after = r.headers.get("Retry-After") if status else None
            detail = ""
            if status >= 400:
                try:
                    detail = r.json().get("detail", "") or ""
                except ValueError:
                    detail = r.text[:200]
            if status == 200 or status == 502 or (status == 429 and retry_after):
                r.success()
            elif status == 409 and allow_409 and retry_after:
                r.success()
            elif status == 0 and killed_gate() == GATES[gate]:
                r.success()
            else:
                why = f"HTTP {status} {retry_after=} {detail or r.text[:200]}"
                unexpected.append(why)
                r.failure(why)
        return status, retry_after, detail, time.monotonic() - started

    def until_outcome(self, user, key, body, name, record, replay):
        """Sends the request to this user's gate. When the kill cuts it
        off, this user moves to the other gate and retries with the same
        key until the request has an outcome (409: still open)."""
        status, retry_after, detail, took = self.post(self.gate, user, key, body, name)
        record["attempts"].append({"gate": self.gate, "status": status, "retry_after": retry_after,
                                   "detail": detail, "seconds": took, "replay": replay})
        if status != 0:
            return status
        self.gate = 1 - self.gate
        deadline = time.monotonic() + RETRY_DEADLINE_S
        while True:
            status, retry_after, detail, took = self.post(self.gate, user, key, body, "retry after kill", True)
            record["attempts"].append({"gate": self.gate, "status": status, "retry_after": retry_after,
                                       "detail": detail, "seconds": took, "replay": replay, "retry": True})
            if status != 409 or time.monotonic() > deadline:
                return status
            gevent.sleep(min(float(retry_after or 1), 1.0))

    @task
    def chat(self):
        user = random.choice(HOT) if HOT and random.random() < HOT_SHARE else random.choice(COLD)
        key = uuid.uuid4().hex
        estimate = random.randint(30, 120)
        body = json.dumps({"message": "hello there", "max_tokens": estimate})
        record = {"key": key, "user": user, "estimate": estimate, "attempts": []}
        status = self.until_outcome(user, key, body, "POST /api/v1/chat", record, replay=False)
        if status and random.random() < REPLAY_SHARE:
            # The same request again, on either gate: it must get the same
            # outcome and never be counted twice.
            self.gate = random.randrange(len(GATES))
            if GATES[self.gate] == killed_gate():
                self.gate = 1 - self.gate
            self.until_outcome(user, key, body, "replay", record, replay=True)
        if OUT:
            OUT.write(json.dumps(record) + "\n")
            OUT.flush()


@events.quitting.add_listener
def _verdict(environment, **_):
    if OUT:
        OUT.close()
    if unexpected:
        print(f"chat_locust: {len(unexpected)} unexpected answers, e.g. {unexpected[:3]}")
        environment.process_exit_code = 1
