"""The ``triage`` command: a thin dispatcher over triage/, training/ and api/.

Each subcommand imports what it needs lazily, so ``triage classify`` never loads the web stack
or MLflow.
"""

from __future__ import annotations

import argparse
import json
import os
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
    manifest = train(paths, output, args.text_column, heads, TrainConfig(seed=args.seed, calibration=args.calibration))
    print(f"model {manifest['model_version']} saved to {output} in {manifest['train_seconds']} s")
    print("thresholds (chosen on out-of-fold predictions):", json.dumps(manifest["thresholds"]))
    if manifest.get("thresholds_by_language"):
        print("per language:", json.dumps(manifest["thresholds_by_language"]))
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
                    if not _writable(rid):
                        rid, text = None, DataError(f"line {n}: the id is not valid Unicode (a lone surrogate)")
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


def _writable(value) -> bool:
    """Whether ``value`` can go into a UTF-8 output line (JSON strings may hold lone surrogates)."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


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


def cmd_serve(args) -> int:
    import uvicorn

    os.environ.setdefault("TRIAGE_LEAN_IMPORTS", "1")  # inherited by the worker processes (api/__init__.py)
    from api.memory import limit_arenas

    limit_arenas(2)  # inherited by the forked workers (api/memory.py)
    _preflight()
    if args.workers > 1:
        return _serve_preforked(args)
    uvicorn.run("api.app:create_app", factory=True, host=args.host, port=args.port,
                log_level=args.log_level, access_log=not args.no_access_log)
    return 0


def _worker_exited(server, worker) -> None:
    """gunicorn hook: a dead worker's live gauges (the model-version gauge) leave /metrics."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def _serve_preforked(args) -> int:
    """Several workers: gunicorn's arbiter with uvicorn workers. The app, and with it the model, is
    created once in the supervisor (``preload_app``) and the workers are forked from it, so they
    share the model's pages and start without importing or loading anything; a worker that dies is
    replaced by a fork of the same supervisor."""
    from gunicorn.app.base import BaseApplication

    from api.app import create_app

    options = {
        "bind": f"{args.host}:{args.port}",
        "workers": args.workers,
        "worker_class": "uvicorn_worker.UvicornWorker",
        "preload_app": True,
        "loglevel": args.log_level,
        "accesslog": None if args.no_access_log else "-",
        "errorlog": "-",
        "timeout": 120,          # heartbeat from each worker's event loop (classification runs in threads)
        "graceful_timeout": 30,
        "keepalive": 5,
        "proc_name": "triage-serve",
        "child_exit": _worker_exited,
    }

    class Supervisor(BaseApplication):
        def load_config(self):
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self):
            return create_app(preload=True)

    Supervisor().run()
    return 0


def _store():
    """The configured store; the embedded SQLite database is migrated first (as `triage serve` does),
    so `triage keys create` works on a fresh install."""
    from triage.store import Store, ensure_schema, startup_lock

    store = Store.from_settings()
    if store.dialect == "sqlite":
        Path(store.engine.url.database or ".").parent.mkdir(parents=True, exist_ok=True)
        with startup_lock(get_settings().var_dir):
            ensure_schema(store.engine)
    return store


def _preflight() -> None:
    """What `triage serve` needs, checked once before any worker starts, so that a mistake is one
    clear line instead of a traceback per worker: settings, the var directory, the model's manifest,
    and a database at the schema's head (SQLite is migrated here; PostgreSQL needs `triage db upgrade`)."""
    from triage.artifacts import read_manifest
    from triage.errors import StoreUnavailableError
    from triage.store.migrate import current_revision, head_revision

    s = get_settings()
    read_manifest(s.model_dir)  # the shipped model: the fallback must exist whatever the pointer says
    store = _store()
    try:
        if store.dialect != "sqlite" and current_revision(store.engine) != head_revision():
            raise StoreUnavailableError(f"the PostgreSQL schema is at revision {current_revision(store.engine)}, "
                                   f"not {head_revision()}: run `triage db upgrade`")
    finally:
        store.dispose()


def cmd_db(args) -> int:
    from triage.store import Store
    from triage.store.migrate import current_revision, downgrade, head_revision, upgrade

    store = Store.from_settings()  # not _store(): `db current` must not migrate, `db upgrade REV` goes to REV
    if store.dialect == "sqlite":
        Path(store.engine.url.database or ".").parent.mkdir(parents=True, exist_ok=True)
    if args.db_command == "upgrade":
        upgrade(store.engine, args.revision)
    elif args.db_command == "downgrade":
        downgrade(store.engine, args.revision)
    print(f"database {store.engine.url.render_as_string(hide_password=True)}: "
          f"revision {current_revision(store.engine)} (head {head_revision()})")
    return 0


