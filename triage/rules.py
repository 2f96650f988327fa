"""Rule layers fed from pattern files: emergency rules (raise urgency) and the district gazetteer."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from triage.config_files import ConfigError, GazetteerFile, RulesFile, load_config
from triage.matching import Hit, PatternMatcher, compile_pattern, word_spans, words
from triage.text import normalize, skeleton

URGENCY_ORDER = ("low", "medium", "high", "critical")


@dataclass(frozen=True)
class Rule:
    id: str
    urgency: str | None
    authority: str | None


class EmergencyRules:
    """Life-threatening situations. Rules may only raise urgency and set the authority."""

    def __init__(self, rules: dict[str, dict], negations: Mapping[str, Sequence[str]] | None = None,
                 harmless: Sequence[str] | None = None):
        self.rules = {
            rid: Rule(rid, spec.get("urgency"), spec.get("authority")) for rid, spec in rules.items()
        }
        for r in self.rules.values():
            if r.urgency is not None and r.urgency not in URGENCY_ORDER:
                raise ValueError(f"rule {r.id}: unknown urgency {r.urgency!r}")
        self.matcher = PatternMatcher({rid: spec["patterns"] for rid, spec in rules.items()})
        # The words each pattern asks for: a negation it contains ("не дышит") negates nothing.
        self._pattern_words = {p: {w for alts in compile_pattern(p)[1] for w, _ in alts}
                               for spec in rules.values() for p in spec["patterns"]}
        # Per language, the words that negate the word right after them: "не горит свет" (the light is
        # out) is not a fire. Per language because the same letters mean other things elsewhere:
        # Kazakh "не" is "what", Russian "но" folds to English "no".
        self.negations: dict[str, frozenset[str]] = {}
        for lang, ws in (negations or {}).items():
            folded = [words(skeleton(normalize(w))) for w in ws]
            if any(len(f) != 1 for f in folded):
                raise ValueError(f"negations for {lang!r}: one word per entry, got {list(ws)!r}")
            self.negations[lang] = frozenset(f[0] for f in folded)
        # Phrases in which a rule's words name no emergency ("өрт сөндіру жаттығуы", a fire drill; a
        # smoke detector): their words are masked before the rules match (see ``_mask_harmless``).
        self.harmless = PatternMatcher({"harmless": list(harmless)}) if harmless else None

    @classmethod
    def load(cls, path: Path) -> EmergencyRules:
        spec = load_config(path, RulesFile)
        try:
            return cls({rid: r.model_dump() for rid, r in spec.rules.items()}, spec.negations, spec.harmless)
        except ValueError as exc:
            raise ConfigError(f"{path}: {exc}") from None

    def find(self, skel: str, language: str | None = None) -> list[Hit]:
        """One hit per rule (its longest match), in rule order. The words of a harmless phrase count
        as no rule's words (``_mask_harmless``). In a ``language`` with negations, a match is dropped
        when a negation stands right before it or right before its last word ("свет не горит"),
        separated by spaces only, unless the pattern itself has that word ("не дышит")."""
        negs = self.negations.get(language or "", frozenset())
        best: dict[str, Hit] = {}
        hits = self.matcher.find(skel)
        if hits and self.harmless is not None:  # most messages hit no rule: nothing to mask then
            masked = self._mask_harmless(skel)
            if masked is not skel:
                hits = self.matcher.find(masked)
        for h in hits:
            if negs and ((h.before in negs or h.before_last in negs)
                         and not {h.before, h.before_last} & negs & self._pattern_words[h.pattern]):
                continue
            if h.label not in best or len(h.text) > len(best[h.label].text):
                best[h.label] = h
        return [best[r] for r in self.rules if r in best]

    def raises_critical(self, skel: str, language: str | None = None) -> bool:
        """True when a rule that raises urgency to critical hits ``skel``."""
        return any(self.rules[h.label].urgency == "critical" for h in self.find(skel, language))

    def _mask_harmless(self, skel: str) -> str:
        """``skel`` with the words of each harmless phrase written together (only spaces between
        them: "smoke, detector is screaming" is no smoke detector) replaced by underscores of the
        same length, so no rule word can match them while every other word keeps its place and
        still counts for gaps: "a fire drill in our building" no longer matches "a fire ...
        building"; in "дыму, датчик дыма из квартиры" "дым* ... из" still matches "дыму ... из"."""
        found = self.harmless.find(skel)
        if not found:
            return skel
        spans = word_spans(skel)
        chars = list(skel)
        masked = False
        for h in found:
            if any(skel[spans[i][1]:spans[i + 1][0]].strip() for i in range(h.start, h.end - 1)):
                continue
            for a, b in spans[h.start:h.end]:
                chars[a:b] = "_" * (b - a)
            masked = True
        return "".join(chars) if masked else skel  # the same object: ``find`` need not match again


def rule_vetoed(p_critical, n_words, veto: Mapping | None):
    """Where the model vetoes an emergency rule raising urgency to critical: it gives critical less
    than ``veto["below"]`` in a message of at least ``veto["min_words"]`` words (scalars or arrays;
    the engine asks per message, training for every validation message). ``veto`` None: nowhere."""
    if veto is None:
        return np.zeros(np.shape(p_critical), dtype=bool) if np.ndim(p_critical) else False
    return (np.asarray(p_critical) < veto["below"]) & (np.asarray(n_words) >= veto["min_words"])


def raise_urgency(current: str | None, proposed: str | None) -> str | None:
    """The higher of two urgency levels; an unknown level never replaces a known one."""
    if proposed not in URGENCY_ORDER:
        return current
    if current not in URGENCY_ORDER:
        return proposed
    return max(current, proposed, key=URGENCY_ORDER.index)


class DistrictResolver:
    """Sets the district when every gazetteer match in the text agrees on one district."""

    def __init__(self, districts: dict[str, list[str]]):
        self.matcher = PatternMatcher(districts)

    @classmethod
    def load(cls, path: Path) -> DistrictResolver:
        try:
            return cls(load_config(path, GazetteerFile).districts)
        except ValueError as exc:
            raise ConfigError(f"{path}: {exc}") from None

    def resolve(self, skel: str) -> tuple[str | None, list[Hit]]:
        hits = self.matcher.find(skel)
        votes = Counter(h.label for h in hits)
        return (next(iter(votes)) if len(votes) == 1 else None), hits
