"""The shipped model on the frozen test split: the numbers README reports, recomputed here so a
regression fails CI. Floors from the engine issue."""

import json
from pathlib import Path

import pytest

from training.evaluate import evaluate

FLOORS = json.loads((Path(__file__).parent / "quality_floors.json").read_text())["guard"]


@pytest.fixture(scope="module")
def report(triage_model, test_records):
    rep, _ = evaluate(triage_model, test_records, progress=False)
    return rep


def test_language_identification_is_at_least_97_percent_per_language(report):
    li = report["language_id"]
    for key in ("kk", "ru", "en", "kk_cyrl", "kk_latn", "kk_folded"):
        assert li[key]["accuracy"] >= FLOORS["language_id"], (key, li[key])


def test_topic_macro_f1_per_language(report):
    for lang, m in report["heads"]["topic"]["per_language"].items():
        assert m["macro_f1"] >= FLOORS["topic_macro_f1_per_language"], (lang, m)


def test_authority_accuracy(report):
    assert report["heads"]["authority"]["accuracy"] >= FLOORS["authority_accuracy"]


def test_urgency_macro_f1(report):
    assert report["heads"]["urgency"]["macro_f1"] >= FLOORS["urgency_macro_f1"]


def test_critical_recall(report):
    assert report["critical_recall"] >= FLOORS["critical_recall"]


def test_auto_routed_predictions_keep_their_precision_on_unseen_data(report):
    for h, m in report["heads"].items():
        assert m["precision_at_threshold"] >= FLOORS["precision_at_threshold"], (h, m)


def test_the_district_gazetteer_never_guesses_wildly(report):
    assert report["district"]["false_district"] <= 0.02 * report["n"]
