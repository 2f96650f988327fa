"""Our pipeline against peer text classifiers, trained on the same data (not part of the test run).

    python bench/peers.py [--train PATH --test PATH] [--text-column text] [--topic-column topic]
                          [--authority-column authority] [--urgency-column urgency] [--out DIR]
                          [--skip-ours-training] [--systems ours,fasttext,tfidf_nb,spacy_textcat]

Systems, each trained on --train and evaluated on --test (JSONL or CSV), one classifier per head:

* ours           ``training.train.train`` (the full training: out-of-fold thresholds, calibration,
                 language ID) into a temporary directory, then ``Triage.load(dir).classify_batch``:
                 the full pipeline (language ID, three heads, critical threshold, rules, routing).
                 ``--skip-ours-training`` (default data only) loads the shipped ``models/default``.
* fasttext       ``fasttext.train_supervised`` per head (pip ``fasttext-numpy2`` or
                 ``fasttext-community``); text lowercased, whitespace/newlines collapsed.
* tfidf_nb       scikit-learn ``TfidfVectorizer(sublinear_tf, 1-2 grams) + MultinomialNB(alpha=0.1)``.
* spacy_textcat  ``spacy.blank("xx")`` + ``textcat`` (bag-of-words architecture, exclusive classes),
                 minibatch training for --spacy-epochs epochs with a fixed seed; text lowercased.

Every peer configuration below is fixed a priori (nothing is tuned on the test file).

Quality: accuracy and macro-F1 per head, overall and per language (the test file's language column;
macro-F1 averages over the labels present in the true labels of that subset, as
``training.metrics.head_metrics`` does). Training time: wall seconds. Speed, in this process, pinned
to one CPU with BLAS/OpenMP pools limited to one thread: batch throughput on all test texts (all
three heads; for ours the full ``classify_batch``), median of --repeats runs interleaved across
systems, and single-message latency p50/p99 over --latency-n texts (also interleaved).

Writes peers.json, peers.md and peers.png to --out (default var/bench/peers/). The machine is shared
and noisy: compare numbers from one run, side by side, not across runs.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from triage.io import read_records  # noqa: E402
from triage.settings import get_settings  # noqa: E402

HEAD_NAMES = ("topic", "authority", "urgency")
ALL_SYSTEMS = ("ours", "fasttext", "tfidf_nb", "spacy_textcat")
SEED = 13

# Fixed a priori (listed in bench/PEERS.md); never tuned on the test file.
FASTTEXT_PARAMS = {"epoch": 25, "lr": 0.5, "wordNgrams": 2, "minn": 2, "maxn": 5, "dim": 50,
                   "loss": "softmax", "thread": 1, "seed": SEED, "verbose": 0}
TFIDF_PARAMS = {"sublinear_tf": True, "ngram_range": (1, 2), "min_df": 1}
NB_ALPHA = 0.1
SPACY_ARCH = {"@architectures": "spacy.TextCatBOW.v3", "exclusive_classes": True, "ngram_size": 2,
              "no_output_layer": False}
SPACY_DROPOUT = 0.1
SPACY_BATCH = (4.0, 32.0, 1.001)  # compounding minibatch sizes: start, stop, factor
PIPE_BATCH = 256

MISSING_HINT = {
    "fasttext": "pip install fasttext-numpy2   (or: pip install fasttext-community)",
    "spacy": "pip install 'spacy>=3.7,<4'",
    "sklearn": "pip install 'scikit-learn>=1.5,<2'",
    "matplotlib": "pip install matplotlib",
    "threadpoolctl": "pip install threadpoolctl",
}
NEEDS = {"fasttext": ["fasttext"], "tfidf_nb": ["sklearn"], "spacy_textcat": ["spacy"], "ours": []}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def prep(text: str) -> str:
    """Peers' shared normalization (fastText, spaCy): lowercase, newlines and runs of spaces -> one space."""
    return " ".join(text.lower().split())


# ---------------------------------------------------------------------------------------------
# Systems. Each has fit(texts, labels_by_head) -> {head: seconds}, predict_batch(texts) ->
# {head: [label]}, predict_one(text) -> {head: label}.
# ---------------------------------------------------------------------------------------------


