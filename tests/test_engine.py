"""The engine's output contract, abstention, rules, explanations and bad input."""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from triage.errors import InvalidTextError
from triage.rules import URGENCY_ORDER

HEADS = ("topic", "authority", "urgency")


def test_result_has_the_documented_fields(triage_model):
    d = triage_model.classify("Опять нет горячей воды на Кенесары 40, третий день!").to_dict()
    for key in ("language", "script", "topic", "authority", "urgency", "district", "recipient",
                "needs_review", "reasons", "model_version", "explanation", "warnings"):
        assert key in d
    assert d["language"] in ("kk", "ru", "en") and d["script"] in ("Cyrl", "Latn")
    assert d["model_version"] == triage_model.version


@pytest.mark.parametrize("head", HEADS)
def test_each_head_gives_a_label_a_confidence_and_top3_alternatives(triage_model, head):
    r = getattr(triage_model.classify("Біздің аулада қоқыс үш күн бойы шығарылмай жатыр"), head)
    assert r.label in triage_model.model.classes_[head]
    assert 0.0 <= r.confidence <= 1.0
    assert len(r.alternatives) == min(3, len(triage_model.model.classes_[head]))
    probs = [p for _, p in r.alternatives]
    assert probs == sorted(probs, reverse=True) and sum(probs) <= 1.0 + 1e-6


def test_confidences_are_probabilities_that_sum_to_one(triage_model):
    prep = triage_model.model.prepare(["no hot water in our building since monday"])
    for p in triage_model.model.predict_proba(prep).values():
        assert math.isclose(float(p.sum()), 1.0, rel_tol=1e-6)


def test_needs_review_follows_the_thresholds(triage_model, test_records):
    results = triage_model.classify_batch([r["text"] for r in test_records[:300]])
    half = 0.5e-4  # confidences are shown to 4 decimals; the engine compares the unrounded ones
    for res in results:
        t = {h: triage_model.threshold(h, res.language) for h in triage_model.heads}  # the language's own
        below = any(getattr(res, h).confidence < t[h] - half for h in triage_model.heads)
        if below:
            assert res.needs_review
        if not res.needs_review:
            assert all(getattr(res, h).confidence >= t[h] - half for h in triage_model.heads)
    assert any(r.needs_review for r in results) and any(not r.needs_review for r in results)


def test_a_head_with_no_qualifying_threshold_sends_everything_to_review(triage_model, test_records, monkeypatch):
    from training.metrics import NOTHING_QUALIFIES

    texts = [r["text"] for r in test_records[:200]]
    assert any(not r.needs_review for r in triage_model.classify_batch(texts))
    monkeypatch.setitem(triage_model.thresholds, "topic", NOTHING_QUALIFIES)
    monkeypatch.setitem(triage_model.thresholds_by_language, "topic",
                        dict.fromkeys(("kk", "ru", "en"), NOTHING_QUALIFIES))
    for res in triage_model.classify_batch(texts):
        assert res.needs_review and "topic_below_threshold" in res.reasons


def test_thresholds_came_from_validation_not_from_test(triage_model):
    v = triage_model.manifest["validation"]
    for h in triage_model.heads:
        assert 0 < triage_model.thresholds[h] <= 1
        assert v[h]["precision_at_threshold"] >= 0.95 - 1e-9
    assert "test.jsonl" not in " ".join(triage_model.manifest["data"]["paths"])


def test_batch_gives_the_same_answers_as_one_by_one(triage_model, test_records):
    texts = [r["text"] for r in test_records[:40]]
    batch = triage_model.classify_batch(texts)
    for t, b in zip(texts, batch, strict=True):
        single = triage_model.classify(t, explain=False)
        assert (single.topic.label, single.authority.label, single.urgency.label) == (
            b.topic.label, b.authority.label, b.urgency.label)
        assert single.topic.confidence == pytest.approx(b.topic.confidence, abs=1e-4)


def test_a_gas_smell_is_critical_and_goes_to_the_emergency_service(triage_model):
    r = triage_model.classify("Подъезде газдың иісі қатты шығып тұр, балалар бар!")
    assert r.urgency.label == "critical"
    assert r.recipient["authority"] == "emergency_service"
    assert any(x.startswith("rule:gas_leak") for x in r.reasons)


def test_rule_hits_are_listed_and_rules_never_lower_the_model(triage_model):
    text = "У соседей пожар, дым валит из окна, 3 этаж"
    r = triage_model.classify(text)
    p = triage_model.model.predict_proba(triage_model.model.prepare([text]))["urgency"][0]
    model_label = triage_model.model.classes_["urgency"][int(np.argmax(p))]
    assert URGENCY_ORDER.index(r.urgency.label) >= URGENCY_ORDER.index(model_label)
    assert any(x.startswith("rule:fire") for x in r.reasons)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(min_size=1, max_size=200).filter(lambda s: s.strip()))
