"""PII redaction of stored messages: e-mails, payment cards, IIN/BIN numbers and phone numbers.

Runs on the original (un-normalized) text. Each kind is found on a "shadow" of the text in which
invisible format characters (zero-width, bidi, soft hyphen, emoji variation selectors) are dropped
and every decimal digit (full-width, Arabic-Indic...) reads as ASCII; found spans map back to the
original, which keeps everything else byte for byte. Passes, in order (a later pass never sees what
an earlier one replaced):

1. ``[EMAIL]`` - ``local@domain.tld`` (Unicode letters allowed, full-width ``＠`` too).
2. ``[CARD]``  - any 16-digit number (contiguous or 4-4-4-4), even if it fails the Luhn check: a
   mistyped card is still a card. Other lengths 13-19 (contiguous, 4-4-4-4-x, 4-6-5, 4-6-4) only
   when Luhn-valid, so long order/account numbers are not all eaten.
3. ``[IIN]``   - any contiguous 12-digit number (IIN, BIN, and anything else that long).
4. ``[PHONE]`` - ``+7``/``8``/``7`` + a 10-digit number whose code starts with 3-9 (Kazakhstan 7xx,
   and Russia, which shares +7), in usual groupings (``+7 701 234 56 78``, ``8 (7172) 12-34-56``,
   ``87012345678``); bare 10-digit numbers only when they look like a mobile (``701 234 56 78``)
   or an Astana landline (``(7172) 12 34 56``).
5. ``[IIN]``   - a 12-digit number grouped 6-6 or 4-4-4 (``900101 300126``) only when its IIN/BIN
   checksum holds and it is not part of a longer run of digit groups (so "2019 2020 2021" and
   12-digit amounts stay). Last, because "not part of a longer run" looks at the neighbours, which
   earlier passes may replace; this keeps redaction idempotent.

Deliberately not redacted: short numbers (house, flat, route, count, year), amounts grouped by
thousands (``87 500 000 000 тг``), dates, times, 6-digit postal codes, local 6-digit phone numbers
without the area code, spelled-out or obfuscated addresses (``ivan [at] mail kz``). Every pattern
needs a non-digit (or the text's edge) on both sides, so it never cuts into a longer number.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import product

__all__ = ["Redaction", "iin_ok", "luhn_ok", "redact"]


@dataclass(frozen=True)
class Redaction:
    """Redacted text and the number of items replaced per kind (kinds not found are absent)."""

    text: str
    counts: dict[str, int] = field(default_factory=dict)


# Dropped from the shadow besides format (Cf) characters, so keycap digits ("8️⃣") read as digits.
_INVISIBLE_EXTRA = frozenset("\ufe0e\ufe0f\u20e3")


def _shadow(text: str) -> tuple[str, list[int] | None]:
    """The matching view of ``text`` and, unless identical, each shadow char's index in ``text``."""
    if text.isascii():
        return text, None
    chars: list[str] = []
    index: list[int] = []
    for i, ch in enumerate(text):
        if ch >= "\x80":
            cat = unicodedata.category(ch)
            if cat == "Cf" or ch in _INVISIBLE_EXTRA:
                continue
            if cat == "Nd":
                ch = str(unicodedata.decimal(ch, ch))
            elif "\uff01" <= ch <= "\uff5e":  # full-width ASCII: ＋（）－．＠
                ch = chr(ord(ch) - 0xFEE0)
        chars.append(ch)
        index.append(i)
    return "".join(chars), index


_SP = "[ \t\u00a0\u2007\u2009\u202f\u3000]"
_DASH = "[-.\u2010-\u2015\u2212]"
_SEP_CHARS = " \t\u00a0\u2007\u2009\u202f\u3000\\-.\u2010-\u2015\u2212"
_S = f"(?:{_SP}?{_DASH}{_SP}?|{_SP}{{1,2}})"  # one separator between digit groups
_L, _R = "(?<![0-9])", "(?![0-9])"


