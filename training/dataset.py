"""Starter dataset tooling: near-copy detection, merging helper-written slices, frozen splits,
and the datasheet.

    python -m training.dataset build     # raw/*.jsonl -> train.jsonl + test.jsonl (once; test is frozen)
    python -m training.dataset extend    # raw/train_only/*.jsonl -> appended to train.jsonl only
    python -m training.dataset check     # near-copies within the set and across the splits
    python -m training.dataset datasheet # counts per topic x language, urgency, script, kk form
"""

from __future__ import annotations

import argparse
import collections
import functools
import json
import random
import re
import sys
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import CountVectorizer

from triage.errors import DataError
from triage.io import read_records, write_jsonl
from triage.settings import get_settings

NEAR_COPY_JACCARD = 0.8
FIELDS = ["id", "text", "topic", "authority", "urgency", "language", "script", "district", "channel",
          "kk_form", "code_switched"]
_WS = re.compile(r"\s+")


def _canon(text: str) -> str:
    return _WS.sub(" ", text.lower()).strip()


@functools.lru_cache(maxsize=4)
def _taxonomy(path: Path):
    from triage.taxonomy import Taxonomy

    return Taxonomy.load(path)


def row_problems(r: dict) -> list[str]:
    """What makes a slice row unfit for the starter set (the contract tests/test_dataset.py checks)."""
    tax = _taxonomy(get_settings().taxonomy_path)
    text = r.get("text")
    problems = [] if isinstance(text, str) and text.strip() else ["no text"]
    for field, allowed in (("topic", tax.topics), ("authority", tax.authorities), ("urgency", tax.urgency),
                           ("language", ("kk", "ru", "en")), ("script", ("Cyrl", "Latn")),
                           ("channel", tax.channels)):
        if r.get(field) not in allowed:
            problems.append(f"{field} {r.get(field)!r} is not one of the taxonomy's")
    if r.get("district") is not None and r["district"] not in tax.districts:
        problems.append(f"district {r['district']!r} is not one of the taxonomy's")
    return problems


def _checked_rows(path: Path) -> list[dict]:
    """A slice's rows, each checked: one bad row refuses the slice, naming file and row, before anything is written."""
    rows = read_records(path)
    bad = [f"{path}: row {i}: {'; '.join(p)}" for i, r in enumerate(rows, 1) if (p := row_problems(r))]
    if bad:
        raise DataError("; ".join(bad[:10]) + (f"; and {len(bad) - 10} more" if len(bad) > 10 else ""))
    return rows


def near_copy_pairs(texts_a: list[str], texts_b: list[str] | None = None, threshold: float = NEAR_COPY_JACCARD,
                    n: int = 5) -> list[tuple[int, int, float]]:
    """Pairs (i, j, jaccard) whose character n-gram sets have Jaccard >= threshold.

    Within ``texts_a`` when ``texts_b`` is None (i < j), else between a[i] and b[j]. Sparse
    matrix products keep it to seconds for tens of thousands of texts.
    """
    # Texts are padded so that one shorter than n ("Свет") still has an n-gram: an exact copy of a
    # short text must be found too.
    vec = CountVectorizer(analyzer="char", ngram_range=(n, n), binary=True, lowercase=False,
                          preprocessor=lambda t: f"\x02{_canon(t)}\x03".ljust(n, "\x03"), dtype=np.int32)
    corpus = list(texts_a) + list(texts_b or [])
    X = vec.fit_transform(corpus).tocsr()
    A, B = X[: len(texts_a)], (X[len(texts_a):] if texts_b is not None else X)
    sizes_a = np.asarray(A.sum(axis=1)).ravel()
    sizes_b = np.asarray(B.sum(axis=1)).ravel()
    inter = (A @ B.T).tocoo()
    out = []
    for i, j, k in zip(inter.row, inter.col, inter.data, strict=True):
        if texts_b is None and j <= i:
            continue
        jac = k / max(1, sizes_a[i] + sizes_b[j] - k)
        if jac >= threshold:
            out.append((int(i), int(j), float(jac)))
    return out


def build(raw_dir: Path, out_dir: Path, test_fraction: float = 0.2, seed: int = 13) -> dict:
    """Merge raw slices, drop exact and near copies (keeping the first), split stratified by
    (topic, language). Refuses to overwrite an existing frozen test split."""
    test_path, train_path = out_dir / "test.jsonl", out_dir / "train.jsonl"
    if test_path.exists():
        raise SystemExit(f"{test_path} exists: the test split is frozen; delete it by hand to rebuild")
    rows = []
    for p in sorted(raw_dir.glob("*.jsonl")):
        for r in _checked_rows(p):
            r["text"] = r["text"].strip()
            rows.append(r)
    seen, uniq = set(), []
    for r in rows:
        key = _canon(r["text"])
        if key not in seen:
            seen.add(key)
            uniq.append(r)
    drop = {j for _, j, _ in near_copy_pairs([r["text"] for r in uniq])}
    kept = [r for k, r in enumerate(uniq) if k not in drop]
    rng = random.Random(seed)
    strata = collections.defaultdict(list)
    for r in kept:
        strata[(r["topic"], r["language"])].append(r)
    train, test = [], []
    for key in sorted(strata):
        group = strata[key]
        rng.shuffle(group)
        k = round(len(group) * test_fraction)
        test += group[:k]
        train += group[k:]
    rng.shuffle(train)
    rng.shuffle(test)
    for split, items in (("train", train), ("test", test)):
        for i, r in enumerate(items, 1):
            r["id"] = f"{split}-{i:05d}"
    write_jsonl(train_path, [{f: r.get(f) for f in FIELDS} for r in train])
    write_jsonl(test_path, [{f: r.get(f) for f in FIELDS} for r in test])
    return {"raw": len(rows), "exact_copies": len(rows) - len(uniq), "near_copies": len(drop),
            "train": len(train), "test": len(test)}