def test_final_urgency_is_never_below_the_model_argmax(triage_model, text):
    try:
        r = triage_model.classify(text, explain=False)
    except InvalidTextError:
        return
    from triage.text import clean

    cleaned = clean(text, triage_model.settings.max_text_chars).text
    p = triage_model.model.predict_proba(triage_model.model.prepare([cleaned]))["urgency"][0]
    model_label = triage_model.model.classes_["urgency"][int(np.argmax(p))]
    assert URGENCY_ORDER.index(r.urgency.label) >= URGENCY_ORDER.index(model_label)


def test_district_reaches_the_routing_table(triage_model):
    r = triage_model.classify("Во дворе на Кабанбай батыра 40 сломаны качели и скамейки, просим благоустроить")
    assert r.district == "esil"
    assert r.recipient == triage_model.routing.resolve(r.recipient["authority"], "esil").to_dict()


def test_a_district_recipient_is_chosen_when_the_routing_table_has_one(triage_model):
    import copy

    from triage.routing import RoutingTable

    local = {"esil": {"name": {"kk": "Есіл", "ru": "Есиль", "en": "Esil"}, "channel": "test:esil"}}
    t = copy.copy(triage_model)
    t.routing = RoutingTable({a: {**e, "districts": local} for a, e in triage_model.routing.recipients.items()})
    r = t.classify("Во дворе на Кабанбай батыра 40 сломаны качели и скамейки, просим благоустроить")
    assert r.recipient["id"] == f"{r.recipient['authority']}:esil" and r.recipient["channel"] == "test:esil"


def test_explanation_lists_positive_features_for_each_head(triage_model):
    r = triage_model.classify("Автобус 21 не приходит по часу, остановка на Сейфуллина")
    for h in HEADS:
        feats = r.explanation[h]
        assert feats and all(w > 0 for _, w in feats)
        assert all(isinstance(f, str) and f for f, _ in feats)


@pytest.mark.parametrize("bad", ["", "   ", None, 5, "\ud83d"])
def test_bad_input_raises_a_typed_error(triage_model, bad):
    with pytest.raises(InvalidTextError):
        triage_model.classify(bad)


def test_batch_with_bad_items_returns_errors_in_place(triage_model):
    out = triage_model.classify_batch(["нет воды", "", 7, "no light on our street"], errors="return")
    assert isinstance(out[1], InvalidTextError) and isinstance(out[2], InvalidTextError)
    assert out[0].topic is not None and out[3].topic is not None


def test_long_text_is_truncated_and_flagged(triage_model):
    r = triage_model.classify("яма на дороге " * 2000)
    assert "truncated" in r.warnings


def test_control_characters_are_flagged_not_fatal(triage_model):
    r = triage_model.classify("нет\x00 света\u202e в подъезде")
    assert "control_characters_removed" in r.warnings and r.topic is not None


def test_per_token_caches_skip_overlong_tokens(triage_model):
    """A glued run of text is classified but not cached: the caches' memory stays bounded."""
    from triage.text import MAX_CACHED_TOKEN_CHARS

    glued = "вода" * 500
    assert triage_model.classify(f"{glued} нет воды").topic is not None

    def caches(obj, seen, depth=0):
        """Every dict attribute named *cache reachable from the engine (through its own objects,
        scikit-learn's and plain containers)."""
        if id(obj) in seen or depth > 10:
            return
        seen.add(id(obj))
        if isinstance(obj, dict | list | tuple):
            for v in obj.values() if isinstance(obj, dict) else obj:
                yield from caches(v, seen, depth + 1)
        elif type(obj).__module__.split(".")[0] in ("triage", "sklearn"):
            for name, value in vars(obj).items() if hasattr(obj, "__dict__") else ():
                if isinstance(value, dict) and name.endswith("cache"):
                    yield name, value
                else:
                    yield from caches(value, seen, depth + 1)

    found = list(caches(triage_model, set()))
    assert len(found) >= 5, found  # language id, features, lexicon, rule and district matchers
    assert all(len(k) <= MAX_CACHED_TOKEN_CHARS for _, c in found for k in c if isinstance(k, str))