class Ours:
    name = "ours"

    def __init__(self, train_path: Path, text_column: str, head_columns: dict[str, str], skip_training: bool):
        self.train_path, self.text_column, self.head_columns = train_path, text_column, head_columns
        self.skip_training = skip_training
        self.tmp: tempfile.TemporaryDirectory | None = None
        self.triage = None
        self.note = ""

    def fit(self, texts, labels) -> dict[str, float]:
        from training.train import TrainConfig, train
        from triage.engine import Triage

        if self.skip_training:
            model_dir = get_settings().model_dir
            self.triage = Triage.load(model_dir)
            man = self.triage.manifest
            sha = hashlib.sha256(self.train_path.read_bytes()).hexdigest()
            same = man.get("data", {}).get("sha256") == sha
            self.note = (f"shipped model {model_dir.name} ({self.triage.version}); training time from its manifest, "
                         f"not measured in this run; manifest data hash {'matches' if same else 'DIFFERS FROM'} "
                         "the train file")
            if not same:
                log("WARNING: models/default was not trained on this train file (hash differs)")
            return {"total": float(man.get("train_seconds", float("nan")))}
        self.tmp = tempfile.TemporaryDirectory(prefix="peers-ours-")
        out = Path(self.tmp.name) / "model"
        t0 = time.perf_counter()
        train([self.train_path], out, self.text_column, self.head_columns, TrainConfig(), progress=True)
        secs = time.perf_counter() - t0
        self.triage = Triage.load(out)
        self.note = ("trained in this run with training.train.train(TrainConfig()): all heads, 5-fold "
                     "out-of-fold thresholds, calibration, language ID; n_jobs=-1 (both cores)")
        return {"total": secs}

    def predict_batch(self, texts):
        res = self.triage.classify_batch(texts, errors="return")
        out = {}
        for h in self.triage.heads:
            out[h] = [None if isinstance(r, Exception) or getattr(r, h) is None else getattr(r, h).label for r in res]
        out["_language"] = [None if isinstance(r, Exception) else r.language for r in res]
        return out

    def predict_one(self, text):
        r = self.triage.classify_batch([text], errors="return")[0]
        return r

    def close(self):
        if self.tmp is not None:
            self.tmp.cleanup()


class FastText:
    name = "fasttext"

    def __init__(self):
        import fasttext

        self.ft = fasttext
        self.models, self.back = {}, {}

    def fit(self, texts, labels) -> dict[str, float]:
        times = {}
        with tempfile.TemporaryDirectory(prefix="peers-ft-") as tmp:
            for head, ys in labels.items():
                t0 = time.perf_counter()
                tok = {y: "__label__" + "_".join(y.split()) for y in sorted(set(ys))}
                path = Path(tmp) / f"{head}.txt"
                with open(path, "w", encoding="utf-8") as f:
                    for t, y in zip(texts, ys, strict=True):
                        f.write(f"{tok[y]} {prep(t)}\n")
                self.models[head] = self.ft.train_supervised(str(path), **FASTTEXT_PARAMS)
                self.back[head] = {v: k for k, v in tok.items()}
                times[head] = time.perf_counter() - t0
                log(f"  fasttext {head}: {len(tok)} labels, {times[head]:.1f}s")
        return times

    def predict_batch(self, texts):
        p = [prep(t) for t in texts]
        out = {}
        for head, m in self.models.items():
            labs, _ = m.predict(p, k=1)
            out[head] = [self.back[head][lab[0]] for lab in labs]
        return out

    def predict_one(self, text):
        p = prep(text)
        return {head: self.back[head][m.predict(p, k=1)[0][0]] for head, m in self.models.items()}


