"""Metrics shared by training (out-of-fold, for thresholds) and evaluation (held-out data)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
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


def precision_threshold(confidence: np.ndarray, correct: np.ndarray, target: float = 0.95,
                        min_support: int = 20) -> float:
    """Smallest confidence threshold t such that predictions with confidence >= t are correct at
    least ``target`` of the time (computed on validation predictions). 1.0 if none reaches it."""
    order = np.argsort(-np.asarray(confidence))
    conf, corr = np.asarray(confidence)[order], np.asarray(correct, float)[order]
    prec = np.cumsum(corr) / np.arange(1, len(corr) + 1)
    ok = np.where((prec >= target) & (np.arange(1, len(corr) + 1) >= min_support))[0]
    if len(ok) == 0:
        return 1.0
    k = ok.max()
    return float(conf[k])


def coverage_precision(confidence: np.ndarray, correct: np.ndarray, threshold: float) -> tuple[float, float]:
    """(share of messages auto-routed at ``threshold``, precision among them)."""
    m = np.asarray(confidence) >= threshold
    cov = float(m.mean()) if len(m) else 0.0
    prec = float(np.asarray(correct)[m].mean()) if m.any() else float("nan")
    return cov, prec


def head_metrics(y_true: Sequence[str], y_pred: Sequence[str], confidence: Sequence[float],
                 threshold: float | None, languages: Sequence[str] | None = None) -> dict:
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
    if threshold is not None:
        cov, prec = coverage_precision(np.asarray(confidence), correct, threshold)
        out.update(threshold=float(threshold), coverage=cov, precision_at_threshold=prec)
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
            }
    return out
