"""The ``triage`` command: a thin dispatcher over triage/, training/ and api/.

Each subcommand imports what it needs lazily, so ``triage classify`` never loads the web stack
or MLflow.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from triage.settings import get_settings


def _add_columns(p: argparse.ArgumentParser, heads: bool = True) -> None:
    p.add_argument("--text-column", default="text")
    if heads:
        for h in ("topic", "authority", "urgency"):
            p.add_argument(f"--{h}-column", default=h)


def _head_columns(args) -> dict[str, str]:
    return {h: getattr(args, f"{h}_column") for h in ("topic", "authority", "urgency")}


def cmd_train(args) -> int:
    from training.evaluate import write_report
    from training.train import TrainConfig, train
    from triage.engine import Triage
    from triage.io import read_records

    s = get_settings()
    default_run = not args.data
    paths = args.data or [s.data_dir / "train.jsonl"]
    output = Path(args.output or s.model_dir)
    heads = _head_columns(args)
    manifest = train(paths, output, args.text_column, heads, TrainConfig(seed=args.seed))
    print(f"model {manifest['model_version']} saved to {output} in {manifest['train_seconds']} s")
    print("thresholds (chosen on out-of-fold predictions):", json.dumps(manifest["thresholds"]))
    report, report_dir = None, None
    eval_paths = args.eval_data or ([s.data_dir / "test.jsonl"] if default_run else [])
    if eval_paths:
        records = [r for p in eval_paths for r in read_records(p)]
        report_dir = Path(args.report_dir or s.var_dir / "reports" / manifest["model_version"])
        report = write_report(Triage.load(output), records, report_dir, args.text_column, heads)
        print((report_dir / "report.md").read_text(encoding="utf-8"))
    if not args.no_mlflow:
        from training.tracking import log_training_run

        logged = log_training_run(manifest, output, report, report_dir)
        print(f"MLflow run {logged['run_id']}, registered version {logged['registered_version']}")
    return 0


def cmd_classify(args) -> int:
    from tqdm.auto import tqdm

    from triage.engine import Triage
    from triage.errors import DataError
    from triage.io import iter_records

    triage = Triage.load(args.model)
    batch: list[tuple[object, object]] = []
    n_err = 0

    def flush(out):
        nonlocal n_err
        valid = [(i, t) for i, t in batch if not isinstance(t, DataError)]
        results = iter(triage.classify_batch([t for _, t in valid], explain=args.explain, errors="return"))
        for rid, text in batch:
            if isinstance(text, DataError):
                line = {"id": rid, "error": str(text)}
            else:
                r = next(results)
                line = {"id": rid, "error": str(r)} if isinstance(r, Exception) else {"id": rid, **r.to_dict()}
                if not args.explain and "explanation" in line:
                    del line["explanation"]
            n_err += "error" in line
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
        batch.clear()

    out = sys.stdout if str(args.output) == "-" else open(args.output, "w", encoding="utf-8")  # noqa: SIM115
    try:
        with tqdm(desc="classifying", unit="msg", disable=None) as bar:
            for n, rec in iter_records(args.input):
                if isinstance(rec, DataError):
                    batch.append((None, rec))
                else:
                    rid = rec.get("id", rec.get("external_id"))
                    text = rec.get(args.text_column)
                    if text is None:
                        text = DataError(f"line {n}: no {args.text_column!r} field")
                    batch.append((rid, text))
                if len(batch) >= args.batch_size:
                    bar.update(len(batch))
                    flush(out)
            bar.update(len(batch))
            flush(out)
    finally:
        if out is not sys.stdout:
            out.close()
    if n_err:
        print(f"{n_err} line(s) could not be classified; see their 'error' field", file=sys.stderr)
    return 0


def cmd_evaluate(args) -> int:
    from training.evaluate import write_report
    from triage.engine import Triage
    from triage.io import read_records

    triage = Triage.load(args.model)
    records = [r for p in args.data for r in read_records(p)]
    out = Path(args.output or get_settings().var_dir / "reports" / f"eval-{triage.version}")
    heads = _head_columns(args)
    write_report(triage, records, out, args.text_column, heads)
    print((out / "report.md").read_text(encoding="utf-8"))
    print(f"report, errors and confusion matrices (PNG) in {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="triage", description="Multilingual triage of citizens' messages.")
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a model (no arguments: the default model from data/samples)")
    p.add_argument("--data", type=Path, action="append", help="JSONL or CSV; repeatable")
    _add_columns(p)
    p.add_argument("--output", type=Path, help="model directory (default: models/default)")
    p.add_argument("--eval-data", type=Path, action="append", help="held-out data to report on")
    p.add_argument("--report-dir", type=Path)
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--no-mlflow", action="store_true", help="skip MLflow logging and registration")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("classify", help="classify a JSONL/CSV file into JSONL, streaming")
    p.add_argument("--model", type=Path)
    p.add_argument("--input", type=Path, required=True)
    p.add_argument("--output", type=Path, required=True, help="JSONL file, or - for stdout")
    _add_columns(p, heads=False)
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--explain", action="store_true", help="add the features behind each decision")
    p.set_defaults(func=cmd_classify)

    p = sub.add_parser("evaluate", help="report on labelled data: JSON, markdown, confusion PNGs")
    p.add_argument("--model", type=Path)
    p.add_argument("--data", type=Path, action="append", required=True)
    p.add_argument("--output", type=Path)
    _add_columns(p)
    p.set_defaults(func=cmd_evaluate)
    return ap


def main(argv: list[str] | None = None) -> int:
    from triage.errors import TriageError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except TriageError as exc:
        print(f"triage {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
