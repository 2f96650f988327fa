"""Text validation, normalization and the script-folding "skeleton" view.

Data flows raw text -> :func:`clean` (validation, control characters, length) -> :func:`normalize`
(NFKC, case folding, URLs, mentions, hashtags, emojis, repeats) -> :func:`skeleton` (one Latin
alphabet for Cyrillic Kazakh, folded Kazakh typed on a Russian keyboard, Latin Kazakh in its 2018,
2021 and informal forms, Russian and English). Features and rules read the skeleton, so "жоқ",
"жок", "joq", "jok" and "zhok" are one token.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from itertools import groupby

import emoji

from triage.errors import InvalidTextError

# Per-token caches (features, lexicon, matchers) skip tokens longer than this: real words are
# shorter, and caching runs of glued text would make the caches' memory unbounded.
MAX_CACHED_TOKEN_CHARS = 40


def remember(cache: dict, token: str, value, limit: int):
    """Store ``value`` for ``token`` in a per-token cache bounded by entries (emptied when it holds
    ``limit``) and by token length (see MAX_CACHED_TOKEN_CHARS); returns ``value``."""
    if len(token) <= MAX_CACHED_TOKEN_CHARS:
        if len(cache) >= limit:
            cache.clear()
        cache[token] = value
    return value


# Zero-width and bidi controls: invisible, used to evade filters or spoof text direction.
_INVISIBLE = dict.fromkeys(
    [0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF, 0x00AD, 0x061C, 0x200E, 0x200F]
    + list(range(0x202A, 0x202F))
    + list(range(0x2066, 0x206A))
)
_URL = re.compile(r"(?:https?://|www\.)\S+|\b[\w-]+\.(?:kz|ru|com|org|net|gov\.kz|me)(?:/\S*)?\b", re.I)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b")
_MENTION = re.compile(r"@([\w.]+)")
_HASHTAG = re.compile(r"#(\w+)")
_REPEAT = re.compile(r"(\w)\1{2,}")
_PUNCT_REPEAT = re.compile(r"([!?.,)(])\1+")
_LONG_NUMBER = re.compile(r"\d{5,}")
_SPACES = re.compile(r"\s+")
# The non-ASCII characters an emoji can start with (from the emoji package's own table), plus the
# keycap mark U+20E3 that every emoji starting with an ASCII character (#, *, 0-9) contains, plus
# the variation selectors (the tokenizer drops a stray one, as in "!\ufe0f"): texts
# without any skip the emoji tokenizer, which walks every character. Dashes, quotes and ellipses
# are not among them. A set, not a regex: a 1,400-character class makes re's search ~100x slower.
_EMOJI_STARTS = frozenset({e[0] for e in emoji.EMOJI_DATA if not e[0].isascii()} | {"\u20e3", "\ufe0e", "\ufe0f"})


# Every character of every emoji sequence the emoji package knows (ASCII: digits, # and * of the
# keycaps), plus the joiners and selectors it handles: a run of other characters can hold no emoji.
_EMOJI_CHARS = frozenset({ch for e in emoji.EMOJI_DATA for ch in e} | {"\u200d", "\u20e3", "\ufe0e", "\ufe0f"})
EMOJI_CACHE_SIZE = 50_000
_emoji_runs: dict[str, str] = {}  # a run of emoji characters -> its replacement (see replace_emojis)


def maybe_emoji(text: str) -> bool:
    return not _EMOJI_STARTS.isdisjoint(text)


def replace_emojis(text: str) -> str:
    """``emoji.replace_emoji(text, replace=<emj_name token>)``, run only on the text's runs of emoji
    characters, each cached: the package's tokenizer walks every character of the whole text in
    Python (about 45 us for a message with an emoji, here a few us). Equal on the whole dataset and
    on generated texts (tests/test_text.py)."""
    cache = _emoji_runs
    out = []
    for is_emoji, group in groupby(text, _EMOJI_CHARS.__contains__):
        run = "".join(group)
        if is_emoji:
            done = cache.get(run)
            run = remember(cache, run, emoji.replace_emoji(run, replace=_emoji_name), EMOJI_CACHE_SIZE) \
                if done is None else done
        out.append(run)
    return "".join(out)


@dataclass(frozen=True)
class CleanText:
    """Validated text plus what was done to it (flags end up in the result's ``warnings``)."""

    text: str
    warnings: tuple[str, ...] = field(default=())


def clean(text: object, max_chars: int) -> CleanText:
    """Validate one input and make it safe to process.

    Raises :class:`InvalidTextError` for non-strings, lone surrogates and texts with no visible
    characters. Control and invisible characters are removed (flag ``control_characters_removed``);
    text over ``max_chars`` is cut (flag ``truncated``).
    """
    if not isinstance(text, str):
        raise InvalidTextError(f"text must be a string, got {type(text).__name__}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidTextError("text contains lone surrogates (invalid Unicode)") from exc
    warnings: list[str] = []
    # str.isprintable() is False for any Cc, Cf, Cs, Co or Cn character (and for separators other
    # than the space): a printable text has nothing to strip, and the per-character walk is skipped.
    stripped = text if text.isprintable() else "".join(
        ch
        for ch in text.translate(_INVISIBLE)
        if ch in "\t\n\r" or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn")
        or emoji.is_emoji(ch)
    )
    if len(stripped) != len(text):
        warnings.append("control_characters_removed")
    if not stripped.strip():
        raise InvalidTextError("text is empty or whitespace only")
    if len(stripped) > max_chars:
        stripped = stripped[:max_chars]
        warnings.append("truncated")
    return CleanText(stripped, tuple(warnings))


def _emoji_name(chars: str, data: dict) -> str:
    name = data.get("en", "").strip(":").replace("-", "_").lower()
    return f" emj_{name} " if name else " "


def normalize(text: str) -> str:
    """Meaning-preserving normal form: NFKC, case-folded, URLs/e-mails/mentions/numbers as tokens,
    hashtag words kept, emojis as ``emj_<name>`` tokens, runs of 3+ letters collapsed."""
    t = unicodedata.normalize("NFKC", text)
    at = "@" in t  # e-mails and mentions need one (the e-mail scan alone costs ~2 us per message)
    if at:
        t = _EMAIL.sub(" emailtok ", t)
    t = _URL.sub(" urltok ", t)
    if at:
        t = _MENTION.sub(lambda m: " mentiontok " + m.group(1).replace("_", " ").replace(".", " ") + " ", t)
    t = _HASHTAG.sub(lambda m: " " + m.group(1).replace("_", " ") + " ", t)
    if maybe_emoji(t):  # the emoji tokenizer walks every character: skip it for plain text
        t = replace_emojis(t)
    t = t.casefold()
    t = _REPEAT.sub(r"\1", t)
    t = _PUNCT_REPEAT.sub(r"\1", t)
    t = _LONG_NUMBER.sub(" numtok ", t)
    return _SPACES.sub(" ", t).strip()


# Cyrillic (Kazakh and Russian) -> one Latin skeleton. Kazakh-specific letters fold onto their
# Russian-keyboard look-alikes, so proper and "folded" Kazakh coincide.
_CYR = {
    "а": "a", "ә": "a", "б": "b", "в": "v", "г": "g", "ғ": "g", "д": "d", "е": "e", "ё": "e",
    "ж": "zh", "з": "z", "и": "i", "й": "i", "і": "i", "к": "k", "қ": "k", "л": "l", "м": "m",
    "н": "n", "ң": "n", "о": "o", "ө": "o", "п": "p", "р": "r", "с": "s", "т": "t", "у": "u",
    "ұ": "u", "ү": "u", "ф": "f", "х": "h", "һ": "h", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "sh",
    "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "iu", "я": "ia",
}
# Latin Kazakh (2018 acute, 2021 umlaut/breve and informal ASCII) onto the same skeleton. The 2021
# alphabet writes І as "ı" (and writers use it for Й too): both are "i" here, like і and й.
_LAT = {
    "á": "a", "ä": "a", "ǵ": "g", "ğ": "g", "ń": "n", "ñ": "n", "ó": "o", "ö": "o", "ú": "u",
    "ü": "u", "ū": "u", "ý": "u", "ı": "i", "ş": "sh", "ç": "ch", "q": "k", "j": "zh",
    "w": "u", "x": "h", "c": "ts",
}
_SKELETON = str.maketrans({**_CYR, **_LAT})
_SKELETON_DIGRAPHS = [("yu", "iu"), ("ya", "ia"), ("tsh", "ch"), ("zhzh", "zh"), ("kh", "h")]


_PROTECTED = re.compile(r"(emj_\w+)")


def skeleton(normalized: str) -> str:
    """Fold a normalized text onto one Latin alphabet shared by kk (Cyrl/Latn/folded), ru and en.
    Emoji tokens (``emj_<name>``) pass through unchanged."""
    if "emj_" in normalized:
        parts = _PROTECTED.split(normalized)
        return "".join(p if i % 2 else _fold(p) for i, p in enumerate(parts))
    return _fold(normalized)


def _fold(normalized: str) -> str:
    s = normalized.translate(_SKELETON)
    for a, b in _SKELETON_DIGRAPHS:
        s = s.replace(a, b)
    if s.isascii():  # nothing left to decompose (the usual case after the folding table)
        return s
    # Strip combining marks left by decomposed Latin letters (e.g. "i̇" from a Turkish keyboard).
    return "".join(ch for ch in unicodedata.normalize("NFKD", s) if not unicodedata.combining(ch))


_KK_LETTERS = frozenset("әғқңөұүһіӘҒҚҢӨҰҮҺІ")


_ASCII_LETTERS = bytes(range(65, 91)) + bytes(range(97, 123))
# UTF-8 lead bytes: U+0400-U+04FF (Cyrillic) start with D0-D3; U+00C0-U+023F with C3-C8, and
# U+0240-U+024F are C9 80-8F.
_CYRILLIC_LEADS = (b"\xd0", b"\xd1", b"\xd2", b"\xd3")
_LATIN_EXTENDED = re.compile(rb"[\xc3-\xc8]|\xc9[\x80-\x8f]")


def script_of(text: str) -> str:
    """``Cyrl`` or ``Latn``: the script of the majority of letters (ties and no letters: Cyrl).
    Letters are ``[A-Za-z\u00C0-\u024F]`` and ``[\u0400-\u04FF]``, counted on the UTF-8 bytes
    (half the time of two regex scans; tests/test_text.py checks it against them)."""
    b = text.encode("utf-8", "surrogatepass")
    cyr = sum(b.count(lead) for lead in _CYRILLIC_LEADS)
    lat = len(b) - len(b.translate(None, _ASCII_LETTERS))
    if lat <= cyr:  # only then can the extended Latin letters change the answer
        lat += len(_LATIN_EXTENDED.findall(b))
    return "Latn" if lat > cyr else "Cyrl"


def message_script(text: str) -> str:
    """:func:`script_of` the message's own words: links, e-mail addresses and @mentions (Latin
    whatever the language) are left out, so a Cyrillic message with a long link stays Cyrillic."""
    if "://" in text or "www." in text or "@" in text:
        text = _MENTION.sub(" ", _EMAIL.sub(" ", _URL.sub(" ", text)))
    return script_of(text)


def has_kazakh_letters(text: str) -> bool:
    return not _KK_LETTERS.isdisjoint(text)