class TfidfNB:
    name = "tfidf_nb"

    def __init__(self):
        self.models = {}

    def fit(self, texts, labels) -> dict[str, float]:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.naive_bayes import MultinomialNB
        from sklearn.pipeline import make_pipeline

        times = {}
        for head, ys in labels.items():
            t0 = time.perf_counter()
            self.models[head] = make_pipeline(TfidfVectorizer(**TFIDF_PARAMS), MultinomialNB(alpha=NB_ALPHA))
            self.models[head].fit(texts, ys)
            times[head] = time.perf_counter() - t0
            log(f"  tfidf_nb {head}: {times[head]:.1f}s")
        return times

    def predict_batch(self, texts):
        return {head: list(m.predict(texts)) for head, m in self.models.items()}

    def predict_one(self, text):
        return {head: m.predict([text])[0] for head, m in self.models.items()}


class SpacyTextcat:
    name = "spacy_textcat"

    def __init__(self, epochs: int):
        self.epochs = epochs
        self.nlps = {}

    def fit(self, texts, labels) -> dict[str, float]:
        import spacy
        from spacy.training import Example
        from spacy.util import compounding, fix_random_seed, minibatch

        times = {}
        docs_text = [prep(t) for t in texts]
        for head, ys in labels.items():
            t0 = time.perf_counter()
            fix_random_seed(SEED)
            nlp = spacy.blank("xx")
            textcat = nlp.add_pipe("textcat", config={"model": dict(SPACY_ARCH)})
            classes = sorted(set(ys))
            for c in classes:
                textcat.add_label(c)
            examples = [Example.from_dict(nlp.make_doc(t), {"cats": {c: float(c == y) for c in classes}})
                        for t, y in zip(docs_text, ys, strict=True)]
            optimizer = nlp.initialize(lambda examples=examples: examples)
            rng = random.Random(SEED)
            sizes = compounding(*SPACY_BATCH)  # one schedule across epochs, as in spaCy's textcat example
            for epoch in range(self.epochs):
                rng.shuffle(examples)
                losses: dict[str, float] = {}
                for batch in minibatch(examples, size=sizes):
                    nlp.update(batch, sgd=optimizer, drop=SPACY_DROPOUT, losses=losses)
                log(f"  spacy_textcat {head}: epoch {epoch + 1}/{self.epochs} loss {losses.get('textcat', 0):.3f}")
            self.nlps[head] = nlp
            times[head] = time.perf_counter() - t0
            log(f"  spacy_textcat {head}: {len(classes)} labels, {times[head]:.1f}s")
        return times

    def predict_batch(self, texts):
        p = [prep(t) for t in texts]
        out = {}
        for head, nlp in self.nlps.items():
            out[head] = [max(d.cats, key=d.cats.get) for d in nlp.pipe(p, batch_size=PIPE_BATCH, n_process=1)]
        return out

    def predict_one(self, text):
        p = prep(text)
        out = {}
        for head, nlp in self.nlps.items():
            cats = nlp(p).cats
            out[head] = max(cats, key=cats.get)
        return out


# ---------------------------------------------------------------------------------------------
# Metrics, speed, reports
# ---------------------------------------------------------------------------------------------


def quality(y_true: list[str], y_pred: list[str | None], langs: list[str] | None) -> dict:
    from sklearn.metrics import accuracy_score, f1_score

    yt = np.asarray(y_true, dtype=object)
    yp = np.asarray(["\0invalid" if p is None else p for p in y_pred], dtype=object)

    def block(m):
        t, p = yt[m], yp[m]
        return {"n": int(m.sum()), "accuracy": float(accuracy_score(t, p)),
                "macro_f1": float(f1_score(t, p, labels=sorted(set(t)), average="macro", zero_division=0))}

    out = block(np.ones(len(yt), dtype=bool))
    if langs is not None:
        la = np.asarray(langs, dtype=object)
        out["per_language"] = {lang: block(la == lang) for lang in sorted(set(langs))}
    if "critical" in set(y_true):
        crit, flagged = yt == "critical", yp == "critical"
        out["critical_recall"] = float((yp[crit] == "critical").mean())
        out["critical_precision"] = float((yt[flagged] == "critical").mean()) if flagged.any() else 0.0
    return out


