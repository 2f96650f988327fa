"""Prediction-time fast paths for fitted scikit-learn text vectorizers and linear models.

scikit-learn validates every input on every call (parameter checks, ``check_array``, dataframe
detection); for one short message that costs several times the actual work. These functions
compute the same matrices from the fitted attributes only. ``tests/test_fastvec.py`` checks them
against scikit-learn's own ``transform`` / ``predict_proba``, so a change in scikit-learn shows up
as a failing test, not as silently different features.
"""

from __future__ import annotations

import copyreg
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
import sklearn
from sklearn.feature_extraction.text import HashingVectorizer, TfidfVectorizer
from sklearn.utils import murmurhash3_32

from triage.text import remember

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
        self._cache: dict[str, bytes] = {}

    def _word_units(self, word: str) -> bytes:
        # Packed int64 columns: joining a document's words is one bytes.join and one frombuffer
        # per batch, where a list of Python ints cost a list.extend per word and a conversion per
        # n-gram. Bytes are not tracked by the garbage collector, so a large cache adds nothing to
        # collection pauses.
        grams = self.vec._char_wb_ngrams(word)
        if self.kind == "tfidf":
            vocab = self.vocab
            return _pack([vocab[g] for g in grams if g in vocab])
        return _pack([self._hash(g) for g in grams])

    def _hash(self, gram: str) -> int:
        """The column of a hashed n-gram as HashingVectorizer computes it (signed murmurhash3 of
        its UTF-8 bytes), stored as ``~column`` when alternate signs make its value -1."""
        n = self.vec.n_features
        h = murmurhash3_32(gram, seed=0)
        col = (2147483647 - (n - 1)) % n if h == -2147483648 else abs(h) % n
        return ~col if self.vec.alternate_sign and h < 0 else col

    def _token_units(self, token: str) -> bytes:
        if self.kind == "tfidf":
            col = self.vocab.get(token)
            return b"" if col is None else _pack([col])
        return _pack([self._hash(token)])

    def units(self, doc: str) -> bytes:
        """Vocabulary indices (TF-IDF) or hashed columns (``~column`` for a -1 sign) of one
        document, with repeats, packed as native int64 (``np.frombuffer(units, np.int64)``)."""
        cache = self._cache
        if self.by_word:
            toks, compute = self.preprocess(self.vec.decode(doc)).split(), self._word_units
        else:
            toks, compute = self.analyze(doc), self._token_units
        out = []
        for t in toks:
            u = cache.get(t)
            if u is None:
                u = remember(cache, t, compute(t), WORD_CACHE_SIZE)
            out.append(u)
        return b"".join(out)

    def transform(self, docs: Sequence[str]) -> sp.csr_matrix:
        return to_csr(self.triplets(docs), len(docs))

    def triplets(self, docs: Sequence[str]) -> Triplets:
        """``transform(docs)`` as (rows, columns, values, n_columns): rows ascending, columns
        ascending within a row. Kept apart from the matrix so that a union of vectorizers builds
        one CSR matrix per batch: for one message, scipy's per-matrix checks cost more than the
        features themselves."""
        if self.kind is None:
            X = sp.csr_matrix(self.vec.transform(docs))
            X.sort_indices()
            coo = X.tocoo()
            return Triplets(coo.row.astype(np.int64), coo.col.astype(np.int64), coo.data, X.shape[1])
        vec = self.vec
        n_columns = len(self.vocab) if self.kind == "tfidf" else vec.n_features
        signed = self.kind == "hashing" and vec.alternate_sign
        if len(docs) == 1 and not signed:
            # One message (the service's and classify()'s case): one sort of its packed columns,
            # without the batch path's sparse-matrix construction (3.5x faster than counting the
            # columns in a dict, which was faster when they were Python ints).
            cols_u, counts = np.unique(np.frombuffer(self.units(docs[0]), dtype=np.int64), return_counts=True)
            counts = counts.astype(vec.dtype)
            rows = np.zeros(len(cols_u), dtype=np.int64)
        else:
            rows, cols_u, counts = self._count(docs, n_columns, signed)
        if vec.binary:
            counts.fill(1)
        if self.kind == "tfidf":
            if vec.sublinear_tf:
                np.log(counts, counts)
                counts += 1
            if vec.use_idf:
                idf = self.__dict__.get("_idf")
                if idf is None:
                    idf = self._idf = vec.idf_.astype(vec.dtype)
                counts *= idf[cols_u]
        if vec.norm == "l2":
            norms = np.sqrt(np.bincount(rows, weights=counts.astype(np.float64) ** 2, minlength=len(docs)))
            norms[norms == 0] = 1.0
            counts /= norms[rows].astype(counts.dtype)
        elif vec.norm is not None:
            raise NotImplementedError(f"norm={vec.norm!r}")
        return Triplets(rows, cols_u, counts, n_columns)

    def _count(self, docs: Sequence[str], n_columns: int, signed: bool):
        """(rows, columns, counts) of a batch, duplicates summed (hashed signs included): scipy's
        ``sum_duplicates`` sorts each row on its own in C++, about 3x faster than one global
        ``np.unique`` over (row, column) keys."""
        packed = [self.units(doc) for doc in docs]
        indptr = np.zeros(len(docs) + 1, dtype=np.int64)
        np.cumsum([len(u) // 8 for u in packed], out=indptr[1:])
        c = np.frombuffer(b"".join(packed), dtype=np.int64).copy()
        values = np.ones(len(c), dtype=self.vec.dtype)
        if signed:
            negative = c < 0
            values[negative] = -1
            c[negative] = ~c[negative]
        X = sp.csr_matrix((values, c, indptr), shape=(len(docs), n_columns))
        X.sum_duplicates()
        rows = np.repeat(np.arange(len(docs), dtype=np.int64), np.diff(X.indptr))
        return rows, X.indices.astype(np.int64), X.data


class WordCachedTfidfVectorizer(TfidfVectorizer):
    """``TfidfVectorizer`` whose ``char_wb`` fit counts each distinct word's n-grams once.

    scikit-learn's fit slices every word of every document into n-grams and looks each one up in
    a dict; words repeat heavily, so here a word's n-grams become vocabulary indices once and a
    document is the concatenation of its words' index arrays (``char_wb`` n-grams never cross a
    word, see :class:`FastTransformer`). Vocabulary, pruning and weights are scikit-learn's own:
    only ``_count_vocab`` for a vocabulary being learned is replaced, and
    ``tests/test_fastvec.py`` checks the fitted vocabulary, idf and matrix against
    ``TfidfVectorizer``'s. Other analyzers and ``transform`` are the parent's.

    Fitted, it is a plain ``TfidfVectorizer`` (the class is switched back at the end of the fit; the
    fitted state is the parent's own), and an unfitted one (the model's feature template) pickles as
    one: a saved model holds only scikit-learn's class, so code from before this class (a rollback,
    an older pyfunc environment) still loads it.
    """

    def __reduce_ex__(self, protocol):
        # The standard library's own reconstructor, so unpickling needs nothing from this module.
        # A copy (object.__getstate__ may hand back __dict__ itself); scikit-learn stamps its version
        # only on classes of its own modules, and warns on loading a TfidfVectorizer without one.
        state = {**self.__getstate__(), "_sklearn_version": sklearn.__version__}
        return copyreg._reconstructor, (TfidfVectorizer, object, None), state

    def fit(self, raw_documents, y=None):
        super().fit(raw_documents, y)
        self.__class__ = TfidfVectorizer
        return self

    def fit_transform(self, raw_documents, y=None):
        X = super().fit_transform(raw_documents, y)
        self.__class__ = TfidfVectorizer
        return X

    def _count_vocab(self, raw_documents, fixed_vocab):
        if fixed_vocab or self.analyzer != "char_wb":
            return super()._count_vocab(raw_documents, fixed_vocab)
        preprocess, decode, ngrams = self.build_preprocessor(), self.decode, self._char_wb_ngrams
        vocabulary: dict[str, int] = {}
        by_word: dict[str, np.ndarray] = {}
        empty = np.empty(0, dtype=np.int64)
        rows: list[np.ndarray] = []
        for doc in raw_documents:
            parts = []
            for word in preprocess(decode(doc)).split():
                cols = by_word.get(word)
                if cols is None:
                    grams = ngrams(word)
                    cols = by_word[word] = np.fromiter(
                        (vocabulary.setdefault(g, len(vocabulary)) for g in grams), dtype=np.int64, count=len(grams))
                parts.append(cols)
            rows.append(np.concatenate(parts) if parts else empty)
        if not vocabulary:
            raise ValueError("empty vocabulary; perhaps the documents only contain stop words")
        indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum([len(r) for r in rows], out=indptr[1:])
        indices = np.concatenate(rows) if rows else empty
        index_dtype = np.int64 if indptr[-1] > np.iinfo(np.int32).max else np.int32
        # Counted as integers like scikit-learn's (float32 ones would stop counting at 2**24).
        X = sp.csr_matrix((np.ones(len(indices), dtype=np.intc), indices.astype(index_dtype),
                           indptr.astype(index_dtype)), shape=(len(rows), len(vocabulary)))
        X.sum_duplicates()  # repeated n-grams of a document become its counts; sorts the indices
        return vocabulary, X.astype(self.dtype)


def _pack(columns: list[int]) -> bytes:
    return np.array(columns, dtype=np.int64).tobytes()


class Triplets(NamedTuple):
    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    n_columns: int


def to_csr(t: Triplets, n_rows: int) -> sp.csr_matrix:
    """CSR matrix from triplets sorted by row, then column."""
    indptr = np.zeros(n_rows + 1, dtype=np.int32)
    np.cumsum(np.bincount(t.rows, minlength=n_rows), out=indptr[1:])
    return sp.csr_matrix((t.values, t.cols.astype(np.int32), indptr), shape=(n_rows, t.n_columns))


def hstack_triplets(parts: Sequence[tuple[Triplets, float]], n_rows: int) -> sp.csr_matrix:
    """The CSR matrix of weighted feature blocks side by side (``FeatureUnion``'s layout)."""
    rows, cols, values, offset = [], [], [], 0
    for t, w in parts:
        rows.append(t.rows)
        cols.append(t.cols + offset)
        values.append(t.values * t.values.dtype.type(w) if w != 1.0 else t.values)
        offset += t.n_columns
    r, c, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(values)
    if n_rows > 1:
        # Stable by row: each block's columns stay ascending and blocks come in offset order.
        order = np.argsort(r, kind="stable")
        r, c, v = r[order], c[order], v[order]
    return to_csr(Triplets(r, c, v, offset), n_rows)


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
