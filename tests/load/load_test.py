#!/usr/bin/python3
"""Load and kill test of kauri-chat-gate: two gates share one database,
Locust drives them with many users and a few hot ones on a small tier, one
gate is SIGKILLed mid-load, and the database is checked with SQL after the
survivor's sweeper has settled what the dead gate left open.

  load_test.py --backend sqlite|postgresql --gate PATH --cli PATH
               [--pg-dir DIR] [--duration S] [--locust-users N] [--users N]

--pg-dir is the throw-away server of scripts/pg-test-server.sh (the CTest
fixture pg_server); the test makes its own database there and drops it.
Exits 0 when every check passes, 1 otherwise; prints the figures either way.
"""

import argparse
import concurrent.futures
import json
import os
import re
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import base64
import hashlib
import hmac

HERE = os.path.dirname(os.path.abspath(__file__))

# The small tier every user is on: the hot users meet the daily limit
# within seconds, the others meet it or the token limit during the run.
DAILY, MONTHLY, TOKENS = 8, 1000, 600
RESERVATION_TTL_S = 3
SWEEP_INTERVAL_S = 0.5
FAILURE_RATE = 0.04
# Long enough that most of a request's time is spent holding its
# reservation: the kill then always cuts off some open reservations.
STUB_LATENCY_MS = 200

failures = []


def check(condition, message):
    if not condition:
        failures.append(message)
        print(f"FAILED: {message}", flush=True)
    return condition


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint(secret, user, now):
    """An HS256 token as the user service mints it (sub, iat, nbf, exp)."""
    head = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64url(json.dumps({"sub": user, "iat": now, "nbf": now, "exp": now + 3600}).encode())
    mac = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64url(mac)}"


