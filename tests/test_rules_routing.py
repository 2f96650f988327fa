import pytest

from triage.matching import PatternMatcher, compile_pattern
from triage.routing import RoutingTable
from triage.rules import DistrictResolver, EmergencyRules, raise_urgency
from triage.settings import get_settings
from triage.taxonomy import Taxonomy
from triage.text import normalize, skeleton

S = get_settings()


def hits(rules, text):
    return [h.label for h in rules.find(skeleton(normalize(text)))]


@pytest.mark.parametrize(
    "text,rule",
    [
        ("В подъезде сильно пахнет газом!!!", "gas_leak"),
        ("Подъезде газдың иісі шығып тұр", "gas_leak"),
        ("podezde gaz iisi bar, tez keliñizder", "gas_leak"),
        ("Strong gas smell on the 3rd floor", "gas_leak"),
        ("Ребенок застрял в лифте уже час", "trapped"),
        ("Лифтіде бала қамалып қалды", "trapped"),
        ("Горит мусорный контейнер у дома", "fire"),
        ("Қоқыс жәшігі жанып жатыр", "fire"),
        ("оборванный провод лежит на земле у школы", "live_wire"),
        ("Кипяток хлещет из трубы, затапливает квартиру", "flooding"),
        ("Стая собак напала на ребенка", "animal_attack"),
        ("a man is unconscious at the bus stop", "medical"),
        # Added after the critical probe (data/samples/probes/critical.jsonl): situations no rule covered.
        ("Сосед пишет в чате, что прыгнет с 9 этажа", "self_harm"),
        ("my brother says he wants to kill himself", "self_harm"),
        ("Өзін өзі өлтіремін деп жазып отыр", "self_harm"),
        ("Отравились всей семьёй, рвота", "poisoning"),
        ("Балалар уланып қалды, құсып жатыр", "poisoning"),
        ("he is barely breathing, ambulance please", "medical"),
        ("Бабушка задыхается, скорая не едет", "medical"),
        ("Бала тұншығып жатыр", "medical"),
        ("Стая собак накинулась на школьника", "animal_attack"),
        ("dog pack biting an old man at the stop", "animal_attack"),
        ("Ребенок упал в открытый колодец", "trapped"),
        ("a kid fell into an open manhole", "trapped"),
        ("Лифтте қалып қойдым, дем жетпейді", "trapped"),
        ("Автобус задымился на ходу", "fire"),
        ("the bus is filling with smoke", "fire"),
    ],
)
def test_emergency_rules_fire_in_every_language_and_script(rules, text, rule):
    assert rule in hits(rules, text)


@pytest.mark.parametrize("text", ["Свет в подъезде горит круглосуточно, зачем?", "Когда дадут горячую воду?",
                                  "Рахмет әкімдікке!", "Спасибо за новый автобус"])
def test_emergency_rules_stay_quiet_on_ordinary_messages(rules, text):
    assert hits(rules, text) == []


def rule_hits(rules, text, language):
    return [h.label for h in rules.find(skeleton(normalize(text)), language)]


@pytest.mark.parametrize("text,language", [
    ("В подъезде не горит свет уже неделю, домофон сломан", "ru"),  # "горит ... дом*" matched "домофон"
    ("В доме свет не горит третий день", "ru"),                       # the negation right before the verb
    ("The building is not on fire, it was steam from the heating pipe", "en"),
])
def test_a_negated_match_is_not_a_hit(rules, text, language):
    assert rule_hits(rules, text, None) != []  # without the language's negations it would fire
    assert rule_hits(rules, text, language) == []


