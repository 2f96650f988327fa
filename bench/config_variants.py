"""Configuration variants scored out-of-fold on the TRAIN split only (the frozen test split is never
read). Not part of the test run; the README's "Model selection" numbers for this session come from it.

    python bench/config_variants.py [--groups features,lead,speed,calibration,ensemble,urgency] [--data data/samples/train.jsonl]

Groups:

- ``features``: head C, character n-gram range, capped vocabularies, concept weight, word prefix
  length, word trigrams, each against the default configuration;
- ``lead``: the features of the message's first words (``make_features(lead_words=...)``): on, off,
  longer, lighter;
- ``speed``: LinearSVC stopping tolerance, validation folds and inner calibration folds (macro-F1,
  ECE and the wall-clock seconds of the out-of-fold fits, which run in parallel on all cores);
- ``calibration``: the SVM heads' sigmoids fitted on inner calibration folds in every fit (default)
  against on the validation folds' decision values;
- ``ensemble``: averaging the calibrated SVM heads' probabilities with complement naive Bayes;
- ``urgency``: the urgency head's C and kind, scored also as the pipeline outputs urgency (the
  critical threshold chosen on the same out-of-fold predictions, plus the emergency rules), in a
  table of its own.

Every variant uses ``training.train.out_of_fold``, the same folds the thresholds come from.
Prints one markdown row per variant; about 1 minute per variant on 2 cores at 8,500 messages.
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
sys.path.insert(0, str(REPO / "bench"))

from oof_data_gain import ece  # noqa: E402

from training.train import DEFAULT_HEADS, Dataset, TrainConfig, load_dataset, out_of_fold  # noqa: E402
from triage.settings import get_settings  # noqa: E402

HEADS = ("topic", "authority", "urgency")


def heads(**changes) -> dict:
    """The default head specs with ``changes`` applied to every head (or per head: topic={...})."""
    out = {h: dict(spec) for h, spec in DEFAULT_HEADS.items()}
    for key, value in changes.items():
        if key in out:
            out[key].update(value)
        else:
            for spec in out.values():
                spec[key] = value
    return out


def variants(group: str) -> dict[str, TrainConfig]:
    base = TrainConfig()
    if group == "features":
        return {
            "default": base,
            "C 2.0 for topic and authority": replace(base, heads=heads(topic={"C": 2.0}, authority={"C": 2.0})),
            "C 0.5 for topic and authority": replace(base, heads=heads(topic={"C": 0.5}, authority={"C": 0.5})),
            "character n-grams 1-5": replace(base, features={"char_ngrams": (1, 5)}),
            "character n-grams 2-6": replace(base, features={"char_ngrams": (2, 6)}),
            "vocabularies capped (40k char, 15k word)": replace(
                base, features={"max_char_features": 40_000, "max_word_features": 15_000}),
            "concept weight 1.0": replace(base, features={"concept_weight": 1.0}),
            "word prefixes of 6 letters": replace(base, features={"word_prefix": 6}),
            "word prefixes of 4 letters": replace(base, features={"word_prefix": 4}),
            "word n-grams 1-3": replace(base, features={"word_ngrams": (1, 3)}),
        }
    if group == "lead":
        return {
            "default (lead of 8 words, weight 1)": base,
            "no lead features": replace(base, features={"lead_words": 0}),
            "lead of 12 words": replace(base, features={"lead_words": 12}),
            "lead weight 0.5": replace(base, features={"lead_weight": 0.5}),
        }
    if group == "speed":
        return {
            "default": base,
            "LinearSVC tol 1e-4": replace(base, heads=heads(tol=1e-4)),
            "5 validation folds": replace(base, folds=5),
            "inner calibration, 3 folds": replace(base, calibration="inner", calibration_folds=3),
        }
    if group == "calibration":
        return {
            "inner, 2 folds (default)": base,
            "on the validation folds": replace(base, calibration="validation"),
        }
    if group == "urgency":
        return {
            "default (svm C 0.3)": base,
            "svm C 0.6": replace(base, heads=heads(urgency={"C": 0.6})),
            "svm C 1.0": replace(base, heads=heads(urgency={"C": 1.0})),
            "svm C 0.15": replace(base, heads=heads(urgency={"C": 0.15})),
            "logreg C 20": replace(base, heads=heads(urgency={"kind": "logreg", "C": 20.0})),
            "no lead features": replace(base, features={"lead_words": 0}),
            "urgency learns from the lead too": replace(base, heads=heads(urgency={"ignore": []})),
        }
    raise ValueError(group)


def pipeline_urgency(ds: Dataset, oof: dict, config: TrainConfig, rule_hit: np.ndarray,
                     n_words: np.ndarray) -> tuple[float, float, float]:
    """Urgency macro-F1, critical recall and precision as the pipeline labels urgency: critical when
    its probability reaches the critical threshold (chosen on these predictions, as training does)
    or an emergency rule fires that the model does not veto, else the argmax."""
    from training.train import choose_thresholds
    from triage.rules import EmergencyRules, rule_vetoed

    rules = EmergencyRules.load(get_settings().emergency_rules_path)
    crit_t = choose_thresholds(ds, {k: oof[k] for k in ("classes", "validated", "urgency")}, config,
                               rules)["critical_threshold"]
    keep = scored_rows(ds, oof, "urgency")
    cl, y, p = oof["classes"]["urgency"], np.array(ds.labels["urgency"], dtype=object)[keep], oof["urgency"][keep]
    pred = np.array(cl, dtype=object)[p.argmax(1)]
    p_crit = p[:, cl.index("critical")]
    hit = rule_hit[keep] & ~rule_vetoed(p_crit, n_words[keep], config.rule_veto_spec())
    pred[(p_crit >= crit_t) | hit] = "critical"
    crit, flagged = y == "critical", pred == "critical"
    return (f1_score(y, pred, average="macro"), float(flagged[crit].mean()), float(crit[flagged].mean()))


def scored_rows(ds: Dataset, oof: dict, head: str) -> np.ndarray:
    """Rows with an out-of-fold prediction (all of them under k-fold, the holdout on large data)
    and a label for ``head``."""
    return oof["validated"] & np.array([v is not None for v in ds.labels[head]])


def scores(ds: Dataset, oof: dict) -> tuple[list[float], list[float]]:
    f1s, eces = [], []
    for h in HEADS:
        keep = scored_rows(ds, oof, h)
        cl, y, p = oof["classes"][h], np.array(ds.labels[h], dtype=object)[keep], oof[h][keep]
        f1s.append(f1_score(y, np.array(cl, dtype=object)[p.argmax(1)], average="macro"))
        eces.append(ece(p, y, cl))
    return f1s, eces


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--groups", default="features,speed,ensemble")
    ap.add_argument("--data", type=Path, default=get_settings().data_dir / "train.jsonl")
    args = ap.parse_args()
    ds = load_dataset([args.data])
    print(f"{len(ds.texts)} training messages, out-of-fold")
    if set(args.groups.split(",")) - {"urgency"}:
        print("| group | variant | topic F1 | authority F1 | urgency F1 | topic ECE | authority ECE | urgency ECE | s |")
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for group in args.groups.split(","):
        if group == "ensemble":
            svm = out_of_fold(ds, TrainConfig(), progress=False)
            nb = out_of_fold(ds, replace(TrainConfig(), heads=heads(kind="nb", C=0.3)), progress=False)
            for w in (0.0, 0.35, 0.5, 1.0):
                mix = {**svm, **{h: (1 - w) * svm[h] + w * nb[h] for h in HEADS}}
                f1s, eces = scores(ds, mix)
                cells = " | ".join(f"{v:.3f}" for v in f1s + eces)
                print(f"| ensemble | SVM + {w:.2f} x complement NB (alpha 0.3) | {cells} | |", flush=True)
            continue
        if group == "urgency":
            from triage.matching import words
            from triage.rules import EmergencyRules
            from triage.text import normalize, skeleton

            rules = EmergencyRules.load(get_settings().emergency_rules_path)
            skels = [skeleton(normalize(t)) for t in ds.texts]
            langs = ds.languages or [None] * len(skels)
            hit = np.array([rules.raises_critical(sk, lang) for sk, lang in zip(skels, langs, strict=True)])
            n_words = np.array([len(words(sk)) for sk in skels])
            print("\n| urgency variant | urgency F1 (argmax) | urgency F1 (pipeline) | critical recall | "
                  "critical precision | urgency ECE | s |\n|---|---:|---:|---:|---:|---:|---:|")
            for name, config in variants(group).items():
                t0 = time.perf_counter()
                oof = out_of_fold(replace(ds, labels={"urgency": ds.labels["urgency"]}), config, progress=False)
                keep = scored_rows(ds, oof, "urgency")
                y, cl, p = np.array(ds.labels["urgency"], dtype=object)[keep], oof["classes"]["urgency"], oof["urgency"][keep]
                argmax_f1 = f1_score(y, np.array(cl, dtype=object)[p.argmax(1)], average="macro")
                f1, rec, prec = pipeline_urgency(ds, oof, config, hit, n_words)
                print(f"| {name} | {argmax_f1:.3f} | {f1:.3f} | {rec:.3f} | {prec:.3f} | "
                      f"{ece(p, y, cl):.3f} | {time.perf_counter() - t0:.0f} |", flush=True)
            continue
        for name, config in variants(group).items():
            t0 = time.perf_counter()
            f1s, eces = scores(ds, out_of_fold(ds, config, progress=False))
            cells = " | ".join(f"{v:.3f}" for v in f1s + eces)
            print(f"| {group} | {name} | {cells} | {time.perf_counter() - t0:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
