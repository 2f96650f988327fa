"""Evaluate a model on labelled data: the report a person reads (per head, per class, per
language, calibration, coverage at the thresholds, confusion matrices, the errors themselves)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from training.metrics import head_metrics
from triage.engine import Triage
from triage.errors import DataError
from triage.model import HEADS
from triage.routing import overruled

BATCH = 256


def predict_records(triage: Triage, records: list[dict], text_column: str = "text", progress: bool = True) -> list:
    missing = next((k for k, r in enumerate(records) if text_column not in r), None)
    if missing is not None:
        raise DataError(f"record {missing + 1} has no {text_column!r} field")
    out = []
    for i in tqdm(range(0, len(records), BATCH), desc="classifying", disable=not progress):
        out += triage.classify_batch([r[text_column] for r in records[i:i + BATCH]], errors="return")
    return out


def evaluate(triage: Triage, records: list[dict], text_column: str = "text",
             head_columns: dict[str, str] | None = None, progress: bool = True) -> tuple[dict, list]:
    """Metrics dict and the per-record results. Heads the data or the model lack are skipped."""
    head_columns = head_columns or {h: h for h in HEADS}
    results = predict_records(triage, records, text_column, progress)
    ok = [i for i, r in enumerate(results) if not isinstance(r, Exception)]
    recs = [records[i] for i in ok]
    res = [results[i] for i in ok]
    langs = [r.get("language") for r in recs]
    has_lang = all(lang in ("kk", "ru", "en") for lang in langs)
    report: dict = {"model_version": triage.version, "n": len(records), "invalid": len(records) - len(ok),
                    "heads": {}}
    for h in triage.heads:
        col = head_columns.get(h, h)
        idx = [k for k, r in enumerate(recs) if r.get(col) is not None]
        if not idx:
            continue
        y = [str(recs[k][col]) for k in idx]
        pred = [getattr(res[k], h).label for k in idx]
        conf = [getattr(res[k], h).confidence for k in idx]
        # The engine's own decision (unrounded confidence, the detected language's threshold); a
        # rule override or an urgency route (routing.yaml: critical -> emergency_service) sends the
        # message to review, so none of its labels is auto-routed.
        routed = ([f"{h}_below_threshold" not in res[k].reasons and not overruled(res[k].reasons)
                   for k in idx] if h in triage.thresholds else None)
        report["heads"][h] = head_metrics(y, pred, conf, triage.thresholds.get(h),
                                          [langs[k] for k in idx] if has_lang else None, routed)
        if triage.thresholds_by_language.get(h):
            report["heads"][h]["thresholds_by_language"] = triage.thresholds_by_language[h]
        report["heads"][h]["labels"] = sorted(set(y) | set(pred))
    if "urgency" in report["heads"]:
        y = np.array([r.get(head_columns.get("urgency", "urgency")) for r in recs], dtype=object)
        pred = np.array([r.urgency.label for r in res], dtype=object)
        crit = y == "critical"
        if crit.any():
            report["critical_recall"] = float((pred[crit] == "critical").mean())
            flagged = pred == "critical"
            report["critical_precision"] = float(crit[flagged].mean()) if flagged.any() else 0.0
    auto = np.array([not r.needs_review for r in res])
    report["auto_routed_share"] = float(auto.mean()) if len(auto) else 0.0
    if has_lang:
        report["language_id"] = _language_report(recs, res)
    if all("district" in r for r in recs):
        y = [r.get("district") for r in recs]
        pred = [r.district for r in res]
        named = [k for k, d in enumerate(y) if d]
        report["district"] = {
            "accuracy": float(np.mean([y[k] == pred[k] for k in range(len(y))])),
            "recall_when_named": float(np.mean([y[k] == pred[k] for k in named])) if named else None,
            "false_district": int(sum(1 for k in range(len(y)) if pred[k] and pred[k] != y[k])),
        }
    return report, results


def _language_report(recs, res) -> dict:
    out = {}
    for lang in ("kk", "ru", "en"):
        m = [k for k, r in enumerate(recs) if r["language"] == lang]
        out[lang] = {"n": len(m), "accuracy": float(np.mean([res[k].language == lang for k in m])) if m else None}
    for form in ("cyrl", "latn", "folded"):
        m = [k for k, r in enumerate(recs) if r.get("kk_form") == form]
        if m:
            out[f"kk_{form}"] = {"n": len(m), "accuracy": float(np.mean([res[k].language == "kk" for k in m]))}
    out["overall"] = float(np.mean([res[k].language == recs[k]["language"] for k in range(len(recs))]))
    return out


def markdown(report: dict) -> str:
    lines = [f"# Evaluation of model {report['model_version']}", "",
             f"Messages: {report['n']} (invalid: {report['invalid']}); auto-routed without review: "
             f"{report['auto_routed_share']:.1%}.", "",
             "| head | accuracy | macro-F1 | ECE | threshold | coverage | precision at threshold |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for h, m in report["heads"].items():
        by = m.get("thresholds_by_language")
        shown = (" / ".join(f"{lang} {_threshold(t)}" for lang, t in sorted(by.items())) if by
                 else _threshold(m.get("threshold", float("nan"))))
        lines.append(f"| {h} | {m['accuracy']:.3f} | {m['macro_f1']:.3f} | {m['ece']:.3f} | {shown} | "
                     f"{m.get('coverage', float('nan')):.1%} | {m.get('precision_at_threshold', float('nan')):.3f} |")
    if "critical_recall" in report:
        lines += ["", f"Critical urgency: recall **{report['critical_recall']:.3f}**, "
                      f"precision {report['critical_precision']:.3f}."]
    langs = sorted({lang for m in report["heads"].values() for lang in m.get("per_language", {})})
    if langs:
        lines += ["", "Per language (macro-F1 / accuracy):", "",
                  "| head | " + " | ".join(langs) + " |", "|---|" + "---:|" * len(langs)]
        for h, m in report["heads"].items():
            # A head may be labelled in some languages only: "–" where it has no rows.
            cells = [f"{m['per_language'][lang]['macro_f1']:.3f} / {m['per_language'][lang]['accuracy']:.3f}"
                     if lang in m["per_language"] else "–" for lang in langs]
            lines.append(f"| {h} | " + " | ".join(cells) + " |")
        routed = [h for h, m in report["heads"].items()
                  if all("coverage" in m["per_language"].get(lang, {}) for lang in langs)]
        if routed:
            lines += ["", "Auto-routing per language (coverage / precision at threshold):", "",
                      "| head | " + " | ".join(langs) + " |", "|---|" + "---:|" * len(langs)]
            for h in routed:
                pl = report["heads"][h]["per_language"]
                lines.append(f"| {h} | " + " | ".join(
                    f"{pl[lang]['coverage']:.1%} / {pl[lang]['precision_at_threshold']:.3f}" for lang in langs) + " |")
    if "language_id" in report:
        li = report["language_id"]
        lines += ["", "Language identification accuracy: " + ", ".join(
            f"{k} {v['accuracy']:.3f} (n={v['n']})" for k, v in li.items()
            if isinstance(v, dict) and v["accuracy"] is not None  # a language absent from the data
        ) + f"; overall {li['overall']:.3f}."]
    if "district" in report:
        d = report["district"]
        named = "no message names one" if d["recall_when_named"] is None else f"{d['recall_when_named']:.3f}"
        lines += ["", f"District: accuracy {d['accuracy']:.3f}, recall when the text names one "
                      f"{named}, wrong district set {d['false_district']} times."]
    for h, m in report["heads"].items():
        lines += ["", f"## {h}: per-class F1", "", "| label | F1 |", "|---|---:|"]
        lines += [f"| {lab} | {f:.3f} |" for lab, f in sorted(m["per_class_f1"].items())]
    return "\n".join(lines) + "\n"


def _threshold(t: float) -> str:
    return "none" if t > 1.0 else f"{t:.2f}"  # above 1.0: nothing qualified, all to review


def confusion_pngs(report: dict, records: list[dict], results: list, out_dir: Path,
                   head_columns: dict[str, str] | None = None) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay

    head_columns = head_columns or {h: h for h in HEADS}
    paths = []
    for h, m in report["heads"].items():
        col = head_columns.get(h, h)
        pairs = [(str(r[col]), getattr(res, h).label) for r, res in zip(records, results, strict=True)
                 if not isinstance(res, Exception) and r.get(col) is not None]
        labels = m["labels"]
        size = max(5, 0.45 * len(labels) + 3)
        fig, ax = plt.subplots(figsize=(size, size))
        ConfusionMatrixDisplay.from_predictions([a for a, _ in pairs], [b for _, b in pairs], labels=labels,
                                                ax=ax, xticks_rotation=90, colorbar=False, cmap="Blues")
        ax.set_title(f"{h} (accuracy {m['accuracy']:.3f}, macro-F1 {m['macro_f1']:.3f})")
        fig.tight_layout()
        p = out_dir / f"confusion_{h}.png"
        fig.savefig(p, dpi=110)
        plt.close(fig)
        paths.append(p)
    return paths


def errors_jsonl(records, results, out_dir: Path, text_column="text", head_columns=None) -> Path:
    head_columns = head_columns or {h: h for h in HEADS}
    p = out_dir / "errors.jsonl"
    with open(p, "w", encoding="utf-8") as f:
        for r, res in zip(records, results, strict=True):
            if isinstance(res, Exception):
                f.write(json.dumps({"id": r.get("id"), "error": str(res)}, ensure_ascii=False) + "\n")
                continue
            wrong = {h: {"expected": r.get(head_columns.get(h, h)), "predicted": getattr(res, h).label}
                     for h in HEADS if getattr(res, h) is not None and r.get(head_columns.get(h, h)) is not None
                     and str(r[head_columns.get(h, h)]) != getattr(res, h).label}
            if wrong:
                f.write(json.dumps({"id": r.get("id"), "text": r.get(text_column), "wrong": wrong,
                                    "language": r.get("language")}, ensure_ascii=False) + "\n")
    return p


def write_report(triage: Triage, records: list[dict], out_dir: Path, text_column="text", head_columns=None,
                 progress=True) -> dict:
    """Evaluate and write report.json, report.md, errors.jsonl and confusion_<head>.png."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    report, results = evaluate(triage, records, text_column, head_columns, progress)
    (out_dir / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    (out_dir / "report.md").write_text(markdown(report), encoding="utf-8")
    confusion_pngs(report, records, results, out_dir, head_columns)
    errors_jsonl(records, results, out_dir, text_column, head_columns)
    return report