@pytest.mark.parametrize("text,language,rule", [
    ("Ребенок не дышит, скорая не едет", "ru", "medical"),           # the negation is part of the pattern
    ("Не могу дозвониться, горит квартира на 5 этаже", "ru", "fire"),  # a negation elsewhere
    ("Свет есть, но горит проводка в щитке", "ru", "fire"),          # "но" folds to "no": not a negation
    ("Света нет, пожар в подъезде", "ru", "fire"),                   # "нет" is not in the list
    ("Газ не пахнет, но запах газа в подъезде", "ru", "gas_leak"),
    ("Нет! Горит квартира!", "ru", "fire"),
    ("Квартира не знаю чья горит, дым валит", "ru", "fire"),         # not right before the verb
    ("Не жанып жатыр?! Бесінші қабат", "kk", "fire"),                # Kazakh "не" is "what"
    ("Не горит? Нет, горит квартира!", "ru", "fire"),                # a later match is not negated
])
def test_negations_elsewhere_or_inside_a_pattern_keep_the_hit(rules, text, language, rule):
    assert rule in rule_hits(rules, text, language)


def test_negations_are_per_language_and_single_words():
    spec = {"fire": {"urgency": "critical", "patterns": ["горит ... подъезд*"]}}
    text = skeleton(normalize("не горит свет в подъезде"))
    negated = EmergencyRules(spec, {"ru": ["не"]})
    assert [h.label for h in EmergencyRules(spec).find(text, "ru")] == ["fire"]
    assert negated.find(text, "ru") == [] and [h.label for h in negated.find(text, "kk")] == ["fire"]
    with pytest.raises(ValueError, match="one word"):
        EmergencyRules(spec, {"en": ["do not"]})


def test_raise_urgency_never_lowers():
    levels = ["low", "medium", "high", "critical"]
    for a in levels:
        for b in levels + [None, "bogus"]:
            r = raise_urgency(a, b)
            assert levels.index(r) >= levels.index(a)


@pytest.mark.parametrize(
    "text,district",
    [
        ("яма на Кабанбай батыра 15", "esil"),
        ("Қабанбай батыр даңғылында шұңқыр", "esil"),
        ("Kenesary koshesinde su joq", "baikonur"),
        ("мкр Юго-Восток опять без света", "baikonur"),
        ("возле старого вокзала грязь", "saryarka"),
        ("около ЭКСПО нет освещения", "nura"),
        ("Тәуелсіздік даңғылы бойы қараңғы", "almaty"),
        ("опять нет воды!!! Сарыарка", "saryarka"),
    ],
)
def test_gazetteer_sets_the_district_when_the_text_makes_it_clear(districts, text, district):
    assert districts.resolve(skeleton(normalize(text)))[0] == district


def test_conflicting_places_leave_the_district_unset(districts):
    d, found = districts.resolve(skeleton(normalize("еду с ЭКСПО до Кенесары")))
    assert d is None and {h.label for h in found} == {"nura", "baikonur"}


def test_no_place_no_district(districts):
    assert districts.resolve(skeleton(normalize("нет горячей воды третий день")))[0] is None


def test_routing_uses_the_district_recipient_when_there_is_one():
    table = RoutingTable.load(S.routing_path)
    r = table.resolve("district_akimat", "esil")
    assert r.id == "district_akimat:esil" and set(r.name) == {"kk", "ru", "en"} and r.channel
    assert table.resolve("water_utility", "esil").id == "water_utility"
    assert table.resolve("no_such_authority", None) is None


def test_every_taxonomy_authority_has_a_recipient_and_every_topic_a_known_default():
    tax = Taxonomy.load(S.taxonomy_path)
    table = RoutingTable.load(S.routing_path)
    assert all(table.resolve(a, None) for a in tax.authorities)
    assert all(t["default_authority"] in tax.authorities for t in tax.topics.values())
    for head in ("topic", "authority", "urgency", "district"):
        for label in tax.labels(head):
            names = [tax.name(head, label, lang) for lang in ("kk", "ru", "en")]
            # name() falls back to the label itself when a translation is missing
            assert all(n and n != label for n in names), (head, label, names)


