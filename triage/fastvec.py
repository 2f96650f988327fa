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


def _l2_normalize_rows(X: sp.csr_matrix) -> None:
    inplace_csr_row_normalize_l2(X)  # scikit-learn's own kernel, minus the input validation


def tfidf_transform(vec: TfidfVectorizer, docs: Sequence[str], analyze=None) -> sp.csr_matrix:
    """``vec.transform(docs)`` for a fitted TfidfVectorizer, without per-call validation.
    ``analyze`` is ``vec.build_analyzer()``, which callers cache (it is rebuilt on every call)."""
    analyze = analyze or vec.build_analyzer()
    vocab = vec.vocabulary_
    indices: list[int] = []
    data: list[int] = []
    indptr = [0]
    for doc in docs:
        counts: dict[int, int] = {}
        for tok in analyze(doc):
            j = vocab.get(tok)
            if j is not None:
                counts[j] = counts.get(j, 0) + 1
        indices.extend(counts)
        data.extend(counts.values())
        indptr.append(len(indices))
    dtype = vec.dtype
    X = sp.csr_matrix(
        (np.asarray(data, dtype=dtype), np.asarray(indices, dtype=np.int32), np.asarray(indptr, dtype=np.int32)),
        shape=(len(docs), len(vocab)),
    )
    X.sort_indices()
    if vec.binary:
        X.data.fill(1)
    if vec.sublinear_tf:
        np.log(X.data, X.data)
        X.data += 1
    if vec.use_idf:
        X.data *= vec.idf_.astype(dtype)[X.indices]
    if vec.norm == "l2":
        _l2_normalize_rows(X)
    elif vec.norm is not None:
        raise NotImplementedError(f"norm={vec.norm!r}")
    return X


def hashing_transform(vec: HashingVectorizer, docs: Sequence[str], analyze=None) -> sp.csr_matrix:
    """``vec.transform(docs)`` for a HashingVectorizer, without per-call validation."""
    analyze = analyze or vec.build_analyzer()
    raw = (((f, 1) for f in analyze(doc)) for doc in docs)
    indices, indptr, values = _hashing_transform(raw, vec.n_features, vec.dtype, vec.alternate_sign, seed=0)
    X = sp.csr_matrix((values, indices, indptr), dtype=vec.dtype, shape=(len(docs), vec.n_features))
    X.sum_duplicates()
    if vec.binary:
        X.data.fill(1)
    if vec.norm == "l2":
        _l2_normalize_rows(X)
    elif vec.norm is not None:
        raise NotImplementedError(f"norm={vec.norm!r}")
    return X


class FastTransformer:
    """Wraps a fitted vectorizer; ``transform`` takes the fast path when there is one. Not pickled:
    built from the fitted vectorizer after loading."""

    def __init__(self, vec):
        self.vec = vec
        self.fast = type(vec) in (TfidfVectorizer, HashingVectorizer)
        self.analyze = vec.build_analyzer() if self.fast else None

    def transform(self, docs: Sequence[str]) -> sp.csr_matrix:
        if type(self.vec) is TfidfVectorizer:
            return tfidf_transform(self.vec, docs, self.analyze)
        if type(self.vec) is HashingVectorizer:
            return hashing_transform(self.vec, docs, self.analyze)
        return sp.csr_matrix(self.vec.transform(docs))


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
