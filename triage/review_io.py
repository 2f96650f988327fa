"""Review outside the service: export the review queue for labelers, import their labels back.

``triage review export`` walks the review queue (the order of :meth:`Store.review_queue`, most in
need of review first, or one head's lowest confidence first) and writes either

- a CSV (UTF-8 with a BOM, so Excel shows Cyrillic): one row per message with the predicted labels
  that the labeler overwrites, and an empty ``comment`` column; or
- Label Studio tasks (JSON) with the prediction as a pre-annotation, plus the labeling config
  (``<output stem>.labelstudio.xml``) whose choices are the taxonomy's labels.

``triage review import`` reads either back and appends corrections (the audit trail of the store)
under the reviewer's name. A CSV row is a correction when one of its labels differs from the
message's effective labels or it has a comment; an empty label cell means "no opinion". In Label
Studio every annotated task is a correction (a confirmation is a review too), from its latest
annotation. Everything is validated before anything is written: with any problem (unknown id or
label, malformed row) nothing is imported and every problem is reported with its line or task.
"""

from __future__ import annotations

import csv
import io
import json
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from triage.errors import DataError, ModelLoadError, NotFoundError, TriageError
from triage.settings import get_settings

HEADS = ("topic", "authority", "urgency")
LABEL_FIELDS = (*HEADS, "district")
FORMATS = ("csv", "labelstudio")
CSV_COLUMNS = ["id", "text", "language", "channel", "created_at", "review_reason", "review_priority",
               "topic", "topic_confidence", "authority", "authority_confidence", "urgency",
               "urgency_confidence", "district", "comment", "last_correction_id"]
# A cell a spreadsheet would run as a formula (CSV injection): written with a leading apostrophe.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PAGE_SIZE = 200
MAX_REVIEWER_CHARS = 100  # the corrections.reviewer column


class LabelImportError(DataError):
    """An import file with problems; ``problems`` lists each one with its line or task."""

    def __init__(self, path: Path, problems: list[str]):
        self.problems = problems
        super().__init__(f"{path}: {len(problems)} problem(s), nothing imported:\n"
                         + "\n".join(f"  {p}" for p in problems))


def guess_format(path: Path) -> str:
    """``labelstudio`` for .json, ``csv`` for .csv/.tsv; :class:`DataError` otherwise."""
    suffix = Path(path).suffix.lower()
    if suffix == ".json":
        return "labelstudio"
    if suffix in (".csv", ".tsv"):
        return "csv"
    raise DataError(f"{path}: cannot tell the format from {suffix!r}; pass --format csv or labelstudio")


# -- export -----------------------------------------------------------------------------------


def iter_queue(store, head: str | None = None, limit: int | None = None) -> Iterator[dict]:
    """Queued messages in :meth:`Store.review_queue` order, page by page with its cursor."""
    cursor, n = None, 0
    while limit is None or n < limit:
        size = PAGE_SIZE if limit is None else min(PAGE_SIZE, limit - n)
        page = store.review_queue(head=head, limit=size, cursor=cursor)
        for item in page["items"]:
            yield item
            n += 1
        cursor = page["next_cursor"]
        if not cursor:
            return


def _confidence(item: dict, head: str) -> float | None:
    c = ((item.get("prediction") or {}).get(head) or {}).get("confidence")
    return None if c is None else round(float(c), 4)


def _csv_row(item: dict) -> dict:
    labels = item["labels"]
    row = {k: item.get(k) for k in ("id", "text", "language", "channel", "created_at", "review_reason",
                                    "review_priority")}
    for h in HEADS:
        row[h], row[f"{h}_confidence"] = labels.get(h), _confidence(item, h)
    row["district"], row["comment"] = labels.get("district"), ""
    # The labels in this row are the message's as of this correction: on import, a field counts as
    # changed only where it differs from them, so a row returned untouched never reverts a correction
    # made meanwhile (on the web page, say).
    row["last_correction_id"] = max((c["id"] for c in item.get("corrections") or ()), default=0)
    return {k: "" if v is None else _inert(v) for k, v in row.items()}


