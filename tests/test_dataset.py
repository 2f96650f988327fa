"""The starter dataset's promises (issue: starter dataset), checked on the committed files."""

import collections
import json

import pytest

from training.dataset import near_copy_pairs
from triage.settings import get_settings
from triage.taxonomy import Taxonomy

DATA = get_settings().data_dir

TAX = Taxonomy.load(get_settings().taxonomy_path)
KK_LETTERS = set("әғқңөұүһіӘҒҚҢӨҰҮҺІ")


@pytest.fixture(scope="module")
def everything(train_records, test_records):
    return train_records + test_records


def test_at_least_4000_messages_and_a_test_split_of_800(everything, test_records):
    assert len(everything) >= 4000
    assert len(test_records) >= 800


def test_every_record_has_the_documented_fields_with_allowed_values(everything):
    for r in everything:
        assert isinstance(r["text"], str) and r["text"].strip()
        assert r["topic"] in TAX.topics
        assert r["authority"] in TAX.authorities
        assert r["urgency"] in TAX.urgency
        assert r["language"] in ("kk", "ru", "en")
        assert r["script"] in ("Cyrl", "Latn")
        assert r["district"] is None or r["district"] in TAX.districts
        assert r["channel"] in TAX.channels
        assert r["id"]


def test_ids_are_unique(everything):
    ids = [r["id"] for r in everything]
    assert len(ids) == len(set(ids))


def test_every_topic_has_at_least_150_messages(everything):
    counts = collections.Counter(r["topic"] for r in everything)
    assert set(counts) == set(TAX.topics)
    assert min(counts.values()) >= 150, counts


def test_each_language_is_at_least_a_quarter(everything):
    counts = collections.Counter(r["language"] for r in everything)
    for lang in ("kk", "ru", "en"):
        assert counts[lang] / len(everything) >= 0.25, counts


def test_latin_and_folded_kazakh_are_each_at_least_10_percent_of_kazakh(everything):
    kk = [r for r in everything if r["language"] == "kk"]
    forms = collections.Counter(r["kk_form"] for r in kk)
    assert forms["latn"] / len(kk) >= 0.10 and forms["folded"] / len(kk) >= 0.10, forms


def test_folded_kazakh_really_has_no_kazakh_letters(everything):
    for r in everything:
        if r.get("kk_form") == "folded":
            assert not KK_LETTERS & set(r["text"]), r["id"]


def test_at_least_5_percent_code_switched(everything):
    assert sum(bool(r["code_switched"]) for r in everything) / len(everything) >= 0.05


def test_all_four_urgency_levels_in_every_language(everything):
    seen = collections.defaultdict(set)
    for r in everything:
        seen[r["language"]].add(r["urgency"])
    for lang in ("kk", "ru", "en"):
        assert seen[lang] == set(TAX.urgency), (lang, seen[lang])


def test_critical_messages_route_to_the_emergency_service(everything):
    crit = [r for r in everything if r["urgency"] == "critical"]
    assert crit and all(r["authority"] == "emergency_service" for r in crit)


def test_districts_are_set_on_part_of_the_messages(everything):
    share = sum(r["district"] is not None for r in everything) / len(everything)
    assert 0.1 <= share <= 0.6


def test_no_two_messages_are_near_copies(everything):
    pairs = near_copy_pairs([r["text"] for r in everything])
    assert pairs == [], pairs[:5]


def test_no_test_message_is_a_near_copy_of_a_train_message(train_records, test_records):
    pairs = near_copy_pairs([r["text"] for r in test_records], [r["text"] for r in train_records])
    assert pairs == []


def test_the_near_copy_check_can_fail():
    a = "Опять нет горячей воды в нашем доме на Кенесары, сколько можно!"
    assert near_copy_pairs([a, a.replace("Кенесары", "Кенесары 4")])


def test_test_split_is_stratified_by_topic_and_language(train_records, test_records):
    """The split was built from the first writing round (raw/g*.jsonl) 80/20; later rounds went to
    train only, so the shares are checked against that round's train rows."""
    from triage.io import read_records
    from triage.settings import get_settings

    first_round = {r["text"].strip() for p in sorted((get_settings().data_dir / "raw").glob("g*.jsonl"))
                   for r in read_records(p)}
    built = [r for r in train_records if r["text"] in first_round]
    assert len(built) >= 3000
    tr = collections.Counter((r["topic"], r["language"]) for r in built)
    te = collections.Counter((r["topic"], r["language"]) for r in test_records)
    for key, n in te.items():
        share = n / (n + tr[key])
        assert 0.1 <= share <= 0.3, (key, share)


def test_extend_adds_new_messages_to_train_only_and_drops_copies_of_either_split(tmp_path):
    import json

    from training.dataset import extend
    from triage.io import read_records

    def row(i, text, split="train"):
        return {"id": f"{split}-{i:05d}", "text": text, "topic": "roads", "authority": "transport_roads_dept",
                "urgency": "medium", "language": "en", "script": "Latn", "district": None, "channel": "x",
                "kk_form": None, "code_switched": False}

    def write(path, rows):
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")

    write(tmp_path / "train.jsonl", [row(1, "Huge pothole on Turan avenue near the mall, my tyre burst")])
    test_text = "The traffic light at Kenesary and Pushkin has been blinking yellow for two days"
    write(tmp_path / "test.jsonl", [row(1, test_text, "test")])
    before_test = (tmp_path / "test.jsonl").read_bytes()
    fresh = "Road markings on Mangilik El are gone, nobody sees the lanes at night"
    write(tmp_path / "new.jsonl", [row(0, fresh),
                                   row(0, test_text.replace("two", "2") + "!"),     # near copy of a test message
                                   row(0, "huge pothole on Turan avenue near the mall, my tyre burst"),  # exact copy
                                   row(0, fresh + "!!")])                            # near copy within the slice
    out = extend([tmp_path / "new.jsonl"], tmp_path)
    train = read_records(tmp_path / "train.jsonl")
    assert [r["text"] for r in train][-1] == fresh and len(train) == 2
    assert train[-1]["id"] == "train-00002"
    assert out["added_to_train"] == 1 and out["exact_copies"] == 1 and out["near_copies_of_existing"] == 1
    assert (tmp_path / "test.jsonl").read_bytes() == before_test
    assert extend([tmp_path / "new.jsonl"], tmp_path)["added_to_train"] == 0   # idempotent


def test_extend_refuses_rows_that_break_the_contract_and_writes_nothing(tmp_path):
    import shutil

    from training.dataset import extend
    from triage.errors import DataError

    for f in ("train.jsonl", "test.jsonl"):
        shutil.copy(DATA / f, tmp_path / f)
    before = (tmp_path / "train.jsonl").read_bytes()
    good = {"text": "Аулада жарық жоқ, үш күн болды", "topic": "electricity_lighting", "authority": "power_grid",
            "urgency": "medium", "language": "kk", "script": "Cyrl", "district": None, "channel": "telegram"}
    slice_ = tmp_path / "new.jsonl"
    slice_.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in
                                [good, {**good, "text": "   "}, {**good, "topic": "roadz"}, {**good, "language": "de"}]) + "\n")
    with pytest.raises(DataError, match=r"row 2: no text; .*row 3: topic 'roadz'.*row 4: language 'de'"):
        extend([slice_], tmp_path)
    assert (tmp_path / "train.jsonl").read_bytes() == before


def test_the_copy_check_finds_an_exact_copy_of_a_very_short_text():
    assert near_copy_pairs(["Свет"], ["Жол", "свет "]) == [(0, 1, 1.0)]
