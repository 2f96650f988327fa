"""The character n-gram vectorizer's fit: scikit-learn's against ``WordCachedTfidfVectorizer``
(not part of the test run).

    python bench/char_fit.py [--repeats 2]

Each fit runs in its own process on the train split's skeleton texts, with the shipped feature
settings, alternating; prints seconds and the process's peak resident memory above what it held
once the texts were loaded (the cached fit keeps one index array per distinct word).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

ONE = """
import resource, sys, time
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from triage.fastvec import WordCachedTfidfVectorizer
from triage.io import read_records
from triage.settings import get_settings
from triage.text import normalize, skeleton
docs = [skeleton(normalize(r["text"])) for r in read_records(get_settings().data_dir / "train.jsonl")]
cls = TfidfVectorizer if sys.argv[1] == "sklearn" else WordCachedTfidfVectorizer
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
cls(analyzer="char_wb", ngram_range=(2, 5), min_df=2, max_features=120_000, sublinear_tf=True,
    lowercase=False, dtype=np.float32).fit_transform(docs)
peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
print(f"{sys.argv[1]}: {len(docs)} texts, {time.perf_counter() - t0:.1f} s, peak memory +{peak:.0f} MB")
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    for _ in range(args.repeats):
        for which in ("sklearn", "cached"):
            subprocess.run([sys.executable, "-c", ONE, which], cwd=REPO, check=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
