"""Editable phrase patterns (emergency rules, district gazetteer) compiled to a spaCy ``Matcher``.

Pattern language, one string per pattern, written in any script (it is folded to the skeleton view
like the messages): words separated by spaces must follow each other; ``...`` allows up to three
words in between; a trailing ``*`` matches any ending; ``a|b*`` matches either alternative.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from spacy.matcher import Matcher
from spacy.tokens import Doc
from spacy.vocab import Vocab

from triage.text import normalize, skeleton

_WORD = re.compile(r"\w+")
_GAP = "..."


@dataclass(frozen=True)
class Hit:
    """One pattern match: the label it votes for, the pattern's id and the matched words."""

    label: str
    pattern: str
    text: str


def words(skel: str) -> list[str]:
    """The word tokens the matcher sees (punctuation and hyphens dropped)."""
    return _WORD.findall(skel)


def _alternative(alt: str) -> tuple[list[str], bool]:
    prefix = alt.endswith("*")
    return words(skeleton(normalize(alt.rstrip("*")))), prefix


def compile_pattern(pattern: str) -> tuple[list[dict], list[str]]:
    """Pattern string -> (spaCy token specs, regexes that a text must contain for it to match)."""
    specs: list[dict] = []
    anchors: list[str] = []
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
        if not anchors:
            anchors = [re.escape(w[0]) for w, _ in alts]
    if not anchors:
        raise ValueError(f"pattern {pattern!r} has no words")
    return specs, anchors


class PatternMatcher:
    """Finds labelled patterns in skeleton texts. ``patterns`` maps a label to its pattern strings."""

    def __init__(self, patterns: Mapping[str, Sequence[str]]):
        self.vocab = Vocab()
        self.matcher = Matcher(self.vocab)
        self._pattern_text: dict[str, str] = {}
        self._label_of: dict[str, str] = {}
        anchors: set[str] = set()
        for label, pats in patterns.items():
            for i, pat in enumerate(pats):
                specs, first = compile_pattern(pat)
                key = f"{label}#{i}"
                self.matcher.add(key, [specs])
                self._pattern_text[key] = pat
                self._label_of[key] = label
                anchors.update(first)
        # Most messages mention no place and no emergency: a single regex scan lets them skip spaCy.
        self._anchor = re.compile(r"\b(?:" + "|".join(sorted(anchors, key=len, reverse=True)) + ")")

    def find(self, skel: str) -> list[Hit]:
        """All hits in one skeleton text, in text order."""
        if not self._anchor.search(skel):
            return []
        toks = words(skel)
        if not toks:
            return []
        doc = Doc(self.vocab, words=toks)
        hits = []
        for match_id, start, end in self.matcher(doc):
            key = self.vocab.strings[match_id]
            hits.append(Hit(self._label_of[key], self._pattern_text[key], " ".join(toks[start:end])))
        return hits

    def find_batch(self, skels: Sequence[str]) -> list[list[Hit]]:
        return [self.find(s) for s in skels]
