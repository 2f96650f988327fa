"""Two calibration recipes compared as shipped models, on the TRAIN split only (the frozen test split
is never read). Not part of the test run.

    python bench/calibration_recipes.py [--outer-folds 4] [--data data/samples/train.jsonl] [--out DIR]

``config_variants.py --groups calibration`` scores the validation fits' own out-of-fold predictions,
which for the two recipes are not built the way their final models are. This script trains the
whole recipe (validation folds, thresholds, final model: ``training.train.train``) on all but one
outer fold of the train split and classifies the held-out fold with the resulting model, through
the engine (critical threshold, rules, per-language thresholds), for each recipe:

- ``validation``: the SVM heads' sigmoids fitted on the validation folds' decision values;
- ``inner``: each fit calibrates its heads on 2 inner folds (the default).

Pooled over the outer folds: per head accuracy, macro-F1, calibration error, coverage and precision at
the thresholds, critical recall and precision, and how many held-out messages only one recipe labels
right (a paired comparison, with a two-sided sign test), and a reliability diagram per head
(``calibration_recipes.png``: accuracy against confidence in ten bins). About 10 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from scipy.stats import binomtest
from sklearn.model_selection import StratifiedKFold

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from training.metrics import head_metrics  # noqa: E402
from training.train import TrainConfig, train  # noqa: E402
from triage.engine import Triage  # noqa: E402
from triage.io import read_records, write_jsonl  # noqa: E402
from triage.routing import overruled  # noqa: E402
from triage.settings import get_settings  # noqa: E402

HEADS = ("topic", "authority", "urgency")
RECIPES = {"validation": replace(TrainConfig(), calibration="validation"),
           "inner": replace(TrainConfig(), calibration="inner", calibration_folds=2)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--outer-folds", type=int, default=4)
    ap.add_argument("--data", type=Path, default=get_settings().data_dir / "train.jsonl")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = ap.parse_args()
    records = read_records(args.data)
    topics = np.array([r["topic"] for r in records])
    outer = StratifiedKFold(args.outer_folds, shuffle=True, random_state=7).split(np.zeros(len(records)), topics)
    pooled = {name: {h: {"y": [], "pred": [], "conf": [], "routed": [], "lang": []} for h in HEADS}
              for name in RECIPES}
    seconds = {name: [] for name in RECIPES}
    with tempfile.TemporaryDirectory() as tmp:
        for k, (tr, va) in enumerate(outer):
            data = Path(tmp) / f"train{k}.jsonl"
            write_jsonl(data, [records[i] for i in tr])
            held = [records[i] for i in va]
            for name, config in RECIPES.items():
                t0 = time.perf_counter()
                train([data], Path(tmp) / f"{name}{k}", config=config, progress=False)
                seconds[name].append(time.perf_counter() - t0)
                model = Triage.load(Path(tmp) / f"{name}{k}")
                results = model.classify_batch([r["text"] for r in held])
                for h in HEADS:
                    p = pooled[name][h]
                    for r, res in zip(held, results, strict=True):
                        head = getattr(res, h)
                        p["y"].append(r[h])
                        p["pred"].append(head.label)
                        p["conf"].append(head.confidence)
                        p["routed"].append(f"{h}_below_threshold" not in res.reasons and not overruled(res.reasons))
                        p["lang"].append(r["language"])
                print(f"outer fold {k + 1}/{args.outer_folds}, {name}: trained in {seconds[name][-1]:.0f} s",
                      flush=True)
    report: dict = {"n": len(records), "outer_folds": args.outer_folds, "recipes": {}}
    for name in RECIPES:
        rep = report["recipes"][name] = {"train_seconds_median": float(np.median(seconds[name]))}
        for h in HEADS:
            p = pooled[name][h]
            m = head_metrics(p["y"], p["pred"], p["conf"], 0.0, p["lang"], p["routed"])
            rep[h] = {key: m[key] for key in ("accuracy", "macro_f1", "ece", "coverage", "precision_at_threshold")}
        y, pred = np.array(pooled[name]["urgency"]["y"]), np.array(pooled[name]["urgency"]["pred"])
        rep["critical_recall"] = float((pred[y == "critical"] == "critical").mean())
        rep["critical_precision"] = float((y[pred == "critical"] == "critical").mean())
    report["paired"] = {}
    for h in HEADS:
        y = np.array(pooled["validation"][h]["y"])
        a = np.array(pooled["validation"][h]["pred"]) == y
        b = np.array(pooled["inner"][h]["pred"]) == y
        only_a, only_b = int((a & ~b).sum()), int((b & ~a).sum())
        p = binomtest(only_a, only_a + only_b).pvalue if only_a + only_b else 1.0
        report["paired"][h] = {"only_validation_right": only_a, "only_inner_right": only_b, "sign_test_p": p}

    lines = [f"{len(records)} training messages, {args.outer_folds} outer folds: each recipe trained on the "
             "others, its model classifying the held-out fold (pooled).", "",
             "| recipe | head | accuracy | macro-F1 | ECE | coverage | precision at threshold |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for name, rep in report["recipes"].items():
        for h in HEADS:
            m = rep[h]
            lines.append(f"| {name} | {h} | {m['accuracy']:.3f} | {m['macro_f1']:.3f} | {m['ece']:.3f} | "
                         f"{m['coverage']:.1%} | {m['precision_at_threshold']:.3f} |")
    lines += ["", "| recipe | critical recall | critical precision | training s (median) |", "|---|---:|---:|---:|"]
    lines += [f"| {name} | {rep['critical_recall']:.3f} | {rep['critical_precision']:.3f} | "
              f"{rep['train_seconds_median']:.0f} |" for name, rep in report["recipes"].items()]
    lines += ["", "| head | right only with validation | right only with inner | sign test p |", "|---|---:|---:|---:|"]
    lines += [f"| {h} | {v['only_validation_right']} | {v['only_inner_right']} | {v['sign_test_p']:.3f} |"
              for h, v in report["paired"].items()]
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "calibration_recipes.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "calibration_recipes.md").write_text(text)
    reliability_png(pooled, args.out / "calibration_recipes.png")
    return 0


def reliability_png(pooled: dict, path: Path, bins: int = 10) -> None:
    """Per head, each recipe's accuracy against its confidence in equal-width bins."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(HEADS), figsize=(4 * len(HEADS), 4), sharey=True)
    edges = np.linspace(0, 1, bins + 1)
    for ax, h in zip(axes, HEADS, strict=True):
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
        for name, p in pooled.items():
            conf = np.array(p[h]["conf"], dtype=float)
            right = np.array(p[h]["pred"], dtype=object) == np.array(p[h]["y"], dtype=object)
            idx = np.clip(np.digitize(conf, edges[1:-1]), 0, bins - 1)
            used = [b for b in range(bins) if (idx == b).any()]
            ax.plot([conf[idx == b].mean() for b in used], [right[idx == b].mean() for b in used], marker="o",
                    label=name)
        ax.set(title=h, xlabel="confidence", xlim=(0, 1), ylim=(0, 1))
    axes[0].set_ylabel("share right")
    axes[0].legend(title="calibration")
    fig.suptitle("Held-out outer folds of the train split: reliability of each recipe's shipped-style model")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
