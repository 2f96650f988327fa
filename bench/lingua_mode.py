"""lingua high- vs low-accuracy mode inside language ID: speed and 3-fold CV accuracy per Kazakh form on
the TRAIN split (test never read). Not part of the test run.

    python bench/lingua_mode.py
"""

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import numpy as np
from sklearn.model_selection import StratifiedKFold

import triage.langid as L
from triage.text import normalize

with open("data/samples/train.jsonl", encoding="utf-8") as f:
    recs = [json.loads(line) for line in f]
texts = [normalize(r["text"]) for r in recs]
langs = np.array([r["language"] for r in recs])
form = np.array([r.get("kk_form") or r["language"] for r in recs])
for low in (False, True):
    L.lingua_confidences(texts[:100], low_accuracy=low)  # builds the detector
    t0 = time.perf_counter()
    L.lingua_confidences(texts[:1000], low_accuracy=low)
    dt = (time.perf_counter() - t0) / 1000 * 1e6
    pred = np.empty(len(texts), dtype=object)
    for tr, va in StratifiedKFold(3, shuffle=True, random_state=0).split(texts, form):
        m = L.LanguageIdentifier(class_weight={"kk": 8.0}, low_accuracy=low)
        m.fit([texts[i] for i in tr], langs[tr])
        pred[va] = m.predict([texts[i] for i in va])
    acc = {str(f): round(float((pred[form == f] == langs[form == f]).mean()), 4) for f in np.unique(form)}
    print("low-accuracy" if low else "high-accuracy", f"{dt:.1f} us/msg", acc, flush=True)