def test_pattern_language_supports_gaps_prefixes_and_alternatives():
    m = PatternMatcher({"x": ["запах* ... газ*", "a|b c*"]})
    assert m.find(skeleton(normalize("запах очень сильный газа")))
    assert not m.find(skeleton(normalize("запах кофе и много других слов потом газ")))
    assert m.find(skeleton(normalize("B city")))


def test_a_pattern_without_words_is_rejected():
    with pytest.raises(ValueError):
        compile_pattern("...")


def test_word_prefilter_never_drops_a_match():
    """The prefilter skips spaCy's Matcher on texts lacking a pattern's words; running every
    pattern's Matcher on every text must find exactly the same hits."""
    from spacy.tokens import Doc

    from triage.io import read_records
    from triage.matching import words
    from triage.rules import EmergencyRules
    from triage.settings import get_settings

    settings = get_settings()
    texts = [r["text"] for r in read_records(settings.data_dir / "train.jsonl")][::4]
    for pm in (EmergencyRules.load(settings.emergency_rules_path).matcher,
               DistrictResolver.load(settings.gazetteer_path).matcher):
        hits = 0
        for text in texts:
            skel = skeleton(normalize(text))
            doc = Doc(pm.vocab, words=words(skel))
            every = sorted((s, e, k) for k, m in pm._matchers.items() for _, s, e in m(doc))
            found = pm.find(skel)
            assert [(h.label, h.text) for h in found] == \
                [(pm._label_of[k], " ".join(doc[s:e].text.split())) for s, e, k in every], text
            hits += len(found)
        assert hits > 20  # the check ran on texts that do match


def test_urgency_routes_must_name_known_levels_and_routed_authorities(tmp_path):
    import shutil

    import pytest

    from triage.config_files import ConfigError
    from triage.engine import Triage
    from triage.settings import Settings

    for bad, says in (("  critical: nowhere_dept\n", "'nowhere_dept', which has no recipient"),
                      ("  panic: emergency_service\n", "'panic', not an urgency level")):
        path = tmp_path / "routing.yaml"
        text = S.routing_path.read_text(encoding="utf-8")
        path.write_text(text.replace("urgency_routes:\n  critical: emergency_service\n", "urgency_routes:\n" + bad),
                        encoding="utf-8")
        with pytest.raises(ConfigError, match=says):
            Triage.load(settings=Settings(routing_path=path))
    shutil.copy(S.routing_path, tmp_path / "ok.yaml")
    assert Triage.load(settings=Settings(routing_path=tmp_path / "ok.yaml")).routing.urgency_routes


@pytest.mark.parametrize("text", [
    "Бүгін мектепте өрт сөндіру жаттығуы болды, балалар қуанды",
    "Орт кауипсиздиги бойынша семинар ертен сагат 10-да",
    "Түтін детекторын өзім орнатсам бола ма?",
    "Is the smoke detector from the akimat program free?",  # "smoke ... from" without the harmless list
    "Лифтте адам қалып қоймасын деп қорқамыз",  # a fear, not an event: "қалып қойд*" is past
])
def test_harmless_phrases_and_fears_are_no_emergency(rules, text):
    assert hits(rules, text) == []


@pytest.mark.parametrize("text,rule", [
    ("Бұл жаттығу емес, нағыз өрт шықты!", "fire"),
    ("The fire drill was yesterday, but now there is smoke in the stairwell", "fire"),
    ("Өрт сөндіру жаттығуы кезінде подъезде газдың иісі шықты", "gas_leak"),
])
def test_a_harmless_phrase_only_silences_the_words_inside_it(rules, text, rule):
    assert rule in hits(rules, text)


@pytest.mark.parametrize("text", [
    "Is the smoke detector from the akimat program free?",
    "There will be a fire drill in our building tomorrow at 10",
])
def test_the_harmless_cases_would_hit_without_the_list(text):
    bare = EmergencyRules.load(S.emergency_rules_path)
    bare.harmless = None
    assert hits(bare, text) != []  # so the tests above do test the harmless phrases


