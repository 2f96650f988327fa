"""The feedback loop: retrain on the starter data plus reviewers' corrections, compare the candidate
with the champion, promote it when it is not worse and is better where the corrections say so.

    triage retrain [--force --reason "..."] [--no-promote] [--no-mlflow]
    python -m training.retrain   (same flags)
    triage promote --version N | --model-dir DIR [--reason "..."]

Corrections come from the store: per message, the latest correction of each field (the stored,
redacted text is what the model trains on). A fixed fifth of the corrected messages, chosen by a
hash of the message id (so the same ones on every retrain, never trained on), is the *corrections
slice*: the held-out check that the candidate learned what reviewers taught. Promotion gate:

- on the frozen test split, no head's macro-F1 may drop by more than ``promotion_tolerance``;
- on the corrections slice, the candidate's mean accuracy over the heads must be higher.

``--force`` skips the gate and needs ``--reason``, which is logged with the promotion.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import shutil
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from training.evaluate import predict_records, write_report
from training.train import TrainConfig, label_counts, min_label_examples, rare_labels, train
from triage.champion import read_pointer, serving_model_dir, write_pointer
from triage.engine import Triage
from triage.errors import DataError
from triage.io import read_records, write_jsonl
from triage.model import HEADS
from triage.settings import Settings, get_settings
from triage.smoke import load_checked
from triage.store import Store

CORRECTIONS_HOLDOUT_MOD = 5  # 1 in 5 corrected messages is held out

log = logging.getLogger("triage.retrain")


def is_held_out(message_id: int) -> bool:
    digest = hashlib.sha256(f"triage-corrections:{message_id}".encode()).digest()
    return digest[0] % CORRECTIONS_HOLDOUT_MOD == 0


@dataclass
class RetrainResult:
    run_dir: Path
    candidate_dir: Path
    candidate_version: str
    champion_version: str
    comparison: dict
    promoted: bool
    registered_version: str | None = None


def split_corrections(labeled: list[dict]) -> tuple[list[dict], list[dict]]:
    """(for training, held out) records from ``Store.labeled_messages()``."""
    train_part, held = [], []
    for r in labeled:
        rec = {"text": r["text"], "message_id": r["id"], **{h: r.get(h) for h in HEADS}}
        if is_held_out(r["id"]):
            held.append({**rec, "language": r.get("language")})
        else:
            # No language: a stored language is the model's own guess, and language ID must not
            # learn from itself. With any language missing, it is trained on the starter set.
            train_part.append({**rec, "language": None})
    return train_part, held


def _hold_back_rare(records: list[dict], min_examples: int) -> list[str]:
    """A label reviewers introduced on fewer messages than training can calibrate (a new label used
    once) is left out of this retrain, for that head only, instead of failing the whole retrain; the
    corrections stay in the store and count once there are enough. Returns what was held back."""
    notes = []
    for h in HEADS:
        counts = label_counts(r.get(h) for r in records)
        rare = set(rare_labels(counts, min_examples))
        if rare:
            for r in records:
                if r.get(h) in rare:
                    r[h] = None
            notes.append(f"{h}: held back until at least {min_examples} messages have it: "
                         + ", ".join(f"{lab!r} ({counts[lab]})" for lab in sorted(rare)))
    return notes


def _head_summary(report: dict) -> dict:
    return {h: {"macro_f1": m["macro_f1"], "accuracy": m["accuracy"],
                "per_language": {lang: v["macro_f1"] for lang, v in (m.get("per_language") or {}).items()}}
            for h, m in report["heads"].items()}


def compare(champ_test: dict, cand_test: dict, champ_corr: dict | None, cand_corr: dict | None,
            tolerance: float) -> dict:
    """Per head and language deltas, and the promotion gate's verdict."""
    heads = sorted(set(champ_test["heads"]) & set(cand_test["heads"]))
    ch, ca = _head_summary(champ_test), _head_summary(cand_test)
    rows = {}
    for h in heads:
        langs = sorted(set(ch[h]["per_language"]) | set(ca[h]["per_language"]))
        rows[h] = {
            "champion_macro_f1": ch[h]["macro_f1"], "candidate_macro_f1": ca[h]["macro_f1"],
            "delta": round(ca[h]["macro_f1"] - ch[h]["macro_f1"], 4),
            "per_language_delta": {lang: round(ca[h]["per_language"].get(lang, 0) - ch[h]["per_language"].get(lang, 0), 4)
                                   for lang in langs},
        }
    worse = [h for h in heads if rows[h]["delta"] < -tolerance]
    # Informational, not gated: how much each model would auto-route, and how precisely.
    routing = {h: {side: {k: report["heads"][h][k] for k in ("coverage", "precision_at_threshold")}
                   for side, report in (("champion", champ_test), ("candidate", cand_test))}
               for h in heads if all("coverage" in r["heads"][h] for r in (champ_test, cand_test))}
    out = {"tolerance": tolerance, "test": rows, "worse_on_test": worse, "routing": routing,
           "auto_routed_share": {"champion": champ_test.get("auto_routed_share"),
                                 "candidate": cand_test.get("auto_routed_share")}}
    if champ_corr and cand_corr and champ_corr["heads"]:
        hs = sorted(set(champ_corr["heads"]) & set(cand_corr["heads"]))
        champ_acc = sum(champ_corr["heads"][h]["accuracy"] for h in hs) / len(hs)
        cand_acc = sum(cand_corr["heads"][h]["accuracy"] for h in hs) / len(hs)
        out["corrections"] = {"n": champ_corr["n"], "champion_accuracy": round(champ_acc, 4),
                              "candidate_accuracy": round(cand_acc, 4),
                              "per_head": {h: {"champion": champ_corr["heads"][h]["accuracy"],
                                               "candidate": cand_corr["heads"][h]["accuracy"]} for h in hs}}
        better = cand_acc > champ_acc
    else:
        out["corrections"] = None
        better = False
    out["better_on_corrections"] = better
    out["gate_passed"] = not worse and better
    return out


