"""The public entry point: ``Triage.load(path)`` then ``.classify(text)`` / ``.classify_batch(texts)``.

raw text -> clean -> normalize -> skeleton -> features -> heads -> emergency rules -> district ->
routing -> result. Each step lives in its own module; this one only wires them together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from triage.artifacts import load_model_dir, threshold_for
from triage.config_files import cross_check
from triage.errors import InvalidTextError, ModelLoadError
from triage.matching import words
from triage.model import HEADS, TriageModel
from triage.routing import RULE_VETOED, RoutingTable, urgency_route_reason
from triage.rules import DistrictResolver, EmergencyRules, raise_urgency, rule_vetoed
from triage.settings import Settings, get_settings
from triage.taxonomy import Taxonomy
from triage.text import CleanText, clean, message_script

TOP_K = 3
EXPLAIN_K = 5


@dataclass
class HeadResult:
    label: str
    confidence: float
    alternatives: list[tuple[str, float]]

    def to_dict(self) -> dict:
        return {"label": self.label, "confidence": self.confidence,
                "alternatives": [[lab, p] for lab, p in self.alternatives]}


@dataclass
class Result:
    """One classified message. ``to_dict()`` is the documented output contract."""

    language: str
    script: str
    topic: HeadResult | None
    authority: HeadResult | None
    urgency: HeadResult | None
    district: str | None
    recipient: dict | None
    needs_review: bool
    reasons: list[str]
    model_version: str
    explanation: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    language_confidence: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        # Built by hand: dataclasses.asdict deep-copies recursively and shows up in profiles.
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        for h in HEADS:
            d[h] = getattr(self, h).to_dict() if getattr(self, h) is not None else None
        d["reasons"], d["warnings"] = list(self.reasons), list(self.warnings)
        d["explanation"] = {h: [[f, w] for f, w in feats] for h, feats in self.explanation.items()}
        return d


class Triage:
    """A loaded model plus the editable rule, gazetteer and routing files."""

    def __init__(
        self,
        model: TriageModel,
        langid,
        manifest: dict,
        taxonomy: Taxonomy,
        routing: RoutingTable,
        rules: EmergencyRules,
        districts: DistrictResolver,
        settings: Settings,
    ):
        self.model = model
        self.langid = langid
        self.manifest = manifest
        self.taxonomy = taxonomy
        self.routing = routing
        self.rules = rules
        self.districts = districts
        self.settings = settings
        self.heads = [h for h in HEADS if h in model.heads_]
        self.thresholds: dict[str, float] = {h: float(t) for h, t in manifest.get("thresholds", {}).items()}
        # Per detected language where the model has them (precision holds in each language, not
        # only on average); the pooled threshold for any other language. See ``threshold``.
        self.thresholds_by_language: dict[str, dict[str, float]] = {
            h: {lang: float(t) for lang, t in by.items()}
            for h, by in manifest.get("thresholds_by_language", {}).items()}
        self.critical_threshold = manifest.get("critical_threshold")
        # An emergency rule's hit does not raise urgency to critical where the model gives critical
        # less than ``below`` in a message of at least ``min_words`` words: it is listed, and the
        # message goes to review instead (``rule_vetoed``). None (models trained before it): every
        # hit applies.
        self.rule_veto: dict | None = manifest.get("rule_veto")
        self.version = str(manifest.get("model_version", "unknown"))

    @classmethod
    def load(cls, path: str | Path | None = None, settings: Settings | None = None) -> Triage:
        """Load a model directory (default: the shipped model) after verifying its artifacts."""
        settings = settings or get_settings()
        manifest, art = load_model_dir(Path(path) if path else settings.model_dir)
        if "model" not in art:
            raise ModelLoadError("model directory has no 'model' artifact")
        taxonomy, routing = Taxonomy.load(settings.taxonomy_path), RoutingTable.load(settings.routing_path)
        rules, districts = EmergencyRules.load(settings.emergency_rules_path), DistrictResolver.load(settings.gazetteer_path)
        cross_check(taxonomy, routing, rules, districts, {
            "taxonomy": settings.taxonomy_path, "routing": settings.routing_path,
            "rules": settings.emergency_rules_path, "gazetteer": settings.gazetteer_path})
        return cls(art["model"], art.get("langid"), manifest, taxonomy, routing, rules, districts, settings)

    # -- public API -------------------------------------------------------------------------

    def classify(self, text: str, explain: bool = True) -> Result:
        """Classify one message. Raises :class:`InvalidTextError` for input that is not text."""
        out = self.classify_batch([text], explain=explain, errors="raise")
        return out[0]  # type: ignore[return-value]

    def classify_batch(
        self, texts: Sequence[object], explain: bool = False, errors: str = "raise"
    ) -> list[Result | InvalidTextError]:
        """Classify many messages with one vectorized pass.

        ``errors="raise"`` raises on the first invalid input; ``errors="return"`` puts the
        :class:`InvalidTextError` in that item's place and classifies the rest.
        """
        if isinstance(texts, str | bytes):  # a sequence of characters, never what the caller meant
            raise TypeError("classify_batch takes a sequence of texts; use classify() for one text")
        if errors not in ("raise", "return"):
            raise ValueError(f"errors must be 'raise' or 'return', got {errors!r}")
        cleaned: list[CleanText | InvalidTextError] = []
        for t in texts:
            try:
                cleaned.append(clean(t, self.settings.max_text_chars))
            except InvalidTextError as exc:
                if errors == "raise":
                    raise
                cleaned.append(exc)
        ok = [i for i, c in enumerate(cleaned) if isinstance(c, CleanText)]
        results: list[Result | InvalidTextError] = list(cleaned)  # type: ignore[arg-type]
        if not ok:
            return results
        raw = [cleaned[i].text for i in ok]  # type: ignore[union-attr]
        prep = self.model.prepare(raw)
        probas = self.model.predict_proba(prep)
        languages = self._languages(prep.normalized)
        # Per-batch numpy work, then plain Python lists per row: top-k classes, rounded and raw
        # probabilities (per row, numpy's per-call and per-scalar overheads dominate).
        top = {h: np.argsort(-probas[h], axis=1, kind="stable")[:, :TOP_K].tolist() for h in self.heads}
        rounded = {h: np.round(probas[h], 4).tolist() for h in self.heads}
        for row, i in enumerate(ok):
            results[i] = self._assemble(row, raw[row], cleaned[i], prep, probas, top, rounded, languages[row],  # type: ignore[arg-type]
                                        explain)
        return results

    def threshold(self, head: str, language: str | None = None) -> float:
        """The confidence ``head`` needs to be auto-routed for a message in ``language``."""
        t = threshold_for(self.thresholds, self.thresholds_by_language, head, language)
        return 0.0 if t is None else t

    def _languages(self, normalized: list[str]) -> list[tuple[str, float]]:
        """(language, confidence) per text; ("unknown", 0.0) without a language identifier."""
        if self.langid is None:
            return [("unknown", 0.0)] * len(normalized)
        p = self.langid.predict_proba(normalized)
        best = p.argmax(axis=1)
        names = [str(c) for c in self.langid.classes_]
        conf = np.round(p[np.arange(len(p)), best], 4).tolist()
        return [(names[j], c) for j, c in zip(best.tolist(), conf, strict=True)]

    # -- internals --------------------------------------------------------------------------

    def _head(self, head: str, p: np.ndarray, rounded: list[float], order: list[int]) -> tuple[HeadResult, float]:
        """The head's result and the unrounded probability of its label. ``p``: one row's
        probabilities, ``rounded`` the same to 4 decimals; ``order``: its TOP_K classes, most
        probable first."""
        classes = self.model.classes_[head]
        best = order[0]
        if head == "urgency" and self.critical_threshold is not None and "critical" in classes:
            # Missing an emergency costs far more than a false alarm: critical wins at a lower
            # probability than the argmax, chosen on validation data for recall.
            c = classes.index("critical")
            if p[c] >= self.critical_threshold:
                best = c
        return HeadResult(classes[best], rounded[best], [(classes[j], rounded[j]) for j in order]), float(p[best])

    def _sure_not_critical(self, probas: dict[str, np.ndarray], row: int, skel: str) -> bool:
        """The model gives critical urgency less than ``rule_veto["below"]`` in a message of at
        least ``rule_veto["min_words"]`` words: the hits of emergency rules raising to critical
        are vetoed. Out of fold on the train split, the rules hit 1,012
        messages, 353 of them not critical; below 0.01 they hit 227 non-critical messages and 2
        of the 1,279 critical ones: where the model is 99% sure a message is no emergency, a
        rule's words are mostly used in a harmless sense ("yesterday's fire", "on fire today").
        No message of the training data that a rule hits is shorter than 8 words: on a short one
        ("Горящий дом на углу", 0.002) the model's certainty is extrapolation, and the rule holds."""
        classes = self.model.classes_.get("urgency", [])
        if self.rule_veto is None or "critical" not in classes:
            return False
        return bool(rule_vetoed(probas["urgency"][row][classes.index("critical")], len(words(skel)), self.rule_veto))

    def _explain(self, head: str, label: str, idx: np.ndarray, data: np.ndarray) -> list[tuple[str, float]]:
        """The features that pushed ``head`` towards ``label`` most: value x weight, top EXPLAIN_K.
        ``idx``/``data`` are the row's CSR slices (slicing a CSR row object is slow)."""
        w = self.model.weights(head)
        classes = self.model.classes_[head]
        # A rule may set a label the model never saw (a city's taxonomy without emergency_service or
        # critical): no feature of the model points at it.
        if w is None or len(idx) == 0 or label not in classes:
            return []
        c = classes.index(label)
        contrib = data * w[c, idx]
        k = min(EXPLAIN_K, len(contrib))
        top = np.argpartition(-contrib, k - 1)[:k]
        top = top[np.argsort(-contrib[top])]
        names = self.model.feature_names()
        return [(str(names[idx[j]]), round(float(contrib[j]), 4))
                for j in top if contrib[j] > 0]

    def _assemble(self, row, raw, cleaned, prep, probas, top, rounded, language, explain) -> Result:
        reasons: list[str] = []
        scored = {h: self._head(h, probas[h][row], rounded[h][row], top[h][row]) for h in self.heads}
        heads = {h: r for h, (r, _) in scored.items()}
        # Unrounded: a probability of 0.99996 shows as 1.0 but must not pass a threshold above it.
        below = {h for h, (_, p) in scored.items() if p < self.threshold(h, language[0])}
        reasons += [f"{h}_below_threshold" for h in self.heads if h in below]

        topic = heads.get("topic")
        authority = heads.get("authority")
        urgency = heads.get("urgency")
        route_authority = authority.label if authority else None
        from_default = None
        if topic is not None and (authority is None or "authority" in below):
            default = self.taxonomy.default_authority(topic.label)
            if default is not None and default != route_authority:
                route_authority = from_default = default

        def relabelled_authority(label: str) -> HeadResult | None:
            """The authority head's result showing ``label`` (with the model's probability for it)."""
            return None if authority is None else _relabel(authority, label, probas["authority"][row],
                                                           self.model.classes_["authority"])

        override = rule_set_authority = vetoed = False
        sure_not_critical = self._sure_not_critical(probas, row, prep.skeletons[row])
        for hit in self.rules.find(prep.skeletons[row], language[0]):
            rule = self.rules.rules[hit.label]
            reasons.append(f"rule:{hit.label}:{hit.text}")
            if rule.urgency == "critical" and sure_not_critical:
                vetoed = True  # listed, sent to review, nothing raised or rerouted
                continue
            if urgency is not None:
                new = raise_urgency(urgency.label, rule.urgency)
                if new != urgency.label:
                    urgency = _relabel(urgency, new, probas["urgency"][row], self.model.classes_["urgency"])
                    override = True
            if rule.authority:
                rule_set_authority = True
                if rule.authority != route_authority:
                    route_authority, authority = rule.authority, relabelled_authority(rule.authority)
                    override = True
        if override:
            reasons.append("rule_override")
        if vetoed:
            reasons.append(RULE_VETOED)
        # Critical goes to the emergency service even when the authority head was unsure or elsewhere
        # (routing.yaml's urgency_routes): a life-threatening message must not wait in a department.
        # A rule that names its own authority keeps it (a city may send gas leaks to its gas
        # service's 104; the shipped rules all name emergency_service).
        urgent_route = (self.routing.urgency_routes.get(urgency.label)
                        if urgency is not None and not rule_set_authority else None)
        rerouted = urgent_route is not None and urgent_route != route_authority
        if rerouted:
            route_authority, authority = urgent_route, relabelled_authority(urgent_route)
            reasons.append(urgency_route_reason(urgency.label))

        if from_default is not None and route_authority == from_default:  # not when a rule or route replaced it
            reasons.insert(len(below), "authority_from_topic_default")  # after the below-threshold reasons

        district, _ = self.districts.resolve(prep.skeletons[row])
        recipient = self.routing.resolve(route_authority, district)
        if recipient is None:
            reasons.append("no_recipient")

        language, lang_conf = language
        explanation = {}
        if explain:
            X = prep.X
            lo, hi = X.indptr[row], X.indptr[row + 1]
            idx, data = X.indices[lo:hi], X.data[lo:hi]
            for h, r in (("topic", topic), ("authority", authority), ("urgency", urgency)):
                if r is not None and h in self.heads:
                    explanation[h] = self._explain(h, r.label, idx, data)
        return Result(
            language=language,
            script=message_script(raw),
            topic=topic,
            authority=authority,
            urgency=urgency,
            district=district,
            recipient=recipient.to_dict() if recipient else None,
            needs_review=bool(below) or override or vetoed or rerouted or recipient is None,
            reasons=reasons,
            model_version=self.version,
            explanation=explanation,
            warnings=list(cleaned.warnings),
            language_confidence=lang_conf,
        )



def _relabel(r: HeadResult, label: str, p: np.ndarray, classes: list[str]) -> HeadResult:
    """The same head result with a rule-imposed label; its confidence is the model's own
    probability for that label (0 when the model never saw it)."""
    conf = float(np.round(p[classes.index(label)], 4)) if label in classes else 0.0
    return HeadResult(label, conf, r.alternatives)
