"""Drift: is recent traffic still like the data the model was trained on?

``triage drift --since 7d`` compares the messages stored in a period with a reference:

- language mix and topic distribution: recent (stored ``language``, predicted ``topic``) versus the
  training records (``language`` field, ``topic`` label);
- confidence of each head: recent versus the previous period of the same length (the model's
  confidence on its own training texts would be optimistic, and computing it is slow), with the
  share below the head's threshold from the model's manifest;
- unknown vocabulary: the share of word tokens (``normalize`` then ``skeleton``) of recent texts not
  in the training texts' vocabulary, versus its leave-one-out estimate on the training texts (the
  share of a training text's tokens seen in no other training text). That estimate is what a new
  text from the training distribution scores, so the two are comparable (on the 13,598-message train
  split it is 0.042; the held-out test split scores 0.053). Only more unknown words than that is flagged.

Each comparison gives a population stability index (PSI, sum of ``(a - e) * ln(a / e)`` over bins)
and the Jensen-Shannon distance (base 2, in [0, 1]); bins empty on one side get ``EPSILON`` so
neither is infinite. Drift is flagged on PSI with the usual credit-scoring thresholds:
below 0.1 none, 0.1 to 0.2 moderate, above 0.2 significant. With fewer than ``FEW_MESSAGES``
recent messages PSI is noisy (a sample of n messages over k bins scores about (k - 1) / n by
chance alone), and the report says so.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from triage.artifacts import threshold_for
from triage.errors import InvalidRequestError, ModelLoadError, StoreUnavailableError
from triage.settings import get_settings
from triage.text import normalize, skeleton

# scipy, SQLAlchemy and tqdm are imported where used: `triage` registers this module's
# subcommand at start-up, and `triage classify` should not pay for them.

HEADS = ("topic", "authority", "urgency")
PSI_MODERATE = 0.1
PSI_SIGNIFICANT = 0.2
EPSILON = 1e-4
CONFIDENCE_BINS = 10
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
FEW_MESSAGES = 50
LEVELS = ("none", "moderate", "significant")

_WORD = re.compile(r"\w+")
# Stored texts are redacted ("[PHONE]"); training texts are not: placeholders are no vocabulary.
_PLACEHOLDER = re.compile(r"\[[A-Z]{2,10}\]")
_SINCE = re.compile(r"^\s*(\d+)\s*([dhm])\s*$", re.I)
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


# -- parsing ----------------------------------------------------------------------------------


def _utc(dt: datetime) -> datetime:
    return dt.astimezone(UTC) if dt.tzinfo else dt.replace(tzinfo=UTC)


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """The start of the period: ``7d``, ``24h``, ``30m`` back from ``now``, or an ISO date or
    date-time (UTC when it has no offset). Raises :class:`InvalidRequestError` for anything else,
    a zero duration or a moment in the future."""
    now = _utc(now or datetime.now(UTC))
    m = _SINCE.match(value or "")
    if m:
        amount = int(m.group(1))
        if amount == 0:
            raise InvalidRequestError(f"--since {value!r}: the period must be longer than zero")
        return now - timedelta(**{_UNITS[m.group(2).lower()]: amount})
    try:
        since = _utc(datetime.fromisoformat(value.strip()))
    except (ValueError, AttributeError) as exc:
        raise InvalidRequestError(
            f"--since {value!r}: expected a duration like 7d, 24h, 30m or an ISO date like 2025-01-31"
        ) from exc
    if since >= now:
        raise InvalidRequestError(f"--since {value!r} is not in the past")
    return since


# -- metrics ----------------------------------------------------------------------------------


def _proportions(counts: Sequence[float]) -> np.ndarray:
    p = np.asarray(counts, dtype=float)
    total = p.sum()
    p = p / total if total > 0 else np.full(len(p), 1.0 / len(p))
    p = np.maximum(p, EPSILON)
    return p / p.sum()


def psi(reference: Sequence[float], recent: Sequence[float]) -> float:
    """Population stability index of two histograms over the same bins (counts or shares)."""
    e, a = _proportions(reference), _proportions(recent)
    return float(np.sum((a - e) * np.log(a / e)))


def js_distance(reference: Sequence[float], recent: Sequence[float]) -> float:
    """Jensen-Shannon distance (base 2: 0 identical, 1 disjoint) of two histograms."""
    from scipy.spatial.distance import jensenshannon

    return float(jensenshannon(_proportions(reference), _proportions(recent), base=2))


def drift_level(value: float | None) -> str | None:
    """``none`` / ``moderate`` / ``significant`` for a PSI (None when there was nothing to compare)."""
    if value is None:
        return None
    if value > PSI_SIGNIFICANT:
        return "significant"
    return "moderate" if value >= PSI_MODERATE else "none"


def _metrics(reference: Sequence[float], recent: Sequence[float]) -> dict:
    p = psi(reference, recent)
    return {"psi": round(p, 4), "js_distance": round(js_distance(reference, recent), 4), "drift": drift_level(p)}


def _shares(counts: Counter, cats: Iterable[str]) -> dict[str, float]:
    total = sum(counts.values())
    return {c: round(counts[c] / total, 4) if total else 0.0 for c in cats}


def compare_categories(reference: Counter, recent: Counter) -> dict:
    """Shares of each category on both sides (most frequent in the reference first), PSI, JS."""
    cats = sorted(set(reference) | set(recent), key=lambda c: (-reference[c], -recent[c], c))
    return {
        "categories": cats,
        "reference": _shares(reference, cats), "recent": _shares(recent, cats),
        "reference_n": sum(reference.values()), "recent_n": sum(recent.values()),
        **_metrics([reference[c] for c in cats], [recent[c] for c in cats]),
    }


def _summary(values: Sequence[float], threshold: float | None,
             row_thresholds: Sequence[float] | None = None) -> dict | None:
    if not values:
        return None
    v = np.asarray(values, dtype=float)
    t = np.asarray(row_thresholds, dtype=float) if row_thresholds is not None else threshold
    return {
        "n": len(v), "mean": round(float(v.mean()), 4),
        **{f"p{round(q * 100)}": round(float(np.quantile(v, q)), 4) for q in QUANTILES},
        "below_threshold": round(float((v < t).mean()), 4) if t is not None else None,
    }


def compare_confidence(recent: Sequence[float], previous: Sequence[float], threshold: float | None,
                       recent_thresholds: Sequence[float] | None = None,
                       previous_thresholds: Sequence[float] | None = None) -> dict:
    """Summary of one head's confidences in both periods, their histograms on [0, 1] and, when
    the previous period has data, PSI and JS of recent versus previous. ``threshold`` is the
    pooled one; ``*_thresholds``, when given, each message's own (its language's)."""
    edges = np.linspace(0.0, 1.0, CONFIDENCE_BINS + 1)
    h_rec = np.histogram(np.clip(recent, 0, 1), edges)[0] if len(recent) else np.zeros(CONFIDENCE_BINS, int)
    h_prev = np.histogram(np.clip(previous, 0, 1), edges)[0] if len(previous) else np.zeros(CONFIDENCE_BINS, int)
    out = {
        "threshold": threshold, "recent": _summary(recent, threshold, recent_thresholds),
        "previous": _summary(previous, threshold, previous_thresholds),
        "histogram": {"edges": [round(float(e), 2) for e in edges], "recent": h_rec.tolist(),
                      "previous": h_prev.tolist()},
        "psi": None, "js_distance": None, "drift": None,
    }
    if len(recent) and len(previous):
        out.update(_metrics(h_prev, h_rec))
    return out


# -- vocabulary -------------------------------------------------------------------------------


def tokens(text: str) -> list[str]:
    """Word tokens as the features see them (normalized, folded to the skeleton); numbers and
    redaction placeholders are not vocabulary."""
    folded = skeleton(normalize(_PLACEHOLDER.sub(" ", text)))
    return [w for w in _WORD.findall(folded) if any(c.isalpha() for c in w)]


def training_vocabulary(texts: Iterable[str]) -> tuple[set[str], float]:
    """(vocabulary, leave-one-out unknown share): the share of tokens of a training text seen in
    no other training text, i.e. what a new text from the training distribution would score."""
    from tqdm.auto import tqdm

    docs = [tokens(t) for t in tqdm(texts, desc="training vocabulary", unit="text", disable=None)]
    df = Counter(w for d in docs for w in set(d))
    total = sum(len(d) for d in docs)
    unseen = sum(1 for d in docs for w in d if df[w] == 1)
    return set(df), (unseen / total if total else 0.0)


def compare_vocabulary(recent: tuple[int, int], previous: tuple[int, int], baseline: float) -> dict:
    """Unknown-token share of the recent (and previous) texts versus the training baseline, as
    two-bin (unknown, known) distributions. One-sided: fewer unknown words than the baseline
    (traffic that repeats the training texts) is no risk and is not flagged."""
    unknown, total = recent
    share = unknown / total if total else 0.0
    prev_unknown, prev_total = previous
    out = {
        "recent_share": round(share, 4), "recent_tokens": total,
        "previous_share": round(prev_unknown / prev_total, 4) if prev_total else None,
        "train_baseline_share": round(baseline, 4), "psi": None, "js_distance": None, "drift": None,
    }
    if total:
        out.update(_metrics([baseline, 1 - baseline], [share, 1 - share]))
        if share <= baseline:
            out["drift"] = "none"
    return out


# -- the report -------------------------------------------------------------------------------


class _Period:
    """What drift needs from the messages of one period."""

    def __init__(self) -> None:
        self.n = 0
        self.language: Counter[str] = Counter()
        self.topic: Counter[str] = Counter()
        self.confidence: dict[str, list[float]] = {h: [] for h in HEADS}
        self.confidence_language: dict[str, list[str]] = {h: [] for h in HEADS}
        self.words: Counter[str] = Counter()

    def unknown(self, vocab: set[str]) -> tuple[int, int]:
        """(unknown tokens, all tokens) against a vocabulary."""
        return sum(n for w, n in self.words.items() if w not in vocab), sum(self.words.values())


def _read_period(store, since: datetime, until: datetime, desc: str) -> _Period:
    from sqlalchemy import func, select
    from sqlalchemy.exc import SQLAlchemyError
    from tqdm.auto import tqdm

    from triage.store.tables import Message

    cols = (Message.text, Message.language, Message.topic, *(getattr(Message, f"{h}_confidence") for h in HEADS))
    period = (Message.created_at >= since) & (Message.created_at < until)
    out = _Period()
    try:
        with store.sessions() as s:
            total = s.scalar(select(func.count()).select_from(Message).where(period)) or 0
            if not total:
                return out
            rows = s.execute(select(*cols).where(period).order_by(Message.id).execution_options(yield_per=1000))
            for row in tqdm(rows, total=total, desc=desc, unit="msg", disable=None):
                out.n += 1
                out.language[row.language or "unknown"] += 1
                out.topic[row.topic or "none"] += 1
                for h in HEADS:
                    c = getattr(row, f"{h}_confidence")
                    if c is not None:
                        out.confidence[h].append(float(c))
                        out.confidence_language[h].append(row.language or "unknown")
                out.words.update(tokens(row.text or ""))
    except SQLAlchemyError as exc:
        raise StoreUnavailableError(f"store unavailable: {type(exc).__name__}") from exc
    return out


def compute_drift(store, train_records: Sequence[dict], since: datetime, until: datetime,
                  thresholds: dict[str, float], thresholds_by_language: dict[str, dict[str, float]] | None = None) -> dict:
    """Drift of the messages created in [since, until) against the training records (language,
    topic, vocabulary) and against the previous period of the same length (confidence).

    ``train_records`` are dicts with ``text``, ``language`` and ``topic``; ``thresholds`` maps a
    head to its confidence threshold (the model manifest's ``thresholds``), and
    ``thresholds_by_language`` (the manifest's, when it has them) to one per language, which then
    decides each message's "below threshold" by its stored language. Returns a JSON-ready
    dict; with no messages in the period, ``messages`` is 0 and every check is None.
    """
    since, until = _utc(since), _utc(until)
    if since >= until:
        raise InvalidRequestError(f"empty period: since {since.isoformat()} is not before until {until.isoformat()}")
    prev_since = since - (until - since)
    report: dict[str, Any] = {
        "since": since.isoformat(), "until": until.isoformat(),
        "previous_period": {"since": prev_since.isoformat(), "until": since.isoformat(), "messages": 0},
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "train": {"records": len(train_records)},
        "psi_thresholds": {"moderate": PSI_MODERATE, "significant": PSI_SIGNIFICANT},
        "messages": 0, "language": None, "topic": None, "confidence": None, "unknown_vocabulary": None,
        "drift": None, "flags": [], "notes": [],
    }
    recent = _read_period(store, since, until, "recent messages")
    if not recent.n:
        report["notes"].append("no messages in the period: nothing to compare")
        return report
    previous = _read_period(store, prev_since, since, "previous period")
    vocab, baseline = training_vocabulary([str(r.get("text") or "") for r in train_records])
    report["messages"] = recent.n
    report["previous_period"]["messages"] = previous.n

    report["language"] = compare_categories(Counter(str(r.get("language") or "unknown") for r in train_records),
                                            recent.language)
    report["topic"] = compare_categories(Counter(str(r.get("topic") or "none") for r in train_records),
                                         recent.topic)
    by_language = thresholds_by_language or {}

    def row_thresholds(period: _Period, h: str) -> list[float] | None:
        if not by_language.get(h) or h not in thresholds:
            return None
        return [threshold_for(thresholds, by_language, h, lang) for lang in period.confidence_language[h]]

    report["confidence"] = {h: compare_confidence(recent.confidence[h], previous.confidence[h], thresholds.get(h),
                                                  row_thresholds(recent, h), row_thresholds(previous, h))
                            for h in HEADS}
    report["unknown_vocabulary"] = compare_vocabulary(recent.unknown(vocab), previous.unknown(vocab), baseline)

    checks = {"language": report["language"], "topic": report["topic"],
              **{f"{h}_confidence": c for h, c in report["confidence"].items()},
              "unknown_vocabulary": report["unknown_vocabulary"]}
    levels = [c["drift"] for c in checks.values() if c["drift"] is not None]
    report["drift"] = max(levels, key=LEVELS.index) if levels else None
    report["flags"] = [f"{name}: {c['drift']} drift (PSI {c['psi']:.3f})" for name, c in checks.items()
                       if c["drift"] in ("moderate", "significant")]
    if recent.n < FEW_MESSAGES:
        report["notes"].append(f"only {recent.n} messages (< {FEW_MESSAGES}): PSI is noisy, read the flags "
                               "as hints")
    if not previous.n:
        report["notes"].append("no messages in the previous period: confidence is not compared")
    return report


# -- output -----------------------------------------------------------------------------------


def _fmt(v: float | None, pct: bool = False) -> str:
    if v is None:
        return "-"
    return f"{v:.1%}" if pct else f"{v:.3f}"


def format_table(report: dict) -> str:
    """The report as markdown: one line per check, then the shares behind the categorical ones."""
    lines = [f"# Drift {report['since'][:19]} .. {report['until'][:19]} UTC", "",
             f"{report['messages']} messages (previous period: {report['previous_period']['messages']}); "
             f"{report['train']['records']} training records. "
             f"PSI > {PSI_SIGNIFICANT} significant, {PSI_MODERATE}-{PSI_SIGNIFICANT} moderate.", ""]
    if not report["messages"]:
        return "\n".join([*lines, *report["notes"]]) + "\n"
    lines += ["| check | reference | recent | PSI | JS distance | drift |", "|---|---|---|---:|---:|---|"]
    for name in ("language", "topic"):
        c = report[name]
        top = max(c["categories"], key=lambda k: c["recent"][k])
        lines.append(f"| {name} | training: {top} {c['reference'][top]:.1%} | {top} {c['recent'][top]:.1%} "
                     f"| {_fmt(c['psi'])} | {_fmt(c['js_distance'])} | {c['drift']} |")
    for h, c in report["confidence"].items():
        r, p = c["recent"] or {}, c["previous"] or {}
        ref = f"previous period (mean {_fmt(p.get('mean'))}, below {_fmt(c['threshold'])}: " \
              f"{_fmt(p.get('below_threshold'), True)})" if p else "previous period (no data)"
        rec = f"mean {_fmt(r.get('mean'))}, below threshold {_fmt(r.get('below_threshold'), True)}" if r else "no data"
        lines.append(f"| {h} confidence | {ref} | {rec} | {_fmt(c['psi'])} | {_fmt(c['js_distance'])} "
                     f"| {c['drift'] or 'n/a'} |")
    v = report["unknown_vocabulary"]
    lines.append(f"| unknown vocabulary | training, leave-one-out ({v['train_baseline_share']:.1%}) "
                 f"| {v['recent_share']:.1%} of {v['recent_tokens']} tokens | {_fmt(v['psi'])} "
                 f"| {_fmt(v['js_distance'])} | {v['drift'] or 'n/a'} |")
    lines += ["", f"Overall: **{report['drift']}**."]
    lines += [f"- {f}" for f in report["flags"]]
    lines += [f"- note: {n}" for n in report["notes"]]
    for name in ("language", "topic"):
        c = report[name]
        lines += ["", f"## {name}", "", "| label | training | recent |", "|---|---:|---:|"]
        lines += [f"| {k} | {c['reference'][k]:.1%} | {c['recent'][k]:.1%} |" for k in c["categories"]]
    return "\n".join(lines) + "\n"


def _plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(18, 10))
    grid = fig.add_gridspec(2, 4)
    panels = [(fig.add_subplot(grid[0, 0]), "language"), (fig.add_subplot(grid[0, 1:]), "topic")]
    for ax, name in panels:
        c = report[name]
        x = np.arange(len(c["categories"]))
        ax.bar(x - 0.2, [c["reference"][k] for k in c["categories"]], 0.4, label="training")
        ax.bar(x + 0.2, [c["recent"][k] for k in c["categories"]], 0.4, label="recent")
        ax.set_xticks(x, c["categories"], rotation=60 if len(x) > 5 else 0, ha="right" if len(x) > 5 else "center")
        ax.set_ylabel("share")
        ax.set_title(f"{name}: PSI {c['psi']:.3f}, JS {c['js_distance']:.3f} ({c['drift']})")
        ax.legend()
    for i, (h, c) in enumerate(report["confidence"].items()):
        ax = fig.add_subplot(grid[1, i])
        edges = np.asarray(c["histogram"]["edges"])
        width = edges[1] - edges[0]
        for key, offset in (("previous", 0.25), ("recent", 0.75)):
            counts = np.asarray(c["histogram"][key], dtype=float)
            if counts.sum():
                ax.bar(edges[:-1] + offset * width, counts / counts.sum(), width / 2, label=key)
        if c["threshold"] is not None:
            ax.axvline(c["threshold"], color="black", linestyle="--", label="threshold")
        ax.set_xlim(0, 1)
        ax.set_xlabel("confidence")
        ax.set_title(f"{h} confidence: PSI {_fmt(c['psi'])} ({c['drift'] or 'n/a'})")
        ax.legend()
    v = report["unknown_vocabulary"]
    ax = fig.add_subplot(grid[1, 3])
    names = ["training\n(leave-one-out)", "previous", "recent"]
    values = [v["train_baseline_share"], v["previous_share"] or 0.0, v["recent_share"]]
    ax.bar(names, values, color=["C0", "C7", "C1"])
    ax.set_ylabel("unknown token share")
    ax.set_title(f"unknown vocabulary: PSI {_fmt(v['psi'])} ({v['drift'] or 'n/a'})")
    fig.suptitle(f"Drift {report['since'][:16]} .. {report['until'][:16]}: {report['messages']} messages, "
                 f"overall {report['drift']}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_drift_report(report: dict, out_dir: Path) -> Path:
    """Write ``drift.json``, ``report.md`` and (when there were messages) ``drift.png`` into
    ``out_dir`` (created); returns ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "drift.json").write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    (out_dir / "report.md").write_text(format_table(report), encoding="utf-8")
    if report["messages"]:
        _plot(report, out_dir / "drift.png")
    return out_dir


# -- command line -----------------------------------------------------------------------------


def _store():
    from triage.store import Store

    return Store.from_settings()


def cmd_drift(args) -> int:
    from triage.artifacts import read_manifest
    from triage.champion import serving_model_dir
    from triage.io import read_records

    s = get_settings()
    now = datetime.now(UTC)
    until = parse_until(args.until) if args.until else now
    since = parse_since(args.since, until)
    try:
        manifest = read_manifest(args.model or serving_model_dir(s))  # the thresholds that serve
        thresholds, by_language = manifest.get("thresholds", {}), manifest.get("thresholds_by_language", {})
    except ModelLoadError as exc:
        if args.model:
            raise
        print(f"note: {exc}; confidence is reported without thresholds", file=sys.stderr)
        thresholds, by_language = {}, {}
    train_path = Path(args.train or s.data_dir / "train.jsonl")
    train = read_records(train_path)
    store = _store()
    try:
        report = compute_drift(store, train, since, until, thresholds, by_language)
    finally:
        store.dispose()
    if not report["messages"]:
        print(f"no messages stored between {report['since'][:19]} and {report['until'][:19]} UTC: "
              "nothing to compare, no report written")
        return 0
    report["train"]["path"] = str(train_path)
    out = Path(args.output or s.var_dir / "drift" / now.strftime("%Y%m%d-%H%M%S"))
    write_drift_report(report, out)
    print(format_table(report))
    print(f"report (JSON, markdown, PNG) in {out}")
    return 0


def parse_until(value: str) -> datetime:
    """An ISO date or date-time (UTC when it has no offset); :class:`InvalidRequestError` otherwise."""
    try:
        return _utc(datetime.fromisoformat(value.strip()))
    except ValueError as exc:
        raise InvalidRequestError(f"--until {value!r}: expected an ISO date or date-time") from exc


def add_cli(subparsers) -> None:
    """Register ``triage drift`` on the ``triage`` command's subparsers."""
    p = subparsers.add_parser("drift", help="compare recent traffic with the training data (PSI, JS distance)")
    p.add_argument("--since", default="7d", help="7d, 24h, 30m or an ISO date/time, UTC unless an offset "
                   "is given (default: 7d)")
    p.add_argument("--until", help="end of the period, ISO date/time (default: now)")
    p.add_argument("--train", type=Path, help="training data, JSONL or CSV (default: data/samples/train.jsonl)")
    p.add_argument("--model", type=Path, help="model directory whose thresholds are used (default: the "
                   "configured model)")
    p.add_argument("--output", type=Path, help="report directory (default: var/drift/<timestamp>/)")
    p.set_defaults(func=cmd_drift)