def test_each_language_gets_its_own_threshold(triage_model, test_records, monkeypatch):
    from training.metrics import NOTHING_QUALIFIES

    recs = test_records[:300]
    results = triage_model.classify_batch([r["text"] for r in recs])
    by = {lang: triage_model.threshold("topic", lang) for lang in ("kk", "ru", "en")}
    monkeypatch.setitem(triage_model.thresholds_by_language, "topic", {**by, "ru": NOTHING_QUALIFIES})
    after = triage_model.classify_batch([r["text"] for r in recs])
    for before, now in zip(results, after, strict=True):
        if now.language == "ru":
            assert "topic_below_threshold" in now.reasons
        else:
            assert now.reasons == before.reasons
    assert any(r.language == "ru" and "topic_below_threshold" not in r.reasons for r in results)
    assert triage_model.threshold("topic", "xx") == triage_model.thresholds["topic"]  # any other language: pooled


def test_feature_names_are_the_unions_names_without_prefixes(triage_model):
    names = triage_model.model.feature_names()
    expected = [n.split("__", 1)[1] for n in triage_model.model.features_.get_feature_names_out()]
    assert list(names) == expected


def test_a_checked_model_has_its_explanation_parts_ready_before_the_first_request():
    from triage.settings import get_settings
    from triage.smoke import load_checked

    engine = load_checked(get_settings().model_dir)
    assert "_feature_names" in engine.model.__dict__  # the first explained request does not build them
    assert engine.classify("Жарық жоқ үйде, 3 күн болды", explain=True).explanation["topic"]


def test_critical_urgency_always_routes_to_the_emergency_service(triage_model, test_records):
    """routing.yaml's urgency_routes: a message the engine calls critical goes to emergency_service
    even where the authority head was unsure (it would fall back to the topic's department) or
    named a department; without the route (a city's routing file) the head decides, as before."""
    import copy

    from triage.routing import RoutingTable

    assert triage_model.routing.urgency_routes == {"critical": "emergency_service"}
    plain = copy.copy(triage_model)
    plain.routing = RoutingTable(triage_model.routing.recipients)
    texts = [r["text"] for r in test_records]
    before = plain.classify_batch(texts)
    after = triage_model.classify_batch(texts)
    elsewhere = [i for i, r in enumerate(before)
                 if r.urgency.label == "critical" and r.recipient["authority"] != "emergency_service"]
    assert elsewhere, "the shipped model sends no critical message elsewhere on its own: pick harder texts"
    for i in elsewhere:
        r = after[i]
        assert r.recipient["authority"] == "emergency_service" and r.authority.label == "emergency_service"
        assert "urgency_route:critical" in r.reasons and r.needs_review
        assert r.topic == before[i].topic and r.urgency == before[i].urgency  # nothing else changes
    for b, a in zip(before, after, strict=True):
        if b.urgency.label != "critical":
            assert a.to_dict() == b.to_dict()
        assert a.urgency.label != "critical" or a.recipient["authority"] == "emergency_service"


def test_the_topic_default_reason_is_only_given_when_the_default_was_used(triage_model, test_records):
    results = triage_model.classify_batch([r["text"] for r in test_records])
    defaulted = [r for r in results if "authority_from_topic_default" in r.reasons]
    assert defaulted
    for r in defaulted:
        assert r.recipient["authority"] == triage_model.taxonomy.default_authority(r.topic.label)
    # the reason keeps its place: after the below-threshold reasons, before rule hits
    for r in defaulted:
        i = r.reasons.index("authority_from_topic_default")
        assert all(x.endswith("_below_threshold") for x in r.reasons[:i])
        assert not any(x.endswith("_below_threshold") for x in r.reasons[i + 1:])


def test_lead_features_see_only_the_first_words_and_are_marked():
    from triage.model import LeadWords, PrefixWords

    skel = "zdravstvuite! segodnia net sveta, a eshche iama vo dvore i musor ne vyvoziat uzhe nedeliu"
    lead = LeadWords(k=5, n=4)(skel)
    assert lead == ["^zdrav", "^segod", "^net", "^sveta"]
    assert set(w.lstrip("^") for w in lead) < set(PrefixWords(5, (1, 1))(skel))
    assert LeadWords()("") == []


def test_the_shipped_model_explains_with_lead_words(triage_model):
    """The lead features are a part of the shipped model: an explanation can name them ("^...")."""
    assert [name for name, _ in triage_model.model.features_.transformer_list] == ["word", "char", "lead", "concept"]
    r = triage_model.classify("Света нет третий день во всём доме, и ещё яма во дворе", explain=True)
    assert any(f.startswith("^") for f, _ in r.explanation["topic"])
    assert not any(f.startswith("^") for f, _ in r.explanation["urgency"]), "urgency ignores the lead"
