import dataclasses
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from triage.redact import Redaction, iin_ok, luhn_ok, redact

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

IIN = "900101300126"  # valid checksum
BIN = "140340012349"  # valid checksum, BIN layout (YYMM + type 4)
VISA = "4111111111111111"
MASTERCARD = "5555555555554444"
AMEX = "378282246310005"


# -- positive cases: (text, expected output) ----------------------------------------------------

POSITIVE = [
    # phones, mobile
    ("Звоните +7 701 234 56 78, жду.", "Звоните [PHONE], жду."),
    ("мой номер 8 (701) 234-56-78", "мой номер [PHONE]"),
    ("Нөмірім 87012345678 хабарласыңыз", "Нөмірім [PHONE] хабарласыңыз"),
    ("call me at +77012345678 please", "call me at [PHONE] please"),
    ("whatsapp 7012345678", "whatsapp [PHONE]"),
    ("тел: 8-701-234-56-78", "тел: [PHONE]"),
    ("тел.8.701.234.56.78.", "тел.[PHONE]."),
    ("+7(777)1234567 Айгүл", "[PHONE] Айгүл"),
    ("пишите в ватсап (747) 123 45 67", "пишите в ватсап [PHONE]"),
    ("8 701 2345678 или 8 705 123 4567", "[PHONE] или [PHONE]"),
    ("родственник в Москве +7 916 123-45-67", "родственник в Москве [PHONE]"),
    ("7 701 234 56 78 — номер соседа", "[PHONE] — номер соседа"),
    ("тел.:+ 7 701 234 56 78", "тел.:[PHONE]"),
    # phones, Astana landline
    ("Приёмная 8 7172 12 34 56", "Приёмная [PHONE]"),
    ("Landline: +7 (7172) 57-00-01.", "Landline: [PHONE]."),
    ("үй телефоны 8(7172)123456", "үй телефоны [PHONE]"),
    ("бухгалтерия (7172) 12-34-56", "бухгалтерия [PHONE]"),
    # phones, messy Unicode
    ("номер 8701\u200b2345678!", "номер [PHONE]!"),
    ("номер 8\u200c701\u200d234\ufeff56\u206078", "номер [PHONE]"),
    ("номер ８７０１２３４５６７８ 😡", "номер [PHONE] 😡"),
    ("＋７ （７０１） ２３４－５６－７８", "[PHONE]"),
    ("📞 8️⃣7️⃣0️⃣1️⃣2️⃣3️⃣4️⃣5️⃣6️⃣7️⃣8️⃣ 🙏", "📞 [PHONE] 🙏"),
    ("тел\u00a08\u00a0701\u00a0234\u00a056\u00a078", "тел\u00a0[PHONE]"),
    ("тел 8 701 – 234 – 56 – 78", "тел [PHONE]"),
    # IIN / BIN
    (f"ИИН {IIN}, прошу помочь", "ИИН [IIN], прошу помочь"),
    (f"ЖСН: {IIN}", "ЖСН: [IIN]"),
    (f"my IIN is {IIN[:6]} {IIN[6:]}.", "my IIN is [IIN]."),
    (f"ИИН {IIN[:4]}-{IIN[4:8]}-{IIN[8:]}", "ИИН [IIN]"),
    (f"БИН ТОО {BIN}", "БИН ТОО [IIN]"),
    ("лицевой счёт 123456789012", "лицевой счёт [IIN]"),  # any contiguous 12 digits
    (f"ИИН{IIN}", "ИИН[IIN]"),
    (f"ИИН {IIN[:5]}\u200b{IIN[5:]}", "ИИН [IIN]"),
    # cards
    (f"карта {VISA[:4]} {VISA[4:8]} {VISA[8:12]} {VISA[12:]} сбербанк", "карта [CARD] сбербанк"),
    (f"card {MASTERCARD}", "card [CARD]"),
    ("карта 4400-4301-2345-6781 (Luhn fails)", "карта [CARD] (Luhn fails)"),  # 4-4-4-4 always
    ("карточка 4400430123456781", "карточка [CARD]"),  # 16 digits always
    (f"Amex {AMEX[:4]} {AMEX[4:10]} {AMEX[10:]}", "Amex [CARD]"),
    (f"Amex {AMEX}", "Amex [CARD]"),
    ("карта 4111 1111 1111 1111 на 5000 тг", "карта [CARD] на 5000 тг"),
    ("Kaspi Gold 4400 4301 2345 6789 100 тг", "Kaspi Gold [CARD] 100 тг"),  # 19-digit Luhn fails
    # e-mails
    ("почта ivan.petrov@mail.kz, ответьте", "почта [EMAIL], ответьте"),
    ("Email: A.Nurlanova+akimat@gov.kz.", "Email: [EMAIL]."),
    ("пишите: иван@почта.рф!", "пишите: [EMAIL]!"),
    ("user_1987@yandex.ru🙂", "[EMAIL]🙂"),
    ("адрес aigul＠mail．kz", "адрес [EMAIL]"),
    ("87012345678@mail.ru", "[EMAIL]"),
    # several kinds in one message
    (
        f"Меня зовут Айгүл, ИИН {IIN}, тел +7 701 234 56 78, почта a@b.kz, карта {VISA}.",
        "Меня зовут Айгүл, ИИН [IIN], тел [PHONE], почта [EMAIL], карта [CARD].",
    ),
]