@pytest.mark.parametrize("text,lang", [
    ("The kitchen is full of smoke, detector is screaming", "en"),  # "smoke, detector": not written together
    ("Подъезд весь в дыму, датчик дыма из квартиры 5 пищит", "ru"),  # "дым* ... из" over the masked phrase
])
def test_a_harmless_phrase_never_hides_a_rule_word_outside_it(rules, text, lang):
    assert "fire" in rule_hits(rules, text, lang)


def test_a_phrase_not_written_together_leaves_the_text_as_it_is(rules):
    skel = skeleton(normalize("The kitchen is full of smoke, detector is screaming"))
    assert rules.harmless.find(skel)  # the phrase's words are there, with a comma between them
    assert rules._mask_harmless(skel) is skel  # so the rules are not matched a second time


# -- from a review of the rule additions (each failed before its fix) ----------------------------

@pytest.mark.parametrize("lang,text", [
    ("en", "There will be a fire drill in our building tomorrow at 10"),       # "a fire ... building" runs past it
    ("en", "The smoke alarm from next door beeps all night, low battery"),     # "smoke ... from"
    ("ru", "Датчик дыма пищит из-за севшей батарейки, замените пожалуйста"),   # "дым* ... из"
])
def test_a_harmless_phrase_silences_a_gap_pattern_that_runs_past_it(rules, lang, text):
    assert rule_hits(rules, text, lang) == []


@pytest.mark.parametrize("lang,text", [
    ("en", "The old park fountain fell into disrepair as well"),
    ("en", "Bus fares are going to jump again next month?"),
    ("en", "I'm locked in by a car parked across the driveway every morning"),
    ("en", "Crossing this road is suicide, we need a traffic light"),
    ("en", "The city is choking on smog from the power plant again"),
    ("ru", "Шлагбаум заперт, машины жильцов не могут выехать со двора"),
    ("ru", "Провалилась крышка колодца на Сарыарке, машины объезжают"),
    ("ru", "Переходить дорогу на этом перекрёстке — самоубийство, нужен светофор"),
    ("ru", "Пожилым приходится спрыгнуть с высокой подножки автобуса 10"),
    ("ru", "Город задыхается от пробок, сделайте развязку"),
    ("ru", "Во дворе опять отравили собак, догхантеры раскидали приманку"),
    ("kk", "Көлік кептелісінде бір сағат қамалып тұрмыз, бағдаршамды реттеңіздер"),
    ("kk", "Kolik kepteliste bir sagat qamalyp turmyz"),
    ("kk", "Шаңнан дем ала алмаймыз, құрылыс алаңын суландырыңыздар"),
])
def test_the_new_patterns_stay_quiet_on_ordinary_messages(rules, lang, text):
    assert rule_hits(rules, text, lang) == []


def test_a_critical_rule_that_names_its_own_authority_keeps_it(triage_model):
    import copy

    t = copy.copy(triage_model)
    t.rules = EmergencyRules({"gas_leak": {"urgency": "critical", "authority": "gas_utility",
                                           "patterns": ["запах газа"]}})
    r = t.classify("В подъезде сильный запах газа, дети дома", explain=False)
    assert r.urgency.label == "critical" and r.recipient["authority"] == "gas_utility"
    assert not any(x.startswith("urgency_route:") for x in r.reasons)


def test_urgency_routes_commented_out_loads_as_none(tmp_path):
    from triage.engine import Triage
    from triage.settings import Settings

    text = S.routing_path.read_text(encoding="utf-8")
    path = tmp_path / "routing.yaml"
    path.write_text(text.replace("urgency_routes:\n  critical: emergency_service\n",
                                 "urgency_routes:\n#  critical: emergency_service\n"), encoding="utf-8")
    assert Triage.load(settings=Settings(routing_path=path)).routing.urgency_routes == {}


