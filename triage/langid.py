"""Language identification for kk / ru / en plus script (Cyrl / Latn).

A maintained detector (lingua, restricted to the three languages) gives confidences; a small linear
model learned from labelled messages corrects what it misses: Kazakh typed on a Russian keyboard
looks Russian to it, and Latin Kazakh looks English or Turkish. The learned part sees lingua's
confidences, the script, whether Kazakh-only letters occur, character n-grams and words.

Cascade: a second linear model on the same features without lingua's decides alone when it is sure
(``cascade``); lingua, the most expensive step of the engine, runs only for the close calls. On the
train split (3-fold CV) the cascade's answers equal the full model's in every language and Kazakh form
while skipping lingua for 93% of messages (README, "Speed").
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from lingua import Language, LanguageDetectorBuilder
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import LogisticRegression

from triage.fastvec import FastTransformer, Triplets, hstack_triplets, softmax_proba
from triage.text import has_kazakh_letters, script_of

_LINGUA = {"kk": Language.KAZAKH, "ru": Language.RUSSIAN, "en": Language.ENGLISH}
_detectors: dict[bool, object] = {}


def _lingua(low_accuracy: bool):
    # Built lazily and shared: building loads the language models (tens of ms).
    det = _detectors.get(low_accuracy)
    if det is None:
        builder = LanguageDetectorBuilder.from_languages(*_LINGUA.values())
        det = _detectors[low_accuracy] = (builder.with_low_accuracy_mode() if low_accuracy else builder).build()
    return det


def lingua_confidences(texts: Sequence[str], languages: Sequence[str] = ("kk", "ru", "en"),
                       low_accuracy: bool = False) -> np.ndarray:
    """Matrix (n_texts, n_languages) of lingua's confidence values, in ``languages`` order.
    ``low_accuracy`` is lingua's trigram-only mode (about 3x faster)."""
    det = _lingua(low_accuracy)
    rows = (
        det.compute_language_confidence_values_in_parallel(list(texts))
        if len(texts) > 1
        else [det.compute_language_confidence_values(t) for t in texts]
    )
    index = {_LINGUA[code]: i for i, code in enumerate(languages) if code in _LINGUA}
    out = np.zeros((len(texts), len(languages)))
    for r, row in enumerate(rows):
        for conf in row:
            j = index.get(conf.language)
            if j is not None:
                out[r, j] = conf.value
    return out


def _fit_used_columns(model: LogisticRegression, X: sp.csr_matrix, y: np.ndarray) -> LogisticRegression:
    """``model.fit(X, y)`` over only the columns some row uses, with ``coef_`` put back at full width.

    The hashed n-gram space has 2 x 2**18 columns and the training texts use a fraction of them.
    A column no row uses has a zero data gradient, so under the L2 penalty its weight stays at its
    starting zero: the optimum is the same, while L-BFGS's vector updates, which cost as much per
    column whether it is used or not, shrink with the column count. L-BFGS stops within its
    tolerance of that optimum, and rounding in the narrower problem moves where: at the default
    tolerance the weights differ from a full-width fit by up to about 3e-4 and the probabilities by
    about 1e-5 (no changed answer on the test split and probes); ``tests/test_fastvec.py`` compares
    the two fits at a tight tolerance."""
    X = sp.csr_matrix(X)
    used = np.unique(X.indices)
    model.fit(X[:, used], y)
    # Column-major like scikit-learn's own coef_: ``X @ coef_.T`` then multiplies by a C-contiguous
    # matrix; a row-major coef_ made scipy copy all 2 x 2**18 x 3 weights on every call (9 ms a message).
    coef = np.zeros((model.coef_.shape[0], X.shape[1]), dtype=model.coef_.dtype, order="F")
    coef[:, used] = model.coef_
    model.coef_ = coef
    model.n_features_in_ = X.shape[1]
    return model