@contextlib.contextmanager
def one_core():
    """Pin this process to one CPU and limit BLAS/OpenMP pools to one thread (where supported)."""
    info = {}
    old = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    if old:
        cpu = min(old)
        os.sched_setaffinity(0, {cpu})
        info["pinned_cpu"] = cpu
    limiter = contextlib.nullcontext()
    if importlib.util.find_spec("threadpoolctl"):
        from threadpoolctl import threadpool_limits

        limiter = threadpool_limits(limits=1)
        info["threadpool_limits"] = 1
    try:
        with limiter:
            yield info
    finally:
        if old:
            os.sched_setaffinity(0, old)


def measure_speed(systems: dict, texts: list[str], repeats: int, latency_n: int) -> dict:
    names = list(systems)
    batch = {n: [] for n in names}
    single = {n: [] for n in names}
    with one_core() as info:
        for n in names:  # warm caches and lazy initialization
            systems[n].predict_batch(texts[:50])
            for t in texts[:5]:
                systems[n].predict_one(t)
        for r in range(repeats):
            for n in names:  # interleaved, so a burst of load elsewhere hits every system alike
                t0 = time.perf_counter()
                systems[n].predict_batch(texts)
                batch[n].append(len(texts) / (time.perf_counter() - t0))
            log(f"  batch repeat {r + 1}/{repeats}: " + ", ".join(f"{n} {batch[n][-1]:,.0f}/s" for n in names))
        sample = texts[:latency_n]
        for i, t in enumerate(sample):
            for n in names:
                t0 = time.perf_counter()
                systems[n].predict_one(t)
                single[n].append((time.perf_counter() - t0) * 1e3)
            if (i + 1) % 100 == 0:
                log(f"  single-message latency: {i + 1}/{len(sample)}")
    out = {"conditions": info, "messages": len(texts), "repeats": repeats, "latency_n": len(sample), "systems": {}}
    for n in names:
        out["systems"][n] = {
            "batch_msgs_per_s_median": float(statistics.median(batch[n])),
            "batch_msgs_per_s_runs": [round(x, 1) for x in batch[n]],
            "single_ms_p50": float(np.percentile(single[n], 50)),
            "single_ms_p99": float(np.percentile(single[n], 99)),
            "single_ms_mean": float(np.mean(single[n])),
        }
    return out