def test_a_rerouted_message_counts_as_not_auto_routed_for_every_head(triage_model, test_records):
    from training.evaluate import evaluate

    res = triage_model.classify_batch([r["text"] for r in test_records])
    rec = next(r for r, x in zip(test_records, res, strict=True)
               if "urgency_route:critical" in x.reasons and "rule_override" not in x.reasons
               and "topic_below_threshold" not in x.reasons)
    report, (out,) = evaluate(triage_model, [rec], progress=False)
    assert out.needs_review and report["auto_routed_share"] == 0.0
    assert report["heads"]["topic"]["coverage"] == 0.0


# -- the model's veto on an emergency rule -----------------------------------------------------

HARMLESS_HITS = [  # a rule's words in a harmless sense; the shipped model is sure of no emergency
    ("en", "Our group chat about the new park is on fire today, so many great ideas, thank you akimat", "fire"),
    ("ru", "Вчера был пожар в гараже на Ташенова, потушили быстро, никто не пострадал. Когда уберут мусор?", "fire"),
    ("en", "lol the gas leak mission in this game is impossible", "gas_leak"),
]


def _veto_engine(triage_model, below, min_words=10):
    import copy

    t = copy.copy(triage_model)
    t.rule_veto = None if below is None else {"below": below, "min_words": min_words}
    return t


def _p_critical(engine, text):
    p = engine.model.predict_proba(engine.model.prepare([text]))["urgency"][0]
    return p[engine.model.classes_["urgency"].index("critical")]


@pytest.mark.parametrize("lang,text,rule", HARMLESS_HITS)
def test_the_model_vetoes_a_rule_it_is_sure_is_no_emergency(triage_model, lang, text, rule):
    assert _p_critical(triage_model, text) < 0.01
    r = _veto_engine(triage_model, 0.01).classify(text, explain=False)
    assert r.language == lang
    assert any(x.startswith(f"rule:{rule}:") for x in r.reasons), "a vetoed hit is still listed"
    assert "rule_vetoed" in r.reasons and "rule_override" not in r.reasons
    assert r.urgency.label != "critical" and r.recipient["authority"] != "emergency_service"
    assert r.needs_review, "a person looks at every message a rule and the model disagree on"
    # Without the veto (models trained before it) the same hit raises and reroutes.
    old = _veto_engine(triage_model, None).classify(text, explain=False)
    assert old.urgency.label == "critical" and "rule_override" in old.reasons and "rule_vetoed" not in old.reasons


@pytest.mark.parametrize("text", [  # long enough for a veto: only the model's probability keeps the rule
    "Горит мусорный контейнер у нашего дома на Бейбитшилик, огонь уже перекинулся на припаркованную машину",
    "Strong smell of gas in our stairwell on the third floor, kids are at home, please send someone"])
def test_a_rule_the_model_does_not_rule_out_still_raises(triage_model, text):
    from triage.matching import words

    assert len(words(skeleton(normalize(text)))) >= 10
    assert _p_critical(triage_model, text) >= 0.01
    r = _veto_engine(triage_model, 0.01).classify(text, explain=False)
    assert r.urgency.label == "critical" and r.recipient["authority"] == "emergency_service"
    assert "rule_vetoed" not in r.reasons


def test_a_short_message_is_taken_at_the_rules_word(triage_model):
    """No training message a rule hits is that short: the model's certainty there is extrapolation."""
    text = "Горящий дом на углу"  # a burning house on the corner
    assert _p_critical(triage_model, text) < 0.01
    r = _veto_engine(triage_model, 0.01).classify(text, explain=False)
    assert r.urgency.label == "critical" and "rule_vetoed" not in r.reasons
    assert r.recipient["authority"] == "emergency_service"
    r = _veto_engine(triage_model, 0.01, min_words=4).classify(text, explain=False)
    assert r.urgency.label != "critical" and "rule_vetoed" in r.reasons


