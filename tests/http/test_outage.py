"""The database becomes unreachable: requests answer 503 (never hang, never
500) within the timeout, /healthz says so, and the service recovers by
itself when the database is back.

SQLite: as root, file permissions do not stop SQLite, so another process
takes every WAL lock of the database's -shm file (POSIX locks, which SQLite
honours): readers then get SQLITE_PROTOCOL after SQLite's own bounded
retries (about 10 s) and writers SQLITE_BUSY after the busy timeout.
PostgreSQL: a throw-away server of the test's own is stopped and started
again on the same port."""
import os
import subprocess
import sys
import time
import unittest

import harness
from harness import unique_email

QUOTA = "/api/v1/subscription/quota"
SOURCE_DIR = os.environ.get("KQ_SOURCE_DIR", "")

LOCKER = """
import fcntl, sys, time
f = open(sys.argv[1] + '-shm', 'r+b')
fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB, 8, 120, 0)  # WAL_WRITE_LOCK .. the read marks
print('locked', flush=True)
sys.stdin.read()
"""


class OutageTests(unittest.TestCase):
    def assert_unavailable(self, svc, method, path, limit, **kw):
        started = time.monotonic()
        r = svc.request(method, path, timeout=60, **kw)
        took = time.monotonic() - started
        self.assertEqual(r.status, 503, r.body)
        self.assertEqual(r.json(), {"detail": "Database unavailable"})
        self.assertEqual(r.headers["Retry-After"], "1")
        self.assertLess(took, limit)
        return took

    def check_recovery(self, svc, token):
        deadline = time.monotonic() + 30
        while True:
            r = svc.get(QUOTA, token=token)
            if r.status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(svc.get("/healthz").status, 200)
        self.assertEqual(svc.register(unique_email("after")).status, 201)

    def test_database_outage(self):
        # One test per backend run (never a skipped one).
        if harness.BACKEND == "sqlite":
            self.sqlite_locked_out()
        else:
            self.postgres_server_stopped_and_restarted()

    def sqlite_locked_out(self):
        db = harness.Database("sqlite")
        svc = harness.Service(db, ["--db-timeout", "2s"])
        try:
            token, _ = svc.token_for(unique_email())
            self.assertEqual(svc.get(QUOTA, token=token).status, 200)
            locker = subprocess.Popen([sys.executable, "-c", LOCKER, db.path], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, text=True)
            try:
                self.assertEqual(locker.stdout.readline().strip(), "locked")
                self.assert_unavailable(svc, "GET", QUOTA, 20, token=token)
                self.assert_unavailable(svc, "GET", "/healthz", 20)
                self.assert_unavailable(svc, "POST", "/api/v1/subscription/upgrade", 20, token=token,
                                        body={"target_tier": "pro"})
            finally:
                locker.stdin.close()
                locker.wait(10)
            self.check_recovery(svc, token)
            self.assertEqual(svc.get(QUOTA, token=token).json()["subscription_tier"], "free")
        finally:
            status = svc.stop()
            log = svc.log()
            db.drop()
        self.assertEqual(status, 0)
        self.assertNotIn(" 500 ", log)

    def postgres_server_stopped_and_restarted(self):
        pg_dir = "/tmp/kq-http-outage-%d" % os.getpid()
        script = os.path.join(SOURCE_DIR, "scripts", "pg-test-server.sh")
        subprocess.run(["bash", script, "start", pg_dir], check=True, timeout=120)
        try:
            owner = open(os.path.join(pg_dir, "owner")).read().strip()
            port = open(os.path.join(pg_dir, "port")).read().strip()
            pg_ctl = harness.pg_bin("pg_ctl")

            def as_owner(*args):
                cmd = list(args) if os.getuid() != 0 else ["runuser", "-u", owner, "--", *args]
                subprocess.run(cmd, check=True, timeout=120, stdout=subprocess.DEVNULL)

            db = harness.Database("postgresql", pg_dir=pg_dir)
            svc = harness.Service(db, ["--db-timeout", "2s"])
            try:
                token, _ = svc.token_for(unique_email())
                self.assertEqual(svc.get(QUOTA, token=token).status, 200)
                as_owner(pg_ctl, "-D", os.path.join(pg_dir, "data"), "-m", "immediate", "-w", "stop")
                self.assert_unavailable(svc, "GET", QUOTA, 10, token=token)
                self.assert_unavailable(svc, "GET", "/healthz", 10)
                self.assert_unavailable(svc, "POST", "/api/v1/auth/login", 10,
                                        body={"email": "x@y.example", "password": "whatever1"})
                self.assert_unavailable(svc, "POST", "/api/v1/auth/register", 10,
                                        body={"email": unique_email(), "password": "whatever1"})
                as_owner(pg_ctl, "-D", os.path.join(pg_dir, "data"), "-l", os.path.join(pg_dir, "server.log"), "-w",
                         "-t", "60", "start", "-o",
                         "-p %s -k %s -c listen_addresses=127.0.0.1 -c fsync=off" % (port, pg_dir))
                self.check_recovery(svc, token)
            finally:
                status = svc.stop()
                log = svc.log()
                db.drop()
            self.assertEqual(status, 0)
            self.assertNotIn(" 500 ", log)
        finally:
            subprocess.run(["bash", script, "stop", pg_dir], timeout=120)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"] + sys.argv[1:])
