"""Training time on the starter set and on a larger synthetic set (not part of the test run).

    python bench/train_speed.py [--sizes 13598,50000] [--json out.json]

The larger sets are made from the starter train split by resampling messages and perturbing them
(dropping and swapping words, typos), so they have the starter set's length distribution ("short
messages") and labels. They measure speed only: their quality numbers mean nothing. Each size is
trained once with the default configuration, without MLflow; wall-clock seconds are reported
(the machine is shared: compare sizes within one run).
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from training.train import train
from triage.io import read_records, write_jsonl
from triage.settings import get_settings


def perturb(text: str, rng: random.Random) -> str:
    words = text.split()
    if len(words) > 3 and rng.random() < 0.5:
        del words[rng.randrange(len(words))]
    if len(words) > 3 and rng.random() < 0.5:
        i = rng.randrange(len(words) - 1)
        words[i], words[i + 1] = words[i + 1], words[i]
    out = " ".join(words)
    if len(out) > 4 and rng.random() < 0.7:
        i = rng.randrange(len(out) - 1)
        out = out[:i] + out[i + 1] + out[i] + out[i + 2:]
    return out


def synthetic(records: list[dict], n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    if n <= len(records):
        return records[:n]
    out = list(records)
    while len(out) < n:
        r = dict(rng.choice(records))
        r["text"] = perturb(r["text"], rng)
        out.append(r)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="13598,50000", help="13,598 is the whole starter train split")
    ap.add_argument("--json")
    args = ap.parse_args()
    base = read_records(get_settings().data_dir / "train.jsonl")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(x) for x in args.sizes.split(",")):
            data = Path(tmp) / f"train-{n}.jsonl"
            write_jsonl(data, synthetic(base, n))
            t0 = time.perf_counter()
            train([data], Path(tmp) / f"model-{n}", progress=True)
            secs = time.perf_counter() - t0
            results.append({"messages": n, "seconds": round(secs, 1)})
            print(json.dumps(results[-1]), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