def _groups(n: int) -> str:
    """``n`` digits written in groups of 2-4 (optionally separated), e.g. 7 as 3-2-2 or 3-4."""
    parts = [c for k in range(1, n // 2 + 1) for c in product((2, 3, 4), repeat=k) if sum(c) == n]
    return "(?:" + "|".join(f"{_S}?".join(f"[0-9]{{{p}}}" for p in c) for c in parts) + ")"


def _code(digits: str) -> str:
    return rf"(?:\( ?{digits} ?\)|{digits})"


_EMAIL = re.compile(r"(?<!\w)\w[\w.%+-]{0,63}@[\w-]{1,63}(?:\.[\w-]{1,63}){0,8}\.[^\W\d_]{2,24}(?![\w-])")
_CARD = re.compile(
    rf"{_L}(?:(?P<run>[0-9]{{13,19}})"
    rf"|(?P<g16>[0-9]{{4}}(?:{_S}[0-9]{{4}}){{3}})(?:{_S}[0-9]{{1,3}})?"
    rf"|[0-9]{{4}}{_S}[0-9]{{6}}{_S}[0-9]{{4,5}}){_R}"
)
_IIN_RUN = re.compile(rf"{_L}[0-9]{{12}}{_R}")
_PREFIXED = (
    rf"(?:\+ ?7|\+?8|7){_S}?(?:{_code('[3-9][0-9]{2}')}{_S}?{_groups(7)}"
    rf"|{_code('7[0-9]{3}')}{_S}?{_groups(6)}|{_code('7[0-9]{4}')}{_S}?{_groups(5)})"
)
_BARE = rf"(?:{_code('7[04-7][0-9]')}{_S}?{_groups(7)}|{_code('7172')}{_S}?{_groups(6)})"
_PHONE = re.compile(rf"{_L}(?:{_PREFIXED}|{_BARE}){_R}")
_IIN_GROUPED = re.compile(
    rf"(?<![0-9])(?<![0-9][{_SEP_CHARS}])(?:[0-9]{{6}}{_S}[0-9]{{6}}|[0-9]{{4}}{_S}[0-9]{{4}}{_S}[0-9]{{4}})"
    rf"(?![0-9])(?![{_SEP_CHARS}][0-9])"
)


def _digits(s: str) -> str:
    return "".join(ch for ch in s if "0" <= ch <= "9")


def luhn_ok(digits: str) -> bool:
    """Luhn checksum of an all-digit string (payment cards)."""
    if not (digits.isascii() and digits.isdigit()):
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def iin_ok(digits: str) -> bool:
    """Checksum of a 12-digit Kazakhstan IIN/BIN (weights 1..11, then 3..11,1,2 if the sum gives 10)."""
    if len(digits) != 12 or not (digits.isascii() and digits.isdigit()):
        return False
    d = [int(ch) for ch in digits]
    check = sum(w * x for w, x in zip(range(1, 12), d, strict=False)) % 11
    if check == 10:
        check = sum(w * x for w, x in zip((3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2), d, strict=False)) % 11
    return check != 10 and check == d[11]


def _card_end(m: re.Match[str]) -> int | None:
    digits = _digits(m.group())
    if m["g16"] is not None:  # 4-4-4-4 always; a short tail group only if the whole is Luhn-valid
        return m.end() if len(digits) > 16 and luhn_ok(digits) else m.end("g16")
    return m.end() if len(digits) == 16 or luhn_ok(digits) else None


# Where the redacted part of a match ends (None: keep the match as it is).
_EndOf = Callable[[re.Match[str]], int | None]

_PASSES: tuple[tuple[str, re.Pattern[str], _EndOf], ...] = (
    ("EMAIL", _EMAIL, re.Match.end),
    ("CARD", _CARD, _card_end),
    ("IIN", _IIN_RUN, re.Match.end),
    ("PHONE", _PHONE, re.Match.end),
    ("IIN", _IIN_GROUPED, lambda m: m.end() if iin_ok(_digits(m.group())) else None),
)


def _apply(text: str, kind: str, pattern: re.Pattern[str], end_of: _EndOf, counts: dict[str, int]) -> str:
    """One pass: replace the accepted matches of ``pattern`` by ``[kind]`` and count them."""
    shadow, index = _shadow(text)
    out: list[str] = []
    last = 0
    for m in pattern.finditer(shadow):
        end = end_of(m)
        if end is None:
            continue
        start = m.start()
        if index is not None:
            start, end = index[start], index[end - 1] + 1
            while end < len(text) and text[end] in _INVISIBLE_EXTRA:  # the last keycap's "️⃣"
                end += 1
        out += (text[last:start], f"[{kind}]")
        last = end
        counts[kind] = counts.get(kind, 0) + 1
    return "".join(out) + text[last:] if out else text


# The shortest item redacted is a 10-digit phone number; \d matches every script's decimal digits.
_ANY_DIGIT = re.compile(r"\d")
_MIN_DIGITS = 10


def redact(text: str) -> Redaction:
    """Replace e-mails, cards, IIN/BINs and phone numbers in ``text`` by ``[EMAIL]``, ``[CARD]``,
    ``[IIN]``, ``[PHONE]``. Total on ``str`` and idempotent."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, got {type(text).__name__}")
    if "@" not in text and "\uff20" not in text and len(_ANY_DIGIT.findall(text)) < _MIN_DIGITS:
        # Most messages: no e-mail, and too few digits (of any script) for a phone, IIN or card.
        return Redaction(text, {})
    counts: dict[str, int] = {}
    for kind, pattern, end_of in _PASSES:
        text = _apply(text, kind, pattern, end_of, counts)
    return Redaction(text, counts)
