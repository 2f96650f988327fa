"""Reading and writing message files: JSONL or CSV, chosen by file extension, streamed."""

from __future__ import annotations

import csv
import io
import json
import math
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
    """Decoded lines of a UTF-8 file (a leading byte-order mark, as Excel writes, is dropped); a
    line that is not valid UTF-8 is decoded with replacement characters and its number recorded in
    ``bad`` so the caller can refuse it."""
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            try:
                yield raw.decode("utf-8-sig" if n == 1 else "utf-8")
            except UnicodeDecodeError:
                bad.add(n)
                yield raw.decode("utf-8", errors="replace")


class BlankLine(DataError):
    """An empty line of a JSONL file: reported in its place (``triage classify`` answers one line per
    input line), skipped by :func:`read_records`."""


def _finite(value: str) -> float:
    x = float(value)
    if not math.isfinite(x):
        raise ValueError(f"{value} is out of range")
    return x


def _not_json(name: str):
    raise ValueError(f"{name} is not JSON")


def parse_json_line(line: str) -> Any:
    """Strict JSON: NaN, Infinity and numbers out of float range are refused (a JSON writer could not
    write them back); any failure is a ValueError with a readable message."""
    try:
        return json.loads(line, parse_constant=_not_json, parse_float=_finite)
    except json.JSONDecodeError as exc:
        raise ValueError(exc.msg) from None
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise ValueError(str(exc).split(";")[0]) from None


def iter_records(path: Path) -> Iterator[tuple[int, dict[str, Any] | DataError]]:
    """Yield (line number, record) one at a time; a malformed line (bad JSON, not valid UTF-8,
    wrong number of CSV fields, a quote never closed, an empty JSONL line) yields a DataError in its
    place, so a caller can report it and go on. Constant memory whatever the file size."""
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
                yield n, BlankLine(f"line {n}: empty line")
                continue
            try:
                rec = parse_json_line(line)
            except ValueError as exc:
                yield n, DataError(f"line {n}: invalid JSON ({exc})")
                continue
            if not isinstance(rec, dict):
                yield n, DataError(f"line {n}: expected a JSON object")
                continue
            yield n, rec
    else:
        delim = "\t" if path.suffix.lower() == ".tsv" else ","
        raw: list[str] = []  # the physical lines of the record being read

        def tracked():
            for line in lines:
                raw.append(line)
                yield line

        # Strict quoting finds where a quoted field opens and closes; a record it refuses is read again
        # leniently (a stray quote after a closed field, '"Жалоба" на дорогу', is text, as always) and
        # refused only when a quote is never closed (it would swallow every later line into one field).
        reader = csv.reader(tracked(), delimiter=delim, strict=True)
        try:
            header = next(reader, None)
        except csv.Error as exc:
            raise DataError(f"{path}: malformed CSV header ({exc})") from None
        if header is None:
            return
        raw.clear()
        first = 2
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error:
                row = _lenient(raw, delim)
                if row is None:
                    n, first = first, reader.line_num + 1
                    raw.clear()
                    yield n, DataError(f"line {n}: malformed CSV (a quoted field is never closed)")
                    continue
            last = reader.line_num
            raw.clear()
            span, first = range(first, last + 1), last + 1
            n = span.start
            if any(k in bad for k in span):
                yield n, DataError(f"line {n}: not valid UTF-8")
            elif len(row) != len(header):
                yield n, DataError(f"line {n}: {len(row)} fields, the header has {len(header)}")
            else:
                yield n, {k: (v if v != "" else None) for k, v in zip(header, row, strict=True)}


_PROBE = "\ue000probe\ue000"


def _lenient(lines: list[str], delim: str) -> list[str] | None:
    """The record in ``lines`` read leniently; None when it ends inside a quoted field (a line added
    after it would be swallowed into that field)."""
    text = "".join(lines)
    if not text.endswith(("\n", "\r")):  # a last line without its newline: the probe goes on a line of its own
        text += "\n"
    rows = list(csv.reader(io.StringIO(text + _PROBE + "\n"), delimiter=delim))
    if not rows or any(_PROBE in field for field in rows[0]):
        return None
    return rows[0]


def read_records(path: Path) -> list[dict[str, Any]]:
    """All records of a file; any malformed line is an error (training data must be clean)."""
    out = []
    for _, rec in iter_records(path):
        if isinstance(rec, BlankLine):
            continue
        if isinstance(rec, DataError):
            raise DataError(f"{path}: {rec}")
        out.append(rec)
    return out


def write_jsonl(path: Path, records) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