def machine() -> dict:
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = None
    cpu_model = platform.processor()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    versions = {"python": platform.python_version()}
    for dist in ("numpy", "scikit-learn", "spacy", "fasttext-numpy2", "fasttext-community", "fasttext",
                 "matplotlib", "threadpoolctl"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[dist] = importlib.metadata.version(dist)
    return {"cpu_count": os.cpu_count(), "cpus_available": affinity, "cpu_model": cpu_model,
            "platform": platform.platform(), "machine": platform.machine(), "versions": versions,
            "env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                               "OPENBLAS_CORETYPE", "CI") if k in os.environ}}


def fmt(x, nd=3):
    return "–" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.{nd}f}"


def markdown(rep: dict) -> str:
    q, sp, tr = rep["quality"], rep["speed"]["systems"], rep["train_seconds"]
    systems = list(q)
    langs = sorted({lang for s in q.values() for h in s.values() for lang in h.get("per_language", {})})
    m = rep["machine"]
    lines = [
        "# Peers benchmark", "",
        f"Run {rep['created_at']} on {m['cpu_count']} CPUs ({m['cpu_model']}), {m['platform']}; "
        f"load average before/after: {rep['loadavg_before']} / {rep['loadavg_after']}.",
        f"Train: `{rep['data']['train']}` ({rep['data']['n_train']}); test: `{rep['data']['test']}` "
        f"({rep['data']['n_test']}).", "",
        "Each system is trained on the same train file, one classifier per head, and evaluated on the same "
        "test file. Macro-F1 averages over the labels present in the true labels of each subset.", "",
    ]
    for h in rep["heads"]:
        crit = any("critical_recall" in q[s].get(h, {}) for s in systems)
        head = ["system", "accuracy", "macro-F1"] + [f"F1 {lang}" for lang in langs] + \
               [f"acc {lang}" for lang in langs] + (["critical recall", "critical precision"] if crit else [])
        lines += [f"## {h}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for s in systems:
            r = q[s].get(h)
            if r is None:
                continue
            pl = r.get("per_language", {})
            row = [s, fmt(r["accuracy"]), f"**{fmt(r['macro_f1'])}**"]
            row += [fmt(pl.get(lang, {}).get("macro_f1")) for lang in langs]
            row += [fmt(pl.get(lang, {}).get("accuracy")) for lang in langs]
            if crit:
                row += [fmt(r.get("critical_recall")), fmt(r.get("critical_precision"))]
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    heads = rep["heads"]
    lines += ["## Training time (wall seconds)", "", "| system | total | " + " | ".join(heads) + " |",
              "|" + "---|" * (len(heads) + 2)]
    for s in systems:
        t = tr[s]
        total = t.get("total", sum(v for k, v in t.items() if k != "total"))
        lines.append(f"| {s} | {fmt(total, 1)} | " + " | ".join(fmt(t.get(h), 1) if h in t else "(joint)"
                                                               for h in heads) + " |")
    c = rep["speed"]["conditions"]
    lines += ["", "## Speed (one process pinned to one CPU"
              + (", BLAS/OpenMP pools limited to 1 thread" if c.get("threadpool_limits") else "") + ")", "",
              f"Batch: all {rep['speed']['messages']} test texts, every head, median of {rep['speed']['repeats']} "
              f"interleaved runs. Single: one text at a time, first {rep['speed']['latency_n']} test texts, "
              "interleaved across systems.", "",
              "| system | batch msgs/s (median) | runs | single p50 ms | single p99 ms |", "|---|---|---|---|---|"]
    for s in systems:
        r = sp[s]
        runs = ", ".join(f"{x:,.0f}" for x in r["batch_msgs_per_s_runs"])
        lines.append(f"| {s} | {r['batch_msgs_per_s_median']:,.0f} | {runs} | {r['single_ms_p50']:.3f} | "
                     f"{r['single_ms_p99']:.3f} |")
    lines += ["", "## Notes", ""] + [f"- **{k}**: {v}" for k, v in rep["notes"].items()] + [""]
    return "\n".join(lines)


def plot(rep: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    systems, heads = list(rep["quality"]), rep["heads"]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(13, 4.8), gridspec_kw={"width_ratios": [2, 1]})
    w = 0.8 / len(systems)
    x = np.arange(len(heads))
    for i, s in enumerate(systems):
        vals = [rep["quality"][s].get(h, {}).get("macro_f1", 0.0) for h in heads]
        bars = a1.bar(x + (i - (len(systems) - 1) / 2) * w, vals, w, label=s)
        a1.bar_label(bars, fmt="%.3f", fontsize=7, rotation=90, padding=2)
    a1.set_xticks(x, heads)
    a1.set_ylim(0, 1.22)
    a1.set_ylabel("macro-F1 (test)")
    a1.set_title("Quality per head")
    a1.legend(fontsize=8, loc="upper center", ncol=len(systems))
    thr = [rep["speed"]["systems"][s]["batch_msgs_per_s_median"] for s in systems]
    bars = a2.bar(systems, thr, color=[f"C{i}" for i in range(len(systems))])
    a2.bar_label(bars, labels=[f"{v:,.0f}" for v in thr], fontsize=8)
    a2.set_yscale("log")
    a2.set_ylim(10 ** np.floor(np.log10(max(min(thr), 1.0))), max(thr) * 2)
    a2.set_ylabel("messages/s, one core (log)")
    a2.set_title("Batch throughput, all heads")
    a2.tick_params(axis="x", labelrotation=20)
    fig.suptitle(f"Peers benchmark: train n={rep['data']['n_train']}, test n={rep['data']['n_test']}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------


def main() -> int:
    settings = get_settings()
    default_train, default_test = settings.data_dir / "train.jsonl", settings.data_dir / "test.jsonl"
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", type=Path, default=default_train)
    ap.add_argument("--test", type=Path, default=default_test)
    ap.add_argument("--text-column", default="text")
    for h in HEAD_NAMES:
        ap.add_argument(f"--{h}-column", default=h)
    ap.add_argument("--language-column", default="language", help="per-language metrics (skipped if absent)")
    ap.add_argument("--out", type=Path, default=REPO / "var" / "bench" / "peers")
    ap.add_argument("--skip-ours-training", action="store_true",
                    help="use the shipped models/default instead of training ours (default data only)")
    ap.add_argument("--systems", default=",".join(ALL_SYSTEMS), help=f"comma list from {','.join(ALL_SYSTEMS)}")
    ap.add_argument("--spacy-epochs", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3, help="batch timing repeats (median reported)")
    ap.add_argument("--latency-n", type=int, default=300, help="texts for single-message latency")
    args = ap.parse_args()

    names = [s.strip() for s in args.systems.split(",") if s.strip()]
    bad = [s for s in names if s not in ALL_SYSTEMS]
    if bad:
        ap.error(f"unknown system(s): {', '.join(bad)}")
    missing = sorted({mod for s in names for mod in NEEDS[s] + ["sklearn", "matplotlib"]
                      if importlib.util.find_spec(mod) is None})
    if missing:
        print("Missing packages for this benchmark (they are not project dependencies):", file=sys.stderr)
        for mod in missing:
            print(f"  {mod}: {MISSING_HINT.get(mod, 'pip install ' + mod)}", file=sys.stderr)
        print("Install them into the same environment, or leave a system out with --systems.", file=sys.stderr)
        return 2
    if args.skip_ours_training and "ours" in names and \
            (args.train.resolve() != default_train.resolve() or args.test.resolve() != default_test.resolve()):
        ap.error("--skip-ours-training uses the shipped model, trained on the default data: "
                 "use it only without --train/--test")

    head_columns = {h: getattr(args, f"{h}_column") for h in HEAD_NAMES}
    log(f"reading {args.train} and {args.test}")
    train_recs = [r for r in read_records(args.train)
                  if isinstance(r.get(args.text_column), str) and r[args.text_column].strip()]
    test_recs = [r for r in read_records(args.test)
                 if isinstance(r.get(args.text_column), str) and r[args.text_column].strip()]
    if not train_recs or not test_recs:
        print(f"no records with a non-empty {args.text_column!r} column", file=sys.stderr)
        return 2
    heads = [h for h in HEAD_NAMES
             if any(r.get(head_columns[h]) is not None for r in train_recs)
             and any(r.get(head_columns[h]) is not None for r in test_recs)]
    if not heads:
        print(f"no head column found in both files (looked for {', '.join(head_columns.values())})", file=sys.stderr)
        return 2
    test_texts = [r[args.text_column] for r in test_recs]
    langs_all = [r.get(args.language_column) for r in test_recs]
    has_lang = all(isinstance(x, str) and x for x in langs_all)
    log(f"train {len(train_recs)}, test {len(test_recs)}; heads: {', '.join(heads)}; "
        f"per-language metrics: {'yes' if has_lang else 'no (no language column)'}")

    systems: dict = {}
    train_seconds: dict = {}
    loadavg_before = [round(x, 2) for x in os.getloadavg()]
    for name in names:
        log(f"training {name} ...")
        if name == "ours":
            sysm = Ours(args.train, args.text_column, head_columns, args.skip_ours_training)
            secs = sysm.fit(None, None)
        else:
            sysm = {"fasttext": FastText, "tfidf_nb": TfidfNB,
                    "spacy_textcat": lambda: SpacyTextcat(args.spacy_epochs)}[name]()
            secs = {}
            for h in heads:  # each head on the records that have its label
                rows = [r for r in train_recs if r.get(head_columns[h]) is not None]
                secs.update(sysm.fit([r[args.text_column] for r in rows],
                                     {h: [str(r[head_columns[h]]) for r in rows]}))
            secs["total"] = sum(secs.values())
        systems[name] = sysm
        train_seconds[name] = {k: round(v, 2) for k, v in secs.items()}
        log(f"trained {name}: {secs['total']:.1f}s")

    log("evaluating quality on the test file ...")
    quality_out: dict = {}
    language_id = None
    for name, sysm in systems.items():
        pred = sysm.predict_batch(test_texts)
        quality_out[name] = {}
        for h in heads:
            if h not in pred:
                continue
            idx = [i for i, r in enumerate(test_recs) if r.get(head_columns[h]) is not None]
            quality_out[name][h] = quality([str(test_recs[i][head_columns[h]]) for i in idx],
                                           [pred[h][i] for i in idx],
                                           [langs_all[i] for i in idx] if has_lang else None)
        if name == "ours" and has_lang and "_language" in pred:
            language_id = float(np.mean([p == y for p, y in zip(pred["_language"], langs_all, strict=True)]))
        log(f"  {name}: " + ", ".join(f"{h} macro-F1 {quality_out[name][h]['macro_f1']:.3f}"
                                      for h in heads if h in quality_out[name]))

    log(f"measuring speed on one core ({args.repeats} batch repeats, {args.latency_n} single messages) ...")
    speed = measure_speed(systems, test_texts, args.repeats, args.latency_n)
    loadavg_after = [round(x, 2) for x in os.getloadavg()]

    notes = {}
    if "ours" in systems:
        notes["ours"] = (systems["ours"].note + ". Labels are the full pipeline's output: urgency includes the "
                         "critical threshold and emergency rules, authority may be rule-overridden.")
        if language_id is not None:
            notes["ours"] += f" Language-ID accuracy on the test file: {language_id:.3f}."
    if "fasttext" in systems:
        notes["fasttext"] = (f"train_supervised({', '.join(f'{k}={v}' for k, v in FASTTEXT_PARAMS.items())}); "
                             "other parameters at fastText defaults (bucket 2M); thread=1 for a deterministic "
                             "fit; text lowercased, whitespace collapsed.")
    if "tfidf_nb" in systems:
        notes["tfidf_nb"] = (f"TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=1) + "
                             f"MultinomialNB(alpha={NB_ALPHA}); one pipeline (own vocabulary) per head.")
    if "spacy_textcat" in systems:
        notes["spacy_textcat"] = (f"spacy.blank('xx') + textcat {SPACY_ARCH['@architectures']} "
                                  f"(exclusive, ngram_size={SPACY_ARCH['ngram_size']}), {args.spacy_epochs} epochs, "
                                  f"minibatch sizes compounding {SPACY_BATCH[0]:g}->{SPACY_BATCH[1]:g} "
                                  f"over the whole run, dropout "
                                  f"{SPACY_DROPOUT}, seed {SEED}; one pipeline per head (each tokenizes the text "
                                  "again); text lowercased.")
    notes["speed"] = ("in-process, pinned to one CPU; peers' batch and single timings include their text "
                      "normalization; ours is the full classify_batch (cleaning, language ID, heads, rules, "
                      "districts, routing).")

    rep = {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "machine": machine(),
        "loadavg_before": loadavg_before, "loadavg_after": loadavg_after,
        "data": {"train": str(args.train), "test": str(args.test), "n_train": len(train_recs),
                 "n_test": len(test_recs), "text_column": args.text_column, "head_columns": head_columns,
                 "per_language": has_lang},
        "heads": heads,
        "config": {"seed": SEED, "fasttext": FASTTEXT_PARAMS,
                   "tfidf_nb": {**TFIDF_PARAMS, "ngram_range": list(TFIDF_PARAMS["ngram_range"]), "alpha": NB_ALPHA},
                   "spacy_textcat": {"architecture": SPACY_ARCH, "epochs": args.spacy_epochs,
                                     "dropout": SPACY_DROPOUT, "minibatch": list(SPACY_BATCH)},
                   "ours": {"skip_training": args.skip_ours_training}},
        "quality": quality_out,
        "train_seconds": train_seconds,
        "ours_language_id_accuracy": language_id,
        "speed": speed,
        "notes": notes,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "peers.json").write_text(json.dumps(rep, indent=2, ensure_ascii=False))
    (args.out / "peers.md").write_text(markdown(rep))
    plot(rep, args.out / "peers.png")
    if "ours" in systems:
        systems["ours"].close()
    log(f"wrote {args.out / 'peers.json'}, peers.md, peers.png")
    print(markdown(rep))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
