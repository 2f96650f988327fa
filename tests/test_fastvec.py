"""The prediction fast paths give scikit-learn's own numbers."""

import numpy as np
import pytest
from sklearn.feature_extraction.text import HashingVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from triage.fastvec import FastTransformer, softmax_proba

DOCS = ["жол жөндеу керек", "яма на дороге яма", "pothole on the road!!", "", "жылу жоқ жылу жоқ 🙂",
        "qala akimdigi", "ОЧЕНЬ ГРОМКО", "a", "  two\tspaces\n\nand  tabs  ", "İstanbul ǅ ß ΣΑΣ"]


@pytest.mark.parametrize("vec", [
    TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, dtype=np.float32),
    TfidfVectorizer(analyzer="word", ngram_range=(1, 2), min_df=1, binary=True),
    TfidfVectorizer(analyzer="word", use_idf=False, norm=None),
    TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), lowercase=True, min_df=1),
])
def test_tfidf_fast_path_equals_transform(vec):
    vec.fit(DOCS * 2)
    new = DOCS + ["совсем новый текст", "жол"]
    ft = FastTransformer(vec)
    ft.transform(new)
    fast = ft.transform(new)  # with a warm per-word cache
    ref = vec.transform(new)
    assert fast.shape == ref.shape and fast.dtype == ref.dtype
    np.testing.assert_allclose(fast.toarray(), ref.toarray(), rtol=1e-5, atol=1e-6)
    for doc in new:  # one document at a time takes the dict-counting path
        one = ft.transform([doc])
        assert one.dtype == ref.dtype and one.has_sorted_indices
        np.testing.assert_allclose(one.toarray(), vec.transform([doc]).toarray(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("vec", [
    HashingVectorizer(analyzer="char_wb", ngram_range=(1, 4), n_features=2**12, alternate_sign=False),
    HashingVectorizer(analyzer="word", n_features=2**10),
    HashingVectorizer(analyzer="char_wb", ngram_range=(2, 3), n_features=2**12, lowercase=False, norm=None),
    HashingVectorizer(analyzer="char_wb", ngram_range=(1, 3), n_features=2**4, binary=True, norm=None),
])
def test_hashing_fast_path_equals_transform(vec):
    fast = FastTransformer(vec)
    for _ in range(2):  # the second pass reads the per-word cache
        np.testing.assert_allclose(fast.transform(DOCS).toarray(), vec.transform(DOCS).toarray(),
                                   rtol=1e-6, atol=1e-7)
    for doc in DOCS:
        np.testing.assert_allclose(fast.transform([doc]).toarray(), vec.transform([doc]).toarray(),
                                   rtol=1e-6, atol=1e-7)


def test_word_cache_is_bounded(monkeypatch):
    import triage.fastvec as fv

    monkeypatch.setattr(fv, "WORD_CACHE_SIZE", 5)
    vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4)).fit(DOCS)
    fast = FastTransformer(vec)
    docs = [f"w{i} common" for i in range(50)]
    np.testing.assert_allclose(fast.transform(docs).toarray(), vec.transform(docs).toarray(), rtol=1e-6)
    assert len(fast._cache) <= 5


@pytest.mark.parametrize("n_classes", [2, 3])
def test_softmax_proba_equals_predict_proba(n_classes):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 5))
    y = np.arange(60) % n_classes
    lr = LogisticRegression().fit(X, y)
    np.testing.assert_allclose(softmax_proba(lr, X), lr.predict_proba(X), rtol=1e-7, atol=1e-9)


def test_shipped_model_features_equal_the_sklearn_union(triage_model, test_records):
    import scipy.sparse as sp

    from triage.text import normalize, skeleton

    skels = [skeleton(normalize(r["text"])) for r in test_records[:100]]
    ref = sp.csr_matrix(triage_model.model.features_.transform(skels))
    np.testing.assert_allclose(triage_model.model.transform(skels).toarray(), ref.toarray(), rtol=1e-4, atol=1e-6)
    for i in range(0, 100, 7):  # a single message: one np.unique, no sparse matrix
        np.testing.assert_allclose(triage_model.model.transform(skels[i:i + 1]).toarray(), ref[i].toarray(),
                                   rtol=1e-4, atol=1e-6)


