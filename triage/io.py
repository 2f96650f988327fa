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


def _lines(path: Path, bad: set[int]) -> Iterator[str]:
    """Decoded lines of a UTF-8 file; a line that is not valid UTF-8 is decoded with
    replacement characters and its number recorded in ``bad`` so the caller can refuse it."""
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError:
                bad.add(n)
                yield raw.decode("utf-8", errors="replace")


def iter_records(path: Path) -> Iterator[tuple[int, dict[str, Any] | DataError]]:
    """Yield (line number, record) one at a time; a malformed line (bad JSON, not valid UTF-8,
    wrong number of CSV fields) yields a DataError in its place, so a caller can report it and go
    on. Constant memory whatever the file size."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    fmt = file_format(path)
    bad: set[int] = set()
    lines = _lines(path, bad)
    if fmt == "jsonl":
        for n, line in enumerate(lines, 1):
            if n in bad:
                yield n, DataError(f"line {n}: not valid UTF-8")
                continue
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
        reader = csv.reader(lines, delimiter=delim)
        header = next(reader, None)
        if header is None:
            return
        first = 2
        for row in reader:
            last = reader.line_num
            span, first = range(first, last + 1), last + 1
            n = span.start
            if any(k in bad for k in span):
                yield n, DataError(f"line {n}: not valid UTF-8")
            elif len(row) != len(header):
                yield n, DataError(f"line {n}: {len(row)} fields, the header has {len(header)}")
            else:
                yield n, {k: (v if v != "" else None) for k, v in zip(header, row, strict=True)}


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
