"""How far the labels themselves agree: a second, blind annotation of 300 first-round train messages
against the given labels, next to the model's out-of-fold predictions on the same messages (TRAIN split
only; the frozen test split is never read). Not part of the test run.

    python bench/annotator_agreement.py [--second data/samples/agreement/round1_second_annotator.jsonl]

The 300 messages were drawn at random (seed 2026) from the first 3,550 train rows, the writing round the
test split was sampled from. The second annotator saw only each message's text and the label rules of
``data/samples/raw/BRIEF.md`` (its "Labels" section), never the given labels or any other data file.

Prints, per head: agreement (accuracy) and Cohen's kappa of the second annotator with the given labels,
and the model's out-of-fold argmax (``training.train.out_of_fold``, the shipped configuration) against
the given labels and against the second annotator, overall and on the messages where the two
annotators agree. About 40 s on 2 cores (one out-of-fold run).

``--audit`` (needs ``pip install cleanlab``): from the same out-of-fold probabilities, the share of each
writing round's topic labels that cleanlab's ``find_label_issues`` flags as likely label errors, and
``--show N`` prints N flagged first-round messages (seed 1) to read.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import cohen_kappa_score

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from training.train import TrainConfig, load_dataset, out_of_fold  # noqa: E402
from triage.io import read_records  # noqa: E402
from triage.model import HEADS  # noqa: E402
from triage.settings import get_settings  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--second", type=Path, default=REPO / "data/samples/agreement/round1_second_annotator.jsonl")
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    ap.add_argument("--audit", action="store_true", help="cleanlab label audit of the topic head, per writing round")
    ap.add_argument("--rounds", default="3550,5994,8458,11170", help="first train row of each later writing round")
    ap.add_argument("--show", type=int, default=0, help="flagged first-round messages to print")
    args = ap.parse_args()
    train = get_settings().data_dir / "train.jsonl"
    ids = [r["id"] for r in read_records(train)]
    row_of = {i: n for n, i in enumerate(ids)}
    second = list(read_records(args.second))
    missing = [s["id"] for s in second if s["id"] not in row_of]
    if missing:
        raise SystemExit(f"{len(missing)} ids of {args.second} are not in {train}: {missing[:5]}")
    rows = np.array([row_of[s["id"]] for s in second])
    ds = load_dataset([train])
    oof = out_of_fold(ds, TrainConfig())
    out: dict = {"messages": len(rows)}
    print(f"{len(rows)} train messages, second annotator vs given labels, model out-of-fold\n")
    print("| head | annotators agree | Cohen's kappa | model = given | model = second | model = given where annotators agree |")
    print("|---|---:|---:|---:|---:|---:|")
    for h in HEADS:
        if h not in oof:
            continue
        given = np.array([ds.labels[h][r] for r in rows], dtype=object)
        other = np.array([s[h] for s in second], dtype=object)
        model = np.array(oof["classes"][h], dtype=object)[oof[h][rows].argmax(1)]
        agree = given == other
        res = {"annotators_agree": float(agree.mean()), "kappa": float(cohen_kappa_score(given, other)),
               "model_eq_given": float((model == given).mean()), "model_eq_second": float((model == other).mean()),
               "model_eq_given_where_agree": float((model[agree] == given[agree]).mean()),
               "n_agree": int(agree.sum())}
        out[h] = res
        print(f"| {h} | {res['annotators_agree']:.3f} | {res['kappa']:.3f} | {res['model_eq_given']:.3f} | "
              f"{res['model_eq_second']:.3f} | {res['model_eq_given_where_agree']:.3f} ({res['n_agree']}) |")
    if args.audit:
        out["audit"] = audit(ds, oof, [int(x) for x in args.rounds.split(",")], args.show)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 0


def audit(ds, oof: dict, rounds: list[int], show: int) -> dict:
    """cleanlab's likely label errors among the topic labels, per writing round."""
    from cleanlab.filter import find_label_issues

    classes = oof["classes"]["topic"]
    y = np.array([classes.index(v) for v in ds.labels["topic"]])
    flagged = np.zeros(len(y), dtype=bool)
    flagged[find_label_issues(y, oof["topic"], filter_by="prune_by_noise_rate")] = True
    bounds = [0, *rounds, len(y)]
    shares = {f"round {k + 1}": float(flagged[lo:hi].mean()) for k, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:], strict=True))}
    print("\ncleanlab, topic labels flagged as likely errors: "
          + ", ".join(f"{name} {share:.1%}" for name, share in shares.items()))
    first = np.flatnonzero(flagged[:rounds[0]])
    for i in np.random.default_rng(1).choice(first, size=min(show, len(first)), replace=False):
        p = oof["topic"][i]
        print(f"[{i}] given {classes[y[i]]}, model {classes[p.argmax()]} ({p.max():.2f}): {ds.texts[i][:200]}")
    return shares


if __name__ == "__main__":
    raise SystemExit(main())
