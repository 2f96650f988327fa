"""The label space as data: names in kk/ru/en, descriptions, each topic's default authority."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from triage.config_files import TaxonomyFile, checked_yaml


@dataclass(frozen=True)
class Taxonomy:
    topics: dict[str, dict]
    authorities: dict[str, dict[str, str]]
    urgency: dict[str, dict]
    districts: dict[str, dict[str, str]]
    languages: tuple[str, ...]
    channels: tuple[str, ...]

    @classmethod
    def load(cls, path: Path) -> Taxonomy:
        d = checked_yaml(path, TaxonomyFile)  # descriptions and examples are kept as written
        return cls(
            topics=d["topics"],
            authorities=d["authorities"],
            urgency=d["urgency"],
            districts=d["districts"],
            languages=tuple(d.get("languages", ("kk", "ru", "en"))),
            channels=tuple(d.get("channels", ())),
        )

    def default_authority(self, topic: str | None) -> str | None:
        return (self.topics.get(topic) or {}).get("default_authority") if topic else None

    def labels(self, head: str) -> list[str]:
        return list({"topic": self.topics, "authority": self.authorities, "urgency": self.urgency,
                     "district": self.districts}[head])

    def name(self, head: str, label: str, lang: str) -> str:
        """Human name of a label in kk/ru/en (the label itself when the taxonomy doesn't know it)."""
        table = {"topic": self.topics, "urgency": self.urgency}.get(head)
        if table is not None:
            return ((table.get(label) or {}).get("names") or {}).get(lang, label)
        table = {"authority": self.authorities, "district": self.districts}.get(head, {})
        return (table.get(label) or {}).get(lang, label)