def changed_predictions(champion: Triage, candidate: Triage, records: list[dict], slice_name: str) -> list[dict]:
    """The messages whose predicted label changed on any head, with the gold labels."""
    a = predict_records(champion, records, "text", progress=False)
    b = predict_records(candidate, records, "text", progress=False)
    out = []
    for rec, ra, rb in zip(records, a, b, strict=True):
        if isinstance(ra, Exception) or isinstance(rb, Exception):
            continue
        diff = {h: {"champion": getattr(ra, h).label, "candidate": getattr(rb, h).label, "gold": rec.get(h)}
                for h in HEADS if getattr(ra, h) is not None and getattr(rb, h) is not None
                and getattr(ra, h).label != getattr(rb, h).label}
        if diff:
            out.append({"slice": slice_name, "text": rec["text"], "language": rec.get("language"), "changes": diff})
    return out


def comparison_markdown(c: dict, champion: str, candidate: str) -> str:
    lines = [f"# Candidate {candidate} vs champion {champion}", "",
             f"Frozen test split, macro-F1 (tolerance {c['tolerance']}):", "",
             "| head | champion | candidate | delta | per language delta |", "|---|---:|---:|---:|---|"]
    for h, r in c["test"].items():
        per = ", ".join(f"{k} {v:+.3f}" for k, v in r["per_language_delta"].items())
        lines.append(f"| {h} | {r['champion_macro_f1']:.3f} | {r['candidate_macro_f1']:.3f} | {r['delta']:+.3f} | {per} |")
    if c.get("routing"):
        share = c.get("auto_routed_share") or {}
        lines += ["", "Auto-routing on the test split (coverage / precision at threshold; not gated):", "",
                  "| head | champion | candidate |", "|---|---:|---:|"]
        for h, r in c["routing"].items():
            cells = [f"{r[s]['coverage']:.1%} / {r[s]['precision_at_threshold']:.3f}" for s in ("champion", "candidate")]
            lines.append(f"| {h} | {cells[0]} | {cells[1]} |")
        if share.get("champion") is not None and share.get("candidate") is not None:
            lines += ["", f"Messages auto-routed without review: champion {share['champion']:.1%}, "
                          f"candidate {share['candidate']:.1%}."]
    corr = c.get("corrections")
    lines += [""]
    if corr:
        lines += [f"Corrections slice ({corr['n']} held-out corrected messages), mean accuracy over heads: "
                  f"champion {corr['champion_accuracy']:.3f}, candidate {corr['candidate_accuracy']:.3f}.", ""]
    else:
        lines += ["No held-out corrections: the candidate cannot show it learned from them.", ""]
    verdict = "passed" if c["gate_passed"] else "not passed"
    why = []
    if c["worse_on_test"]:
        why.append("worse on the test split for " + ", ".join(c["worse_on_test"]))
    if not c["better_on_corrections"]:
        why.append("not better on the corrections slice")
    lines.append(f"Gate: **{verdict}**" + (f" ({'; '.join(why)})" if why else "") + ".")
    lines.append(f"Messages whose prediction changed: {c.get('n_changed', 0)} (changed_predictions.jsonl).")
    return "\n".join(lines) + "\n"


