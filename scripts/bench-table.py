#!/usr/bin/python3
"""Turns the JSON lines of `kauri_quota_bench --json` or `kauri_quota_scale
--json` (standard input) into the Markdown tables of the README's
Performance section (standard output).

Usage: kauri_quota_bench --json | /usr/bin/python3 scripts/bench-table.py
"""
import json
import sys


def number(v):
    if v is None:
        return "—"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:,.1f}"
    return f"{v:,.2f}"


def main():
    bench, scale, errors = [], [], []
    for line in sys.stdin:
        line = line.strip()
        if not line.startswith("{"):
            continue
        row = json.loads(line)
        if "error" in row:
            errors.append(row)
        elif "ratio" in row:
            bench.append(row)
        elif "value" in row:
            scale.append(row)
    if bench:
        print("| line | callers | rtt | library | baseline | ratio | goal | met |")
        print("|---|---|---|---|---|---|---|---|")
        for r in bench:
            unit = "/s" if r.get("unit") == "ops/s" else " " + str(r.get("unit", ""))
            goal = "—" if r.get("goal") is None else f"≥ {r['goal']:g}×"
            met = "—" if r.get("met") is None else ("yes" if r["met"] else "**no**")
            rtt = "—" if r.get("rtt_us") in (None, 0) else f"{r['rtt_us']} µs"
            print(f"| {r['name']} | {r.get('callers') or 1} | {rtt} | {number(r['library'])}{unit} "
                  f"| {number(r['baseline'])}{unit} | {r['ratio']:.2f}× | {goal} | {met} |")
    if scale:
        if bench:
            print()
        print("| backend | measure | at | value |")
        print("|---|---|---|---|")
        for r in scale:
            at_key = next(k for k in r if k not in ("name", "backend", "value", "unit"))
            print(f"| {r['backend']} | {r['name'].removeprefix('scale ')} | {r[at_key]:,} {at_key} "
                  f"| {number(r['value'])} {r['unit']} |")
    for r in errors:
        print(f"\n- {r.get('name', '?')}: could not run: {r['error']}")


if __name__ == "__main__":
    main()
