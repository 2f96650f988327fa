"""Which abstention-threshold rule keeps its precision promise on messages it has not seen?
Measured on the TRAIN split only (the frozen test split is never read). Not part of the test run.

    python bench/threshold_rule.py [--splits 200] [--json out.json]

Out-of-fold predictions on train.jsonl (``training.train.out_of_fold``, the predictions the shipped
thresholds come from) are cut in two random halves, ``--splits`` times: a threshold is chosen on one
half by each rule and scored on the other half. Rules (``training.metrics.precision_threshold``):

- point estimate: the smallest threshold whose precision on the first half is at least 0.95;
- Clopper-Pearson at delta 0.05 / 0.10: fixed-sequence testing, guaranteed (if the halves are
  exchangeable) to fall below 0.95 on new data with probability at most delta;
- Clopper-Pearson at delta 0.05, one threshold per language (``TrainConfig.thresholds_per_language``);
- the same, tested only on the grid of multiples of the start count (``grid=True``,
  ``TrainConfig.threshold_grid``): fewer tests, so a short run of errors between grid points no longer
  ends the sequence.

Besides the pooled held-out precision, each rule is scored per language: a promise that holds on
average but not for Russian or English speakers is not the promise reviewers rely on.

Urgency is scored on its argmax (the shipped rule also applies the critical threshold first).
Prints, per head and rule: the share of splits where the held-out precision fell below 0.95
(pooled, and per language), the median held-out precision and the median coverage. About 1 minute on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy.stats import beta

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from training.metrics import precision_threshold  # noqa: E402
from training.train import TrainConfig, load_dataset, out_of_fold  # noqa: E402
from triage.settings import get_settings  # noqa: E402

# name: (delta, one threshold per language, grid)
RULES = {"point estimate": (None, False, False), "Clopper-Pearson, delta 0.05": (0.05, False, False),
         "Clopper-Pearson, delta 0.10": (0.10, False, False),
         "Clopper-Pearson, delta 0.05, per language": (0.05, True, False),
         "Clopper-Pearson, delta 0.05, per language, grid": (0.05, True, True)}
LANGS = ("en", "kk", "ru")
TARGET = 0.95


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--splits", type=int, default=200)
    ap.add_argument("--json")
    ap.add_argument("--sequence", metavar="HEAD:LANG",
                    help="also print, for one head and language, precision and the Clopper-Pearson lower bound "
                         "of the N most confident out-of-fold predictions, N = 234, 260, ..., 2000 (e.g. urgency:kk)")
    args = ap.parse_args()
    ds = load_dataset([get_settings().data_dir / "train.jsonl"])
    oof = out_of_fold(ds, TrainConfig(), progress=True)
    rng = np.random.default_rng(0)
    lang = np.array(ds.languages, dtype=object)
    rows, out = [], {}
    for h in ("topic", "authority", "urgency"):
        y = np.array(ds.labels[h], dtype=object)
        keep = oof["validated"] & np.array([v is not None for v in y])  # scored and labelled
        proba, classes, y, lg = oof[h][keep], oof["classes"][h], y[keep], lang[keep]
        pred_idx = proba.argmax(1)
        conf = proba[np.arange(len(proba)), pred_idx]
        correct = np.array(classes, dtype=object)[pred_idx] == y
        if args.sequence and args.sequence.split(":")[0] == h:
            print_sequence(conf[lg == args.sequence.split(":")[1]], correct[lg == args.sequence.split(":")[1]],
                           args.sequence)
        for name, (delta, per_language, grid) in RULES.items():
            below, below_lang, precs, covs = 0, dict.fromkeys(LANGS, 0), [], []
            covs_lang: dict[str, list[float]] = {g: [] for g in LANGS}
            for _ in range(args.splits):
                a = rng.random(len(y)) < 0.5
                if per_language:
                    t = np.zeros(len(y))
                    for g in LANGS:
                        m = lg == g
                        t[m] = precision_threshold(conf[a & m], correct[a & m], TARGET, delta=delta, grid=grid)
                else:
                    t = np.full(len(y), precision_threshold(conf[a], correct[a], TARGET, delta=delta, grid=grid))
                routed = ~a & (conf >= t)
                p = float(correct[routed].mean()) if routed.any() else 1.0
                below += p < TARGET
                for g in LANGS:
                    m = routed & (lg == g)
                    below_lang[g] += m.any() and correct[m].mean() < TARGET
                    covs_lang[g].append(float(m.sum() / (~a & (lg == g)).sum()))
                precs.append(p)
                covs.append(float(routed.sum() / (~a).sum()))
            res = {"held_out_below_target": below / args.splits,
                   "held_out_below_target_per_language": {g: v / args.splits for g, v in below_lang.items()},
                   "median_precision": float(np.median(precs)), "median_coverage": float(np.median(covs)),
                   "median_coverage_per_language": {g: float(np.median(v)) for g, v in covs_lang.items()}}
            out.setdefault(h, {})[name] = res
            per = " / ".join(f"{res['held_out_below_target_per_language'][g]:.0%}" for g in LANGS)
            cov = " / ".join(f"{res['median_coverage_per_language'][g]:.1%}" for g in LANGS)
            rows.append(f"| {h} | {name} | {res['held_out_below_target']:.0%} | {per} | "
                        f"{res['median_precision']:.3f} | {res['median_coverage']:.1%} | {cov} |")
    print(f"out-of-fold on {len(ds.texts)} train messages, {args.splits} random half splits, target {TARGET}")
    print("| head | rule | held-out precision < 0.95 | same, en / kk / ru | median held-out precision | "
          "median coverage | same, en / kk / ru |")
    print("|---|---|---:|---:|---:|---:|---:|")
    print("\n".join(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


def print_sequence(conf: np.ndarray, correct: np.ndarray, name: str) -> None:
    """Where a fixed sequence tested at every confidence would stop: the bound along the ranking."""
    order = np.argsort(-conf, kind="stable")
    c, cf = correct[order], conf[order]
    print(f"{name}: the N most confident out-of-fold predictions")
    print("| N | confidence >= | errors | precision | Clopper-Pearson lower bound (0.05) |\n|---:|---:|---:|---:|---:|")
    for k in (234, 260, 290, 320, 350, 400, 500, 1000, 2000):
        if k <= len(c):
            hits = int(c[:k].sum())
            print(f"| {k} | {cf[k - 1]:.3f} | {k - hits} | {hits / k:.3f} | {beta.ppf(0.05, hits, k - hits + 1):.3f} |")


if __name__ == "__main__":
    raise SystemExit(main())