def retrain(store: Store, settings: Settings | None = None, *, force: bool = False, reason: str | None = None,
            promote_candidate: bool = True, promoted_by: str = "retrain", use_mlflow: bool = True,
            train_paths: list[Path] | None = None, test_path: Path | None = None,
            config: TrainConfig | None = None, progress: bool = True) -> RetrainResult:
    """Train a candidate on the starter train split plus corrections, compare, maybe promote."""
    settings = settings or get_settings()
    if force and not reason:
        raise DataError("--force needs --reason (it is logged with the promotion)")
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    run_dir = settings.var_dir / "retrain" / stamp
    run_dir.mkdir(parents=True, exist_ok=True)
    base = [r for p in (train_paths or [settings.data_dir / "train.jsonl"]) for r in read_records(p)]
    corr_train, corr_held = split_corrections(store.labeled_messages())
    _say(progress, f"training data: {len(base)} starter + {len(corr_train)} corrected messages "
                   f"({len(corr_held)} more held out for evaluation)")
    config = config or TrainConfig()
    for note in _hold_back_rare(base + corr_train, min_label_examples(config)):
        _say(progress, note)
    write_jsonl(run_dir / "train.jsonl", base + corr_train)
    if corr_held:
        write_jsonl(run_dir / "corrections_holdout.jsonl", corr_held)

    cand_dir = settings.var_dir / "models" / stamp
    manifest = train([run_dir / "train.jsonl"], cand_dir, config=config, progress=progress)
    candidate = Triage.load(cand_dir, settings)
    champion_dir = serving_model_dir(settings)
    champion = Triage.load(champion_dir, settings)
    _say(progress, f"candidate {candidate.version} vs champion {champion.version} ({champion_dir})")

    test = read_records(test_path or settings.data_dir / "test.jsonl")
    reports = {}
    for name, model in (("champion", champion), ("candidate", candidate)):
        reports[name, "test"] = write_report(model, test, run_dir / name / "test", progress=progress)
        if corr_held:
            reports[name, "corrections"] = write_report(model, corr_held, run_dir / name / "corrections",
                                                        progress=progress)
    comparison = compare(reports["champion", "test"], reports["candidate", "test"],
                         reports.get(("champion", "corrections")), reports.get(("candidate", "corrections")),
                         settings.promotion_tolerance)
    changed = changed_predictions(champion, candidate, test, "test")
    changed += changed_predictions(champion, candidate, corr_held, "corrections")
    comparison["n_changed"] = len(changed)
    write_jsonl(run_dir / "changed_predictions.jsonl", changed)
    (run_dir / "comparison.json").write_text(json.dumps(comparison, indent=2, ensure_ascii=False), encoding="utf-8")
    (run_dir / "comparison.md").write_text(comparison_markdown(comparison, champion.version, candidate.version),
                                           encoding="utf-8")
    _say(progress, (run_dir / "comparison.md").read_text(encoding="utf-8"))

    registered = None
    if use_mlflow:
        registered = _log_mlflow(manifest, cand_dir, reports, comparison, run_dir, champion.version,
                                 {"force": str(force), "force_reason": reason or ""})
    promoted = False
    if promote_candidate and (comparison["gate_passed"] or force):
        promote(settings, store, cand_dir, promoted_by, registry_version=registered, forced=force and not
                comparison["gate_passed"], reason=reason, metrics=comparison, use_mlflow=use_mlflow)
        promoted = True
        _say(progress, f"promoted {candidate.version}" + (" (forced)" if force and not comparison["gate_passed"] else ""))
    elif promote_candidate:
        _say(progress, f"not promoted: champion {champion.version} keeps serving")
    return RetrainResult(run_dir, cand_dir, candidate.version, champion.version, comparison, promoted, registered)