class database:
    """The shared database, queried with the backend's own client."""

    def __init__(self, backend, tmp, pg_dir):
        self.backend = backend
        if backend == "sqlite":
            self.path = os.path.join(tmp, "load.db")
            self.url = "sqlite:" + self.path
        else:
            with open(os.path.join(pg_dir, "conninfo"), encoding="ascii") as f:
                admin = f.read().strip()
            self.admin = admin
            self.name = "kq_load_" + secrets.token_hex(4)
            self.psql(f"CREATE DATABASE {self.name}", admin)
            self.url = re.sub(r"dbname=\S+", f"dbname={self.name}", admin)

    def psql(self, sql, conninfo=None):
        out = subprocess.run(["psql", "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-d",
                              conninfo or self.url, "-c", sql], capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise RuntimeError(f"psql: {out.stderr.strip()}")
        return [tuple(line.split("\t")) for line in out.stdout.splitlines() if line]

    def query(self, sql):
        if self.backend == "sqlite":
            with sqlite3.connect(self.path, timeout=30) as c:
                return [tuple("" if v is None else str(v) for v in row) for row in c.execute(sql)]
        return self.psql(sql)

    def drop(self):
        if self.backend == "postgresql":
            self.psql(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)", self.admin)


def cli(args, db, *argv):
    out = subprocess.run([args.cli, "--db", db.url, *argv], capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise RuntimeError(f"kauri-quota {' '.join(argv)}: {out.stderr.strip()}")
    return out.stdout


def start_gate(args, db, secret_file, log):
    # cpp-httplib holds a worker thread per keep-alive connection: each gate
    # gets enough for every Locust user, which all move to the survivor.
    argv = [args.gate, "--db", db.url, "--listen", "127.0.0.1:0", "--jwt-secret-file", secret_file,
            "--threads", str(2 * args.locust_users), "--generator", "stub", "--stub-latency", f"{STUB_LATENCY_MS}ms", "--stub-tokens", "16",
            "--stub-failure-rate", str(FAILURE_RATE), "--reservation-ttl", f"{RESERVATION_TTL_S}s",
            "--sweep-interval", f"{int(SWEEP_INTERVAL_S * 1000)}ms"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=open(log, "w"), text=True)
    line = proc.stdout.readline()
    m = re.match(r"listening on (http://127\.0\.0\.1:\d+)", line)
    if not m:
        proc.kill()
        raise RuntimeError(f"the gate printed {line!r}: {open(log).read()[-2000:]}")
    return proc, m.group(1)


def percentile(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def run(args):
    tmp = tempfile.mkdtemp(prefix="kq-load-")
    db = database(args.backend, tmp, args.pg_dir)
    gates = []
    try:
        setup = time.monotonic()
        cli(args, db, "migrate")
        cli(args, db, "tier", "set", "free", "--daily", str(DAILY), "--monthly", str(MONTHLY), "--tokens", str(TOKENS))
        users = [f"load-{i:03d}" for i in range(args.users)]
        hot = users[:4]
        # One CLI process per user, a few at a time (each pays its own
        # connection and commit).
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda u: cli(args, db, "user", "add", u, "--tier", "free"), users))
        secret = secrets.token_hex(32).encode()
        secret_file = os.path.join(tmp, "jwt-secret")
        with open(secret_file, "wb") as f:
            f.write(secret)
        now = int(time.time())
        tokens_file = os.path.join(tmp, "tokens.json")
        with open(tokens_file, "w", encoding="ascii") as f:
            json.dump({u: mint(secret, u, now) for u in users}, f)

        print(f"[{args.backend}] setup: {len(users)} users in {time.monotonic() - setup:.1f} s", flush=True)
        gates = [start_gate(args, db, secret_file, os.path.join(tmp, f"gate{i}.log")) for i in range(2)]
        out_file = os.path.join(tmp, "requests.jsonl")
        killed_file = os.path.join(tmp, "killed")
        env = dict(os.environ, KQ_GATES=",".join(g[1] for g in gates), KQ_TOKENS=tokens_file, KQ_HOT=",".join(hot),
                   KQ_OUT=out_file, KQ_KILLED=killed_file,
                   KQ_RETRY_DEADLINE=str(RESERVATION_TTL_S + SWEEP_INTERVAL_S + 10))
        locust = subprocess.Popen(
            ["/usr/bin/locust", "-f", os.path.join(HERE, "chat_locust.py"), "--headless", "-u", str(args.locust_users),
             "-r", str(args.locust_users), "-t", f"{args.duration}s", "--stop-timeout", "30", "-H", gates[0][1],
             "--only-summary", "--loglevel", "WARNING"], env=env, cwd=tmp, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)
        started = time.monotonic()

        # Mid-load, the second gate dies without a chance to settle anything.
        # The Locust users learn of it first, so that the connections it
        # cuts are expected.
        time.sleep(args.duration / 2)
        with open(killed_file, "w", encoding="ascii") as f:
            f.write(gates[1][1])
        gates[1][0].send_signal(signal.SIGKILL)
        gates[1][0].wait()
        killed_at = time.monotonic()
        orphans = {r[0] for r in db.query("SELECT reservation_id FROM kauri_quota_reservations WHERE state = 'open'")}
        # The survivor's sweeper settles them within TTL + one interval.
        settle_s = None
        pending = set(orphans)
        while pending and time.monotonic() - killed_at < RESERVATION_TTL_S + SWEEP_INTERVAL_S + 15:
            time.sleep(0.1)
            still = {r[0] for r in db.query("SELECT reservation_id FROM kauri_quota_reservations WHERE state = 'open'")}
            pending &= still
        if not pending:
            settle_s = time.monotonic() - killed_at

        summary, _ = locust.communicate(timeout=args.duration + 120)
        elapsed = time.monotonic() - started
        print(summary[-6000:])
        check(locust.returncode == 0, f"locust exited {locust.returncode}")

        # A sweep after the load: nothing may stay open.
        time.sleep(RESERVATION_TTL_S + 2 * SWEEP_INTERVAL_S + 0.5)
        gates[0][0].send_signal(signal.SIGTERM)
        check(gates[0][0].wait(timeout=30) == 0, "the surviving gate did not exit 0 on SIGTERM")
        gates = []
        status = verify(args, db, out_file, hot, orphans, settle_s, elapsed)
        # Kept when a check failed: the gates' logs and every request.
        if status == 0:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"load_test: logs and requests kept in {tmp}")
        return status
    finally:
        for proc, _ in gates:
            proc.kill()
            proc.wait()
        db.drop()


