"""The learned part of the engine: shared text features and one linear classifier per head.

Composed like scikit-learn estimators: parameters in ``__init__``, learned state ending in ``_``.
Features are computed once per batch and shared by every head (topic, authority, urgency, or any
subset a city trains), which keeps ``classify_batch`` one sparse matrix product per head.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import ComplementNB
from sklearn.pipeline import FeatureUnion
from sklearn.svm import LinearSVC

from triage.fastvec import FastTransformer, WordCachedTfidfVectorizer, hstack_triplets
from triage.lexicon import ConceptLexicon
from triage.settings import get_settings
from triage.text import normalize, skeleton

HEADS = ("topic", "authority", "urgency")
FEATURE_PARTS = ("word", "char", "lead", "concept")  # make_features' parts, in the union's order

_WORD = re.compile(r"(?u)\b\w+\b")


class PrefixWords:
    """Word n-gram analyzer over words cut to their first ``k`` letters: a crude stemmer that
    serves inflected Kazakh and Russian and English alike ("шұңқырлар", "шұңқырға" -> "shunk").
    Picklable, so it travels inside the fitted vectorizer."""

    def __init__(self, k: int = 5, ngram_range: tuple[int, int] = (1, 2)):
        self.k = k
        self.ngram_range = ngram_range

    def __call__(self, skel: str) -> list[str]:
        words = [w[:self.k] for w in _WORD.findall(skel)]
        lo, hi = self.ngram_range
        out = words if lo == 1 else []
        for n in range(max(lo, 2), hi + 1):
            out += [" ".join(words[i:i + n]) for i in range(len(words) - n + 1)]
        return out


class LeadWords:
    """The message's first ``n`` words, cut to ``k`` letters like :class:`PrefixWords` and marked
    with a leading "^", so that the model (and an explanation) tells "^svet" in the lead from
    "svet" anywhere in the message. Picklable."""

    def __init__(self, k: int = 5, n: int = 8):
        self.k = k
        self.n = n

    def __call__(self, skel: str) -> list[str]:
        return ["^" + w[:self.k] for w in _WORD.findall(skel)[:self.n]]


def make_features(
    word_ngrams: tuple[int, int] = (1, 2),
    char_ngrams: tuple[int, int] = (2, 5),
    min_df: int = 2,
    max_word_features: int = 60_000,
    max_char_features: int = 120_000,
    concept_weight: float = 0.5,
    lexicon_path: str | None = None,
    word_prefix: int = 5,
    lead_words: int = 8,
    lead_weight: float = 1.0,
) -> FeatureUnion:
    """Sparse TF-IDF word and character n-grams over the skeleton view, plus cross-lingual
    concept features from the lexicon (weight 0 turns them off), plus the words of the message's
    lead (its first ``lead_words`` words, 0 turns them off) as features of their own: a post with
    several problems is labelled by its main one, which people mostly name first. Words are cut to
    their first ``word_prefix`` letters (0 keeps whole words). All chosen by cross-validation on the
    train split."""
    common = dict(min_df=min_df, sublinear_tf=True, lowercase=False, dtype=np.float32)
    if word_prefix > 0:
        word = TfidfVectorizer(analyzer=PrefixWords(word_prefix, word_ngrams),
                               max_features=max_word_features, **common)
    else:
        word = TfidfVectorizer(analyzer="word", token_pattern=_WORD.pattern, ngram_range=word_ngrams,
                               max_features=max_word_features, **common)
    parts = [
        ("word", word),
        ("char", WordCachedTfidfVectorizer(analyzer="char_wb", ngram_range=char_ngrams,
                                           max_features=max_char_features, **common)),
    ]
    weights = {"word": 1.0, "char": 1.0}
    if lead_words > 0 and lead_weight > 0:
        parts.append(("lead", TfidfVectorizer(analyzer=LeadWords(word_prefix or 1000, lead_words), **common)))
        weights["lead"] = lead_weight
    if concept_weight > 0:
        lexicon = ConceptLexicon.load(lexicon_path or get_settings().lexicon_path)
        parts.append(("concept", TfidfVectorizer(analyzer=lexicon, sublinear_tf=True, dtype=np.float32)))
        weights["concept"] = concept_weight
    return FeatureUnion(parts, transformer_weights=weights)


def make_head(kind: str = "svm", C: float = 0.5, cv: int | None = 5, tol: float = 1e-4) -> BaseEstimator:
    """A head classifier by name: ``svm`` (LinearSVC with stopping tolerance ``tol``,
    sigmoid-calibrated with ``cv`` folds, or left for ``calibrate`` with ``cv=None``), ``logreg``
    or ``nb``."""
    if kind == "svm":
        return CalibratedLinearSVC(C=C, cv=cv, tol=tol)
    if kind == "logreg":
        return LogisticRegression(C=C, max_iter=3000, class_weight="balanced", random_state=0)
    if kind == "nb":
        return ComplementNB(alpha=C)
    raise ValueError(f"unknown head kind {kind!r} (expected svm, logreg or nb)")


class CalibratedLinearSVC(ClassifierMixin, BaseEstimator):
    """LinearSVC scores with one-vs-rest sigmoid calibration (Platt); prediction keeps only the
    learned numbers and is one sparse-dense product, without scikit-learn's per-class Python calls
    on the hot path.

    ``cv`` >= 2: the sigmoids are fitted by ``CalibratedClassifierCV(ensemble=False)`` on ``cv``
    inner folds. ``cv=None``: ``fit`` trains the SVM only and ``calibrate(a, b)`` sets sigmoids
    fitted elsewhere on out-of-fold decision values (training fits them on its validation folds,
    see ``fit_sigmoids``), which spares the inner folds' fits."""

    def __init__(self, C: float = 0.5, cv: int | None = 5, tol: float = 1e-4):
        self.C = C
        self.cv = cv
        self.tol = tol

    def fit(self, X, y):
        y = np.asarray(y)
        svc = LinearSVC(C=self.C, class_weight="balanced", random_state=0, tol=self.tol)
        if not self.cv:
            svc.fit(X, y)
            self.classes_ = svc.classes_
            self.coef_ = svc.coef_.astype(np.float32)
            self.intercept_ = svc.intercept_.astype(np.float64)
            self.a_ = self.b_ = None
            return self
        labels, counts = np.unique(y, return_counts=True)
        if (counts < self.cv).any():
            # A validation fold can leave a label with fewer examples than calibration folds: it cannot
            # be calibrated and is left out of this fit (training refuses such labels in its full data).
            keep = np.isin(y, labels[counts >= self.cv])
            X, y = X[keep], y[keep]
        cc = CalibratedClassifierCV(svc, method="sigmoid", cv=self.cv, ensemble=False).fit(X, y)
        cal = cc.calibrated_classifiers_[0]
        self.classes_ = cc.classes_
        self.coef_ = cal.estimator.coef_.astype(np.float32)
        self.intercept_ = cal.estimator.intercept_.astype(np.float64)
        return self.calibrate([c.a_ for c in cal.calibrators], [c.b_ for c in cal.calibrators])

    def calibrate(self, a, b):
        """Set the sigmoids: one (a, b) per class, or a single one for two classes (the second's)."""
        a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
        expected = 1 if len(self.classes_) == 2 else len(self.classes_)
        if a.shape != (expected,) or b.shape != (expected,):
            raise ValueError(f"expected {expected} sigmoid(s) for {len(self.classes_)} classes, got {a.shape}")
        self.a_, self.b_ = a, b
        return self

    def decision_function(self, X) -> np.ndarray:
        return np.asarray(X @ self.coef_.T, dtype=np.float64) + self.intercept_

    def predict_proba(self, X) -> np.ndarray:
        if getattr(self, "a_", None) is None:
            raise NotFittedError("this head's SVM is fitted but not calibrated yet (see calibrate)")
        return sigmoid_proba(self.decision_function(X), self.a_, self.b_, len(self.classes_))

    def predict(self, X) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def sigmoid_proba(scores: np.ndarray, a: np.ndarray, b: np.ndarray, n_classes: int) -> np.ndarray:
    """Probabilities from decision values and one-vs-rest sigmoids (one column per sigmoid; for two
    classes, one: the second class's score). On the hot path: no NaN handling here."""
    return ovr_proba(expit(-(scores * a + b)), n_classes)


