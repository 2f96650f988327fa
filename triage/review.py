"""Active learning: which stored messages a reviewer sees first.

A message enters the review queue for one of two reasons:

- ``uncertain``: the engine set ``needs_review``. Its priority is the largest per-head
  uncertainty, ``1 - (p1 - p2)`` (one minus the margin between the top two labels, so a
  0.41/0.40 split outranks a lone 0.41), plus bonuses for signals a margin can't see:
  an emergency rule overriding the model or a critical urgency rerouting the authority (+0.5:
  rule or urgency versus the authority head), the authority
  head below its threshold so the topic's default authority was used (+0.25: the heads
  disagree or the authority is unknown), and no recipient in the routing table (+0.25).
- ``quality_check``: a confident message sampled at ``quality_sample_rate``; its priority is
  uniform on [0, 1), so checks are spread through the queue instead of piling up at its end.

With ``head=...`` the queue is ordered by that head's confidence, lowest first.
"""

from __future__ import annotations

import random

from triage.routing import overruled

RULE_CONFLICT_BONUS = 0.5
HEAD_DISAGREEMENT_BONUS = 0.25
NO_RECIPIENT_BONUS = 0.25


def uncertainty(head: dict | None) -> float:
    """1 - margin between the two most probable labels of one head's result (0 when no head)."""
    if not head:
        return 0.0
    alts = head.get("alternatives") or []
    p1 = float(alts[0][1]) if alts else float(head.get("confidence", 1.0))
    p2 = float(alts[1][1]) if len(alts) > 1 else 0.0
    return round(1.0 - max(0.0, p1 - p2), 4)


def review_priority(result: dict, rng: random.Random, quality_sample_rate: float) -> tuple[str | None, float]:
    """(reason, priority) for a result dict (``Result.to_dict()``); reason None = not queued."""
    reasons = result.get("reasons") or []
    if result.get("needs_review"):
        score = max(uncertainty(result.get(h)) for h in ("topic", "authority", "urgency"))
        # A rule against the model, or a critical urgency sending the message somewhere the
        # authority head did not say (routing.yaml's urgency_routes): the heads conflict on a
        # message that may be life-threatening.
        if overruled(reasons):
            score += RULE_CONFLICT_BONUS
        if "authority_from_topic_default" in reasons:
            score += HEAD_DISAGREEMENT_BONUS
        if "no_recipient" in reasons:
            score += NO_RECIPIENT_BONUS
        return "uncertain", round(score, 4)
    if rng.random() < quality_sample_rate:
        return "quality_check", round(rng.random(), 4)
    return None, 0.0
