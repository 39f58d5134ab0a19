#!/usr/bin/env python3
"""The most any policy could block of a scenario's attack while turning away at most 1% of
its real users, with hindsight: an oracle, not a detector. It blocks every attack send
from a cloud network or from another country than the number's (as if those were always
told apart), then, with the labels in hand, blocks the (country, hour, ASN) cells of
in-country residential traffic richest in attack sends until 1% of the real users who
verified is spent. Nothing else distinguishes the in-country sends of the scenarios: their
numbers, networks and tokens are drawn like real users'.

    python3 tests/data/scenarios/ceiling.py [slow-spread] [--bin target/release/otp-guard]

Used for the README's statement that slow-spread's 95% target cannot be met.
"""
import argparse, collections, importlib.util, json, os

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("scenario", nargs="?", default="slow-spread")
    p.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "otp-guard"))
    p.add_argument("--budget", type=float, default=0.01, help="share of real users that may be turned away")
    a = p.parse_args()
    if not os.path.exists(a.bin):
        raise SystemExit(f"{a.bin} is missing: run `cargo build --release` first (it tells each number's country)")
    spec = importlib.util.spec_from_file_location("generate", os.path.join(HERE, "generate.py"))
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)

    events = [json.loads(line) for line in open(os.path.join(HERE, f"{a.scenario}.jsonl"))]
    labels = open(os.path.join(HERE, f"{a.scenario}.labels")).read().split()
    validator = generate.Validator(a.bin)
    validator.check(e["phone"] for e in events)

    attack = sum(label == "attack" for label in labels)
    verified = sum(label == "legit" and e.get("verified", False) for e, label in zip(events, labels))
    cell_attack, cell_users = collections.Counter(), collections.Counter()
    separable = 0
    for e, label in zip(events, labels):
        region = validator.region_of(e["phone"])
        in_country = e["ip_country"] == region and e["asn"] not in generate.HOSTING_ASNS
        cell = (region, e["ts"][11:13], e["asn"])
        if label == "attack":
            if in_country:
                cell_attack[cell] += 1
            else:
                separable += 1
        elif in_country and e.get("verified", False):
            cell_users[cell] += 1

    budget = a.budget * verified
    spent = caught = 0
    ratio = lambda c: cell_attack[c] / cell_users[c] if cell_users[c] else float("inf")
    for cell in sorted(cell_attack, key=ratio, reverse=True):
        if spent + cell_users[cell] <= budget:
            spent += cell_users[cell]
            caught += cell_attack[cell]
    in_country = attack - separable
    print(f"{a.scenario}: {attack} attack sends, {separable} from cloud networks or abroad, {in_country} in-country")
    print(f"oracle within {a.budget:.0%} of {verified} real users: {caught} of the {in_country} in-country sends "
          f"({spent} real users spent), {100.0 * (separable + caught) / attack:.2f}% of the attack at most")


if __name__ == "__main__":
    main()