def promote(settings: Settings, store: Store, model_dir: Path, promoted_by: str, *,
            registry_version: str | None = None, forced: bool = False, reason: str | None = None,
            metrics: dict | None = None, use_mlflow: bool = True) -> dict:
    """Make ``model_dir`` the champion: verify it (hashes, smoke test), set the MLflow alias
    ``champion`` when it is registered, write the pointer the service reads, record who and when.

    The registry is secondary to the pointer (which is what serves): without ``use_mlflow`` it is not
    touched, and when it can't be reached a promotion by directory goes on with a warning (a promotion
    of a registered ``registry_version`` needs it)."""
    engine = load_checked(Path(model_dir), settings)
    previous = read_pointer(settings) or {}
    prev_version = previous.get("model_version")
    if prev_version is None:
        prev_version = Triage.load(settings.model_dir, settings).version if settings.model_dir.exists() else None
    if use_mlflow:
        try:
            registry_version = _move_champion_alias(settings, engine.version, registry_version)
        except Exception as exc:  # MLflow's own errors, or its store's (a server away, a bad URI)
            if registry_version is not None:
                raise
            log.warning("MLflow registry not updated (the champion alias may name another model): %s: %s",
                        type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
    write_pointer(settings, Path(model_dir), engine.version, registry_version)
    return store.record_promotion(engine.version, str(Path(model_dir).resolve()), promoted_by,
                                  registry_version=registry_version, previous_version=prev_version,
                                  forced=forced, reason=reason, metrics=metrics)


def _move_champion_alias(settings: Settings, model_version: str, registry_version: str | None) -> str | None:
    """Point the registry alias ``champion`` at the promoted model: the given registered version, or
    the one registered from a training run of this model (a promotion or rollback by directory).
    When the model was never registered the alias is removed, so that MLflow's tools never serve a
    model the service no longer does. Returns the registered version (None: not registered)."""
    import mlflow

    from training.tracking import setup

    setup()
    client, name = mlflow.MlflowClient(), settings.registered_model_name
    if registry_version is None:
        runs = {r.info.run_id for r in mlflow.search_runs(filter_string=f"tags.model_version = '{model_version}'",
                                                          search_all_experiments=True, output_format="list")}
        found = [v for v in client.search_model_versions(f"name = '{name}'") if v.run_id in runs] if runs else []
        registry_version = str(max(int(v.version) for v in found)) if found else None
    if registry_version is not None:
        client.set_registered_model_alias(name, "champion", str(registry_version))
        return str(registry_version)
    with contextlib.suppress(mlflow.exceptions.MlflowException):  # no such model or alias: nothing to remove
        client.delete_registered_model_alias(name, "champion")
    return None


def registry_model_dir(settings: Settings, version: str) -> Path:
    """Download registered version ``version`` (once) and return its model directory."""
    import mlflow

    from training.tracking import setup

    setup()
    dst = settings.var_dir / "models" / f"registry-{version}"
    if not any(dst.rglob("manifest.json")):
        if dst.exists():
            shutil.rmtree(dst)
        dst.mkdir(parents=True)
        mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{settings.registered_model_name}/{version}",
                                            dst_path=str(dst))
    found = sorted(dst.rglob("manifest.json"))
    if not found:
        raise DataError(f"registered version {version} has no model directory")
    return found[0].parent


def _log_mlflow(manifest, cand_dir, reports, comparison, run_dir, champion_version, tags: dict) -> str | None:
    import mlflow

    from training.tracking import _flatten, log_training_run

    logged = log_training_run(manifest, cand_dir, reports["candidate", "test"], run_dir / "candidate" / "test")
    with mlflow.start_run(run_id=logged["run_id"]):
        metrics = _flatten("champion.", reports["champion", "test"], {})
        if ("candidate", "corrections") in reports:
            _flatten("corrections.candidate.", reports["candidate", "corrections"], metrics)
            _flatten("corrections.champion.", reports["champion", "corrections"], metrics)
        mlflow.log_metrics({k.replace("/", "_")[:250]: v for k, v in metrics.items()})
        mlflow.set_tags({"champion_version": champion_version, "gate_passed": str(comparison["gate_passed"]), **tags})
        mlflow.log_artifacts(str(run_dir), artifact_path="comparison")
    return logged["registered_version"]


def _say(progress: bool, msg: str) -> None:
    if progress:
        print(msg, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    from triage.cli import main as cli_main

    return cli_main(["retrain", *(argv if argv is not None else sys.argv[1:])])


if __name__ == "__main__":
    sys.exit(main())