def test_the_veto_only_concerns_rules_raising_to_critical(triage_model):
    text = HARMLESS_HITS[0][1]  # 18 words, the model sure of no emergency
    assert _p_critical(triage_model, text) < 0.01
    assert triage_model.classify(text, explain=False).urgency.label == "low"
    t = _veto_engine(triage_model, 0.01)
    t.rules = EmergencyRules({"smoke": {"urgency": "high", "patterns": ["on fire"]}})
    r = t.classify(text, explain=False)
    assert r.urgency.label == "high" and "rule_vetoed" not in r.reasons and "rule_override" in r.reasons


def test_a_vetoed_message_counts_as_not_auto_routed():
    from triage.review import review_priority
    from triage.routing import overruled

    assert overruled(["rule:fire:on fire", "rule_vetoed"]) and not overruled(["rule:fire:on fire"])
    base = {"needs_review": True, "topic": {"label": "other", "confidence": 0.9, "alternatives": [["other", 0.9]]}}
    _, plain = review_priority({**base, "reasons": []}, None, 0.0)
    _, vetoed = review_priority({**base, "reasons": ["rule:fire:on fire", "rule_vetoed"]}, None, 0.0)
    assert vetoed > plain, "a rule against the model is reviewed before an ordinary unsure message"


def test_thresholds_count_only_the_rule_hits_the_model_does_not_veto():
    import numpy as np

    from training.train import Dataset, TrainConfig, choose_thresholds

    long_fire = "Вчера вечером у нас во дворе был пожар, его быстро потушили, теперь уберите мусор"
    texts = (["Горит квартира на третьем этаже, дым"] * 100
             + [long_fire] * 100  # vetoed: long and the model sure
             + [long_fire] * 20  # counted: the model not sure enough
             + ["Вчера был пожар, уберите мусор"] * 30  # counted: too short for a veto
             + ["Яма на дороге возле школы"] * 750)
    y = ["critical"] * 100 + ["low"] * 900
    p_crit = np.r_[np.full(100, 0.9), np.full(100, 0.001), np.full(20, 0.05), np.full(30, 0.001), np.full(750, 0.002)]
    oof = {"classes": {"urgency": ["critical", "low"]}, "validated": np.ones(1000, bool),
           "urgency": np.column_stack([p_crit, 1 - p_crit])}
    ds = Dataset(texts=texts, labels={"urgency": y}, languages=["ru"] * 1000, sha256="", paths=[])
    rules = EmergencyRules.load(S.emergency_rules_path)
    assert all(rules.find(skeleton(normalize(t)), "ru") for t in texts[:200])
    without = choose_thresholds(ds, oof, TrainConfig(rule_veto=None), rules)
    veto = choose_thresholds(ds, oof, TrainConfig(), rules)
    assert all(rules.find(skeleton(normalize(t)), "ru") for t in texts[:250])
    assert without["rule_veto"] is None and veto["rule_veto"] == {"below": 0.01, "min_words": 10}
    assert without["validation"]["critical_precision"] == 100 / 250
    assert veto["validation"]["critical_precision"] == 100 / 150
    assert veto["validation"]["critical_recall"] == without["validation"]["critical_recall"] == 1.0
    # A rule that raises to "high" flags nothing as critical, vetoed or not.
    high = EmergencyRules({"fire": {"urgency": "high", "patterns": ["пожар*", "горит"]}})
    assert choose_thresholds(ds, oof, TrainConfig(rule_veto=None), high)["validation"]["critical_precision"] == 1.0


def test_the_veto_condition_is_one_function_for_one_message_and_for_many():
    import numpy as np

    from triage.rules import rule_vetoed

    veto = {"below": 0.01, "min_words": 10}
    p, n = np.array([0.005, 0.005, 0.02, 0.005]), np.array([10, 9, 30, 30])
    assert rule_vetoed(p, n, veto).tolist() == [True, False, False, True]
    assert [bool(rule_vetoed(a, b, veto)) for a, b in zip(p, n, strict=True)] == [True, False, False, True]
    assert rule_vetoed(p, n, None).tolist() == [False] * 4 and rule_vetoed(0.0, 50, None) is False
