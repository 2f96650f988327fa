"""What the emergency rules' negations change on labelled data (not part of the test run).

    python bench/rule_negations.py [--data data/samples/train.jsonl]

Runs the shipped rules (``triage/resources/emergency_rules.yaml``) on every message twice: without a
language (no negation applies) and with the message's labelled language (its negations apply).
Prints how many critical and non-critical messages have a rule hit each way, and lists the messages
whose hit the negations removed. A negation should only ever remove hits from non-critical messages.
"""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from triage.io import read_records  # noqa: E402
from triage.rules import EmergencyRules  # noqa: E402
from triage.settings import get_settings  # noqa: E402
from triage.text import normalize, skeleton  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=get_settings().data_dir / "train.jsonl")
    args = ap.parse_args()
    rules = EmergencyRules.load(get_settings().emergency_rules_path)
    counts: collections.Counter = collections.Counter()
    removed = []
    for r in read_records(args.data):
        skel = skeleton(normalize(r["text"]))
        kind = "critical" if r.get("urgency") == "critical" else "non-critical"
        plain, negated = bool(rules.find(skel)), bool(rules.find(skel, r.get("language")))
        counts[(kind, "without negations")] += plain
        counts[(kind, "with negations")] += negated
        if plain and not negated:
            removed.append((kind, r.get("language"), r["text"][:100]))
    print(f"{args.data}: messages with a rule hit")
    print("| urgency | without negations | with negations |\n|---|---:|---:|")
    for kind in ("critical", "non-critical"):
        print(f"| {kind} | {counts[(kind, 'without negations')]} | {counts[(kind, 'with negations')]} |")
    print(f"\nhits removed by a negation ({len(removed)}):")
    for kind, lang, text in removed:
        print(f"- {kind}, {lang}: {text}")
    return 1 if any(kind == "critical" for kind, _, _ in removed) else 0


if __name__ == "__main__":
    raise SystemExit(main())