@pytest.mark.parametrize(("text", "expected"), POSITIVE)
def test_pii_is_replaced_by_its_placeholder(text, expected):
    assert redact(text).text == expected


def test_counts_per_kind():
    r = redact(f"+7 701 234 56 78, 8 7172 12 34 56, {IIN}, {VISA}, a@b.kz, c@d.kz, e@f.kz")
    assert r.counts == {"PHONE": 2, "IIN": 1, "CARD": 1, "EMAIL": 3}


def test_result_is_a_frozen_redaction():
    r = redact("нет данных")
    assert r == Redaction("нет данных", {})
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.text = "x"  # type: ignore[misc]


def test_non_strings_are_a_type_error():
    with pytest.raises(TypeError):
        redact(b"87012345678")  # type: ignore[arg-type]


# -- negative cases: survive unchanged ------------------------------------------------------------

NEGATIVE = [
    "дом 12, кв. 45, подъезд 3",
    "Мәңгілік Ел даңғылы 8, 2 қабат",
    "в 2024 году обещали отремонтировать",
    "в 2023-2024 годах",
    "маршрут 21 и автобус 10а не ходят",
    "заплатил 5000 тг, потом ещё 5 000 тг",
    "бюджет 1 500 000 тенге",
    "бюджет 7 500 000 000 тг",
    "бюджет 87 500 000 000 тг",
    "смета 100 000 000 000 тг",
    "12.03.2025 в 18:30 отключили воду",
    "с 01.07.2025 по 15.07.2025, в 18.30",
    "почтовый индекс 010000, Z05T3E0",
    "звонил на 109 и 112, никто не ответил",
    "номер заявки 1234567890123",  # 13 digits, Luhn fails
    "обращение № 123456789",
    "номер договора 1234567890",  # 10 digits, not a mobile or Astana code
    "счёт 8123 4567 890",  # 11 digits, not in a phone grouping
    "2019 2020 2021 годы",  # 4-4-4 but no valid IIN checksum
    "900101 300123",  # 6-6 with a wrong checksum
    "температура -25, ветер 15 м/с",
    "координаты 51.1694, 71.4491",
    "3 5 7 8 9 10 11 12 13",
    "email me @ any time, @akimat_astana",
    "Құрметті әкім! Жолда шұңқыр бар 🙏🙏🙏",
    "Dear akimat, the lift at block 7 is broken since 2022.",
    "",
]


@pytest.mark.parametrize("text", NEGATIVE)
def test_ordinary_numbers_and_text_survive(text):
    r = redact(text)
    assert (r.text, r.counts) == (text, {})


def test_checksums():
    assert iin_ok(IIN) and iin_ok(BIN)
    assert not iin_ok(IIN[:-1] + str((int(IIN[-1]) + 1) % 10))
    assert not iin_ok("12345") and not iin_ok("abcdefghijkl")
    assert luhn_ok(VISA) and luhn_ok(MASTERCARD) and luhn_ok(AMEX)
    assert not luhn_ok("4111111111111112")
    assert not luhn_ok("") and not luhn_ok("４１１１１１１１１１１１１１１１") and not iin_ok("²" * 12)


