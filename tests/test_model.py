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