def _inert(value):
    return "'" + value if isinstance(value, str) and value.startswith(_FORMULA_START) else value


def _ls_task(item: dict) -> dict:
    labels = item["labels"]
    confs = [c for h in HEADS if (c := _confidence(item, h)) is not None]
    prediction: dict = {
        "model_version": item.get("model_version"),
        "result": [{"from_name": f, "to_name": "text", "type": "choices", "value": {"choices": [labels[f]]}}
                   for f in LABEL_FIELDS if labels.get(f)],
    }
    if confs:
        prediction["score"] = min(confs)  # the weakest head: what Label Studio sorts by
    data = {"message_id": item["id"], "text": item["text"], "language": item.get("language") or "",
            "channel": item.get("channel") or "", "review_reason": item.get("review_reason") or ""}
    return {"id": item["id"], "data": data, "predictions": [prediction]}


def labeling_config(taxonomy, extra: dict[str, set[str]] | None = None) -> str:
    """Label Studio labeling config: the text, one single-choice block per label field with the
    taxonomy's labels as values (what the results carry) and English names as hover hints, and
    a free-text comment. ``extra`` adds labels the taxonomy lacks (e.g. predicted ones)."""
    view = ET.Element("View")
    ET.SubElement(view, "Header", value="$language · $channel · $review_reason", size="6")
    ET.SubElement(view, "Text", name="text", value="$text")
    for f in LABEL_FIELDS:
        labels = list(taxonomy.labels(f))
        labels += sorted((extra or {}).get(f, set()) - set(labels))
        ET.SubElement(view, "Header", value=f)
        choices = ET.SubElement(view, "Choices", name=f, toName="text", choice="single", showInline="true")
        for label in labels:
            ET.SubElement(choices, "Choice", value=label, hint=taxonomy.name(f, label, "en"))
    ET.SubElement(view, "Header", value="comment")
    ET.SubElement(view, "TextArea", name="comment", toName="text", rows="2", maxSubmissions="1",
                  placeholder="optional comment")
    ET.indent(view)
    return ET.tostring(view, encoding="unicode") + "\n"


def labeling_config_path(out: Path) -> Path:
    """Where the labeling config of a Label Studio export goes: next to it, ``<stem>.labelstudio.xml``."""
    return Path(out).with_suffix(".labelstudio.xml")


def export_queue(store, fmt: str, out: Path, limit: int | None = None, head: str | None = None) -> int:
    """Write the review queue (at most ``limit`` messages; ordered by ``head``'s confidence when
    given) to ``out`` as ``csv`` or ``labelstudio`` tasks (plus the labeling config next to it).
    Returns the number of messages written."""
    from triage.taxonomy import Taxonomy

    if fmt not in FORMATS:
        raise DataError(f"unknown format {fmt!r} (use {' or '.join(FORMATS)})")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    items = list(iter_queue(store, head, limit))
    if fmt == "csv":
        with open(out, "w", encoding="utf-8-sig", newline="") as f:
            w = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
            w.writeheader()
            w.writerows(_csv_row(i) for i in items)
        return len(items)
    out.write_text(json.dumps([_ls_task(i) for i in items], ensure_ascii=False, indent=1), encoding="utf-8")
    seen = {f: {i["labels"][f] for i in items if i["labels"].get(f)} for f in LABEL_FIELDS}
    taxonomy = Taxonomy.load(get_settings().taxonomy_path)
    labeling_config_path(out).write_text(labeling_config(taxonomy, seen), encoding="utf-8")
    return len(items)


# -- import -----------------------------------------------------------------------------------


@dataclass
class _Planned:
    where: str
    message_id: int
    labels: dict[str, str | None]
    comment: str | None