# -- property tests -----------------------------------------------------------------------------

# Context around a generated item: anything but decimal digits and "@" (so it holds no PII itself).
context = st.text(st.characters(exclude_categories=("Nd", "Cs"), exclude_characters="@\uff20"), max_size=30)


def _with_check(body: str, check) -> str | None:
    return next((body + str(d) for d in range(10) if check(body + str(d))), None)


@st.composite
def iins(draw) -> tuple[str, str]:
    """(raw 12 digits, as written) for a checksum-valid IIN/BIN."""
    raw = draw(st.from_regex(r"[0-9]{11}", fullmatch=True).map(lambda b: _with_check(b, iin_ok)).filter(bool))
    sep = draw(st.sampled_from([" ", "-", "\u00a0", " - "]))
    form = draw(st.sampled_from(["run", "6-6", "4-4-4"]))
    if form == "6-6":
        return raw, raw[:6] + sep + raw[6:]
    if form == "4-4-4":
        return raw, sep.join((raw[:4], raw[4:8], raw[8:]))
    return raw, raw


@st.composite
def phones(draw) -> tuple[str, str]:
    """(10-digit national number, as written) for a KZ mobile or Astana landline."""
    mobile = draw(st.booleans())
    code = draw(st.from_regex(r"7[04-7][0-9]", fullmatch=True)) if mobile else "7172"
    rest = draw(st.from_regex(rf"[0-9]{{{10 - len(code)}}}", fullmatch=True))
    sep = draw(st.sampled_from(["", " ", "-", ".", "\u00a0"]))
    if mobile:
        groups = draw(st.sampled_from([[rest], [rest[:3], rest[3:]], [rest[:3], rest[3:5], rest[5:]]]))
    else:
        groups = draw(st.sampled_from([[rest], [rest[:3], rest[3:]], [rest[:2], rest[2:4], rest[4:]]]))
    prefix = draw(st.sampled_from(["+7", "+7 ", "8", "8 ", "8-", "7", "+7-", ""]))
    head = f"({code})" if draw(st.booleans()) else code
    written = prefix + head + (" " if head.endswith(")") and sep == "" and draw(st.booleans()) else sep)
    written += sep.join(groups)
    return code + rest, written


@st.composite
def cards(draw) -> tuple[str, str]:
    """(raw digits, as written): any 16 digits, or a Luhn-valid 13-19 digit number."""
    kind = draw(st.sampled_from(["any16", "luhn", "amex"]))
    if kind == "any16":
        raw = draw(st.from_regex(r"[0-9]{16}", fullmatch=True))
    else:
        n = 15 if kind == "amex" else draw(st.integers(13, 19))
        body = draw(st.from_regex(rf"[0-9]{{{n - 1}}}", fullmatch=True))
        raw = _with_check(body, luhn_ok)
    sep = draw(st.sampled_from(["", " ", "-"]))
    if kind == "amex":
        return raw, sep.join((raw[:4], raw[4:10], raw[10:]))
    if len(raw) == 16:
        return raw, sep.join(raw[i : i + 4] for i in range(0, 16, 4))
    return raw, raw


emails = st.from_regex(r"[a-z0-9][a-z0-9._%+-]{0,15}@[a-z0-9-]{1,12}\.(kz|ru|com|gov\.kz)", fullmatch=True)


def _obfuscate(written: str, data) -> str:
    """Optionally put a zero-width character between two digits, or use full-width digits."""
    how = data.draw(st.sampled_from(["plain", "zero-width", "full-width"]))
    if how == "full-width":
        return written.translate({ord(d): 0xFF10 + int(d) for d in "0123456789"})
    spots = [i for i in range(1, len(written)) if written[i - 1].isdigit() and written[i].isdigit()]
    if how == "zero-width" and spots:
        i = data.draw(st.sampled_from(spots))
        return (
            written[:i] + data.draw(st.sampled_from(["\u200b", "\u200d", "\ufeff", "\u00ad"])) + written[i:]
        )
    return written


