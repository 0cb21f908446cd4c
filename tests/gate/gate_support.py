"""What the kauri-chat-gate tests share: a throw-away database on the backend
under test, tokens minted like the user service mints them, the gate started
on port 0, and small fake servers (an OpenAI-compatible upstream, a user
service) on loopback.

Environment (set by CTest): KQ_GATE_BIN, KQ_CLI_BIN, KQ_TEST_BACKEND (sqlite or
postgresql), KQ_TEST_PG_DIR (the pg_server fixture's directory), KQ_ARTIFACTS
(a build-tree folder for screenshots and logs).
"""
import base64
import hashlib
import hmac
import http.client
import http.server
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest
import uuid

GATE = os.environ.get("KQ_GATE_BIN", "")
USER_SERVICE = os.environ.get("KQ_USER_SERVICE_BIN", "")
CLI = os.environ.get("KQ_CLI_BIN", "")
BACKEND = os.environ.get("KQ_TEST_BACKEND", "sqlite")
PG_DIR = os.environ.get("KQ_TEST_PG_DIR", "")


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint(secret, sub, ttl=3600, now=None, alg="HS256"):
    """An HS256 token as the user service mints it (integer iat/nbf/exp)."""
    now = int(time.time()) if now is None else now
    header = b64url(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    payload = b64url(json.dumps({"sub": sub, "iat": now, "nbf": now, "exp": now + ttl}).encode())
    signing = (header + "." + payload).encode()
    return header + "." + payload + "." + b64url(hmac.new(secret, signing, hashlib.sha256).digest())


class Database:
    """A fresh quota database: an SQLite file, or a new PostgreSQL database
    on the fixture's server. Migrated, with the given users on free."""

    def __init__(self, workdir):
        if BACKEND == "postgresql":
            conninfo = open(os.path.join(PG_DIR, "conninfo")).read().strip()
            name = "gate_" + uuid.uuid4().hex[:12]
            subprocess.run(["psql", conninfo, "-q", "-c", f"CREATE DATABASE {name}"], check=True,
                           stdout=subprocess.DEVNULL)
            self.url = re.sub(r"dbname=\S+", "dbname=" + name, conninfo)
            self.pg_name, self.pg_admin = name, conninfo
        else:
            self.url = "sqlite:" + os.path.join(workdir, "quota.db")
            self.pg_name = None
        self.cli("migrate")

    def cli(self, *args, json_out=False):
        cmd = [CLI, "--db", self.url] + (["--json"] if json_out else []) + list(args)
        out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             timeout=60).stdout
        return json.loads(out) if json_out else out

    def add_user(self, user, tier="free"):
        self.cli("user", "add", user, "--tier", tier)

    def drop(self):
        if self.pg_name:
            subprocess.run(["psql", self.pg_admin, "-q", "-c", f"DROP DATABASE IF EXISTS {self.pg_name} WITH (FORCE)"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class Gate:
    """kauri-chat-gate on 127.0.0.1:0; stderr (the request log) kept."""

    def __init__(self, db, secret_file, *flags, workdir, binary=None):
        self.log_path = os.path.join(workdir, f"gate-{uuid.uuid4().hex[:6]}.log")
        self.log = open(self.log_path, "w")
        cmd = [binary or GATE, "--db", db.url, "--listen", "127.0.0.1:0", "--jwt-secret-file", secret_file] + list(flags)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline()
        m = re.match(r"listening on http://127\.0\.0\.1:(\d+)$", line.strip())
        if not m:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError("gate did not start: " + repr(line) + " " + self.log_text())
        self.port = int(m.group(1))

    def request(self, method, path, body=None, headers=None, timeout=30):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            data = body if isinstance(body, (bytes, type(None))) else (
                body.encode() if isinstance(body, str) else json.dumps(body).encode())
            hdrs = dict(headers or {})
            if data is not None:
                hdrs.setdefault("Content-Type", "application/json")
            conn.request(method, path, body=data, headers=hdrs)
            r = conn.getresponse()
            raw = r.read()
            try:
                parsed = json.loads(raw) if raw else None
            except ValueError:
                parsed = raw.decode(errors="replace")
            return r.status, {k.lower(): v for k, v in r.getheaders()}, parsed, raw
        finally:
            conn.close()

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.log.close()
        return self.proc.returncode

    def log_text(self):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()


def parse_rate_limit(value):
    """'"daily";r=3;t=100, ...' -> {"daily": {"r": 3, "t": 100}, ...}."""
    out = {}
    for member in value.split(","):
        parts = member.strip().split(";")
        name = parts[0]
        assert re.fullmatch(r'"[a-z]+"', name), value
        params = {}
        for p in parts[1:]:
            k, v = p.split("=", 1)
            params[k] = int(v) if re.fullmatch(r"\d+", v) else v
        out[name.strip('"')] = params
    return out


class FakeServer:
    """A ThreadingHTTPServer on 127.0.0.1:0 whose POST answers come from
    `answer(path, headers, json_body) -> (status, dict | None, delay_s)`;
    every request is recorded."""

    def __init__(self, answer):
        self.requests = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                outer.requests.append((self.path, dict(self.headers), body))
                status, reply, delay = answer(self.path, self.headers, body)
                if delay:
                    time.sleep(delay)
                data = json.dumps(reply).encode() if reply is not None else b""
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class GateTestCase(unittest.TestCase):
    """A temp directory, a secret file and a fresh database per test."""

    def setUp(self):
        self.assertTrue(GATE and os.access(GATE, os.X_OK), "KQ_GATE_BIN must name the gate binary")
        self.assertTrue(CLI and os.access(CLI, os.X_OK), "KQ_CLI_BIN must name the kauri-quota binary")
        self.dir = tempfile.mkdtemp(prefix="kq-gate-")
        # Hex digits: random, and never ending in the CR or LF that the secret
        # loader strips.
        self.secret = secrets.token_hex(24).encode()
        self.secret_file = os.path.join(self.dir, "secret")
        with open(self.secret_file, "wb") as f:
            f.write(base64.b64encode(self.secret) + b"\n")
        self.secret_key = base64.b64encode(self.secret)  # the file's bytes without the newline
        self.db = Database(self.dir)
        self.gates = []

    def tearDown(self):
        for g in self.gates:
            g.stop()
        self.db.drop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def start_gate(self, *flags):
        g = Gate(self.db, self.secret_file, *flags, workdir=self.dir)
        self.gates.append(g)
        return g

    def start_user_service(self):
        """kauri-user-service on the same database and secret (the same
        operational contract as the gate, so Gate drives it too)."""
        self.assertTrue(USER_SERVICE and os.access(USER_SERVICE, os.X_OK), "KQ_USER_SERVICE_BIN must name it")
        g = Gate(self.db, self.secret_file, "--migrate", workdir=self.dir, binary=USER_SERVICE)
        self.gates.append(g)
        return g

    def token(self, user, **kw):
        return mint(self.secret_key, user, **kw)

    def auth(self, user, **extra):
        h = {"Authorization": "Bearer " + self.token(user)}
        h.update(extra)
        return h

    def quota(self, gate, user):
        status, _, body, _ = gate.request("GET", "/api/v1/chat/quota", headers=self.auth(user))
        self.assertEqual(status, 200, body)
        return body
