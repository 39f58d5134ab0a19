#!/usr/bin/env python3
"""Scores a policy on the scenarios: runs `otp-guard replay --json --decisions` on each,
joins the decisions with the ground-truth labels, and prints the README's table.

    python3 tests/data/scenarios/score.py [--config tests/data/scenarios/policy.toml] [--bin target/release/otp-guard] [--json]
"""
import argparse, json, os, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
SCENARIOS = ["normal-day", "rca-pumping", "sequential-prefix", "slow-spread", "slow-spread-abroad", "voice-toll-fraud",
             "marketing-surge"]


def score(binary, config, name):
    traffic = os.path.join(HERE, f"{name}.jsonl")
    labels = open(os.path.join(HERE, f"{name}.labels")).read().split()
    events = [json.loads(line) for line in open(traffic)]
    with tempfile.NamedTemporaryFile("r", suffix=".jsonl") as out:
        started = time.monotonic()
        report = json.loads(subprocess.run(
            [binary, "replay", "--config", config, "--json", "--decisions", out.name, traffic],
            check=True, capture_output=True, text=True).stdout)
        seconds = time.monotonic() - started
        decisions = [json.loads(line) for line in out]
    assert len(decisions) == len(labels) == len(events), name
    attack = [d for d, l in zip(decisions, labels) if l == "attack"]
    legit = [(d, e) for d, l, e in zip(decisions, labels, events) if l == "legit"]
    verified = [d for d, e in legit if e.get("verified")]
    blocked = lambda ds: sum(d["decision"] == "block" for d in ds)
    pct = lambda n, d: round(100.0 * n / d, 2) if d else None
    cost = report["estimated_cost_usd"]
    return {
        "scenario": name, "events": len(events), "attack": len(attack), "legit": len(legit),
        "attack_blocked_pct": pct(blocked(attack), len(attack)),
        "real_requests_blocked_pct": pct(blocked([d for d, _ in legit]), len(legit)),
        "real_users_turned_away_pct": pct(blocked(verified), len(verified)),
        "cost_saved_pct": pct(cost["without_guard"] - cost["with_guard"], cost["without_guard"]),
        "blocked_by_reason": report["blocked_by_reason"], "protection_engaged": report["protection_engaged"],
        "replay_seconds": round(seconds, 2),
    }


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--config", default=os.path.join(HERE, "policy.toml"))
    p.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "otp-guard"))
    p.add_argument("--json", action="store_true")
    p.add_argument("--only")
    p.add_argument("--check", action="store_true", help="fail unless every scenario meets the targets")
    a = p.parse_args()
    rows = [score(a.bin, a.config, n) for n in SCENARIOS if not a.only or n == a.only]
    if a.json:
        print(json.dumps(rows, indent=2))
        return
    print("| scenario | events | attack sends blocked | real requests blocked | real users turned away | est. cost saved | replay time |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    fmt = lambda v: "n/a" if v is None else f"{v:.2f}%"
    for r in rows:
        print(f"| {r['scenario']} | {r['events']:,} | {fmt(r['attack_blocked_pct'])} | {fmt(r['real_requests_blocked_pct'])} | "
              f"{fmt(r['real_users_turned_away_pct'])} | {fmt(r['cost_saved_pct'])} | {r['replay_seconds']} s |")
    for r in rows:
        print(f"{r['scenario']}: blocked by reason {r['blocked_by_reason']}; engaged {r['protection_engaged']}", file=sys.stderr)
    if a.check:
        failures = check(rows)
        for f in failures:
            print("TARGET MISSED:", f, file=sys.stderr)
        if failures:
            sys.exit(1)


# The targets: at least 95% of attack sends blocked, at most 1% of real users turned away.
# One attack target is a known, stated miss (README, "Scenarios"), held to a floor
# instead, so that a regression fails --check like a missed target:
# - slow-spread: the per-network detector blocks ~41% of its sends; ~31% come from
#   residential networks in the number's own country, shared with real users who convert
#   normally, and nothing a request carries at decision time tells them apart.
FLOORS = {"slow-spread": 40.0}


def check(rows):
    failures = []
    for r in rows:
        floor = FLOORS.get(r["scenario"])
        if r["attack"] and floor is None and r["attack_blocked_pct"] < 95:
            failures.append(f"{r['scenario']}: {r['attack_blocked_pct']}% of attack sends blocked (target 95%)")
        if floor is not None and r["attack_blocked_pct"] < floor:
            failures.append(f"{r['scenario']}: {r['attack_blocked_pct']}% of attack sends blocked (floor {floor}%)")
        if r["real_users_turned_away_pct"] is not None and r["real_users_turned_away_pct"] > 1:
            failures.append(f"{r['scenario']}: {r['real_users_turned_away_pct']}% of real users turned away (target 1%)")
    return failures


if __name__ == "__main__":
    main()
