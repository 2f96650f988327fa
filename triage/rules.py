"""Rule layers fed from pattern files: emergency rules (raise urgency) and the district gazetteer."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from triage.matching import Hit, PatternMatcher, words
from triage.text import normalize, skeleton

URGENCY_ORDER = ("low", "medium", "high", "critical")


@dataclass(frozen=True)
class Rule:
    id: str
    urgency: str | None
    authority: str | None


class EmergencyRules:
    """Life-threatening situations. Rules may only raise urgency and set the authority."""

    def __init__(self, rules: dict[str, dict], negations: Sequence[str] = ()):
        self.rules = {
            rid: Rule(rid, spec.get("urgency"), spec.get("authority")) for rid, spec in rules.items()
        }
        for r in self.rules.values():
            if r.urgency is not None and r.urgency not in URGENCY_ORDER:
                raise ValueError(f"rule {r.id}: unknown urgency {r.urgency!r}")
        self.matcher = PatternMatcher({rid: spec["patterns"] for rid, spec in rules.items()})
        # A match right after a negation ("не горит свет": the light is out, nothing burns) is not
        # a hit. Patterns that need the negation ("не дышит") include it, so it is part of the match.
        self.negations = frozenset(w for n in negations for w in words(skeleton(normalize(n))))

    @classmethod
    def load(cls, path: Path) -> EmergencyRules:
        spec = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        return cls(spec["rules"], spec.get("negations") or ())

    def find(self, skel: str) -> list[Hit]:
        """One hit per rule (its longest match not right after a negation), in rule order."""
        best: dict[str, Hit] = {}
        for h in self.matcher.find(skel):
            if h.preceding in self.negations:
                continue
            if h.label not in best or len(h.text) > len(best[h.label].text):
                best[h.label] = h
        return [best[r] for r in self.rules if r in best]


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
        return cls(yaml.safe_load(Path(path).read_text(encoding="utf-8"))["districts"])

    def resolve(self, skel: str) -> tuple[str | None, list[Hit]]:
        hits = self.matcher.find(skel)
        votes = Counter(h.label for h in hits)
        return (next(iter(votes)) if len(votes) == 1 else None), hits