def _message_id(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 1 else None
    try:
        n = int(str(value).strip())
    except ValueError:
        return None
    return n if n >= 1 else None


def _read_csv(path: Path, problems: list[str]) -> Iterator[tuple[str, dict[str, str]]]:
    """(where, row) per data row; the header's names are stripped and lower-cased. Accepts a BOM,
    CRLF, quoted multi-line fields and ';' or tab as the delimiter (what Excel writes under a
    Russian locale); a row with the wrong number of fields is a problem."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        problems.append(f"not UTF-8 (byte {exc.start}): save the file as 'CSV UTF-8'")
        return
    first = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [h.strip().lower() for h in next(reader, [])]
    if "id" not in header:
        problems.append(f"line 1: no 'id' column (columns: {', '.join(header) or 'none'})")
        return
    start = 2
    for row in reader:
        where, start = f"line {start}", reader.line_num + 1
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(header):
            problems.append(f"{where}: {len(row)} fields, the header has {len(header)}")
            continue
        yield where, dict(zip(header, row, strict=True))


def _plan_csv(store, path: Path, allowed: dict[str, set[str]], problems: list[str],
              counts: dict[str, int]) -> list[_Planned]:
    planned, seen = [], {}
    for where, row in _read_csv(path, problems):
        counts["read"] += 1
        mid = _message_id(row.get("id"))
        if mid is None:
            problems.append(f"{where}: id {row.get('id')!r} is not a message id")
            continue
        if mid in seen:
            problems.append(f"{where}: message {mid} is also on {seen[mid]}")
            continue
        seen[mid] = where
        labels = {f: (row.get(f) or "").strip() or None for f in LABEL_FIELDS}
        comment = (row.get("comment") or "").strip() or None
        bad = _unknown_labels(labels, allowed)
        try:
            message = store.get_message(mid)
        except NotFoundError:
            problems.append(f"{where}: message {mid} not found")
            continue
        if bad:
            problems.extend(f"{where} (message {mid}): {b}" for b in bad)
            continue
        current, exported = message["labels"], _labels_as_exported(message, row.get("last_correction_id"))
        # Only what the labeler changed in the file, and only where it changes the message now.
        changed = {f: v for f, v in labels.items() if v is not None and v != exported.get(f) and v != current.get(f)}
        if comment or changed:
            planned.append(_Planned(where, mid, {f: changed.get(f) for f in LABEL_FIELDS}, comment))
        else:
            counts["unchanged"] += 1
    return planned


def _labels_as_exported(message: dict, last_correction_id: object) -> dict[str, str | None]:
    """The labels a CSV row was exported with: the model's, then the corrections up to the row's
    ``last_correction_id``. Without that column (a file from before it, or made by hand): the current
    labels."""
    try:
        last = int(str(last_correction_id).strip())
    except ValueError:
        return message["labels"]
    pred = message.get("prediction") or {}
    labels = {h: (pred.get(h) or {}).get("label") for h in HEADS}
    labels["district"] = pred.get("district")
    for c in message["corrections"]:  # oldest first
        if c["id"] <= last:
            labels.update({f: c[f] for f in LABEL_FIELDS if c.get(f) is not None})
    return labels


def _timestamp(annotation: dict) -> datetime:
    for key in ("updated_at", "created_at"):
        value = annotation.get(key)
        if isinstance(value, str):
            try:
                dt = datetime.fromisoformat(value)
            except ValueError:
                continue
            return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    return datetime.min.replace(tzinfo=UTC)


def _plan_labelstudio(store, path: Path, allowed: dict[str, set[str]], problems: list[str],
                      counts: dict[str, int]) -> list[_Planned]:
    try:
        tasks = json.loads(path.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError as exc:
        problems.append(f"not UTF-8 (byte {exc.start})")
        return []
    except ValueError as exc:
        problems.append(f"not JSON: {exc}")
        return []
    if not isinstance(tasks, list):
        problems.append("not a Label Studio JSON export: expected a list of tasks")
        return []
    planned, seen = [], {}
    for i, task in enumerate(tasks, 1):
        counts["read"] += 1
        if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            problems.append(f"task #{i}: not a Label Studio task (no 'data' object)")
            continue
        where = f"task #{i} (id {task.get('id')})"
        mid = _message_id(task["data"].get("message_id"))
        if mid is None:
            problems.append(f"{where}: data.message_id {task['data'].get('message_id')!r} is not a message id")
            continue
        annotations = task.get("annotations") or []
        if not isinstance(annotations, list) or not all(isinstance(a, dict) for a in annotations):
            problems.append(f"{where}: 'annotations' is not a list of objects")
            continue
        annotations = [a for a in annotations if not a.get("was_cancelled")]
        if not annotations:
            counts["skipped"] += 1  # not annotated (yet)
            continue
        if mid in seen:
            problems.append(f"{where}: message {mid} is also in {seen[mid]}")
            continue
        seen[mid] = where
        latest = max(enumerate(annotations), key=lambda ia: (_timestamp(ia[1]), ia[0]))[1]
        labels, comment, bad = _annotation(latest)
        bad += _unknown_labels(labels, allowed)
        try:
            store.get_message(mid)
        except NotFoundError:
            problems.append(f"{where}: message {mid} not found")
            continue
        if bad:
            problems.extend(f"{where} (message {mid}): {b}" for b in bad)
        elif all(v is None for v in labels.values()) and not comment:
            counts["skipped"] += 1  # submitted with nothing chosen
        else:
            planned.append(_Planned(where, mid, labels, comment))
    return planned


def _annotation(annotation: dict) -> tuple[dict[str, str | None], str | None, list[str]]:
    """(labels, comment, problems) of one Label Studio annotation's ``result``."""
    labels: dict[str, str | None] = dict.fromkeys(LABEL_FIELDS)
    comments, bad = [], []
    result = annotation.get("result")
    if not isinstance(result, list):
        return labels, None, ["annotation has no 'result' list"]
    for r in result:
        if not isinstance(r, dict):
            bad.append("a result item is not an object")
            continue
        name, value = r.get("from_name"), r.get("value") or {}
        if name in LABEL_FIELDS:
            choices = value.get("choices") if isinstance(value, dict) else None
            if not isinstance(choices, list) or len(choices) != 1 or not isinstance(choices[0], str):
                bad.append(f"{name}: expected exactly one choice, got {choices!r}")
            else:
                labels[name] = choices[0].strip() or None
        elif name == "comment" and isinstance(value, dict):
            text = value.get("text")
            comments += [t for t in (text if isinstance(text, list) else [text]) if isinstance(t, str) and t.strip()]
    return labels, "\n".join(c.strip() for c in comments) or None, bad


def _unknown_labels(labels: dict[str, str | None], allowed: dict[str, set[str]]) -> list[str]:
    return [f"unknown {f} label {v!r}" for f, v in labels.items()
            if v is not None and f in allowed and v not in allowed[f]]


def import_labels(store, path: Path, fmt: str | None, reviewer: str, allowed: dict[str, set[str]]) -> dict:
    """Append the corrections of a labeled CSV or Label Studio export under ``reviewer``.

    ``allowed`` maps a label field to the labels a correction may use (taxonomy plus model
    classes). Every row is checked first; with any problem :class:`LabelImportError` lists them
    all and nothing is written. Returns ``{"format", "read", "imported", "unchanged", "skipped",
    "corrections"}`` (unchanged: CSV rows equal to the stored labels; skipped: Label Studio tasks
    without an annotation or with an empty one; corrections: the new correction ids).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    fmt = fmt or guess_format(path)
    if fmt not in FORMATS:
        raise DataError(f"unknown format {fmt!r} (use {' or '.join(FORMATS)})")
    reviewer = (reviewer or "").strip()
    if not reviewer or len(reviewer) > MAX_REVIEWER_CHARS:
        raise DataError(f"the reviewer name must have 1 to {MAX_REVIEWER_CHARS} characters")
    problems: list[str] = []
    counts = {"read": 0, "unchanged": 0, "skipped": 0}
    plan = (_plan_csv if fmt == "csv" else _plan_labelstudio)(store, path, allowed, problems, counts)
    if problems:
        raise LabelImportError(path, problems)
    # One transaction per correction, as in the API: should the database fail half-way, the rows
    # before stay imported and the error names the row it stopped at.
    ids = []
    for p in plan:
        try:
            ids.append(store.add_correction(p.message_id, reviewer, p.labels, p.comment, allowed)["id"])
        except TriageError as exc:
            raise type(exc)(f"{p.where}: {exc} ({len(ids)} correction(s) imported before it)") from exc
    return {"format": fmt, **counts, "imported": len(ids), "corrections": ids}


def allowed_labels(model_dir: Path | None = None) -> dict[str, set[str]]:
    """What a correction may say: the taxonomy's labels plus the model's classes (from its
    manifest, which lists ``model.classes_``, so nothing is unpickled). Without a model: the
    taxonomy alone."""
    from triage.artifacts import read_manifest
    from triage.champion import serving_model_dir
    from triage.taxonomy import Taxonomy

    s = get_settings()
    taxonomy = Taxonomy.load(s.taxonomy_path)
    out = {f: set(taxonomy.labels(f)) for f in LABEL_FIELDS}
    try:
        classes = read_manifest(model_dir or serving_model_dir(s)).get("labels") or {}  # the model that serves
    except ModelLoadError as exc:
        print(f"note: {exc}; checking labels against the taxonomy only", file=sys.stderr)
        classes = {}
    for f, labels in classes.items():
        out.setdefault(f, set()).update(map(str, labels))
    return out


# -- command line -----------------------------------------------------------------------------


def _store():
    from triage.store import Store

    return Store.from_settings()


def cmd_review(args) -> int:
    store = _store()
    try:
        if args.review_command == "export":
            fmt = args.format or guess_format(args.output)
            n = export_queue(store, fmt, args.output, args.limit, args.head)
            print(f"exported {n} message(s) from the review queue to {args.output}")
            if fmt == "labelstudio":
                print(f"Label Studio labeling config: {labeling_config_path(args.output)}")
            return 0
        try:
            summary = import_labels(store, args.path, args.format, args.reviewer, allowed_labels(args.model))
        except LabelImportError as exc:
            print(f"triage review import: {exc}", file=sys.stderr)
            return 2
        print(f"{args.path}: {summary['read']} read, {summary['imported']} correction(s) imported as "
              f"{args.reviewer.strip()!r}, {summary['unchanged']} unchanged, {summary['skipped']} skipped")
        return 0
    finally:
        store.dispose()


def _positive(value: str) -> int:
    import argparse

    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}")
    return n


def add_cli(subparsers) -> None:
    """Register ``triage review export|import`` on the ``triage`` command's subparsers."""
    p = subparsers.add_parser("review", help="export the review queue for labelers, import their labels")
    rsub = p.add_subparsers(dest="review_command", required=True)
    e = rsub.add_parser("export", help="write the review queue as CSV or Label Studio tasks")
    e.add_argument("--format", choices=FORMATS, help="default: from the extension (.csv, .json)")
    e.add_argument("--limit", type=_positive, help="at most N messages (default: the whole queue)")
    e.add_argument("--head", choices=HEADS, help="order by this head's confidence, lowest first "
                   "(default: review priority)")
    e.add_argument("--output", type=Path, required=True)
    i = rsub.add_parser("import", help="append the labels of a CSV or Label Studio export as corrections")
    i.add_argument("path", type=Path)
    i.add_argument("--format", choices=FORMATS, help="default: from the extension (.csv, .json)")
    i.add_argument("--reviewer", required=True, help="name recorded in the audit trail")
    i.add_argument("--model", type=Path, help="model whose classes are valid labels too (default: the "
                   "configured model)")
    p.set_defaults(func=cmd_review)
