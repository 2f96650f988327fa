"""Metrics shared by training (out-of-fold, for thresholds) and evaluation (held-out data)."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
from scipy.stats import beta
from sklearn.metrics import accuracy_score, f1_score


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """ECE of top-label confidences: the mean |accuracy - confidence| over equal-width bins."""
    confidence, correct = np.asarray(confidence, float), np.asarray(correct, float)
    if len(confidence) == 0:
        return 0.0
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            ece += m.mean() * abs(correct[m].mean() - confidence[m].mean())
    return float(ece)


# A threshold no probability reaches: every prediction of that head goes to review. Just above
# 1.0 rather than 1.0, since a calibrated probability can be exactly 1.0; finite, so the manifest
# stays plain JSON.
NOTHING_QUALIFIES = math.nextafter(1.0, 2.0)


def precision_threshold(confidence: np.ndarray, correct: np.ndarray, target: float = 0.95,
                        min_support: int = 20, delta: float | None = None, grid: bool = False) -> float:
    """A confidence threshold t: predictions with confidence >= t are auto-routed.
    ``NOTHING_QUALIFIES`` (just above 1.0, so no probability reaches it) if none qualifies.

    ``delta=None``: the smallest t whose validation precision is at least ``target`` (a point
    estimate: on new data from the same distribution, precision lands below ``target`` about half
    the time).

    ``delta`` given: the smallest t such that every threshold from the top down to t passes a
    one-sided Clopper-Pearson test "precision >= target" at level ``delta`` (fixed-sequence
    testing, as in Learn-then-Test, Angelopoulos et al. 2021). For exchangeable messages scored by
    the same model that bounds the chance that precision on new messages is below ``target`` by
    ``delta``. Training uses it approximately: the scores are out-of-fold (fold models, not the
    refit one) and the candidate thresholds are the observed confidences; bench/threshold_rule.py
    measures how often held-out precision still falls short.
    The sequence starts at the first threshold with enough predictions above it for the test to
    have power: as many as it takes to pass when they are correct halfway between ``target`` and
    100% of the time (234 for 0.95 at delta 0.05), and at least ``min_support``. That count depends
    on ``target`` and ``delta`` only, never on the labels, so the guarantee holds; starting lower
    would let one early error among the most confident predictions stop the sequence.

    ``grid``: test only where the count of predictions above the threshold crosses a multiple of
    that start count (234, 468, 702, ... at 0.95 and 0.05), and at all predictions, instead of at
    every distinct confidence. The same guarantee (the grid depends on the counts, never on the
    labels), fewer tests in the sequence, so a short run of errors between two grid points no
    longer ends it (a run that pulls the bound under the target at a grid point still does); the
    threshold is the lowest grid point that passes, a few hundred predictions apart.
    """
    if len(confidence) == 0:
        return NOTHING_QUALIFIES
    order = np.argsort(-np.asarray(confidence), kind="stable")
    conf, corr = np.asarray(confidence)[order], np.asarray(correct, float)[order]
    n = np.arange(1, len(corr) + 1)
    hits = np.cumsum(corr)
    if delta is None:
        ok = np.where((hits / n >= target) & (n >= min_support))[0]
        return float(conf[ok.max()]) if len(ok) else NOTHING_QUALIFIES
    ends = np.flatnonzero(np.append(conf[1:] != conf[:-1], True))  # last index of each tie group
    need = max(min_support, _power_start(target, delta))
    ends = ends[n[ends] >= need]
    if grid and len(ends):
        # The first tie-group end at or past each multiple of ``need``, and the last one (all
        # predictions), so the tail past the last multiple can still be routed.
        steps = n[ends] // need
        ends = np.unique(np.append(ends[np.append(True, steps[1:] != steps[:-1])], ends[-1]))
    s, m = hits[ends], n[ends]
    lower = np.where(s > 0, beta.ppf(delta, np.maximum(s, 1), m - s + 1), 0.0)
    failed = np.flatnonzero(lower < target)
    passed = ends[: failed[0]] if len(failed) else ends
    return float(conf[passed[-1]]) if len(passed) else NOTHING_QUALIFIES


@functools.lru_cache(maxsize=32)
def _power_start(target: float, delta: float, limit: int = 1_000_000) -> int:
    """Smallest n at which a precision of (1 + target) / 2 passes the one-sided Clopper-Pearson test."""
    n = np.unique(np.geomspace(1, limit, 4000).astype(int))
    s = np.floor(n * (1 + target) / 2)
    ok = np.flatnonzero(beta.ppf(delta, np.maximum(s, 1), n - s + 1) >= target)
    return int(n[ok[0]]) if len(ok) else limit


def coverage_precision(correct: np.ndarray, routed: np.ndarray) -> dict:
    """Share of messages auto-routed (``routed``: at or above their threshold) and the precision
    among them (NaN when none is)."""
    correct, routed = np.asarray(correct, bool), np.asarray(routed, bool)
    return {"coverage": float(routed.mean()) if len(routed) else 0.0,
            "precision_at_threshold": float(correct[routed].mean()) if routed.any() else float("nan")}


def head_metrics(y_true: Sequence[str], y_pred: Sequence[str], confidence: Sequence[float],
                 threshold: float | None, languages: Sequence[str] | None = None,
                 routed: Sequence[bool] | None = None) -> dict:
    """``routed``: which predictions were auto-routed (default: ``confidence >= threshold``); with
    per-language thresholds the engine's own decision, and ``threshold`` the pooled one."""
    y_true, y_pred = np.asarray(y_true, dtype=object), np.asarray(y_pred, dtype=object)
    correct = y_true == y_pred
    labels = sorted(set(y_true) | set(y_pred))
    f1s = f1_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
    out = {
        "n": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=sorted(set(y_true)), average="macro", zero_division=0)),
        "per_class_f1": {lab: float(f) for lab, f in zip(labels, f1s, strict=True)},
        "ece": expected_calibration_error(np.asarray(confidence), correct),
    }
    if routed is None and threshold is not None:
        routed = np.asarray(confidence) >= threshold
    if threshold is not None:
        out["threshold"] = float(threshold)
    if routed is not None:
        routed = np.asarray(routed, bool)
        out.update(coverage_precision(correct, routed))
    if languages is not None:
        languages = np.asarray(languages, dtype=object)
        out["per_language"] = {}
        for lang in sorted(set(languages)):
            m = languages == lang
            out["per_language"][lang] = {
                "n": int(m.sum()),
                "accuracy": float(accuracy_score(y_true[m], y_pred[m])),
                "macro_f1": float(f1_score(y_true[m], y_pred[m], labels=sorted(set(y_true[m])),
                                           average="macro", zero_division=0)),
                **(coverage_precision(correct[m], routed[m]) if routed is not None else {}),
            }
    return out