@pytest.mark.parametrize(("kind", "items"), [("IIN", iins()), ("PHONE", phones()), ("CARD", cards())])
@FAST
@given(data=st.data(), left=context, right=context)
def test_generated_numbers_in_random_text_are_removed(kind, items, data, left, right):
    raw, written = data.draw(items)
    written = _obfuscate(written, data)
    r = redact(f"{left} {written} {right}")
    assert r.text == f"{left} [{kind}] {right}", (written, r.text)
    assert r.counts == {kind: 1}
    assert raw not in r.text and not any(ch.isdecimal() for ch in r.text)


@FAST
@given(email=emails, left=context, right=context)
def test_generated_emails_in_random_text_are_removed(email, left, right):
    r = redact(f"{left} {email} {right}")
    assert r.text == f"{left} [EMAIL] {right}" and email not in r.text
    assert r.counts == {"EMAIL": 1}


@FAST
@given(st.text(st.characters(exclude_categories=())))  # any code point, lone surrogates included
def test_never_raises_and_is_idempotent(text):
    r = redact(text)
    again = redact(r.text)
    assert (again.text, again.counts) == (r.text, {})


@pytest.mark.parametrize(
    "text",
    [
        "a@b.kz1x@c.kz",
        "a@b.kz_x@c.kz",
        "a@b.kz.x@c.kz",
        "x@87012345678.kz@y.kz",
        "87012345678 900101 300126",
        "4111 1111 1111 1111 900101 300126",
        "8701234567 8 7012345678",
        "4400 4301 2345 6789 100 8 701 234 56 78",
    ],
)
def test_idempotent_on_tricky_neighbours(text):
    r = redact(text)
    again = redact(r.text)
    assert (again.text, again.counts) == (r.text, {})
    assert r.counts


# Digit-heavy text: where the passes compete for the same runs.
numberish = st.lists(
    st.sampled_from(list("0123456789778 +-.()@a_\u200b\uff10\u00a0") + [" - ", ".kz", "[IIN]"]), max_size=40
).map("".join)


@FAST
@given(numberish)
def test_idempotent_on_digit_heavy_text(text):
    r = redact(text)
    again = redact(r.text)
    assert (again.text, again.counts) == (r.text, {})


@FAST
@given(st.text(st.characters(exclude_categories=("Nd",), exclude_characters="@\uff20")))
def test_text_without_digits_or_at_sign_is_unchanged(text):
    assert redact(text) == Redaction(text, {})


@FAST
@given(
    n=st.integers(0, 10**11 - 1),
    sep=st.sampled_from([" ", "\u00a0", ".", ","]),
    word=st.sampled_from(["тг", "тенге", "₸", "KZT", "адам", "шт."]),
)
def test_amounts_grouped_by_thousands_are_kept(n, sep, word):
    text = f"сумма {format(n, ',').replace(',', sep)} {word}"
    assert redact(text).text == text


@FAST
@given(
    n=st.integers(0, 999_999_999),
    d=st.dates(),
    hh=st.integers(0, 23),
    mm=st.integers(0, 59),
)
def test_short_numbers_dates_and_times_are_kept(n, d, hh, mm):
    text = f"№{n}, {d:%d.%m.%Y} {hh:02d}:{mm:02d}, {d:%Y-%m-%d} {hh:02d}.{mm:02d}, индекс {n % 10**6:06d}"
    assert redact(text).text == text


def test_no_digits_of_a_matched_item_leak():
    text = f"тел 8 (701) 234-56-78, ИИН {IIN}, карта {VISA}"
    out = redact(text).text
    assert re.search(r"\d", out) is None, out


@given(st.text(alphabet="0123456789０７٣ +-().\u200b8a ж", max_size=40))
@settings(max_examples=300)
def test_fast_path_agrees_with_the_full_passes(text):
    """Texts the fast path returns untouched (< 10 digits, no @) really have nothing to redact."""
    import triage.redact as r

    full = r.Redaction(text, {})
    for kind, pattern, end_of in r._PASSES:
        full = r.Redaction(r._apply(full.text, kind, pattern, end_of, dict(full.counts)), {})
    if len(r._ANY_DIGIT.findall(text)) < r._MIN_DIGITS:
        assert full.text == text
