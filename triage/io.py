"""Reading and writing message files: JSONL or CSV, chosen by file extension, streamed."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from triage.errors import DataError

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


def file_format(path: Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix in (".csv", ".tsv"):
        return "csv"
    raise DataError(f"{path}: unsupported extension {suffix!r} (use .jsonl or .csv)")


def iter_records(path: Path) -> Iterator[tuple[int, dict[str, Any] | DataError]]:
    """Yield (line number, record) one at a time; a malformed line yields a DataError in its place,
    so a caller can report it and go on. Constant memory whatever the file size."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    fmt = file_format(path)
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        if fmt == "jsonl":
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except ValueError as exc:
                    yield n, DataError(f"line {n}: invalid JSON ({exc.msg})")
                    continue
                if not isinstance(rec, dict):
                    yield n, DataError(f"line {n}: expected a JSON object")
                    continue
                yield n, rec
        else:
            delim = "\t" if path.suffix.lower() == ".tsv" else ","
            reader = csv.DictReader(f, delimiter=delim)
            for n, rec in enumerate(reader, 2):
                if None in rec:
                    yield n, DataError(f"line {n}: more fields than the header has")
                    continue
                yield n, {k: (v if v != "" else None) for k, v in rec.items()}


def read_records(path: Path) -> list[dict[str, Any]]:
    """All records of a file; any malformed line is an error (training data must be clean)."""
    out = []
    for _, rec in iter_records(path):
        if isinstance(rec, DataError):
            raise DataError(f"{path}: {rec}")
        out.append(rec)
    return out


def write_jsonl(path: Path, records) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