def test_language_id_features_equal_sklearns_own_vectorizers():
    import scipy.sparse as sp

    from triage.langid import LanguageIdentifier, lingua_confidences
    from triage.text import has_kazakh_letters, script_of

    texts = [t for t in DOCS if t] + ["Бизде уш кун су жок", "üiimizde jylu joq", "нет света"]
    lid = LanguageIdentifier(n_features=2**12)
    dense = np.column_stack([lingua_confidences(texts, low_accuracy=True),
                             [script_of(t) == "Latn" for t in texts],
                             [has_kazakh_letters(t) for t in texts]]).astype(float) * 2.0
    ref = sp.hstack([v.transform(texts) for v in lid._vectorizers()] + [sp.csr_matrix(dense)]).tocsr()
    got = lid._features(texts)
    assert got.shape == ref.shape and got.has_sorted_indices
    np.testing.assert_allclose(got.toarray(), ref.toarray(), rtol=1e-6, atol=1e-7)
    for i, t in enumerate(texts):
        one = lid._features([t])
        assert one.has_sorted_indices
        np.testing.assert_allclose(one.toarray(), ref[i].toarray(), rtol=1e-6, atol=1e-7)


def test_language_id_cascade_answers_like_the_full_model(triage_model, test_records, monkeypatch):
    """The lingua-free model answers alone only when sure; its languages are the full model's, and
    lingua runs only for the close calls."""
    import triage.langid as langid_module
    from triage.text import normalize

    lid = triage_model.langid
    assert lid.fast_ is not None and lid.cascade is not None
    texts = [normalize(r["text"]) for r in test_records]
    seen = []
    real = langid_module.lingua_confidences
    monkeypatch.setattr(langid_module, "lingua_confidences", lambda ts, **kw: seen.extend(ts) or real(ts, **kw))
    cascade = lid.predict(texts)
    asked = list(seen)
    monkeypatch.setattr(lid, "fast_", None)
    full = lid.predict(texts)
    assert np.mean(cascade == full) >= 0.995, np.flatnonzero(cascade != full)
    assert 0 < len(asked) < 0.2 * len(texts)  # the close calls only


def test_language_id_cascade_falls_back_to_the_full_model_for_every_close_call():
    from triage.langid import LanguageIdentifier

    texts = ["нет света третий день", "бизде уш кун су жок", "no water since monday", "üiimizde jylu joq",
             "Свет жоқ үйде", "улица темная", "kashan jondeisinder", "the bus is late again"] * 3
    langs = ["ru", "kk", "en", "kk", "kk", "ru", "kk", "en"] * 3
    lid = LanguageIdentifier(n_features=2**12, cascade=1.01).fit(texts, langs)  # never sure enough
    proba = lid.predict_proba(texts)
    lid.fast_ = None
    np.testing.assert_allclose(proba, lid.predict_proba(texts))
    assert LanguageIdentifier(n_features=2**12, cascade=None).fit(texts, langs).fast_ is None


def test_language_id_pickled_before_the_cascade_loads_and_answers_with_the_full_model():
    import pickle

    from triage.langid import LanguageIdentifier

    texts = ["нет света третий день", "бизде уш кун су жок", "no water since monday", "üiimizde jylu joq"] * 4
    langs = ["ru", "kk", "en", "kk"] * 4
    lid = LanguageIdentifier(n_features=2**12).fit(texts, langs)
    state = lid.__getstate__()
    for newer in ("cascade", "fast_"):  # what an identifier saved before the cascade lacks
        del state[newer]
    old = LanguageIdentifier.__new__(LanguageIdentifier)
    old.__setstate__(pickle.loads(pickle.dumps(state)))
    assert old.cascade is None and old.fast_ is None and "cascade=None" in repr(old)
    lid.set_params(cascade=None)  # switched off after fitting: the full model answers
    np.testing.assert_allclose(old.predict_proba(texts), lid.predict_proba(texts))


def test_language_id_cascade_leaves_a_text_without_features_to_the_full_model(triage_model, monkeypatch):
    import triage.langid as langid_module

    asked = []
    real = langid_module.lingua_confidences
    monkeypatch.setattr(langid_module, "lingua_confidences", lambda ts, **kw: asked.extend(ts) or real(ts, **kw))
    triage_model.langid.predict_proba(["", "the bus was late again this morning, please fix the schedule"])
    assert asked == [""]