def verify(args, db, out_file, hot, orphans, settle_s, elapsed):
    records = [json.loads(line) for line in open(out_file, encoding="utf-8")]
    first = [r["attempts"][0] for r in records]
    # The outcome of a request: its last attempt before any replay.
    final = {r["key"]: [a for a in r["attempts"] if not a["replay"]][-1] for r in records}
    codes = {}
    for a in first:
        codes[a["status"]] = codes.get(a["status"], 0) + 1

    # Answers: 200, 429 with Retry-After, 502 from the generator; 0 only
    # from the killed gate (gate 1), and 409 only on the retries that follow.
    cut = [r for r in records if any(a["status"] == 0 for a in r["attempts"])]
    cut_keys = {r["key"] for r in cut}
    for r in records:
        for a in r["attempts"]:
            ok = a["status"] in (200, 502) or (a["status"] == 429 and a["retry_after"])
            ok = ok or (a["status"] == 0 and a["gate"] == 1 and not a.get("retry"))
            ok = ok or (a["status"] == 409 and a.get("retry") and a["retry_after"])
            check(ok, f"request {r['key']} got {a['status']} ({a['detail']})")
        check(r["attempts"][-1]["status"] in (200, 429, 502),
              f"request {r['key']} ended with {r['attempts'][-1]['status']}")
    replays = [r for r in records if r["attempts"][-1]["replay"]]
    for r in replays:
        check(r["attempts"][-1]["status"] == final[r["key"]]["status"],
              f"replay of {r['key']} got {r['attempts'][-1]['status']} after {final[r['key']]['status']}")

    # No user over any limit in any period.
    over = db.query(f"SELECT user_id, usage_date, messages_today, messages_this_month, tokens_this_month"
                    f" FROM user_usage WHERE messages_today > {DAILY} OR messages_this_month > {MONTHLY}"
                    f" OR tokens_this_month > {TOKENS}")
    check(not over, f"{len(over)} day rows over a limit, e.g. {over[:3]}")
    # The counters equal the audit rows, per user and day.
    days = {(u, d[:10]): (int(m), int(t)) for u, d, m, t in
            db.query("SELECT user_id, usage_date, messages_today, tokens_today FROM user_usage")}
    audit = {(u, d[:10]): (int(m), int(t)) for u, d, m, t in
             db.query("SELECT user_id, usage_date, SUM(messages_count), SUM(tokens_count) FROM usage_logs"
                      " WHERE usage_date IS NOT NULL GROUP BY user_id, usage_date")}
    for key in set(days) | set(audit):
        check(days.get(key, (0, 0)) == audit.get(key, (0, 0)),
              f"{key}: counters {days.get(key)} but audit rows add up to {audit.get(key)}")
    # Each Idempotency-Key reserved (or denied) at most once.
    twice = db.query("SELECT request_id, COUNT(*) FROM usage_logs WHERE request_id IS NOT NULL AND event_type IN"
                     " ('message_sent', 'usage_recorded', 'reservation_created', 'quota_exceeded')"
                     " GROUP BY request_id HAVING COUNT(*) > 1")
    check(not twice, f"{len(twice)} keys counted twice, e.g. {twice[:3]}")
    # Nothing left open after the sweep; each outcome matches its reservation.
    states = {k: s for k, s in db.query("SELECT request_id, state FROM kauri_quota_reservations")}
    check("open" not in states.values(), "reservations left open after the sweep")
    for key, a in final.items():
        state = states.get(key)
        if a["status"] == 200:
            check(state in ("committed", "expired"), f"{key} answered 200 but its reservation is {state}")
        elif a["status"] == 502 and "interrupted" in a["detail"]:
            check(state == "expired", f"{key} answered 502 (interrupted) but its reservation is {state}")
        elif a["status"] == 502:
            check(state == "released", f"{key} answered 502 but its reservation is {state}")
        elif a["status"] == 429:
            check(state is None, f"{key} answered 429 but has a reservation ({state})")
    expired = db.query("SELECT r.request_id, r.estimated_tokens, r.actual_tokens FROM kauri_quota_reservations r"
                       " WHERE r.state = 'expired'")
    for key, est, actual in expired:
        check(actual in ("", est), f"expired reservation {key} settled at {actual}, not its estimate {est}")
    orphan_keys = {r[0] for r in db.query("SELECT request_id FROM kauri_quota_reservations WHERE state = 'expired'")}
    check(orphan_keys <= cut_keys, f"{len(orphan_keys - cut_keys)} reservations expired that no kill explains")
    check(settle_s is not None and settle_s <= RESERVATION_TTL_S + SWEEP_INTERVAL_S + 2,
          f"the dead gate's reservations were settled after {settle_s} s, bound "
          f"{RESERVATION_TTL_S + SWEEP_INTERVAL_S} s (+2 s scheduling slack)")
    check(codes.get(429, 0) > 0, "no request was denied: the tier is not small enough")
    check(len(cut) > 0 and len(expired) > 0, "the kill cut off no request with an open reservation")

    answered = [a["seconds"] for a in first if a["status"]]
    counted = db.query("SELECT COUNT(*), COALESCE(SUM(messages_today), 0), COALESCE(SUM(tokens_today), 0)"
                       " FROM user_usage")[0]
    print(f"[{args.backend}] {args.users} users ({len(hot)} hot), {args.locust_users} Locust users, "
          f"{elapsed:.1f} s: {len(first)} requests, {len(first) / elapsed:.1f} requests/s, "
          f"p50 {percentile(answered, 50) * 1000:.1f} ms, p99 {percentile(answered, 99) * 1000:.1f} ms")
    print(f"[{args.backend}] answers: 200={codes.get(200, 0)} 429={codes.get(429, 0)} 502={codes.get(502, 0)} "
          f"cut by the kill={codes.get(0, 0)}; replays {len(replays)}; counted {counted[1]} messages, "
          f"{counted[2]} tokens in {counted[0]} day rows")
    print(f"[{args.backend}] kill: {len(orphans)} reservations open at the kill, {len(cut)} requests cut off and "
          f"retried ({sum(1 for r in cut for a in r['attempts'] if a['status'] == 409)} x 409 while open), "
          f"{len(expired)} settled at their estimate in {settle_s if settle_s is None else round(settle_s, 2)} s "
          f"(TTL {RESERVATION_TTL_S} s + sweep {SWEEP_INTERVAL_S} s)")
    print(f"[{args.backend}] SQL checks: {'all passed' if not failures else f'{len(failures)} failed'}")
    return 0 if not failures else 1


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backend", choices=("sqlite", "postgresql"), required=True)
    p.add_argument("--gate", required=True)
    p.add_argument("--cli", required=True)
    p.add_argument("--pg-dir", default=os.environ.get("KQ_TEST_PG_DIR", ""))
    p.add_argument("--duration", type=int, default=20)
    p.add_argument("--locust-users", type=int, default=12)
    p.add_argument("--users", type=int, default=100)
    args = p.parse_args()
    if args.backend == "postgresql" and not os.path.exists(os.path.join(args.pg_dir, "conninfo")):
        print("load_test: no PostgreSQL server (--pg-dir or KQ_TEST_PG_DIR)", file=sys.stderr)
        return 1
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
