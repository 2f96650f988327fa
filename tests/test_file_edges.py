"""Edge inputs for the file-based tools (found by a review of the engine and CLI): byte-order marks,
blank lines, JSON the standard library accepts but JSON is not, unclosed CSV quotes, ids that can't be
written back, evaluation data labelled in some languages only, labels no classifier can learn, label
names MLflow refuses, and engine calls that would silently answer the wrong question."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp

from training.evaluate import write_report
from training.tracking import _flatten
from training.train import Dataset, check_labels
from triage.cli import main
from triage.errors import DataError
from triage.io import iter_records, read_records
from triage.model import CalibratedLinearSVC


def _records(path):
    return [(n, str(r) if isinstance(r, DataError) else r) for n, r in iter_records(path)]


def _strict(line: str):
    def refuse(name):
        raise ValueError(name)

    return json.loads(line, parse_constant=refuse)


def test_byte_order_mark_is_dropped_in_csv_and_jsonl(tmp_path):
    csv_path, jsonl_path = tmp_path / "a.csv", tmp_path / "a.jsonl"
    csv_path.write_bytes("text,id\r\nСу жоқ,1\r\n".encode("utf-8-sig"))
    jsonl_path.write_bytes('{"id": 1, "text": "Су жоқ"}\n'.encode("utf-8-sig"))
    assert _records(csv_path) == [(2, {"text": "Су жоқ", "id": "1"})]
    assert _records(jsonl_path) == [(1, {"id": 1, "text": "Су жоқ"})]


def test_json_that_is_not_json_is_an_error_in_place(tmp_path):
    lines = ['{"id": 1, "text": "a"}', "", '{"id": NaN, "text": "b"}', '{"id": 1e999, "text": "c"}',
             '{"id": ' + "9" * 5000 + "}", '{"text": ' + "[" * 100_000 + "]" * 100_000 + "}",
             '{"id": 7, "text": "g"}']
    path = tmp_path / "a.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    got = _records(path)
    assert [n for n, _ in got] == [1, 2, 3, 4, 5, 6, 7]
    assert got[0][1] == {"id": 1, "text": "a"} and got[6][1] == {"id": 7, "text": "g"}
    assert got[1][1] == "line 2: empty line"
    assert "NaN is not JSON" in got[2][1] and "out of range" in got[3][1]
    assert "4300 digits" in got[4][1] and "nested too deeply" in got[5][1]


def test_read_records_skips_blank_lines_but_refuses_bad_ones(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"text": "a"}\n\n{"text": "b"}\n', encoding="utf-8")
    assert read_records(path) == [{"text": "a"}, {"text": "b"}]
    path.write_text('{"text": "a"}\n{"text": NaN}\n', encoding="utf-8")
    with pytest.raises(DataError, match="NaN"):
        read_records(path)


def test_unclosed_csv_quote_is_reported_not_swallowed(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text('id,text\n1,Су жоқ\n2,"Жалоба" на дорогу\n3,"hello" \n4,"two\nlines"\n6,"Жарық жоқ\n7,Газ\n8,Автобус\n',
                    encoding="utf-8")
    got = _records(path)
    assert got[:4] == [(2, {"id": "1", "text": "Су жоқ"}), (3, {"id": "2", "text": "Жалоба на дорогу"}),
                       (4, {"id": "3", "text": "hello "}), (5, {"id": "4", "text": "two\nlines"})]
    assert got[4] == (7, "line 7: malformed CSV (a quoted field is never closed)")
    assert len(got) == 5


def test_classify_cli_answers_every_line_with_valid_json(tmp_path):
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    inp.write_bytes(b'{"id": "\\ud800", "text": "\\u0421\\u0443 \\u0436\\u043e\\u049b"}\n\n'
                    b'{"id": NaN, "text": "a"}\n{"id": 4, "text": "\\u0416\\u0430\\u0440\\u044b\\u049b"}\n')
    assert main(["classify", "--input", str(inp), "--output", str(out)]) == 0
    lines = [_strict(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 4
    assert lines[0] == {"id": None, "error": "line 1: the id is not valid Unicode (a lone surrogate)"}
    assert lines[1] == {"id": None, "error": "line 2: empty line"}
    assert lines[2]["id"] is None and "NaN" in lines[2]["error"]
    assert lines[3]["id"] == 4 and lines[3]["topic"]["label"]


def test_evaluate_without_named_districts_and_with_a_head_in_one_language(triage_model, test_records, tmp_path):
    rows = [dict(r) for r in test_records[:200] if r["district"] is None]
    for r in rows:
        if r["language"] != "ru":
            del r["urgency"]
    report = write_report(triage_model, rows, tmp_path, progress=False)
    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "no message names one" in md and report["district"]["recall_when_named"] is None
    assert set(report["heads"]["urgency"]["per_language"]) == {"ru"}
    assert "| urgency | – |" in md or "| – |" in md


def test_evaluate_refuses_a_record_without_its_text_column(triage_model, test_records, tmp_path):
    with pytest.raises(DataError, match="record 3 has no 'text' field"):
        write_report(triage_model, [*test_records[:2], {"id": "x", "topic": "roads"}], tmp_path, progress=False)


def _ds(**labels):
    n = len(next(iter(labels.values())))
    return Dataset([f"t{i}" for i in range(n)], labels, None, "0", [])


def test_training_refuses_labels_no_classifier_can_learn():
    with pytest.raises(DataError, match="urgency: every labelled message has the label 'low'"):
        check_labels(_ds(topic=["a", "b"] * 5, urgency=["low"] * 9 + [None]), 2)
    with pytest.raises(DataError, match=r"topic: label\(s\) with fewer than 2 examples: 'rare' \(1\)"):
        check_labels(_ds(topic=["a", "b"] * 5 + ["rare"]), 2)
    check_labels(_ds(topic=["a", "b"] * 5 + ["rare", "rare"]), 2)


def test_a_fold_with_a_label_rarer_than_the_calibration_folds_still_fits():
    rng = np.random.default_rng(0)
    X = sp.csr_matrix(rng.random((41, 5)))
    y = np.array(["a", "b"] * 20 + ["rare"])
    head = CalibratedLinearSVC(cv=2).fit(X, y)
    assert list(head.classes_) == ["a", "b"]
    assert head.predict_proba(X).shape == (41, 2)


def test_metric_names_mlflow_refuses_are_made_safe():
    out = _flatten("heads.", {"topic": {"per_class_f1": {"water & sewage #1": 0.5, "électricité?": 0.7, "жол": 1}}}, {})
    assert out == {"heads.topic.per_class_f1.water___sewage__1": 0.5, "heads.topic.per_class_f1.électricité_": 0.7,
                   "heads.topic.per_class_f1.жол": 1.0}


def test_classify_batch_refuses_a_bare_string_and_an_unknown_errors_mode(triage_model):
    with pytest.raises(TypeError, match="sequence of texts"):
        triage_model.classify_batch("жоқ")
    with pytest.raises(ValueError, match="errors must be"):
        triage_model.classify_batch(["Су жоқ", None], errors="bogus")


def test_an_empty_label_is_unlabelled_not_a_rare_label():
    check_labels(_ds(topic=["a", "b"] * 5 + [""]), 2)


def test_a_fold_with_one_calibratable_label_skips_the_head_instead_of_crashing():
    from triage.model import TriageModel, make_head

    texts = [f"жол {i} шұңқыр" if i % 2 else f"су {i} жоқ" for i in range(40)]
    model = TriageModel(heads={"topic": make_head("svm", 0.5, cv=2), "urgency": make_head("svm", 0.5, cv=2)})
    model.fit(texts, {"topic": ["roads" if i % 2 else "water" for i in range(40)],
                      "urgency": ["normal"] * 39 + ["critical"]})
    assert list(model.heads_) == ["topic"]


def test_csv_quotes_left_open_are_refused_wherever_they_are(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text('id,text,x\n1,"a"b,"unclosed\n2,second,y\n3,third,z\n4,"open at the end\n', encoding="utf-8")
    got = _records(path)
    assert got == [(2, "line 2: malformed CSV (a quoted field is never closed)"),
                   (3, {"id": "2", "text": "second", "x": "y"}), (4, {"id": "3", "text": "third", "x": "z"}),
                   (5, "line 5: malformed CSV (a quoted field is never closed)")]


def test_a_stray_quote_on_a_last_line_without_newline_is_text(tmp_path):
    for name, delim in (("a.csv", ","), ("a.tsv", "\t")):
        path = tmp_path / name
        path.write_text(delim.join(["id", "text", "x"]) + "\n" + delim.join(["2", '"Жалоба" на дорогу', "z"]), encoding="utf-8")
        assert _records(path) == [(2, {"id": "2", "text": "Жалоба на дорогу", "x": "z"})]


def test_the_pyfunc_takes_one_text_as_mlflow_serving_hands_it_over(triage_model):
    import numpy as np

    from triage.mlflow_model import TriagePyfunc

    m = TriagePyfunc()
    m.triage = triage_model
    assert len(m.predict(None, np.array("Жолда шұңқыр көп"))) == 1
    assert len(m.predict(None, {"text": np.array("Жолда шұңқыр көп")})) == 1
