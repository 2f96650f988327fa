"""The emergency safety net on messages written for it and kept out of the dataset (not part of the tests).

    python bench/critical_probe.py [--data data/samples/probes/critical.jsonl] [--model DIR] [--out bench/results]

Each probe line has ``text``, ``language``, ``kk_form`` and ``expected_critical`` (plus a few words on
the ``situation``); a labelled dataset works too (``--data data/samples/test.jsonl``: a message is
life-threatening when its ``urgency`` is critical): life-threatening messages, and harmless ones that use the same scary words (a gas
bill, a fire drill, yesterday's fire that is out). Reports, per language and Kazakh form, how many
life-threatening messages were labelled critical AND routed to the emergency service, how many were
labelled critical (routed there or not), and the false alarms; then lists every miss and false alarm with its reasons.
On a labelled dataset it also prints what the recall-first safety net costs in urgency macro-F1: the
pipeline's urgency (critical threshold and rules) against the urgency head's own most probable label,
and where its wrong authorities come from (ordinary confusions, or non-emergencies sent to the
emergency service by a rule, by the urgency route or by the authority head itself).
Writes probe_<data file name>.json and .md to --out.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sklearn.metrics import f1_score  # noqa: E402

from triage.engine import Triage  # noqa: E402
from triage.io import read_records  # noqa: E402
from triage.routing import URGENCY_ROUTE  # noqa: E402


def urgency_trade(engine: Triage, records: list[dict], results) -> dict[str, dict[str, float]]:
    """Urgency macro-F1 and critical recall of the pipeline and of the urgency head's argmax."""
    truth = [r["urgency"] for r in records]
    proba = engine.model.predict_proba(engine.model.prepare([r["text"] for r in records]))["urgency"]
    classes = engine.model.classes_["urgency"]
    preds = {"pipeline (critical threshold, rules)": [r.urgency.label for r in results],
             "urgency head's argmax": [classes[i] for i in proba.argmax(axis=1)]}
    critical = [i for i, t in enumerate(truth) if t == "critical"]
    return {name: {"macro_f1": float(f1_score(truth, pred, average="macro")),
                   "critical_recall": sum(pred[i] == "critical" for i in critical) / max(len(critical), 1)}
            for name, pred in preds.items()}


def authority_errors(records: list[dict], results) -> dict[str, int]:
    """Wrong authorities by cause; the safety net's are non-emergencies sent to the emergency service."""
    out = {"wrong": 0, "ordinary confusion": 0, "missed emergency_service": 0, "sent there by a rule": 0,
           "sent there by the urgency route": 0, "sent there by the authority head": 0}
    for rec, res in zip(records, results, strict=True):
        if res.authority is None or res.authority.label == rec["authority"]:
            continue
        out["wrong"] += 1
        if rec["authority"] == "emergency_service":
            out["missed emergency_service"] += 1
        elif res.authority.label != "emergency_service":
            out["ordinary confusion"] += 1
        elif any(r.startswith(URGENCY_ROUTE) for r in res.reasons):
            out["sent there by the urgency route"] += 1
        elif "rule_override" in res.reasons:
            out["sent there by a rule"] += 1
        else:
            out["sent there by the authority head"] += 1
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=REPO / "data/samples/probes/critical.jsonl")
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=REPO / "bench/results")
    args = ap.parse_args()
    probe = list(read_records(args.data))
    engine = Triage.load(args.model)
    results = engine.classify_batch([p["text"] for p in probe])
    groups: dict[str, dict[str, int]] = defaultdict(lambda: dict(critical=0, reached=0, labelled=0,
                                                                  harmless=0, false_alarms=0))
    misses, alarms = [], []
    for p in probe:
        p.setdefault("expected_critical", p.get("urgency") == "critical")
    for p, r in zip(probe, results, strict=True):
        labelled = r.urgency is not None and r.urgency.label == "critical"
        reached = labelled and r.recipient is not None and r.recipient["authority"] == "emergency_service"
        row = {"text": p["text"], "situation": p.get("situation"), "urgency": r.urgency.label,
               "confidence": r.urgency.confidence, "recipient": r.recipient and r.recipient["id"],
               "reasons": r.reasons}
        for g in (p["language"], *([f"kk_{p['kk_form']}"] if p.get("kk_form") else []), "all"):
            s = groups[g]
            if p["expected_critical"]:
                s["critical"] += 1
                s["reached"] += reached
                s["labelled"] += labelled
            else:
                s["harmless"] += 1
                s["false_alarms"] += reached
        if p["expected_critical"] and not reached:
            misses.append(row)
        if not p["expected_critical"] and reached:
            alarms.append(row)
    trade = urgency_trade(engine, probe, results) if all(p.get("urgency") for p in probe) else None
    authority = authority_errors(probe, results) if all(p.get("authority") for p in probe) else None
    order = [g for g in ("kk", "kk_cyrl", "kk_latn", "kk_folded", "ru", "en", "all") if g in groups]
    lines = [f"Model {engine.version}, {len(probe)} probe messages ({args.data.name}).", "",
             "| group | life-threatening: critical and sent to the emergency service | labelled critical | "
             "harmless sent to the emergency service |", "|---|---:|---:|---:|"]
    for g in order:
        s = groups[g]
        lines.append(f"| {g} | {s['reached']}/{s['critical']} ({s['reached'] / max(s['critical'], 1):.0%}) | "
                     f"{s['labelled']}/{s['critical']} | {s['false_alarms']}/{s['harmless']} |")
    if trade:
        lines += ["", "| urgency | macro-F1 | critical recall |", "|---|---:|---:|",
                  *(f"| {k} | {v['macro_f1']:.3f} | {v['critical_recall']:.3f} |" for k, v in trade.items())]
    if authority:
        net = authority["sent there by a rule"] + authority["sent there by the urgency route"]
        lines += ["", f"Authority: {authority['wrong']} of {len(probe)} wrong (accuracy "
                      f"{1 - authority['wrong'] / len(probe):.3f}; {1 - (authority['wrong'] - net) / len(probe):.3f} "
                      "without the safety net's sends)", "", "| cause | messages |", "|---|---:|",
                  *(f"| {k} | {v} |" for k, v in authority.items() if k != "wrong")]
    print("\n".join(lines))
    for title, rows in (("Misses", misses), ("False alarms", alarms)):
        print(f"\n{title} ({len(rows)}):")
        for row in rows:
            print(f"- [{row['urgency']} {row['confidence']:.2f} -> {row['recipient']}] {row['text'][:110]!r} "
                  f"{[x for x in row['reasons'] if not x.endswith('_threshold')]}")
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"probe_{args.data.stem}"
    (args.out / f"{stem}.json").write_text(json.dumps(
        {"model_version": engine.version, "groups": groups, "urgency_trade": trade,
         "authority_errors": authority, "misses": misses,
         "false_alarms": alarms},
        ensure_ascii=False, indent=1), encoding="utf-8")
    (args.out / f"{stem}.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
