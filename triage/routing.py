"""Routing table: authority (+ district) -> recipient, from an editable YAML file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from triage.config_files import RoutingFile, checked_yaml

URGENCY_ROUTE = "urgency_route:"  # reason prefix: ``urgency_route:<level>`` (the reviewer page translates it)


def urgency_route_reason(level: str) -> str:
    return f"{URGENCY_ROUTE}{level}"


RULE_VETOED = "rule_vetoed"  # reason: an emergency rule matched where the model was sure of no emergency


def overruled(reasons) -> bool:
    """True when a rule (``rule_override``) or an urgency route overruled the heads, or the model
    vetoed an emergency rule (``rule_vetoed``): the message goes to review and none of its labels
    counts as auto-routed."""
    return any(r in ("rule_override", RULE_VETOED) or str(r).startswith(URGENCY_ROUTE) for r in reasons)


@dataclass(frozen=True)
class Recipient:
    id: str
    authority: str
    district: str | None
    name: dict[str, str]
    channel: str

    def to_dict(self) -> dict:
        # Spelled out: dataclasses.asdict deep-copies field by field, a tenth of classify_batch's time.
        return {"id": self.id, "authority": self.authority, "district": self.district,
                "name": dict(self.name), "channel": self.channel}


class RoutingTable:
    def __init__(self, recipients: dict[str, dict], urgency_routes: dict[str, str] | None = None):
        self.recipients = recipients
        self.urgency_routes = dict(urgency_routes or {})

    @classmethod
    def load(cls, path: Path) -> RoutingTable:
        data = checked_yaml(path, RoutingFile)
        return cls(data["recipients"], data.get("urgency_routes") or {})

    def resolve(self, authority: str | None, district: str | None) -> Recipient | None:
        """The district's own recipient when the table has one, else the authority's city-wide one;
        None for an authority the table does not know (the message then needs review)."""
        if authority is None or authority not in self.recipients:
            return None
        entry = self.recipients[authority]
        local = (entry.get("districts") or {}).get(district) if district else None
        if local:
            return Recipient(f"{authority}:{district}", authority, district, local["name"], local["channel"])
        return Recipient(authority, authority, None, entry["name"], entry["channel"])