def test_language_id_fits_the_same_model_on_the_used_columns_only():
    """Fitting on the columns some text uses gives the full-width fit's probabilities (an unused
    hashed column's weight stays zero), with coef_ at full width so any text can be scored."""
    from sklearn.linear_model import LogisticRegression

    from triage.langid import LanguageIdentifier, _fit_used_columns

    texts = ["нет света третий день", "бизде уш кун су жок", "no water since monday", "üiimizde jylu joq",
             "Свет жоқ үйде", "улица темная", "kashan jondeisinder", "the bus is late again",
             "лифт не работает", "su zhok ush kun", "qashan beredi", "pothole on Turan"] * 2
    langs = ["ru", "kk", "en", "kk", "kk", "ru", "kk", "en", "ru", "kk", "kk", "en"] * 2
    lid = LanguageIdentifier(n_features=2**12)
    X = lid._features(texts)
    assert len(np.unique(X.indices)) < X.shape[1]  # there are unused columns to drop
    full = LogisticRegression(C=20.0, max_iter=2000, tol=1e-8).fit(X, langs)
    compact = _fit_used_columns(LogisticRegression(C=20.0, max_iter=2000, tol=1e-8), X, np.asarray(langs))
    assert compact.coef_.shape == full.coef_.shape and compact.n_features_in_ == X.shape[1]
    # The same memory layout as scikit-learn's: a row-major coef_ made every prediction copy it.
    assert compact.coef_.T.flags["C_CONTIGUOUS"] == full.coef_.T.flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(compact.coef_, full.coef_, atol=1e-4)
    others = lid._features(["совсем другой текст", "mulde basqa soz"])
    np.testing.assert_allclose(compact.predict_proba(others), full.predict_proba(others), atol=1e-5)


@pytest.mark.parametrize("params", [
    dict(ngram_range=(2, 5), min_df=2, max_features=300, sublinear_tf=True, lowercase=False),
    dict(ngram_range=(1, 3), min_df=1, max_df=0.5, max_features=None, lowercase=True),
])
def test_word_cached_char_fit_equals_sklearns(params):
    """Vocabulary, idf and fitted matrix of the cached ``char_wb`` fit equal TfidfVectorizer's,
    pruning by document counts and by max_features included; transform is the parent's."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    from triage.fastvec import WordCachedTfidfVectorizer

    docs = [t for t in DOCS if t] * 3 + ["Бизде уш кун су жок", "üiimizde  jylu\tjoq", "нет света нет света",
                                         "a", "Lift LIFT lift сломан", "x\u00a0y"]
    ref = TfidfVectorizer(analyzer="char_wb", dtype=np.float32, **params)
    got = WordCachedTfidfVectorizer(analyzer="char_wb", dtype=np.float32, **params)
    Xr, Xg = ref.fit_transform(docs), got.fit_transform(docs)
    assert got.vocabulary_ == ref.vocabulary_
    np.testing.assert_array_equal(got.idf_, ref.idf_)
    assert Xg.dtype == Xr.dtype and Xg.shape == Xr.shape
    np.testing.assert_array_equal(Xg.toarray(), Xr.toarray())
    np.testing.assert_array_equal(got.transform(docs[:5]).toarray(), ref.transform(docs[:5]).toarray())
    with pytest.raises(ValueError, match="empty vocabulary"):
        WordCachedTfidfVectorizer(analyzer="char_wb").fit(["", "   "])
    # Fitted, it is scikit-learn's own class: a saved model loads with code that never had the subclass.
    import pickle

    refit = WordCachedTfidfVectorizer(analyzer="char_wb", dtype=np.float32, **params).fit(docs)
    for fitted in (got, refit):
        assert type(fitted) is TfidfVectorizer
        assert b"WordCachedTfidfVectorizer" not in pickle.dumps(fitted)
    np.testing.assert_array_equal(refit.transform(docs).toarray(), Xr.toarray())


def test_shipped_linear_models_multiply_without_copying_their_weights(triage_model):
    """Every linear model the engine applies to a sparse matrix keeps coef_.T C-contiguous, so
    ``X @ coef_.T`` reads the weights in place (a row-major coef_ made scipy copy the 1.5 M language
    ID weights on every call: 9 ms a message)."""
    lid = triage_model.langid
    for m in (lid.model_, lid.fast_):
        assert m.coef_.T.flags["C_CONTIGUOUS"]


def test_shipped_model_holds_only_scikit_learns_vectorizer_classes(triage_model):
    """The fit-time subclass is not in the saved model, fitted or as the feature template (older
    code must load it); the template unpickles with the same parameters."""
    import pickle

    from triage.model import make_features

    for _, vec in triage_model.model.features_.transformer_list:
        assert type(vec) is TfidfVectorizer
    assert b"WordCachedTfidfVectorizer" not in pickle.dumps(triage_model.model)
    template = make_features()
    back = pickle.loads(pickle.dumps(template))
    char = dict(template.transformer_list)["char"]
    assert type(char).__name__ == "WordCachedTfidfVectorizer"
    assert type(dict(back.transformer_list)["char"]) is TfidfVectorizer
    assert dict(back.transformer_list)["char"].get_params() == char.get_params()
