"""Shared fixtures. The shipped model is loaded once per session (it is what users get); training
tests use small subsets so the whole suite stays fast on 2 cores."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TQDM_DISABLE", "1")

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data" / "samples"


@pytest.fixture(scope="session")
def triage_model():
    from triage.engine import Triage

    return Triage.load(REPO / "models" / "default")


@pytest.fixture(scope="session")
def train_records():
    from triage.io import read_records

    return read_records(DATA / "train.jsonl")


@pytest.fixture(scope="session")
def test_records():
    from triage.io import read_records

    return read_records(DATA / "test.jsonl")