def ovr_proba(p: np.ndarray, n_classes: int) -> np.ndarray:
    """One-vs-rest sigmoid outputs normalized over the classes as ``CalibratedClassifierCV`` does."""
    if n_classes == 2:
        return np.column_stack([1.0 - p[:, 0], p[:, 0]])
    total = p.sum(axis=1, keepdims=True)
    uniform = np.full_like(p, 1.0 / n_classes)
    return np.divide(p, total, out=uniform, where=total != 0)


def fit_sigmoids(scores: np.ndarray, y: np.ndarray, classes: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """One-vs-rest Platt sigmoids on decision values ``scores`` (one column per class, or one for
    two classes: the second class's), the fit ``CalibratedClassifierCV(method="sigmoid")`` makes per
    class. Rows with a NaN score are left out of that class's fit. Returns slopes and intercepts
    (probability ``1 / (1 + exp(a * score + b))``)."""
    positives = [classes[1]] if len(classes) == 2 else list(classes)
    if scores.shape[1] != len(positives):
        raise ValueError(f"{scores.shape[1]} score columns for {len(classes)} classes")
    y = np.asarray(y)
    a, b = np.zeros(len(positives)), np.zeros(len(positives))
    for j, c in enumerate(positives):
        ok = ~np.isnan(scores[:, j])
        if ok.any():
            a[j], b[j] = _platt(scores[ok, j], y[ok] == c)
        else:  # no model that scored these rows knew the class: it stays (all but) never predicted
            a[j], b[j] = 0.0, 30.0
    return a, b


def _platt(f: np.ndarray, positive: np.ndarray) -> tuple[float, float]:
    """Platt's sigmoid: maximum likelihood on his smoothed targets, the objective of scikit-learn's
    ``_sigmoid_calibration``. Solved as a weighted logistic regression (each row once as a positive
    with its target as weight, once as a negative with the rest), by LogisticRegression's Newton
    solver: the same optimum (tested) about 8x faster than that routine's L-BFGS, which matters at
    the 200-odd fits a training run makes."""
    n_pos = float(positive.sum())
    target = np.where(positive, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (len(f) - n_pos + 2.0))
    X = np.concatenate([f, f]).reshape(-1, 1)
    lr = LogisticRegression(C=np.inf, solver="newton-cholesky", tol=1e-8, max_iter=100)
    lr.fit(X, np.r_[np.ones(len(f)), np.zeros(len(f))], sample_weight=np.r_[target, 1.0 - target])
    a, b = -float(lr.coef_[0, 0]), -float(lr.intercept_[0])
    if not a <= 0.0:  # degenerate scores (all equal): no ranking to keep, only the base rate
        rate = float(target.mean())
        a, b = 0.0, float(np.log((1.0 - rate) / rate))
    return a, b


def linear_weights(head: BaseEstimator) -> np.ndarray | None:
    """(n_classes, n_features) weights that explain a fitted linear head, or None."""
    if hasattr(head, "coef_"):
        w = head.coef_
    elif hasattr(head, "feature_log_prob_"):
        w = head.feature_log_prob_ - head.feature_log_prob_.mean(axis=0)
    else:
        return None
    w = np.asarray(w, dtype=np.float32)
    if w.shape[0] == 1:  # binary: one row scores the positive class
        w = np.vstack([-w[0], w[0]])
    return w


@dataclass
class Prepared:
    """A batch after normalization, in the views the later steps read."""

    normalized: list[str]
    skeletons: list[str]
    X: sp.csr_matrix


class TriageModel(BaseEstimator):
    """Features plus one classifier per head present in the training labels.

    ``fit(texts, labels)`` takes raw texts and a mapping head -> labels (any subset of heads,
    arbitrary label values). ``predict_proba(prepared)`` returns head -> (n, n_classes) matrix.
    """

    ignore = None  # what a model pickled before ``ignore`` existed reads (get_params, repr)

    def __init__(self, features: FeatureUnion | None = None, heads: Mapping[str, BaseEstimator] | None = None,
                 ignore: Mapping[str, Sequence[str]] | None = None):
        self.features = features
        self.heads = heads
        # Per head, feature parts (names in the union: word, char, lead, concept) it does not learn
        # from: its weights there stay 0, so prediction is the same one product for every head.
        self.ignore = ignore

    def prepare(self, texts: Sequence[str]) -> Prepared:
        normalized = [normalize(t) for t in texts]
        skeletons = [skeleton(t) for t in normalized]
        return Prepared(normalized, skeletons, self.transform(skeletons))

    def transform(self, skeletons: Sequence[str]) -> sp.csr_matrix:
        """Same matrix as ``features_.transform``: the union's parts stacked with their weights.
        Called directly because FeatureUnion's joblib dispatch costs milliseconds per message."""
        fast = self.__dict__.get("_fast")
        if fast is None:
            weights = self.features_.transformer_weights or {}
            fast = self._fast = [(FastTransformer(vec), weights.get(name, 1.0))
                                 for name, vec in self.features_.transformer_list]
        return hstack_triplets([(t.triplets(skeletons), w) for t, w in fast], len(skeletons))

    def fit(self, texts: Sequence[str], labels: Mapping[str, Sequence[str]]):
        if not labels:
            raise ValueError("at least one head needs labels")
        normalized = [normalize(t) for t in texts]
        skeletons = [skeleton(t) for t in normalized]
        self.__dict__.pop("_fast", None)
        self.features_ = clone(self.features) if self.features is not None else make_features()
        # float64 once: liblinear converts a float32 matrix to float64 on every fit (three per head).
        X = self.features_.fit_transform(skeletons).astype(np.float64)
        for _, vec in self.features_.transformer_list:
            vec.stop_words_ = None  # pruned-term set is only for introspection and is huge when pickled
        head_specs = dict(self.heads or {})
        self.heads_ = {}
        for head, y in labels.items():
            y = np.asarray(y, dtype=object)
            known = np.array([v is not None and v == v and str(v) != "" for v in y], dtype=bool)
            # Rows without a label for this head still shape the shared features.
            est = clone(head_specs.get(head, make_head()))
            _, counts = np.unique(y[known].astype(str), return_counts=True)
            if (counts >= (getattr(est, "cv", None) or 1)).sum() < 2:
                continue  # fewer than two labels it can calibrate: nothing to learn in this (fold's) fit
            drop = self._part_columns(X, (self.ignore or {}).get(head, ()))
            Xh = X
            if drop is not None:  # the ignored parts' columns zeroed for this head's fit
                Xh = X.copy()
                Xh.data[drop[Xh.indices]] = 0.0
                Xh.eliminate_zeros()
            est.fit(Xh if known.all() else Xh[known], y[known].astype(str))
            if drop is not None:
                # A linear SVM or logistic regression learns (near) zero weights there anyway; naive
                # Bayes keeps class-dependent log-probabilities for features it never saw. Zeroed,
                # the ignored columns add the same (nothing) to every class at prediction.
                for attr in ("coef_", "feature_log_prob_"):
                    if hasattr(est, attr):
                        getattr(est, attr)[:, drop] = 0
            _shrink(est)
            self.heads_[head] = est
        if not self.heads_:
            raise ValueError("no head has any label")
        self.classes_ = {h: list(map(str, est.classes_)) for h, est in self.heads_.items()}
        return self

    def _part_columns(self, X: sp.csr_matrix, parts: Sequence[str]) -> np.ndarray | None:
        """A boolean mask of ``X``'s columns that belong to the named feature parts (None when none
        do). A name the union does not have is an error, unless it is one of make_features' parts
        switched off (a lead of 0 words)."""
        if not parts:
            return None
        names = [name for name, _ in self.features_.transformer_list]
        unknown = set(parts) - set(names) - set(FEATURE_PARTS)
        if unknown:
            raise ValueError(f"unknown feature part(s) {sorted(unknown)}; the model has {names}")
        start, drop = 0, np.zeros(X.shape[1], dtype=bool)
        for name, vec in self.features_.transformer_list:
            vocab = getattr(vec, "vocabulary_", None)
            width = len(vocab) if isinstance(vocab, dict) else len(vec.get_feature_names_out())
            drop[start:start + width] = name in parts
            start += width
        if start != X.shape[1]:
            raise RuntimeError(f"feature parts add up to {start} columns, the matrix has {X.shape[1]}")
        return drop if drop.any() else None

    def predict_proba(self, prepared: Prepared) -> dict[str, np.ndarray]:
        return {h: est.predict_proba(prepared.X) for h, est in self.heads_.items()}

    def feature_names(self) -> np.ndarray:
        """Each column's term, without the union's ``part__`` prefix (for explanations).

        Built from the vectorizers' vocabularies in one pass each: ``get_feature_names_out``
        sorts every vocabulary and prefixes 127k strings (about 0.2 s, which the first explained
        request after a start or a reload used to wait for). Parts without a vocabulary fall
        back to their own ``get_feature_names_out``."""
        names = self.__dict__.get("_feature_names")
        if names is None:
            parts = []
            for _, vec in self.features_.transformer_list:
                vocab = getattr(vec, "vocabulary_", None)
                if isinstance(vocab, dict):
                    terms = np.empty(len(vocab), dtype=object)
                    terms[np.fromiter(vocab.values(), dtype=np.int64, count=len(vocab))] = list(vocab)
                else:
                    terms = np.asarray(vec.get_feature_names_out(), dtype=object)
                parts.append(terms)
            names = self._feature_names = np.concatenate(parts) if parts else np.empty(0, dtype=object)
        return names

    def weights(self, head: str) -> np.ndarray | None:
        cache = self.__dict__.setdefault("_weights", {})
        if head not in cache:
            cache[head] = linear_weights(self.heads_[head])
        return cache[head]

    def __getstate__(self):
        # Derived caches are rebuilt after load rather than stored.
        return {k: v for k, v in self.__dict__.items() if k not in ("_feature_names", "_weights", "_fast")}


def _shrink(est: BaseEstimator) -> None:
    """Store weights as float32: halves the artifact, predictions unchanged to 1e-6."""
    if hasattr(est, "coef_"):
        est.coef_ = est.coef_.astype(np.float32)
