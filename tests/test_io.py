import json

import pytest

from triage.errors import DataError
from triage.io import iter_records, read_records


def test_jsonl_bad_lines_become_errors_in_place(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_bytes(b'{"text": "a"}\n{oops\n[1, 2]\n{"text": "\xff\xfe bad bytes"}\n\n{"text": "b"}\n')
    out = list(iter_records(p))
    assert [n for n, _ in out] == [1, 2, 3, 4, 5, 6]  # one answer per line, the empty one included
    kinds = [r["text"] if isinstance(r, dict) else str(r) for _, r in out]
    assert kinds[0] == "a" and kinds[5] == "b"
    assert "invalid JSON" in kinds[1] and "JSON object" in kinds[2] and "UTF-8" in kinds[3]
    assert kinds[4] == "line 5: empty line"


def test_csv_rows_map_to_the_header_and_bad_rows_are_reported(tmp_path):
    p = tmp_path / "x.csv"
    p.write_bytes(b'text,topic\n"multi\nline",roads\nonly_one_field\n"ok",\n' + b'"\xff",roads\n')
    out = list(iter_records(p))
    assert out[0] == (2, {"text": "multi\nline", "topic": "roads"})
    assert isinstance(out[1][1], DataError) and "fields" in str(out[1][1])
    assert out[2] == (5, {"text": "ok", "topic": None})
    assert isinstance(out[3][1], DataError) and "UTF-8" in str(out[3][1])


def test_read_records_refuses_any_bad_line(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text(json.dumps({"text": "a"}) + "\nnot json\n")
    with pytest.raises(DataError, match="line 2"):
        read_records(p)


def test_unknown_extension_and_missing_file_are_clear_errors(tmp_path):
    # The messages are checked whole: tmp_path itself contains this test's name.
    (tmp_path / "x.parquet").write_bytes(b"PAR1")
    with pytest.raises(DataError, match=r"x\.parquet: unsupported extension '\.parquet'"):
        list(iter_records(tmp_path / "x.parquet"))
    with pytest.raises(DataError, match=r"missing\.jsonl: no such file$"):
        list(iter_records(tmp_path / "missing.jsonl"))
