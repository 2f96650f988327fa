"""What the model's veto on emergency rules changes, out of fold on the TRAIN split (the frozen test
split is never read). Not part of the test run; the README's veto numbers come from it.

    python bench/rule_veto.py [--data data/samples/train.jsonl]

Trains the urgency head out of fold exactly as training does (``training.train.out_of_fold``), then
counts the hits of rules raising urgency to critical: in all, on critical and other messages, where
the model gives critical less than the veto level, by message length, and the shortest message a
rule hits (the reason for the veto's minimum length).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from training.train import TrainConfig, load_dataset, out_of_fold  # noqa: E402
from triage.matching import words  # noqa: E402
from triage.rules import EmergencyRules, rule_vetoed  # noqa: E402
from triage.settings import get_settings  # noqa: E402
from triage.text import normalize, skeleton  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=get_settings().data_dir / "train.jsonl")
    args = ap.parse_args()
    ds = load_dataset([args.data])
    ds = replace(ds, labels={"urgency": ds.labels["urgency"]})
    config = TrainConfig()
    print(f"{len(ds.texts)} messages; urgency out of fold ...", flush=True)
    oof = out_of_fold(ds, config, progress=True)
    p = oof["urgency"][:, oof["classes"]["urgency"].index("critical")]
    y = np.array(ds.labels["urgency"], dtype=object)
    crit = y == "critical"
    rules = EmergencyRules.load(get_settings().emergency_rules_path)
    skels = [skeleton(normalize(t)) for t in ds.texts]
    langs = ds.languages or [None] * len(skels)
    hit = np.array([rules.raises_critical(sk, lang) for sk, lang in zip(skels, langs, strict=True)])
    n_words = np.array([len(words(sk)) for sk in skels])
    low = hit & (p < config.rule_veto)
    vetoed = hit & rule_vetoed(p, n_words, config.rule_veto_spec())
    print(f"critical messages: {crit.sum()}")
    print(f"rule hits: {hit.sum()} ({(hit & crit).sum()} critical, {(hit & ~crit).sum()} other)")
    print(f"rule hits where the model gives critical < {config.rule_veto}: {(low & crit).sum()} critical, "
          f"{(low & ~crit).sum()} other")
    print(f"shortest message a rule hits: {n_words[hit].min()} words")
    for k in (8, 10, 12):
        print(f"  hits under {k} words: {(hit & (n_words < k)).sum()}")
    print(f"vetoed (< {config.rule_veto} and >= {config.rule_veto_min_words} words): {(vetoed & crit).sum()} "
          f"critical, {(vetoed & ~crit).sum()} other")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
