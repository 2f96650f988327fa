"""Editable phrase patterns (emergency rules, district gazetteer) compiled to a spaCy ``Matcher``.

Pattern language, one string per pattern, written in any script (it is folded to the skeleton view
like the messages): words separated by spaces must follow each other; ``...`` allows up to three
words in between; a trailing ``*`` matches any ending; ``a|b*`` matches either alternative.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from spacy.matcher import Matcher
from spacy.tokens import Doc
from spacy.vocab import Vocab

from triage.text import normalize, remember, skeleton

_WORD = re.compile(r"\w+")
_GAP = "..."


@dataclass(frozen=True)
class Hit:
    """One pattern match: the label it votes for, the pattern's id and the matched words.
    ``before``: the word right before the match and ``before_last`` the word right before its last
    word (inside the match), each only when nothing but spaces separates them from what follows
    (``""`` otherwise): what a negation check needs ("не горит", "свет не горит")."""

    label: str
    pattern: str
    text: str
    before: str = field(default="", compare=False)
    before_last: str = field(default="", compare=False)
    start: int = field(default=-1, compare=False)  # token span of the match: words(skel)[start:end]
    end: int = field(default=-1, compare=False)


def words(skel: str) -> list[str]:
    """The word tokens the matcher sees (punctuation and hyphens dropped)."""
    return _WORD.findall(skel)


def word_spans(skel: str) -> list[tuple[int, int]]:
    """Character spans of :func:`words`' tokens."""
    return [m.span() for m in _WORD.finditer(skel)]


def _adjacent_before(skel: str, spans: list[tuple[int, int]], i: int) -> str:
    """Token ``i - 1`` when only whitespace separates it from token ``i``, else ``""``."""
    if i <= 0:
        return ""
    return skel[spans[i - 1][0]:spans[i - 1][1]] if not skel[spans[i - 1][1]:spans[i][0]].strip() else ""


def _alternative(alt: str) -> tuple[list[str], bool]:
    prefix = alt.endswith("*")
    return words(skeleton(normalize(alt.rstrip("*")))), prefix


Anchor = tuple[str, bool]  # (word, is_prefix)


def compile_pattern(pattern: str) -> tuple[list[dict], list[list[Anchor]]]:
    """Pattern string -> (spaCy token specs, required words). A text can only match if, for every
    word position of the pattern, one of the text's words equals (or, for a prefix, starts with)
    one of that position's alternatives; the first list is the most selective position (fewest
    and longest alternatives), the one the matcher indexes."""
    specs: list[dict] = []
    candidates: list[list[Anchor]] = []
    for piece in pattern.split():
        if piece == _GAP:
            specs.append({"OP": "{0,3}"})
            continue
        alts = [_alternative(a) for a in piece.split("|") if a]
        if not alts or any(not w for w, _ in alts):
            raise ValueError(f"pattern {pattern!r}: {piece!r} has no letters or digits")
        if len(alts) == 1 and len(alts[0][0]) > 1:
            # One written word that folds to several tokens ("юго-восток"): match them in a row.
            ws, prefix = alts[0]
            specs.extend({"ORTH": w} for w in ws[:-1])
            alts = [([ws[-1]], prefix)]
        elif any(len(w) > 1 for w, _ in alts):
            raise ValueError(f"pattern {pattern!r}: alternatives must be single words")
        exact = [w[0] for w, p in alts if not p]
        prefixes = [w[0] for w, p in alts if p]
        if not prefixes:
            specs.append({"ORTH": {"IN": exact}})
        else:
            body = "|".join([re.escape(e) + "$" for e in exact] + [re.escape(p) for p in prefixes])
            specs.append({"ORTH": {"REGEX": f"^(?:{body})"}})
        candidates.append([(w[0], p) for w, p in alts])
    if not candidates:
        raise ValueError(f"pattern {pattern!r} has no words")
    candidates.sort(key=lambda alts: (len(alts), -min(len(w) for w, _ in alts)))
    return specs, candidates


TOKEN_CACHE_SIZE = 100_000