def cmd_keys(args) -> int:
    store = _store()
    if args.keys_command == "create":
        key = store.create_key(args.role, args.name or f"{args.role}-cli")
        print(key)
        print(f"{args.role} key created; it is shown only now and stored hashed", file=sys.stderr)
    elif args.keys_command == "list":
        for k in store.list_keys():
            print(json.dumps(k, ensure_ascii=False))
    else:
        store.revoke_key(args.prefix)
        print(f"key {args.prefix} revoked", file=sys.stderr)
    return 0


def cmd_retrain(args) -> int:
    from training.retrain import retrain

    r = retrain(_store(), get_settings(), force=args.force, reason=args.reason, promote_candidate=not args.no_promote,
                promoted_by=args.by, use_mlflow=not args.no_mlflow)
    print(json.dumps({"candidate": r.candidate_version, "champion": r.champion_version, "promoted": r.promoted,
                      "registered_version": r.registered_version, "gate_passed": r.comparison["gate_passed"],
                      "report": str(r.run_dir / "comparison.md")}, ensure_ascii=False))
    return 0


def cmd_promote(args) -> int:
    from training.retrain import promote, registry_model_dir

    s = get_settings()
    if (args.version is None) == (args.model_dir is None):
        print("triage promote: give exactly one of --version N or --model-dir DIR", file=sys.stderr)
        return 2
    model_dir = args.model_dir or registry_model_dir(s, str(args.version))
    rec = promote(s, _store(), Path(model_dir), args.by, registry_version=str(args.version) if args.version else None,
                  forced=True, reason=args.reason or "manual promotion")
    print(json.dumps(rec, ensure_ascii=False))
    print("the service picks it up within TRIAGE_MODEL_CHECK_SECONDS, or at once with POST /v1/admin/reload",
          file=sys.stderr)
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
    p.add_argument("--calibration", choices=("inner", "validation"), default="inner",
                   help="where the heads' confidences are calibrated: inner folds of every fit (default), or the "
                        "validation folds (about 30%% faster, slightly fewer labels right; README, Model selection)")
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

    p = sub.add_parser("retrain", help="retrain on the starter data plus reviewers' corrections; compare; promote")
    p.add_argument("--force", action="store_true", help="promote even if the gate says no (needs --reason)")
    p.add_argument("--reason", help="why (logged with the promotion)")
    p.add_argument("--no-promote", action="store_true", help="train and compare only")
    p.add_argument("--no-mlflow", action="store_true")
    p.add_argument("--by", default=os.environ.get("USER", "cli"), help="who promotes (recorded)")
    p.set_defaults(func=cmd_retrain)

    p = sub.add_parser("promote", help="make a registered version (or a model directory) the champion")
    p.add_argument("--version", type=int, help="MLflow Model Registry version (roll back or forward)")
    p.add_argument("--model-dir", type=Path)
    p.add_argument("--reason")
    p.add_argument("--by", default=os.environ.get("USER", "cli"))
    p.set_defaults(func=cmd_promote)

    p = sub.add_parser("serve", help="run the HTTP API and reviewer page (SQLite by default)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1, help="worker processes (recommended: one per core)")
    p.add_argument("--log-level", default="info")
    p.add_argument("--no-access-log", action="store_true")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("db", help="database schema (Alembic migrations)")
    dsub = p.add_subparsers(dest="db_command", required=True)
    d = dsub.add_parser("upgrade", help="apply migrations (default: to the newest)")
    d.add_argument("revision", nargs="?", default="head")
    d = dsub.add_parser("downgrade", help="revert migrations to a revision (base: empty)")
    d.add_argument("revision")
    dsub.add_parser("current", help="print the database's revision")
    p.set_defaults(func=cmd_db)

    p = sub.add_parser("keys", help="API keys (stored hashed)")
    ksub = p.add_subparsers(dest="keys_command", required=True)
    k = ksub.add_parser("create", help="create a key and print it once")
    k.add_argument("--role", required=True, choices=["intake", "reviewer", "admin"])
    k.add_argument("--name", help="who or what uses it (shown in the audit trail)")
    ksub.add_parser("list", help="list keys (prefix, name, role; never the key)")
    k = ksub.add_parser("revoke", help="revoke a key by its prefix")
    k.add_argument("prefix")
    p.set_defaults(func=cmd_keys)

    from triage import drift, review_io

    drift.add_cli(sub)
    review_io.add_cli(sub)
    return ap


def main(argv: list[str] | None = None) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from triage.errors import TriageError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except TriageError as exc:
        print(f"triage {args.command}: error: {exc}", file=sys.stderr)
    except SQLAlchemyError as exc:  # one line, not a driver traceback; the hint when it's the schema
        first = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        missing = "no such table" in first or ("relation" in first and "does not exist" in first)
        hint = " (the schema is missing: run `triage db upgrade`)" if missing else ""
        print(f"triage {args.command}: database error: {type(exc).__name__}: {first}{hint}", file=sys.stderr)
    except OSError as exc:
        print(f"triage {args.command}: error: {exc}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
