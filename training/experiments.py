"""Model selection on the TRAIN split only (k-fold cross-validation): which head classifier and
which features win, per head. The frozen test split is never read here.

    python -m training.experiments [--data data/samples/train.jsonl] [--folds 3] [--output var/experiments]

Candidates: calibrated LinearSVC, logistic regression and complement naive Bayes on the shared
word+char TF-IDF skeleton features with the concept lexicon (words cut to 5-letter prefixes); the
same without the lexicon; with whole words instead of prefixes; char-only features; spaCy's own text classifier (TextCatBOW, trained from scratch on the same
skeleton text). Also: authority derived from the topic and urgency predictions instead of its own
head, and language identification by lingua alone against the learned corrections.
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
from triage.langid import LanguageIdentifier, lingua_confidences
from triage.model import HEADS, make_features, make_head
from triage.settings import get_settings
from triage.taxonomy import Taxonomy
from triage.text import normalize, skeleton

DEFAULT = "svm C=0.3 word+char+concepts"
CANDIDATES = {
    DEFAULT: (dict(), ("svm", 0.3)),
    "svm C=0.1 word+char+concepts": (dict(), ("svm", 0.1)),
    "svm C=1.0 word+char+concepts": (dict(), ("svm", 1.0)),
    "svm C=0.3 word+char (no concepts)": (dict(concept_weight=0), ("svm", 0.3)),
    "svm C=0.3 whole words+char+concepts (no prefix stems)": (dict(word_prefix=0), ("svm", 0.3)),
    "svm C=0.3 char+concepts": (dict(max_word_features=1), ("svm", 0.3)),
    "logreg C=20 word+char+concepts": (dict(), ("logreg", 20.0)),
    "nb a=0.3 word+char+concepts": (dict(), ("nb", 0.3)),
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
    oof: dict[str, np.ndarray] = {}
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
                if name == DEFAULT:
                    oof.setdefault(h, np.empty(len(y), dtype=object))[va] = pred
        results[name] = {h: float(np.mean(v)) for h, v in scores.items()}
        results[name]["seconds"] = round(time.perf_counter() - t0, 1)
    if {"topic", "authority", "urgency"} <= set(oof):
        results["_authority_structured"] = structured_authority(oof, ys["authority"])
    scores = {h: [] for h in ys}
    t0 = time.perf_counter()
    for tr, va in tqdm(splits, desc="spacy textcat"):
        for h, y in ys.items():
            pred = spacy_textcat_predict(list(skels[tr]), list(y[tr]), list(skels[va]))
            scores[h].append(f1_score(y[va], pred, average="macro"))
    results["spacy textcat (bow)"] = {h: float(np.mean(v)) for h, v in scores.items()}
    results["spacy textcat (bow)"]["seconds"] = round(time.perf_counter() - t0, 1)
    if all("language" in r for r in recs):
        results["_language_id"] = language_id(recs, splits)
    return results


def structured_authority(oof: dict[str, np.ndarray], y: np.ndarray) -> dict:
    """Accuracy of the authority head against authority = f(topic, urgency): emergency_service
    when critical, else the topic's default (the head still picks between power_grid and
    utilities_dept for electricity)."""
    tax = Taxonomy.load(get_settings().taxonomy_path)
    derived = []
    for t, a, u in zip(oof["topic"], oof["authority"], oof["urgency"], strict=True):
        if u == "critical":
            derived.append("emergency_service")
        elif t == "electricity_lighting" and a in ("power_grid", "utilities_dept"):
            derived.append(a)
        else:
            derived.append(tax.default_authority(t))
    return {"authority_head_accuracy": float(np.mean(oof["authority"] == y)),
            "derived_from_topic_urgency_accuracy": float(np.mean(np.array(derived, dtype=object) == y))}


def language_id(recs: list[dict], splits) -> dict:
    """Per-language (and per Kazakh form) accuracy: lingua alone vs the learned corrections."""
    texts = [normalize(r["text"]) for r in recs]
    y = np.array([r["language"] for r in recs], dtype=object)
    form = np.array([r.get("kk_form") or "-" for r in recs], dtype=object)
    order = ["kk", "ru", "en"]
    preds = {"lingua alone": np.array(order, dtype=object)[lingua_confidences(texts, order).argmax(1)]}
    for name, kw in (("lingua + chars (C=4)", dict(C=4.0, word_features=False)),
                     ("lingua + chars + words (C=20)", dict()),
                     ("lingua + chars + words (C=20, kk weight 8, default)", dict(class_weight={"kk": 8.0}))):
        p = np.empty(len(y), dtype=object)
        for tr, va in splits:
            m = LanguageIdentifier(**kw).fit([texts[i] for i in tr], y[tr])
            p[va] = m.predict([texts[i] for i in va])
        preds[name] = p
    out = {}
    for name, p in preds.items():
        row = {lang: float(np.mean(p[y == lang] == lang)) for lang in order}
        row.update({f"kk_{f}": float(np.mean(p[form == f] == "kk")) for f in ("cyrl", "latn", "folded")})
        out[name] = row
    return out


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
        if not name.startswith("_"):
            lines.append(f"| {name} | " + " | ".join(f"{r[h]:.3f}" for h in heads) + f" | {r['seconds']} |")
    if "_authority_structured" in res:
        a = res["_authority_structured"]
        lines += ["", f"Authority accuracy: own head {a['authority_head_accuracy']:.3f}, derived from topic and "
                      f"urgency {a['derived_from_topic_urgency_accuracy']:.3f}."]
    if "_language_id" in res:
        cols = ["kk", "ru", "en", "kk_cyrl", "kk_latn", "kk_folded"]
        lines += ["", "| language ID | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
        for name, r in res["_language_id"].items():
            lines.append(f"| {name} | " + " | ".join(f"{r[c]:.3f}" for c in cols) + " |")
    print("\n".join(lines))
    (args.output / "model_selection.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
