#!/usr/bin/env python3
"""Summarises a Schemathesis NDJSON report: cases sent, failed checks, 5xx answers.

    python3 tests/hostile/schemathesis_summary.py REPORT.ndjson

Exits 1 if a check failed or an answer was a 5xx other than 503 protection_engaged (the
contract's one deliberate 5xx; a generated request cannot reach it with a valid config).
"""
import base64
import collections
import json
import sys


def main(path):
    cases = 0
    statuses = collections.Counter()
    failed = collections.Counter()  # check name -> failing cases
    samples = []
    server_errors = collections.Counter()
    for line in open(path, encoding="utf-8"):
        event = json.loads(line)
        scenario = event.get("ScenarioFinished")
        if not scenario:
            continue
        recorder = scenario.get("recorder", {})
        for case_id, interaction in recorder.get("interactions", {}).items():
            response = interaction.get("response")
            if response is None:
                statuses["no answer"] += 1
                cases += 1
                continue
            cases += 1
            status = response["status_code"]
            statuses[status // 100 * 100] += 1
            if status >= 500:
                body = response.get("content") or {}
                text = base64.b64decode(body["$base64"]).decode("utf-8", "replace") if "$base64" in body else ""
                try:
                    code = json.loads(text).get("code")
                except (ValueError, AttributeError):
                    code = None
                server_errors[f"{status} {code}"] += 1
                if len(samples) < 5:
                    req = interaction["request"]
                    samples.append(f"{req['method']} {req['uri']} -> {status} {text[:160]}")
        for case_id, checks in recorder.get("checks", {}).items():
            for check in checks:
                if check.get("status") == "failure":
                    failed[check["name"]] += 1
                    if len(samples) < 5:
                        req = recorder.get("interactions", {}).get(case_id, {}).get("request", {})
                        samples.append(f"{check['name']}: {req.get('method')} {req.get('uri')}")
    bad_5xx = sum(n for key, n in server_errors.items() if key != "503 protection_engaged")
    print(f"schemathesis: {cases} cases sent; answers by class {dict(sorted(statuses.items(), key=str))}")
    print(f"schemathesis: {sum(failed.values())} failed checks {dict(failed) or ''}")
    print(f"schemathesis: {sum(server_errors.values())} 5xx answers {dict(server_errors) or ''}")
    for sample in samples:
        print(f"  {sample}")
    return 1 if failed or bad_5xx or cases == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
