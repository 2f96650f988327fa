"""In-process speed of the engine on the starter test texts (not part of the test run).

    python bench/engine_speed.py [--repeats 5] [--json out.json]

Reports medians over repeats: batch throughput (messages/s on one process), single-message
latency p50/p99, and the share of time spent in the rule and gazetteer matchers. The machine is
shared and noisy: compare numbers from one run, side by side, not across runs.

Side by side with another commit: check it out with ``git worktree add`` and run this script there
with ``PYTHONPATH=<worktree>`` (an editable install imports the main checkout's ``triage`` otherwise)
and ``TRIAGE_MODEL_DIR=<worktree>/models/default``; the output names the code and model that ran.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time
from pathlib import Path

import triage
from triage.engine import Triage
from triage.io import read_records
from triage.settings import get_settings
from triage.text import normalize, skeleton


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json")
    args = ap.parse_args()
    t = Triage.load()
    texts = [r["text"] for r in read_records(get_settings().data_dir / "test.jsonl")]
    skels = [skeleton(normalize(x)) for x in texts]
    t.classify_batch(texts[:50])  # warm caches
    batch, rules, gaz, single = [], [], [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        t.classify_batch(texts)
        batch.append(len(texts) / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        for s in skels:
            t.rules.find(s)
        rules.append((time.perf_counter() - t0) / len(texts) * 1e6)
        t0 = time.perf_counter()
        for s in skels:
            t.districts.resolve(s)
        gaz.append((time.perf_counter() - t0) / len(texts) * 1e6)
    for x in texts[:300]:
        t0 = time.perf_counter()
        t.classify(x, explain=False)
        single.append((time.perf_counter() - t0) * 1e3)
    single.sort()
    code = Path(triage.__file__).resolve().parents[1]
    commit = subprocess.run(["git", "-C", str(code), "describe", "--always", "--dirty"], capture_output=True,
                            text=True).stdout.strip()
    out = {
        "code": f"{code} ({commit or 'unknown commit'})",
        "model_version": t.version,
        "messages": len(texts),
        "batch_msgs_per_s_median": round(statistics.median(batch)),
        "rules_us_per_msg_median": round(statistics.median(rules), 1),
        "gazetteer_us_per_msg_median": round(statistics.median(gaz), 1),
        "single_ms_p50": round(single[len(single) // 2], 2),
        "single_ms_p99": round(single[int(len(single) * 0.99) - 1], 2),
    }
    print(json.dumps(out, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
