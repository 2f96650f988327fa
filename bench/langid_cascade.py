"""Language ID's cascade, measured on the TRAIN split by 3-fold cross-validation (the frozen test split
is never read). Not part of the test run.

    python bench/langid_cascade.py [--thresholds 0.9,0.95,0.99,0.995] [--shared-features]

Per language and Kazakh form, the accuracy of: the full model (lingua's confidences + n-grams +
script), the same model without lingua's confidences, and the cascade at each threshold (the
lingua-free model answers when at least that sure, the full model otherwise), with the share of
messages the cascade sends to lingua. ``--shared-features`` adds the variant that was dropped: language
ID on the heads' own skeleton features (word, character and concept TF-IDF, fitted per fold) plus
lingua and script, instead of its own n-grams. About 2 minutes (3 more with --shared-features).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from triage.fastvec import softmax_proba  # noqa: E402
from triage.io import read_records  # noqa: E402
from triage.langid import LanguageIdentifier, lingua_confidences  # noqa: E402
from triage.model import make_features  # noqa: E402
from triage.settings import get_settings  # noqa: E402
from triage.text import has_kazakh_letters, normalize, script_of, skeleton  # noqa: E402

ORDER = ("kk", "ru", "en")
FORMS = ("cyrl", "latn", "folded")
KK_WEIGHT = {"kk": 8.0}  # TrainConfig.langid_class_weight


def row(name: str, pred: np.ndarray, y: np.ndarray, form: np.ndarray) -> str:
    cells = [f"{np.mean(pred[y == lang] == lang):.4f}" for lang in ORDER]
    cells += [f"{np.mean(pred[form == f] == 'kk'):.4f}" for f in FORMS]
    return f"| {name} | " + " | ".join(cells) + " |"


def shared_features(texts: list[str], y: np.ndarray, tr: np.ndarray, va: np.ndarray) -> np.ndarray:
    """The dropped variant: the heads' skeleton features, lingua and script, one logistic regression."""
    skel = [skeleton(t) for t in texts]
    dense = sp.csr_matrix(np.column_stack([lingua_confidences(texts, low_accuracy=True),
                                           [script_of(t) == "Latn" for t in texts],
                                           [has_kazakh_letters(t) for t in texts]]).astype(float) * 2.0)
    features = make_features()
    Xtr = sp.hstack([features.fit_transform([skel[i] for i in tr]), dense[tr]]).tocsr()
    Xva = sp.hstack([features.transform([skel[i] for i in va]), dense[va]]).tocsr()
    weights = {lang: KK_WEIGHT.get(lang, 1.0) for lang in ORDER}
    return LogisticRegression(C=20.0, max_iter=2000, class_weight=weights).fit(Xtr, y[tr]).predict(Xva)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--thresholds", default="0.9,0.95,0.99,0.995")
    ap.add_argument("--shared-features", action="store_true")
    args = ap.parse_args()
    recs = read_records(get_settings().data_dir / "train.jsonl")
    texts = [normalize(r["text"]) for r in recs]
    y = np.array([r["language"] for r in recs], dtype=object)
    form = np.array([r.get("kk_form") or "-" for r in recs], dtype=object)
    strata = [a + b for a, b in zip(y, form, strict=True)]
    full = np.zeros((len(texts), len(ORDER)))
    free = np.zeros_like(full)
    shared = np.empty(len(texts), dtype=object)
    for k, (tr, va) in enumerate(StratifiedKFold(3, shuffle=True, random_state=0).split(texts, strata)):
        print(f"fold {k + 1}/3...", file=sys.stderr, flush=True)
        lid = LanguageIdentifier(class_weight=KK_WEIGHT).fit([texts[i] for i in tr], y[tr])
        part = [texts[i] for i in va]
        cols = [list(lid.classes_).index(c) for c in ORDER]
        full[va] = softmax_proba(lid.model_, lid._features(part))[:, cols]
        free[va] = softmax_proba(lid.fast_, lid._features(part, lingua=False))[:, cols]
        if args.shared_features:
            shared[va] = shared_features(texts, y, tr, va)
    names = np.array(ORDER, dtype=object)
    full_pred = names[full.argmax(1)]
    print("| model | kk | ru | en | kk_cyrl | kk_latn | kk_folded |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    print(row("full (lingua + n-grams + script)", full_pred, y, form))
    print(row("without lingua", names[free.argmax(1)], y, form))
    for t in (float(x) for x in args.thresholds.split(",")):
        sure = free.max(1) >= t
        pred = np.where(sure, names[free.argmax(1)], full_pred)
        print(row(f"cascade at {t}: {1 - sure.mean():.1%} to lingua, {np.mean(pred == full_pred):.4f} equal to full",
                  pred, y, form))
    if args.shared_features:
        print(row("heads' skeleton features + lingua + script (dropped)", shared, y, form))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