class PatternMatcher:
    """Finds labelled patterns in skeleton texts. ``patterns`` maps a label to its pattern strings.

    Each pattern gets its own spaCy ``Matcher``, run only on texts that contain every word the
    pattern needs (the most selective one looked up in an index, the others checked against the
    text's words): set lookups are microseconds, while building a ``Doc`` and running a Matcher
    costs about 0.1 ms, and one Matcher holding every pattern evaluates all their token
    predicates on every text (milliseconds)."""

    def __init__(self, patterns: Mapping[str, Sequence[str]]):
        self.vocab = Vocab()
        self._matchers: dict[str, Matcher] = {}
        self._pattern_text: dict[str, str] = {}
        self._label_of: dict[str, str] = {}
        self._required: dict[str, list[list[Anchor]]] = {}
        # One-word patterns (most of the gazetteer) match token by token, with no Doc or Matcher.
        self._single: dict[str, list[Anchor]] = {}
        self._exact: dict[str, set[str]] = {}
        self._prefix: dict[str, set[str]] = {}
        for label, pats in patterns.items():
            if isinstance(pats, str):  # would be read letter by letter, each letter a pattern
                raise TypeError(f"{label!r}: patterns must be a list of strings, got the string {pats!r}")
            for i, pat in enumerate(pats):
                specs, (anchors, *required) = compile_pattern(pat)
                key = f"{label}#{i}"
                if len(specs) == 1:
                    self._single[key] = anchors
                matcher = Matcher(self.vocab)
                matcher.add(key, [specs])
                self._matchers[key] = matcher
                self._pattern_text[key] = pat
                self._label_of[key] = label
                self._required[key] = required
                for word, is_prefix in anchors:
                    (self._prefix if is_prefix else self._exact).setdefault(word, set()).add(key)
        self._prefix_lengths = sorted({len(p) for p in self._prefix})

    def _token_keys(self, tok: str) -> frozenset[str]:
        """Patterns whose index words include ``tok`` (exactly or as a prefix), cached per token:
        words repeat across messages, so most tokens cost one dict lookup."""
        keys = set(self._exact.get(tok, ()))
        for k in self._prefix_lengths:
            if k > len(tok):
                break
            keys |= self._prefix.get(tok[:k], set())
        return remember(self.__dict__.setdefault("_token_cache", {}), tok, frozenset(keys), TOKEN_CACHE_SIZE)

    def _keys(self, toks: list[str]) -> list[frozenset[str]]:
        """Per token, the patterns whose index words it matches."""
        cache = self.__dict__.setdefault("_token_cache", {})
        out = []
        for tok in toks:
            k = cache.get(tok)
            out.append(self._token_keys(tok) if k is None else k)
        return out

    @staticmethod
    def _present(alts: list[Anchor], toks: list[str], tokset: set[str]) -> bool:
        return any((w in tokset) if not prefix else any(t.startswith(w) for t in toks) for w, prefix in alts)

    def find(self, skel: str) -> list[Hit]:
        """All hits in one skeleton text, in text order."""
        toks = words(skel)
        keys = self._keys(toks)
        candidates: set[str] = set().union(*keys)
        if candidates:
            tokset = set(toks)
            candidates = {k for k in candidates
                          if all(self._present(alts, toks, tokset) for alts in self._required[k])}
        if not candidates:
            return []
        # A one-word pattern's only word is its index word: the tokens it matches are those whose
        # keys hold it.
        spans = [(i, i + 1, k) for i, ks in enumerate(keys) for k in ks if k in candidates and k in self._single]
        doc = None
        for key in sorted(candidates):
            if key in self._single:
                continue
            if doc is None:
                doc = Doc(self.vocab, words=toks)
            for _, start, end in self._matchers[key](doc):
                spans.append((start, end, key))
        spans.sort()
        offsets = word_spans(skel)
        return [Hit(self._label_of[k], self._pattern_text[k], " ".join(toks[s:e]),
                    _adjacent_before(skel, offsets, s), _adjacent_before(skel, offsets, e - 1) if e - s > 1 else "",
                    s, e)
                for s, e, k in spans]