class LanguageIdentifier(ClassifierMixin, BaseEstimator):
    """``fit(texts, languages)`` / ``predict(texts)`` / ``predict_proba(texts)`` on normalized text
    (before the skeleton view, so Kazakh letters still count)."""

    def __init__(self, n_features: int = 2**18, C: float = 20.0, word_features: bool = True,
                 class_weight: dict[str, float] | None = None, low_accuracy: bool = True,
                 cascade: float | None = 0.99):
        self.n_features = n_features
        self.C = C
        self.word_features = word_features
        # Per-language weights in the fit: a heavier language wins more of the close calls
        # (folded Kazakh full of Russian words), at the price of a few messages of the others.
        self.class_weight = class_weight
        # lingua's trigram-only mode: 3-fold CV on train, 173 -> 59 us per message, folded Kazakh
        # 0.976 -> 0.986, Cyrillic Kazakh 0.989 -> 0.986, the rest within one message (README).
        self.low_accuracy = low_accuracy
        # The lingua-free model's probability at which its answer stands without lingua (None:
        # always the full model). 3-fold CV on train (bench/langid_cascade.py): answers identical to
        # the full model's at 0.95 to 0.995; 0.99 leaves a margin and still skips lingua for 93%.
        self.cascade = cascade

    def _vectorizers(self) -> list[HashingVectorizer]:
        # Characters catch spelling (ә vs а, "q" for қ); whole words catch folded Kazakh's
        # function words (жок, бизде, кашан) that look like Russian letter by letter.
        vecs = [HashingVectorizer(analyzer="char_wb", ngram_range=(1, 4), n_features=self.n_features,
                                  alternate_sign=False, norm="l2")]
        if self.word_features:
            vecs.append(HashingVectorizer(analyzer="word", token_pattern=r"(?u)\b\w+\b",
                                          n_features=self.n_features, alternate_sign=False, norm="l2"))
        return vecs

    def _ngrams(self, texts: Sequence[str]) -> list[Triplets]:
        """The character and word n-gram blocks (the features both models share)."""
        fast = self.__dict__.get("_fast")
        if fast is None:
            fast = self._fast = [FastTransformer(v) for v in self._vectorizers()]
        return [v.triplets(texts) for v in fast]

    def _features(self, texts: Sequence[str], ngrams: list[Triplets] | None = None,
                  lingua: bool = True) -> sp.csr_matrix:
        """The n-gram blocks (``ngrams``, or computed), then lingua's confidences (with ``lingua``:
        the full model's features; without: the cascade's first model's), the script and whether
        Kazakh-only letters occur."""
        dense = [[script_of(t) == "Latn" for t in texts], [has_kazakh_letters(t) for t in texts]]
        if lingua:
            dense = [*lingua_confidences(texts, low_accuracy=self.low_accuracy).T, *dense]
        block = np.column_stack(dense).astype(float) * 2.0
        n, k = block.shape
        block = Triplets(np.repeat(np.arange(n, dtype=np.int64), k), np.tile(np.arange(k, dtype=np.int64), n),
                         block.ravel(), k)
        ngrams = self._ngrams(texts) if ngrams is None else ngrams
        return hstack_triplets([*((t, 1.0) for t in ngrams), (block, 1.0)], n)

    def fit(self, texts: Sequence[str], languages: Sequence[str]):
        self.__dict__.pop("_fast", None)
        weights = self.class_weight
        if weights:  # languages absent from the data are ignored; unnamed ones weigh 1
            weights = {lang: float(weights.get(lang, 1.0)) for lang in np.unique(np.asarray(languages))}
        y = np.asarray(languages)
        ngrams = self._ngrams(texts)
        self.model_ = _fit_used_columns(LogisticRegression(C=self.C, max_iter=2000, class_weight=weights or None),
                                        self._features(texts, ngrams), y)
        self.classes_ = self.model_.classes_
        self.fast_ = None
        if self.cascade is not None:
            self.fast_ = _fit_used_columns(LogisticRegression(C=self.C, max_iter=2000, class_weight=weights or None),
                                           self._features(texts, ngrams, lingua=False), y)
        return self

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        if self.fast_ is None or self.cascade is None:
            return softmax_proba(self.model_, self._features(texts))
        ngrams = self._ngrams(texts)
        p = softmax_proba(self.fast_, self._features(texts, ngrams, lingua=False))
        # A text without any n-gram (empty after normalization) would be "sure" on the intercept
        # and the class weights alone: the full model answers it.
        featureless = np.bincount(ngrams[0].rows, minlength=len(texts)) == 0
        unsure = np.flatnonzero((p.max(axis=1) < self.cascade) | featureless)
        if len(unsure) == len(texts):
            return softmax_proba(self.model_, self._features(texts, ngrams))
        if len(unsure):
            p[unsure] = softmax_proba(self.model_, self._features([texts[i] for i in unsure]))
        return p

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k != "_fast"}

    def __setstate__(self, state):
        # Identifiers pickled before these options existed: fitted on lingua's high-accuracy mode,
        # without the cascade's first model.
        state = {"low_accuracy": False, "cascade": None, "fast_": None, **state}
        super().__setstate__(state)

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(texts), axis=1)]

