#!/usr/bin/python3
"""Offline checks of examples/deploy: the Prometheus rules and their unit
tests, the scrape configuration, the Grafana dashboard's queries and the
systemd units. Each subcommand exits 0 when its check passes and 1 with the
reason on stderr otherwise; a missing tool (promtool, systemd-analyze) is a
failure, never a skip.

  deploy_checks.py rules DIR            promtool check rules + test rules
  deploy_checks.py config DIR           promtool check config prometheus.yml
  deploy_checks.py dashboard FILE       the dashboard's structure, and every
                                        query parsed by promtool
  deploy_checks.py systemd DIR BINDIR UNIT...
                                        systemd-analyze verify on copies of
                                        the units whose /usr/local/bin
                                        programs are taken from BINDIR
  deploy_checks.py scrape PROGRAM [ARG...]
                                        starts a service on a fresh SQLite
                                        database and a free loopback port,
                                        and runs promtool check metrics on
                                        its live /metrics
"""

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request


def fail(message):
    print(f"deploy_checks: {message}", file=sys.stderr)
    sys.exit(1)


def tool(name):
    path = shutil.which(name)
    if path is None:
        fail(f"{name} not found on PATH (Debian: apt-get install --no-install-recommends "
             f"{'prometheus' if name == 'promtool' else 'systemd'})")
    return path


def run(argv, what):
    """Runs argv; fails with its output unless it exits 0. Returns stdout."""
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    if proc.returncode != 0:
        fail(f"{what}: {' '.join(argv)} exited {proc.returncode}")
    return proc.stdout, proc.stderr


def check_rules(directory):
    promtool = tool("promtool")
    rules = os.path.join(directory, "kauri_quota.rules.yml")
    tests = os.path.join(directory, "kauri_quota.rules.test.yml")
    # --lint-fatal: a duplicate rule is an error, not a warning.
    out, _ = run([promtool, "check", "rules", "--lint=all", "--lint-fatal", rules], "rules")
    if "SUCCESS" not in out:
        fail("promtool check rules did not report SUCCESS")
    out, _ = run([promtool, "test", "rules", tests], "rule unit tests")
    if "SUCCESS" not in out:
        fail("promtool test rules did not report SUCCESS")


def check_config(directory):
    promtool = tool("promtool")
    run([promtool, "check", "config", "--lint=all", "--lint-fatal", os.path.join(directory, "prometheus.yml")],
        "scrape configuration")


# Grafana's variables, replaced by values promtool can parse. $__rate_interval
# and $__interval are durations; a dashboard variable sits inside a label
# matcher's regex, where `.*` stands for "All".
GRAFANA_DURATIONS = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h"}
VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")


def substitute(expr):
    def replace(m):
        name = m.group(1) or m.group(2)
        return GRAFANA_DURATIONS.get(name, ".*")

    return VARIABLE.sub(replace, expr)


def dashboard_queries(dash):
    """(where, expr) of every PromQL text in the dashboard: the panels'
    targets, and the metric selectors of label_values() variables."""
    found = []
    panels = list(dash.get("panels", []))
    while panels:
        panel = panels.pop(0)
        panels.extend(panel.get("panels", []))
        for target in panel.get("targets", []):
            found.append((f"panel {panel.get('id')} ({panel.get('title')}) target {target.get('refId')}",
                          target.get("expr", "")))
    for var in dash.get("templating", {}).get("list", []):
        if var.get("type") != "query":
            continue
        query = var.get("query")
        text = query.get("query", "") if isinstance(query, dict) else query or ""
        m = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\s*\)\s*", text)
        found.append((f"variable {var.get('name')}", m.group(1) if m else text))
    return found


def check_dashboard(path):
    promtool = tool("promtool")
    with open(path, encoding="utf-8") as f:
        dash = json.load(f)
    problems = []
    for key in ("uid", "title", "schemaVersion", "panels", "templating", "time"):
        if key not in dash:
            problems.append(f"no {key}")
    variables = {v.get("name"): v for v in dash.get("templating", {}).get("list", [])}
    ds = variables.get("datasource")
    if ds is None or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        problems.append("no datasource variable of type datasource for prometheus")

    ids = set()
    panels = list(dash.get("panels", []))
    while panels:
        panel = panels.pop(0)
        panels.extend(panel.get("panels", []))
        where = f"panel {panel.get('id')} ({panel.get('title')})"
        if panel.get("id") in ids:
            problems.append(f"{where}: duplicate id")
        ids.add(panel.get("id"))
        grid = panel.get("gridPos", {})
        if not all(k in grid for k in ("x", "y", "w", "h")) or grid.get("x", 0) + grid.get("w", 0) > 24:
            problems.append(f"{where}: gridPos missing or wider than 24 columns")
        if panel.get("type") == "row":
            continue
        if panel.get("datasource") != {"type": "prometheus", "uid": "${datasource}"}:
            problems.append(f"{where}: datasource is not the ${{datasource}} variable")
        targets = panel.get("targets", [])
        if not targets:
            problems.append(f"{where}: no target")
        for target in targets:
            expr = target.get("expr", "")
            if not target.get("refId") or not expr:
                problems.append(f"{where}: a target without refId or expr")
            # A fixed window breaks at other scrape intervals.
            for window in re.findall(r"\[([^\]]*)\]", expr):
                if window != "$__rate_interval":
                    problems.append(f"{where}: range [{window}] instead of [$__rate_interval]")
    if problems:
        fail("dashboard " + path + ":\n  " + "\n  ".join(problems))

    queries = dashboard_queries(dash)
    with tempfile.TemporaryDirectory() as tmp:
        rules = os.path.join(tmp, "dashboard.rules.yml")
        with open(rules, "w", encoding="utf-8") as f:
            f.write("groups:\n  - name: dashboard\n    rules:\n")
            for n, (where, expr) in enumerate(queries):
                f.write(f"      # {where}\n")
                f.write(f"      - record: dashboard:check:{n}\n")
                f.write(f"        expr: {json.dumps(substitute(expr))}\n")
        out, _ = run([promtool, "check", "rules", rules], "dashboard queries")
    expected = f"SUCCESS: {len(queries)} rules found"
    if expected not in out:
        fail(f"promtool did not report '{expected}'")
    print(f"dashboard: {len(ids)} panels, {len(queries)} queries parsed by promtool")


