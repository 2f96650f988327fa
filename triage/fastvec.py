"""Prediction-time fast paths for fitted scikit-learn text vectorizers and linear models.

scikit-learn validates every input on every call (parameter checks, ``check_array``, dataframe
detection); for one short message that costs several times the actual work. These functions
compute the same matrices from the fitted attributes only. ``tests/test_fastvec.py`` checks them
against scikit-learn's own ``transform`` / ``predict_proba``, so a change in scikit-learn shows up
as a failing test, not as silently different features.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction._hashing_fast import transform as _hashing_transform
from sklearn.feature_extraction.text import HashingVectorizer, TfidfVectorizer
from sklearn.utils.sparsefuncs_fast import inplace_csr_row_normalize_l2

WORD_CACHE_SIZE = 200_000


class FastTransformer:
    """Wraps a fitted vectorizer; ``transform`` gives ``vec.transform`` without per-call validation.

    ``char_wb`` n-grams never cross a word boundary (each word is padded and cut on its own), so a
    document's n-grams are the concatenation of its words' n-grams: those are computed once per
    distinct word and cached (``WORD_CACHE_SIZE`` words; the cache is emptied when full). Words
    repeat heavily across messages, so this replaces most of the n-gram slicing by one dict lookup
    per word. Not pickled: built from the fitted vectorizer after loading.
    """

    def __init__(self, vec):
        self.vec = vec
        self.kind = "tfidf" if type(vec) is TfidfVectorizer else "hashing" if type(vec) is HashingVectorizer else None
        self.analyze = vec.build_analyzer() if self.kind else None
        self.by_word = self.kind is not None and vec.analyzer == "char_wb"
        self.preprocess = vec.build_preprocessor() if self.by_word else None
        self.vocab = getattr(vec, "vocabulary_", None)
        self._cache: dict[str, tuple] = {}

    def _word_units(self, word: str) -> tuple:
        # Tuples of ints/strings: the garbage collector stops tracking them, so a large cache adds
        # nothing to collection pauses.
        grams = self.vec._char_wb_ngrams(word)
        if self.kind == "tfidf":
            vocab = self.vocab
            return tuple(vocab[g] for g in grams if g in vocab)
        return tuple(grams)

    def units(self, doc: str) -> list:
        """Vocabulary indices (TF-IDF) or n-gram strings (hashing) of one document, with repeats."""
        if not self.by_word:
            toks = self.analyze(doc)
            if self.kind == "tfidf":
                vocab = self.vocab
                return [vocab[t] for t in toks if t in vocab]
            return toks
        cache = self._cache
        out: list = []
        for w in self.preprocess(self.vec.decode(doc)).split():
            u = cache.get(w)
            if u is None:
                if len(cache) >= WORD_CACHE_SIZE:
                    cache.clear()
                u = cache[w] = self._word_units(w)
            out.extend(u)
        return out

    def transform(self, docs: Sequence[str]) -> sp.csr_matrix:
        if self.kind == "tfidf":
            return self._tfidf(docs)
        if self.kind == "hashing":
            return self._hashing(docs)
        return sp.csr_matrix(self.vec.transform(docs))

    def _tfidf(self, docs: Sequence[str]) -> sp.csr_matrix:
        vec = self.vec
        cols: list[int] = []
        lengths = np.empty(len(docs), dtype=np.int64)
        for i, doc in enumerate(docs):
            u = self.units(doc)
            cols.extend(u)
            lengths[i] = len(u)
        rows = np.repeat(np.arange(len(docs), dtype=np.int32), lengths)
        dtype = vec.dtype
        # Counting in C: COO -> CSR sums the duplicate (row, column) entries and sorts the indices.
        X = sp.csr_matrix((np.ones(len(cols), dtype=dtype), (rows, np.asarray(cols, dtype=np.int32))),
                          shape=(len(docs), len(self.vocab)))
        X.sum_duplicates()
        if vec.binary:
            X.data.fill(1)
        if vec.sublinear_tf:
            np.log(X.data, X.data)
            X.data += 1
        if vec.use_idf:
            idf = self.__dict__.get("_idf")
            if idf is None:
                idf = self._idf = vec.idf_.astype(dtype)
            X.data *= idf[X.indices]
        return _normalize(X, vec.norm)

    def _hashing(self, docs: Sequence[str]) -> sp.csr_matrix:
        vec = self.vec
        raw = (((f, 1) for f in self.units(doc)) for doc in docs)
        indices, indptr, values = _hashing_transform(raw, vec.n_features, vec.dtype, vec.alternate_sign, seed=0)
        X = sp.csr_matrix((values, indices, indptr), dtype=vec.dtype, shape=(len(docs), vec.n_features))
        X.sum_duplicates()
        if vec.binary:
            X.data.fill(1)
        return _normalize(X, vec.norm)


def _normalize(X: sp.csr_matrix, norm: str | None) -> sp.csr_matrix:
    if norm == "l2":
        inplace_csr_row_normalize_l2(X)  # scikit-learn's own kernel, minus the input validation
    elif norm is not None:
        raise NotImplementedError(f"norm={norm!r}")
    return X


def softmax_proba(model, X) -> np.ndarray:
    """``predict_proba`` of a fitted multinomial LogisticRegression as one product and a softmax."""
    z = np.asarray(X @ model.coef_.T, dtype=np.float64) + model.intercept_
    if z.shape[1] == 1:  # binary
        p = 1.0 / (1.0 + np.exp(-z[:, 0]))
        return np.column_stack([1 - p, p])
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z
