"""The learned part: fast paths must compute exactly what the scikit-learn objects compute."""

import numpy as np
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.svm import LinearSVC

from triage.model import CalibratedLinearSVC, TriageModel, make_features


@pytest.fixture(scope="module")
def data(train_records):
    rows = train_records[:600]
    return [r["text"] for r in rows], {h: [r[h] for r in rows] for h in ("topic", "urgency")}


@pytest.mark.parametrize("n_classes", [2, 4])
def test_calibrated_svc_matches_scikit_learns_calibrated_classifier(n_classes):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 20))
    y = np.array([f"c{i}" for i in (X[:, 0] * 2 + X[:, 1]).argsort().argsort() * n_classes // 300])
    ours = CalibratedLinearSVC(C=0.5).fit(X, y)
    ref = CalibratedClassifierCV(LinearSVC(C=0.5, class_weight="balanced", random_state=0), method="sigmoid",
                                 cv=5, ensemble=False).fit(X, y)
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-5)
    assert list(ours.classes_) == list(ref.classes_)


def test_direct_feature_stacking_equals_the_feature_union(data):
    texts, labels = data
    m = TriageModel(features=make_features()).fit(texts, labels)
    prep = m.prepare(texts[:50])
    ref = m.features_.transform(prep.skeletons)
    assert (abs(prep.X - ref) > 1e-6).nnz == 0


def test_a_head_without_any_label_is_skipped_and_rows_without_a_label_still_train(data):
    texts, labels = data
    partial = {"topic": labels["topic"], "urgency": [None] * len(texts)}
    partial["topic"] = [None if i % 3 == 0 else t for i, t in enumerate(partial["topic"])]
    m = TriageModel(features=make_features()).fit(texts, partial)
    assert list(m.heads_) == ["topic"]


@pytest.mark.parametrize("n_classes", [2, 4])
def test_sigmoids_fitted_on_out_of_fold_scores_are_scikit_learns(n_classes):
    """fit_sigmoids on the decision values CalibratedClassifierCV predicts out of fold gives its
    calibrators: the same routine, the same targets, per class (one for two classes)."""
    from sklearn.model_selection import cross_val_predict

    from triage.model import fit_sigmoids

    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 20))
    y = np.array([f"c{i}" for i in (X[:, 0] * 2 + X[:, 1]).argsort().argsort() * n_classes // 300])
    svc = LinearSVC(C=0.5, class_weight="balanced", random_state=0)
    scores = cross_val_predict(svc, X, y, cv=3, method="decision_function").reshape(len(y), -1)
    a, b = fit_sigmoids(scores, y, sorted(set(y)))
    ref = CalibratedClassifierCV(svc, method="sigmoid", cv=3, ensemble=False).fit(X, y)
    calibrators = ref.calibrated_classifiers_[0].calibrators
    np.testing.assert_allclose(a, [c.a_ for c in calibrators], rtol=1e-6)
    np.testing.assert_allclose(b, [c.b_ for c in calibrators], rtol=1e-6, atol=1e-9)
    ours = CalibratedLinearSVC(C=0.5, cv=3).fit(X, y)  # the inner recipe: the same sigmoids
    np.testing.assert_allclose(ours.a_, a, rtol=1e-6)
    np.testing.assert_allclose(ours.b_, b, rtol=1e-6, atol=1e-9)


def test_an_uncalibrated_head_refuses_to_predict_and_takes_only_its_own_number_of_sigmoids():
    from sklearn.exceptions import NotFittedError

    rng = np.random.default_rng(2)
    X = rng.normal(size=(90, 5))
    y = np.array(["a", "b", "c"] * 30)
    head = CalibratedLinearSVC(cv=None).fit(X, y)
    with pytest.raises(NotFittedError, match="not calibrated"):
        head.predict_proba(X)
    with pytest.raises(ValueError, match="expected 3 sigmoid"):
        head.calibrate([1.0], [0.0])
    p = head.calibrate([-1.0] * 3, [0.0] * 3).predict_proba(X)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert CalibratedLinearSVC(cv=None).fit(X[:60], y[:60] == "a").calibrate([-1.0], [0.0]).predict_proba(X).shape == (90, 2)


def test_a_score_missing_from_a_fold_is_left_out_of_the_fit_and_reads_as_probability_zero():
    from training.train import out_of_fold_proba
    from triage.model import fit_sigmoids

    rng = np.random.default_rng(3)
    y = rng.choice(["a", "b", "c"], size=400)
    scores = np.column_stack([(y == c) * 2.0 - 1 + rng.normal(scale=0.8, size=400) for c in "abc"])
    a, b = fit_sigmoids(scores, y, ["a", "b", "c"])
    holed = scores.copy()
    holed[:100, 2] = np.nan  # the fold of rows 0-99 had no model for "c"
    a2, b2 = fit_sigmoids(holed, y, ["a", "b", "c"])
    a3, b3 = fit_sigmoids(scores[100:], y[100:], ["a", "b", "c"])
    np.testing.assert_allclose(a2[2], a3[2])
    np.testing.assert_allclose(a2[:2], a[:2])
    p = out_of_fold_proba(holed[:100], a2, b2, 3)
    assert (p[:, 2] == 0).all() and np.allclose(p.sum(axis=1), 1.0)
    assert not np.isnan(out_of_fold_proba(np.full((1, 3), np.nan), a, b, 3)).any()


def test_platt_on_scores_without_any_ranking_keeps_only_the_base_rate():
    import warnings

    from triage.model import _platt

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the solver says the constant column is singular
        a, b = _platt(np.zeros(40), np.arange(40) < 10)
    assert a <= 0.0 and 0.2 < 1 / (1 + np.exp(b)) < 0.3


def test_a_head_ignores_the_feature_parts_it_is_told_to(data):
    """The urgency head leaves the lead words out: its weights there are 0 (so prediction stays one
    product per head), it equals a head fitted on the matrix without those columns, and the other
    heads still use them."""
    from triage.model import FEATURE_PARTS

    texts, labels = data
    heads = {"topic": CalibratedLinearSVC(C=1.0, cv=2), "urgency": CalibratedLinearSVC(C=0.3, cv=2)}
    m = TriageModel(features=make_features(), heads=heads, ignore={"urgency": ["lead"]}).fit(texts, labels)
    names = [n for n, _ in m.features_.transformer_list]
    assert names == list(FEATURE_PARTS)
    lead = np.array([str(n).startswith("^") for n in m.feature_names()])
    assert lead.any()
    assert not m.heads_["urgency"].coef_[:, lead].any()
    assert m.heads_["topic"].coef_[:, lead].any()
    X = m.prepare(texts).X.astype(np.float64)
    X[:, np.flatnonzero(m._part_columns(X, ["lead"]))] = 0
    ref = CalibratedLinearSVC(C=0.3, cv=2).fit(X, labels["urgency"])
    np.testing.assert_allclose(m.heads_["urgency"].coef_, ref.coef_, atol=1e-5)
    with pytest.raises(ValueError, match="unknown feature part"):
        TriageModel(features=make_features(), heads=heads, ignore={"urgency": ["laed"]}).fit(texts, labels)
    # A part switched off in make_features is nothing to ignore.
    TriageModel(features=make_features(lead_words=0), heads=heads, ignore={"urgency": ["lead"]}).fit(texts, labels)


def test_a_model_pickled_before_head_ignores_existed_still_describes_itself(data):
    import pickle

    texts, labels = data
    m = TriageModel(features=make_features(lead_words=0)).fit(texts[:200], {"topic": labels["topic"][:200]})
    del m.__dict__["ignore"]  # as unpickled from an older release
    old = pickle.loads(pickle.dumps(m))
    assert old.get_params()["ignore"] is None and "TriageModel" in repr(old)
    assert old.predict_proba(old.prepare(texts[:3]))["topic"].shape[0] == 3


@pytest.mark.parametrize("kind", ["nb", "logreg"])
def test_an_ignored_part_moves_no_prediction_whatever_the_head(data, kind):
    """Naive Bayes keeps log-probabilities for features it never saw: without zeroing them, the lead
    words would still move its predictions."""
    from triage.model import make_head

    texts, labels = data
    heads = {"urgency": make_head(kind, 0.3 if kind == "nb" else 1.0)}
    m = TriageModel(features=make_features(), heads=heads, ignore={"urgency": ["lead"]}).fit(
        texts, {"urgency": labels["urgency"]})
    X = m.prepare(texts).X
    lead = m._part_columns(X, ["lead"])
    X0 = X.astype(np.float64)
    X0[:, np.flatnonzero(lead)] = 0
    est = m.heads_["urgency"]
    np.testing.assert_allclose(est.predict_proba(X), est.predict_proba(X0), atol=1e-6)