def check_systemd(directory, bindir, units):
    analyze = tool("systemd-analyze")
    with tempfile.TemporaryDirectory() as tmp:
        copies = []
        for unit in units:
            with open(os.path.join(directory, unit), encoding="utf-8") as f:
                text = f.read()
            # Point the units at the programs just built, so that verify
            # can check that each command exists and is executable.
            for program in re.findall(r"/usr/local/bin/([\w.-]+)", text):
                built = os.path.join(os.path.abspath(bindir), program)
                if not os.access(built, os.X_OK):
                    fail(f"{unit}: {program} is not built in {bindir}")
                text = text.replace(f"/usr/local/bin/{program}", built)
            copy = os.path.join(tmp, unit)
            with open(copy, "w", encoding="utf-8") as f:
                f.write(text)
            copies.append(copy)
        # A timer must name a unit that is verified with it.
        for copy in copies:
            if copy.endswith(".timer"):
                m = re.search(r"^Unit=(\S+)", open(copy, encoding="utf-8").read(), re.M)
                if m and m.group(1) not in units:
                    fail(f"{os.path.basename(copy)} starts {m.group(1)}, which is not verified with it")
        _, err = run([analyze, "verify", "--man=no", *copies], "systemd units")
        # verify exits 0 on unknown keys and bad values, which it reports as
        # warnings: any message is a failure.
        if err.strip():
            fail("systemd-analyze verify reported problems")
    print(f"systemd: {', '.join(units)} verified")


def start_service(program, args, tmp):
    """Starts `program` on 127.0.0.1:0 with a fresh database and token
    secret in `tmp`; returns (process, base URL) once it listens."""
    secret = os.path.join(tmp, "jwt-secret")
    with open(secret, "w", encoding="ascii") as f:
        f.write(secrets.token_hex(32))
    argv = [program, "--db", "sqlite:" + os.path.join(tmp, "kauri_quota.db"), "--migrate", "--listen", "127.0.0.1:0",
            "--jwt-secret-file", secret, "--threads", "2", *args]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=open(os.path.join(tmp, "stderr"), "w"), text=True)
    line = proc.stdout.readline()
    m = re.match(r"listening on (http://127\.0\.0\.1:\d+)", line)
    if not m:
        proc.kill()
        proc.wait()
        fail(f"{' '.join(argv)} printed {line!r} instead of 'listening on http://127.0.0.1:PORT': "
             + open(os.path.join(tmp, "stderr")).read())
    return proc, m.group(1)


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read()


def check_scrape(program, args):
    promtool = tool("promtool")
    with tempfile.TemporaryDirectory() as tmp:
        proc, base = start_service(program, args, tmp)
        try:
            # Some traffic first, so that request series exist beside the
            # ones initialised at zero.
            get(base + "/healthz")
            get(base + "/no-such-page")
            status, content_type, body = get(base + "/metrics")
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                fail(f"{program} did not stop within 15 s of SIGTERM")
    if status != 200:
        fail(f"GET /metrics answered {status}")
    if not content_type.startswith("text/plain") or "version=0.0.4" not in content_type:
        fail(f"GET /metrics has Content-Type {content_type!r}, not the text format 0.0.4")
    if not body.endswith(b"\n"):
        fail("the exposition does not end with a newline")
    # promtool exits 3 on a lint problem and 1 on a parse error.
    proc = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, timeout=60)
    report = (proc.stdout + proc.stderr).decode(errors="replace")
    if proc.returncode != 0 or report.strip():
        fail(f"promtool check metrics exited {proc.returncode}:\n{report}")
    if code != 0:
        fail(f"{program} exited {code} after SIGTERM")
    families = len(re.findall(rb"^# TYPE ", body, re.M))
    print(f"scrape: {os.path.basename(program)} /metrics, {families} metric families, promtool check metrics clean")


def main(argv):
    if len(argv) < 3:
        fail(__doc__)
    command = argv[1]
    if command == "rules":
        check_rules(argv[2])
    elif command == "config":
        check_config(argv[2])
    elif command == "dashboard":
        check_dashboard(argv[2])
    elif command == "systemd" and len(argv) >= 5:
        check_systemd(argv[2], argv[3], argv[4:])
    elif command == "scrape":
        check_scrape(argv[2], argv[3:])
    else:
        fail(__doc__)


if __name__ == "__main__":
    main(sys.argv)
