"""lingua high- vs low-accuracy mode inside language ID: speed and 3-fold CV accuracy per Kazakh form on
the TRAIN split (test never read). Not part of the test run.

    python bench/lingua_mode.py
"""
import time, json, sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import numpy as np
from lingua import LanguageDetectorBuilder
import triage.langid as L
from triage.text import normalize
from sklearn.model_selection import StratifiedKFold
recs=[json.loads(l) for l in open("data/samples/train.jsonl")]
texts=[normalize(r["text"]) for r in recs]; langs=np.array([r["language"] for r in recs])
form=np.array([r.get("kk_form") or r["language"] for r in recs])
for mode in ("high","low"):
    b=LanguageDetectorBuilder.from_languages(*L._LINGUA.values())
    if mode=="low": b=b.with_low_accuracy_mode()
    L._detector=b.build()
    L.lingua_confidences(texts[:100])
    t0=time.perf_counter(); L.lingua_confidences(texts[:1000]); dt=(time.perf_counter()-t0)/1000*1e6
    pred=np.empty(len(texts),dtype=object)
    for tr,va in StratifiedKFold(3,shuffle=True,random_state=0).split(texts,form):
        m=L.LanguageIdentifier(class_weight={"kk":8.0}).fit([texts[i] for i in tr], langs[tr])
        pred[va]=m.predict([texts[i] for i in va])
    acc={f: round(float((pred[form==f]==langs[form==f]).mean()),4) for f in np.unique(form)}
    print(mode, "us/msg %.1f"%dt, acc)
