"""How often the emergency rules fire on the dataset, and what they cost (not part of the tests).

    python bench/rule_coverage.py [--compare OTHER_RULES.yaml] [--repeats 7]

On train and test together: how many critical messages get at least one rule hit, and how many
other messages do (each a message a rule sends to the emergency service). With ``--compare``, the
same for another rules file (e.g. an older one: ``git show REV:triage/resources/emergency_rules.yaml
> /tmp/old.yaml``), and both files' matching time per message on the test texts, alternating in one
process (median of ``--repeats``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from triage.engine import Triage  # noqa: E402
from triage.io import read_records  # noqa: E402
from triage.rules import EmergencyRules  # noqa: E402
from triage.settings import get_settings  # noqa: E402
from triage.text import normalize, skeleton  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--compare", type=Path)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    s = get_settings()
    test_records = read_records(s.data_dir / "test.jsonl")
    records = read_records(s.data_dir / "train.jsonl") + test_records
    languages = [r.language for r in Triage.load().classify_batch([r["text"] for r in records])]
    skels = [skeleton(normalize(r["text"])) for r in records]
    files = {"shipped": s.emergency_rules_path, **({"compare": args.compare} if args.compare else {})}
    rules = {name: EmergencyRules.load(path) for name, path in files.items()}
    critical = [r["urgency"] == "critical" for r in records]
    print(f"{len(records)} messages, {sum(critical)} critical")
    for name, rs in rules.items():
        hit = [bool(rs.find(sk, lang)) for sk, lang in zip(skels, languages, strict=True)]
        print(f"{name} ({files[name]}): rules fire on {sum(h and c for h, c in zip(hit, critical, strict=True))} "
              f"critical and {sum(h and not c for h, c in zip(hit, critical, strict=True))} other messages")
    if args.compare:
        test = skels[-len(test_records):]
        times: dict[str, list[float]] = {name: [] for name in rules}
        for _ in range(args.repeats):
            for name, rs in rules.items():
                t0 = time.perf_counter()
                for sk in test:
                    rs.find(sk, "ru")
                times[name].append((time.perf_counter() - t0) / len(test) * 1e6)
        print("matching, µs per message (median): " + ", ".join(
            f"{name} {statistics.median(v):.1f}" for name, v in times.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
