"""Model selection on the TRAIN split only (k-fold cross-validation): which head classifier and
which features win, per head. The frozen test split is never read here.

    python -m training.experiments [--data data/samples/train.jsonl] [--folds 3] [--output var/experiments]

Candidates: calibrated LinearSVC, logistic regression and complement naive Bayes on the shared
word+char TF-IDF skeleton features; char-only features; and spaCy's own text classifier
(TextCatBOW, trained from scratch on the same skeleton text).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold
from tqdm.auto import tqdm

from triage.io import read_records
from triage.model import HEADS, make_features, make_head
from triage.settings import get_settings
from triage.text import normalize, skeleton

CANDIDATES = {
    "svm C=0.5 word+char": (dict(), ("svm", 0.5)),
    "svm C=0.2 word+char": (dict(), ("svm", 0.2)),
    "svm C=1.0 word+char": (dict(), ("svm", 1.0)),
    "logreg C=20 word+char": (dict(), ("logreg", 20.0)),
    "nb a=0.3 word+char": (dict(), ("nb", 0.3)),
    "svm C=0.5 char-only": (dict(max_word_features=1), ("svm", 0.5)),
    "svm C=0.5 char 1-4": (dict(char_ngrams=(1, 4)), ("svm", 0.5)),
}


def spacy_textcat_predict(train_texts, train_y, test_texts, epochs: int = 12, seed: int = 0):
    import spacy
    from spacy.training import Example

    random.seed(seed)
    nlp = spacy.blank("xx")
    tc = nlp.add_pipe("textcat", config={"model": {"@architectures": "spacy.TextCatBOW.v3",
                                                   "exclusive_classes": True, "ngram_size": 2,
                                                   "no_output_layer": False}})
    labels = sorted(set(train_y))
    for lab in labels:
        tc.add_label(lab)
    examples = [Example.from_dict(nlp.make_doc(t), {"cats": {lab: float(lab == y) for lab in labels}})
                for t, y in zip(train_texts, train_y, strict=True)]
    opt = nlp.initialize(lambda: examples)
    for _ in range(epochs):
        random.shuffle(examples)
        for i in range(0, len(examples), 64):
            nlp.update(examples[i:i + 64], sgd=opt)
    return [max(d.cats, key=d.cats.get) for d in nlp.pipe(test_texts)]


def run(data: Path, folds: int, seed: int = 13) -> dict:
    recs = read_records(data)
    skels = np.array([skeleton(normalize(r["text"])) for r in recs], dtype=object)
    ys = {h: np.array([r[h] for r in recs], dtype=object) for h in HEADS if h in recs[0]}
    skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    splits = list(skf.split(skels, ys["topic"]))
    results: dict = {}
    for name, (feat_kw, (kind, C)) in tqdm(CANDIDATES.items(), desc="candidates"):
        scores = {h: [] for h in ys}
        t0 = time.perf_counter()
        for tr, va in splits:
            feats = make_features(**feat_kw)
            Xtr = feats.fit_transform(list(skels[tr]))
            Xva = feats.transform(list(skels[va]))
            for h, y in ys.items():
                pred = make_head(kind, C).fit(Xtr, y[tr]).predict(Xva)
                scores[h].append(f1_score(y[va], pred, average="macro"))
        results[name] = {h: float(np.mean(v)) for h, v in scores.items()}
        results[name]["seconds"] = round(time.perf_counter() - t0, 1)
    scores = {h: [] for h in ys}
    t0 = time.perf_counter()
    for tr, va in tqdm(splits, desc="spacy textcat"):
        for h, y in ys.items():
            pred = spacy_textcat_predict(list(skels[tr]), list(y[tr]), list(skels[va]))
            scores[h].append(f1_score(y[va], pred, average="macro"))
    results["spacy textcat (bow)"] = {h: float(np.mean(v)) for h, v in scores.items()}
    results["spacy textcat (bow)"]["seconds"] = round(time.perf_counter() - t0, 1)
    return results


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=get_settings().data_dir / "train.jsonl")
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--output", type=Path, default=get_settings().var_dir / "experiments")
    args = ap.parse_args(argv)
    res = run(args.data, args.folds)
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "model_selection.json").write_text(json.dumps(res, indent=2))
    heads = [h for h in HEADS if h in next(iter(res.values()))]
    lines = ["| candidate | " + " | ".join(f"{h} macro-F1" for h in heads) + " | seconds |",
             "|---|" + "---:|" * (len(heads) + 1)]
    for name, r in res.items():
        lines.append(f"| {name} | " + " | ".join(f"{r[h]:.3f}" for h in heads) + f" | {r['seconds']} |")
    print("\n".join(lines))
    (args.output / "model_selection.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
