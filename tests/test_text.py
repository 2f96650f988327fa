import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from triage.errors import InvalidTextError
from triage.text import clean, normalize, script_of, skeleton


def view(text: str) -> str:
    return skeleton(normalize(text))


@pytest.mark.parametrize(
    "variants",
    [
        ["жоқ", "жок", "joq", "jok", "zhok"],
        ["қашан", "кашан", "qashan", "kashan"],
        ["жылу", "jylu", "jylý"],
        ["үйде", "уйде", "üide", "uide", "úide"],
        ["көше", "коше", "köşe", "koshe", "kóshe"],
        ["ағаш", "агаш", "ağaş", "aǵash", "agash"],
        ["шұңқыр", "шункыр", "şūñqyr", "shunqyr"],
    ],
)
def test_kazakh_cyrillic_folded_and_latin_share_one_view(variants):
    assert len({view(v) for v in variants}) == 1, {v: view(v) for v in variants}


def test_normalize_case_folds_and_applies_nfkc():
    assert normalize("ＳＵ ЖОҚ") == "su жоқ"


def test_urls_and_emails_become_tokens():
    n = normalize("смотрите https://t.me/astana/123 и пишите a.b@mail.kz")
    assert "urltok" in n and "emailtok" in n and "t.me" not in n and "mail.kz" not in n


def test_hashtag_words_are_kept_and_mentions_marked():
    n = normalize("#НетВоды @astana_akimat")
    assert "нетводы" in n and "mentiontok" in n and "astana akimat" in n and "#" not in n


def test_emojis_become_named_tokens_that_survive_the_skeleton():
    s = view("газ 🔥😡")
    assert "emj_fire" in s and "emj_enraged_face" in s


def test_repeated_letters_and_punctuation_collapse():
    assert normalize("ОЧЕНЬЬЬЬ холодноооо!!!!") == "очень холодно!"


def test_long_numbers_become_a_token():
    assert normalize("звоните 87011234567") == "звоните numtok"


@pytest.mark.parametrize("bad", [None, 42, b"bytes", ["list"]])
def test_non_strings_are_refused_with_a_typed_error(bad):
    with pytest.raises(InvalidTextError):
        clean(bad, 100)


@pytest.mark.parametrize("bad", ["", "   ", "\n\t", "\u200b\u200b", "\x00\x01"])
def test_empty_or_invisible_only_text_is_refused(bad):
    with pytest.raises(InvalidTextError):
        clean(bad, 100)


def test_lone_surrogates_are_refused():
    with pytest.raises(InvalidTextError, match="surrogate"):
        clean("су жоқ \ud800", 100)


def test_control_and_bidi_characters_are_removed_and_flagged():
    c = clean("су\x00 жоқ\u202e\u200b", 100)
    assert c.text == "су жоқ" and "control_characters_removed" in c.warnings


def test_too_long_text_is_truncated_and_flagged():
    c = clean("а" * 150, 100)
    assert len(c.text) == 100 and c.warnings == ("truncated",)


def test_emoji_sequences_with_joiners_are_not_stripped_as_controls():
    c = clean("👨‍👩‍👧 спасибо", 100)
    assert "спасибо" in c.text


@pytest.mark.parametrize("text,script", [("Су жоқ", "Cyrl"), ("Su joq", "Latn"), ("no water", "Latn"),
                                         ("123", "Cyrl"), ("LRT опять стоит", "Cyrl")])
def test_script_is_the_majority_script(text, script):
    assert script_of(text) == script


def test_every_known_emoji_passes_the_precheck():
    import emoji

    from triage.text import maybe_emoji

    # normalize() applies NFKC first; what NFKC leaves an emoji must reach the emoji tokenizer.
    after = [unicodedata.normalize("NFKC", e) for e in emoji.EMOJI_DATA]
    missed = [e for e in after if emoji.emoji_count(e) and not maybe_emoji(e)]
    assert missed == []


def test_emoji_precheck_changes_no_normalized_text(monkeypatch):
    import triage.text as text_module
    from triage.io import read_records
    from triage.settings import get_settings

    data = get_settings().data_dir
    texts = [r["text"] for split in ("train", "test") for r in read_records(data / f"{split}.jsonl")]
    texts += ["Свет нет 3 дня — «когда?»… 1️⃣ 2⃣ #⃣ ™ ↔ ©", "☎ 109 ⚡️", "срочно !\ufe0f", "ok\ufe0e"]
    fast = [text_module.normalize(t) for t in texts]
    monkeypatch.setattr(text_module, "maybe_emoji", lambda _: True)  # always run the emoji tokenizer
    assert fast == [text_module.normalize(t) for t in texts]


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=40))
def test_printable_fast_path_keeps_what_the_character_filter_keeps(text):
    import unicodedata

    import emoji

    from triage.errors import InvalidTextError
    from triage.text import _INVISIBLE

    kept = "".join(ch for ch in text.translate(_INVISIBLE)
                   if ch in "\t\n\r" or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn")
                   or emoji.is_emoji(ch))
    try:
        got = clean(text, 10_000)
    except InvalidTextError:
        lone_surrogate = any("\ud800" <= ch <= "\udfff" for ch in text)
        assert lone_surrogate or not kept.strip()
        return
    assert got.text == kept


def _emoji_package(text: str) -> str:
    import emoji

    from triage.text import _emoji_name

    return emoji.replace_emoji(text, replace=_emoji_name)


def test_emoji_runs_are_replaced_like_the_emoji_package_on_the_whole_dataset(train_records, test_records):
    from triage.text import maybe_emoji, replace_emojis

    texts = [unicodedata.normalize("NFKC", r["text"]) for r in train_records + test_records]
    with_emoji = [t for t in texts if maybe_emoji(t)]
    assert len(with_emoji) > 1000
    assert [replace_emojis(t) for t in with_emoji] == [_emoji_package(t) for t in with_emoji]


def _emoji_pieces():
    import emoji

    from triage.text import _EMOJI_CHARS

    keys = sorted(emoji.EMOJI_DATA)
    return st.lists(st.one_of(st.sampled_from(keys), st.sampled_from(sorted(_EMOJI_CHARS)),
                              st.sampled_from(list("ab 1#*!.жқ\u200d\ufe0f\u20e3"))), max_size=12).map("".join)


@settings(max_examples=500, deadline=None)
@given(_emoji_pieces())
def test_emoji_runs_are_replaced_like_the_emoji_package_on_any_mix(text):
    from triage.text import replace_emojis

    assert replace_emojis(text) == _emoji_package(text)


def _script_by_regex(text: str) -> str:
    import re

    cyr = len(re.findall(r"[\u0400-\u04FF]", text))
    lat = len(re.findall(r"[A-Za-z\u00C0-\u024F]", text))
    return "Latn" if lat > cyr else "Cyrl"


@settings(max_examples=1000, deadline=None)
@given(st.text(alphabet=st.one_of(st.characters(min_codepoint=0x20, max_codepoint=0x52F),
                                  st.sampled_from("әқ ǵ ɏ ɐ ɀ ÿ Ā ÀЀӿԀ😀")), max_size=30))
def test_script_counts_letters_like_the_regex_definition(text):
    assert script_of(text) == _script_by_regex(text)


def test_script_of_every_dataset_message_matches_the_regex_definition(train_records, test_records):
    texts = [r["text"] for r in train_records + test_records]
    assert [script_of(t) for t in texts] == [_script_by_regex(t) for t in texts]
