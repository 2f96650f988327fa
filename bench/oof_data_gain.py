"""What a writing round (and 3-fold calibration) did, measured on the TRAIN split only
(the frozen test split is never read). Not part of the test run.

    python bench/oof_data_gain.py [--original 3550]            # second round + calibration folds
    python bench/oof_data_gain.py --original 5994 --data-only  # third round
    python bench/oof_data_gain.py --original 8458 --data-only  # fourth round
    python bench/oof_data_gain.py --by-round 3550,5994,8458    # per writing round, shipped configuration

Out-of-fold predictions (training.train.out_of_fold, the folds the thresholds come from) scored on
the first ``--original`` rows of train.jsonl, the messages that were there before
``python -m training.dataset extend`` appended the second round. Three configurations:

- original rows only, 5-fold calibration (the model before this change);
- all rows, 5-fold calibration (the new messages join every training fold; only original rows are scored);
- all rows, 3-fold calibration (the shipped configuration).

With ``--data-only``: the first two with the default TrainConfig (its calibration folds). Topic macro-F1 is also given per language.

Prints macro-F1 and expected calibration error (15 bins) per head; takes about 3 minutes on 2 cores.

With ``--by-round``: one out-of-fold run of the default configuration on all rows, topic macro-F1 per
writing round (row ranges split at the given boundaries) and language. The first round is the one the
frozen test split was sampled from, so its rows are the train split's closest match to the test split.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from training.train import Dataset, TrainConfig, load_dataset, out_of_fold  # noqa: E402
from triage.settings import get_settings  # noqa: E402


def ece(proba: np.ndarray, y: np.ndarray, classes: list[str], bins: int = 15) -> float:
    conf = proba.max(1)
    right = np.array(classes)[proba.argmax(1)] == y
    total = 0.0
    for lo in np.linspace(0, 1, bins, endpoint=False):
        m = (conf > lo) & (conf <= lo + 1 / bins)
        if m.any():
            total += m.mean() * abs(right[m].mean() - conf[m].mean())
    return total


def head(ds: Dataset, n: int) -> Dataset:
    return replace(ds, texts=ds.texts[:n], labels={h: v[:n] for h, v in ds.labels.items()},
                   languages=ds.languages[:n] if ds.languages else None)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--original", type=int, default=3550, help="rows of train.jsonl before the extension")
    ap.add_argument("--data-only", action="store_true",
                    help="compare the rows before the extension with all rows, both with the default TrainConfig")
    ap.add_argument("--by-round", metavar="ROWS", help="comma-separated first rows of each later writing round")
    args = ap.parse_args()
    full = load_dataset([get_settings().data_dir / "train.jsonl"])
    if args.by_round:
        return by_round(full, [int(x) for x in args.by_round.split(",")])
    n = args.original
    if args.data_only:
        default = TrainConfig().calibration_folds
        runs = [(f"first {n} rows only", head(full, n), default), (f"all {len(full.texts)} rows", full, default)]
    else:
        runs = [("original rows only, calibration 5 folds", head(full, n), 5),
                ("all rows, calibration 5 folds", full, 5),
                ("all rows, calibration 3 folds (shipped)", full, 3)]
    langs = np.array((full.languages or [""] * len(full.texts))[:n])
    print(f"scored on the first {n} of {len(full.texts)} train rows (out-of-fold)")
    print("| configuration | topic F1 | authority F1 | urgency F1 | topic ECE | authority ECE | urgency ECE "
          "| topic F1 en / kk / ru | s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, ds, folds in runs:
        t0 = time.perf_counter()
        oof = out_of_fold(ds, TrainConfig(calibration_folds=folds), progress=True)
        f1s, eces, per_lang = [], [], ""
        for h in ("topic", "authority", "urgency"):
            cl = oof["classes"][h]
            y = np.array(ds.labels[h][:n])
            p = oof[h][:n]
            pred = np.array(cl)[p.argmax(1)]
            f1s.append(f1_score(y, pred, average="macro"))
            eces.append(ece(p, y, cl))
            if h == "topic":
                per_lang = " / ".join(f"{f1_score(y[langs == lang], pred[langs == lang], average='macro'):.3f}"
                                      for lang in ("en", "kk", "ru"))
        cells = " | ".join(f"{v:.3f}" for v in f1s + eces)
        print(f"| {name} | {cells} | {per_lang} | {time.perf_counter() - t0:.0f} |", flush=True)
    return 0


def by_round(ds: Dataset, starts: list[int]) -> int:
    oof = out_of_fold(ds, TrainConfig(), progress=True)
    cl, y = oof["classes"]["topic"], np.array(ds.labels["topic"])
    pred, langs = np.array(cl)[oof["topic"].argmax(1)], np.array(ds.languages or [""] * len(y))
    bounds = [0, *starts, len(y)]
    print("| writing round | rows | topic F1 | en | kk | ru |\n|---|---|---:|---:|---:|---:|")
    for r, (a, b) in enumerate(zip(bounds, bounds[1:], strict=False), 1):
        ys, ps, ls = y[a:b], pred[a:b], langs[a:b]
        per = " | ".join(f"{f1_score(ys[ls == lang], ps[ls == lang], average='macro'):.3f}" if (ls == lang).any()
                         else "—" for lang in ("en", "kk", "ru"))  # data without a language column
        print(f"| {r} | {a}–{b} | {f1_score(ys, ps, average='macro'):.3f} | {per} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