def extend(slices: list[Path], out_dir: Path) -> dict:
    """Append slices written after the split was frozen to the TRAIN split only.

    The frozen test split is read for one purpose: a new message that is an exact or near copy
    of any message already in either split (or of an earlier new one) is dropped, so nothing
    leaks into training that the test split already holds. Idempotent: slices already merged
    are exact copies of train rows and are dropped again."""
    train_path, test_path = out_dir / "train.jsonl", out_dir / "test.jsonl"
    train, test = read_records(train_path), read_records(test_path)
    old = [r["text"] for r in train + test]
    seen = {_canon(t) for t in old}
    new, exact = [], 0
    checked = [(p, _checked_rows(p)) for p in slices]  # every slice checked before anything is written
    for _, rows in checked:
        for r in rows:
            r["text"] = r["text"].strip()
            if _canon(r["text"]) in seen:
                exact += 1
                continue
            seen.add(_canon(r["text"]))
            new.append(r)
    near_old = {i for i, _, _ in near_copy_pairs([r["text"] for r in new], old)} if new else set()
    near_new = {j for _, j, _ in near_copy_pairs([r["text"] for r in new])} if new else set()
    kept = [r for k, r in enumerate(new) if k not in near_old | near_new]
    random.Random(len(train)).shuffle(kept)
    start = max((int(r["id"].split("-")[-1]) for r in train), default=0)
    for i, r in enumerate(kept, start + 1):
        r["id"] = f"train-{i:05d}"
    write_jsonl(train_path, train + [{f: r.get(f) for f in FIELDS} for r in kept])
    return {"slices": [str(p) for p in slices], "read": len(new) + exact, "exact_copies": exact,
            "near_copies_of_existing": len(near_old), "near_copies_within_new": len(near_new - near_old),
            "added_to_train": len(kept), "train": len(train) + len(kept), "test": len(test)}


def kk_form(r: dict) -> str:
    return r.get("kk_form") or "-"


def datasheet(records: list[dict]) -> str:
    """Markdown tables of the dataset's composition."""
    n = len(records)
    langs = ["kk", "ru", "en"]
    lines = [f"Total messages: **{n}**.", "", "| topic | " + " | ".join(langs) + " | total |",
             "|---|" + "---:|" * (len(langs) + 1)]
    by = collections.Counter((r["topic"], r["language"]) for r in records)
    for t in sorted({r["topic"] for r in records}):
        cells = [by[(t, lang)] for lang in langs]
        lines.append(f"| {t} | " + " | ".join(map(str, cells)) + f" | {sum(cells)} |")
    tot = collections.Counter(r["language"] for r in records)
    lines.append("| **all** | " + " | ".join(f"{tot[lang]} ({tot[lang] / n:.0%})" for lang in langs) + f" | {n} |")

    def table(title, counter):
        rows = [f"| {title} | count | share |", "|---|---:|---:|"]
        rows += [f"| {k} | {v} | {v / sum(counter.values()):.1%} |" for k, v in counter.most_common()]
        return rows

    kk = [r for r in records if r["language"] == "kk"]
    lines += ["", *table("urgency", collections.Counter(r["urgency"] for r in records))]
    lines += ["", *table("script", collections.Counter(r["script"] for r in records))]
    lines += ["", *table("Kazakh form (of kk messages)", collections.Counter(kk_form(r) for r in kk))]
    lines += ["", *table("channel", collections.Counter(r["channel"] for r in records))]
    lines += ["", *table("district", collections.Counter(r["district"] or "null" for r in records))]
    cs = sum(bool(r.get("code_switched")) for r in records)
    lines += ["", f"Code-switched Kazakh-Russian messages: {cs} ({cs / n:.1%})."]
    crit = collections.Counter(r["language"] for r in records if r["urgency"] == "critical")
    lines += [f"Critical messages per language: {dict(crit)}; all route to emergency_service."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.dataset", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["build", "extend", "check", "datasheet"])
    ap.add_argument("--data-dir", type=Path, default=get_settings().data_dir)
    args = ap.parse_args(argv)
    d = args.data_dir
    if args.command == "build":
        print(json.dumps(build(d / "raw", d), indent=2))
        return 0
    if args.command == "extend":
        slices = sorted((d / "raw" / "train_only").glob("*.jsonl"))
        if not slices:
            raise SystemExit(f"no slices in {d / 'raw' / 'train_only'}")
        print(json.dumps(extend(slices, d), indent=2))
        return 0
    train, test = read_records(d / "train.jsonl"), read_records(d / "test.jsonl")
    if args.command == "datasheet":
        print(datasheet(train + test))
        return 0
    texts = [r["text"] for r in train + test]
    within = near_copy_pairs(texts)
    across = near_copy_pairs([r["text"] for r in test], [r["text"] for r in train])
    print(f"{len(texts)} messages; near-copies (char 5-gram Jaccard >= {NEAR_COPY_JACCARD}): "
          f"{len(within)} within the set, {len(across)} test~train")
    return 1 if within or across else 0


if __name__ == "__main__":
    sys.exit(main())
