"""Shared helpers of the kauri-user-service HTTP tests.

Each test file is a unittest program run by CTest once per backend
(KQ_HTTP_BACKEND=sqlite|postgresql). Every test starts the real binary
(KQ_USER_SERVICE) on a free loopback port with a fresh database of its own
(a temporary SQLite file, or a new database on the throw-away PostgreSQL
server of the pg_server fixture, found through KQ_TEST_PG_DIR), and talks to
it over HTTP with urllib. Nothing here is skipped: a missing dependency is
a failure.
"""
import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid

SERVICE = os.environ.get("KQ_USER_SERVICE", "")
BACKEND = os.environ.get("KQ_HTTP_BACKEND", "sqlite")
PG_DIR = os.environ.get("KQ_TEST_PG_DIR", "")
START_TIMEOUT = 20


def pg_bin(name):
    for root in sorted(os.listdir("/usr/lib/postgresql"), reverse=True):
        path = os.path.join("/usr/lib/postgresql", root, "bin", name)
        if os.access(path, os.X_OK):
            return path
    found = shutil.which(name)
    if not found:
        raise RuntimeError(name + " not found (apt-get install postgresql)")
    return found


def pg_conninfo(pg_dir=None):
    with open(os.path.join(pg_dir or PG_DIR, "conninfo")) as f:
        return f.read().strip()


def psql(sql, dbname="postgres", pg_dir=None, check=True):
    conninfo = pg_conninfo(pg_dir) + " dbname=" + dbname
    r = subprocess.run([pg_bin("psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", conninfo, "-c", sql],
                       capture_output=True, text=True, timeout=60)
    if check and r.returncode != 0:
        raise RuntimeError("psql failed: " + r.stderr)
    return r.stdout.strip()


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)


class Database:
    """A fresh database for one test: a SQLite file or a PostgreSQL database."""

    def __init__(self, backend=BACKEND, pg_dir=None):
        self.backend = backend
        self.tmp = tempfile.mkdtemp(prefix="kq_http_")
        self.pg_dir = pg_dir or PG_DIR
        if backend == "sqlite":
            self.path = os.path.join(self.tmp, "quota.db")
            self.url = "sqlite:" + self.path
        else:
            if not self.pg_dir:
                raise RuntimeError("KQ_TEST_PG_DIR is not set (the pg_server fixture)")
            self.name = "kq_http_" + uuid.uuid4().hex[:16]
            psql("CREATE DATABASE " + self.name, pg_dir=self.pg_dir)
            self.url = pg_conninfo(self.pg_dir) + " dbname=" + self.name

    def sql(self, statement):
        """Runs SQL on the database as its owner; returns the text of the rows."""
        if self.backend == "sqlite":
            import sqlite3
            con = sqlite3.connect(self.path, timeout=30)
            try:
                rows = con.execute(statement).fetchall()
                con.commit()
            finally:
                con.close()
            return "\n".join("|".join("" if v is None else str(v) for v in row) for row in rows)
        return psql(statement, dbname=self.name, pg_dir=self.pg_dir)

    def drop(self):
        if self.backend != "sqlite":
            psql("DROP DATABASE IF EXISTS " + self.name + " WITH (FORCE)", pg_dir=self.pg_dir, check=False)
        shutil.rmtree(self.tmp, ignore_errors=True)


class Service:
    """kauri-user-service running on a free loopback port."""

    def __init__(self, db, extra_args=(), env=None, migrate=True, secret=None):
        if not SERVICE or not os.access(SERVICE, os.X_OK):
            raise RuntimeError("KQ_USER_SERVICE does not name the built kauri-user-service")
        self.db = db
        # 64 hex digits: random, and never ending in the CR or LF that the
        # secret loader strips.
        self.secret = secret if secret is not None else secrets.token_hex(32).encode()
        self.secret_file = os.path.join(db.tmp, "jwt-secret-%s" % uuid.uuid4().hex[:8])
        with open(self.secret_file, "wb") as f:
            f.write(self.secret)
        args = [SERVICE, "--db", db.url, "--listen", "127.0.0.1:0", "--jwt-secret-file", self.secret_file,
                "--threads", "8"]
        if migrate:
            args.append("--migrate")
        args.extend(extra_args)
        self.stderr_path = os.path.join(db.tmp, "stderr-%s.log" % uuid.uuid4().hex[:8])
        self.stderr_file = open(self.stderr_path, "w+")
        full_env = dict(os.environ)
        full_env.pop("KAURI_QUOTA_DB", None)
        full_env.update(env or {})
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.stderr_file, env=full_env,
                                     text=True)
        line = self._first_line()
        prefix = "listening on http://"
        if not line.startswith(prefix):
            self.stop()
            raise RuntimeError("unexpected first line %r; stderr:\n%s" % (line, self.log()))
        self.base = line.strip()[len("listening on "):]
        self.port = int(self.base.rsplit(":", 1)[1])

    def _first_line(self):
        out = []

        def read():
            out.append(self.proc.stdout.readline())

        t = threading.Thread(target=read, daemon=True)
        t.start()
        t.join(START_TIMEOUT)
        if not out:
            self.proc.kill()
            raise RuntimeError("the service did not start within %ss; stderr:\n%s" % (START_TIMEOUT, self.log()))
        return out[0]

    def log(self):
        if not self.stderr_file.closed:
            self.stderr_file.flush()
        with open(self.stderr_path) as f:
            return f.read()

    def request(self, method, path, body=None, token=None, headers=None, raw=None, timeout=30):
        data = raw
        hdrs = dict(headers or {})
        if body is not None:
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        if token is not None:
            hdrs["Authorization"] = "Bearer " + token
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return Response(r.status, r.headers, r.read().decode("utf-8"))
        except urllib.error.HTTPError as e:
            return Response(e.code, e.headers, e.read().decode("utf-8"))

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def register(self, email, password="TestPassword123"):
        return self.post("/api/v1/auth/register", {"email": email, "password": password})

    def login(self, email, password="TestPassword123"):
        return self.post("/api/v1/auth/login", {"email": email, "password": password})

    def token_for(self, email, password="TestPassword123"):
        r = self.register(email, password)
        assert r.status == 201, (r.status, r.body)
        r = self.login(email, password)
        assert r.status == 200, (r.status, r.body)
        return r.json()["access_token"], r.json()["user"]["user_id"]

    def stop(self, sig=signal.SIGTERM, timeout=20):
        """Sends `sig` and returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise
        self.proc.stdout.close()
        self.stderr_file.close()
        return self.proc.returncode


class ServiceTest:
    """Mixin for unittest.TestCase: self.db and self.svc, fresh per test."""

    service_args = ()

    def setUp(self):
        self.db = Database()
        try:
            self.svc = Service(self.db, self.service_args)
        except Exception:
            self.db.drop()
            raise

    def tearDown(self):
        status = self.svc.stop()
        with open(self.svc.stderr_path) as f:
            log = f.read()
        self.db.drop()
        self.assertEqual(status, 0, "the service did not exit 0 on SIGTERM:\n" + log)
        self.assertNotIn(" 500 ", log, "a request answered 500:\n" + log)


def unique_email(tag="user"):
    return "%s_%s@kauri.example" % (tag, uuid.uuid4().hex[:12])
