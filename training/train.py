"""Train a triage model: out-of-fold thresholds, final fit, evaluation, model directory, MLflow.

Used by ``triage train``; also ``python -m training.train`` with the same flags.
"""

from __future__ import annotations

import hashlib
import platform
import subprocess
import time
import warnings
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed
from scipy.special import expit
from sklearn.model_selection import StratifiedKFold, StratifiedShuffleSplit
from tqdm.auto import tqdm

from training.metrics import coverage_precision, precision_threshold
from triage.artifacts import save_model_dir
from triage.errors import DataError
from triage.io import read_records
from triage.langid import LanguageIdentifier
from triage.matching import words
from triage.model import (
    HEADS,
    CalibratedLinearSVC,
    TriageModel,
    fit_sigmoids,
    make_features,
    make_head,
    ovr_proba,
)
from triage.rules import EmergencyRules, rule_vetoed
from triage.settings import get_settings
from triage.text import clean, normalize, skeleton

# Chosen by cross-validation on the starter train split (see `python -m training.experiments`).
# Per head, the best 3-fold macro-F1 on the train split (var/experiments/model_selection.md).
# tol: LinearSVC's stopping tolerance, 1e-2 instead of its default 1e-4: out-of-fold macro-F1 and
# ECE identical to four decimals on every head, training 14% faster (README, "Measured numbers").
# ignore: feature parts a head does not learn from. Urgency leaves out the lead words (the first
# eight words, which serve the topic's "main problem" rule): out-of-fold argmax macro-F1 is the same
# with and without them, and the pipeline's (critical threshold and rules) 0.833 without, 0.828 with
# (bench/config_variants.py --groups lead,urgency).
DEFAULT_HEADS = {
    "topic": {"kind": "svm", "C": 1.0, "tol": 1e-2},
    "authority": {"kind": "svm", "C": 1.0, "tol": 1e-2},
    "urgency": {"kind": "svm", "C": 0.3, "tol": 1e-2, "ignore": ["lead"]},
}


@dataclass
class TrainConfig:
    heads: dict[str, dict] = field(default_factory=lambda: {h: dict(v) for h, v in DEFAULT_HEADS.items()})
    features: dict = field(default_factory=dict)
    # Validation folds for thresholds. 4 rather than 5 since the train split passed 8,000 messages:
    # 6 parallel tasks instead of 7 on 2 cores, training 57 -> 43 s; thresholds within 0.015.
    folds: int = 4
    # Above this many messages, thresholds come from one stratified 20% holdout instead of k-fold
    # and calibration uses 3 folds: plenty of validation data, a fraction of the fits.
    holdout_above: int = 20_000
    holdout_size: float = 0.2
    # Where the SVM heads' sigmoids (Platt) are fitted. "inner": each fit calibrates its heads on
    # ``calibration_folds`` inner folds of its own data (three SVMs per head and fit; 3 rather than
    # 5 folds at ~6,000 messages, 2 at ~8,500). "validation": on the decision values the validation
    # fits predict out of fold (cross-fitted between folds for the thresholds' own probabilities),
    # one SVM per head and fit: training 30% faster, topic and authority confidences better
    # calibrated (urgency's a little worse), but its
    # models label 0.1-0.2 points fewer messages right on authority and urgency, trained and
    # scored as shipped on held-out folds of the train split (bench/calibration_recipes.py), so
    # it is not the default.
    calibration: str = "inner"
    calibration_folds: int = 2
    n_jobs: int = -1  # validation fits and the final fit run in parallel processes
    seed: int = 13
    precision_target: float = 0.95
    # Thresholds must reach precision_target with this risk of falling short on new messages
    # (Clopper-Pearson, fixed-sequence testing; None: the point estimate on out-of-fold
    # predictions). Train-only evidence for the rule: bench/threshold_rule.py.
    precision_delta: float | None = 0.05
    # One threshold per language (from the data's language column) as well as the pooled one, so
    # that auto-routed precision holds in each language rather than only on average: pooled, the
    # languages the model reads best carry the others (train-only evidence: bench/threshold_rule.py).
    # A language with too little evidence gets NOTHING_QUALIFIES: its messages all go to review.
    thresholds_per_language: bool = True
    # Test the precision bound only where the count of predictions above the threshold crosses a
    # multiple of the start count (234 at 0.95 / 0.05), not at every distinct confidence: same
    # guarantee, and a short run of errors between grid points no longer ends the sequence (train-only evidence:
    # bench/threshold_rule.py; with the fifth writing round, Kazakh urgency stopped at 6% coverage).
    threshold_grid: bool = True
    # The critical threshold minimizes expected cost on out-of-fold predictions, a missed emergency
    # costing ``critical_miss_cost`` false alarms, and is then lowered, if needed, until out-of-fold
    # critical recall reaches ``critical_recall_target``. (A pure "largest threshold with 0.99 recall"
    # rule was decided by the two or three least typical critical messages and swung between 0.12 and
    # 0.02 from one retrain to the next.)
    critical_recall_target: float = 0.98
    critical_miss_cost: float = 20.0
    # An emergency rule raising urgency to critical is vetoed (listed, sent to review, nothing
    # raised) where the model gives critical less than ``rule_veto`` (99% sure of no emergency) in
    # a message of at least ``rule_veto_min_words`` words; None: every hit applies. Fixed, not
    # tuned: out of fold the cost above would rather drop the rules altogether (below 0.01 they hit
    # 2 of the 1,279 critical messages and 227 others; 353 others in all;
    # bench/rule_veto.py), but they are there for
    # messages unlike the training data, and no training message a rule hits has fewer than 8
    # words: on short ones the model's certainty is extrapolation.
    rule_veto: float | None = 0.01
    rule_veto_min_words: int = 10

    def rule_veto_spec(self) -> dict | None:
        """The veto as the manifest records it and ``triage.rules.rule_vetoed`` reads it."""
        return None if self.rule_veto is None else {"below": self.rule_veto, "min_words": self.rule_veto_min_words}
    # Language ID: Kazakh weighs more in the fit, so folded Kazakh mixed with Russian words reads as
    # Kazakh (3-fold CV on train: folded Kazakh 0.951 -> 0.974, Russian 0.981 -> 0.978).
    langid_class_weight: dict[str, float] = field(default_factory=lambda: {"kk": 8.0})


@dataclass
class Dataset:
    texts: list[str]
    labels: dict[str, list[str | None]]
    languages: list[str | None] | None  # per row (None where unknown); None when no row has one
    sha256: str
    paths: list[str]


def load_dataset(paths: list[Path], text_column: str = "text", head_columns: dict[str, str] | None = None,
                 language_column: str = "language") -> Dataset:
    """Read JSONL/CSV files; heads whose column is absent from every file are not trained."""
    head_columns = head_columns or {h: h for h in HEADS}
    records, h = [], hashlib.sha256()
    for p in paths:
        p = Path(p)
        rows = read_records(p)  # raises a DataError for a missing or malformed file
        h.update(p.read_bytes())
        if rows and text_column not in rows[0]:
            raise DataError(f"{p}: no {text_column!r} column (columns: {', '.join(rows[0])})")
        records += rows
    if not records:
        raise DataError("no training records")
    texts, keep = [], []
    for i, r in enumerate(records):
        t = r.get(text_column)
        if isinstance(t, str) and t.strip():
            texts.append(clean(t, get_settings().max_text_chars).text)
            keep.append(i)
    records = [records[i] for i in keep]
    labels = {head: [(None if r.get(col) in (None, "") else str(r[col])) for r in records]
              for head, col in head_columns.items() if any(r.get(col) not in (None, "") for r in records)}
    if not labels:
        raise DataError(f"no label column found (looked for {', '.join(head_columns.values())})")
    # Per row; None where a row has none (reviewer corrections: the stored language is the model's own
    # guess). Thresholds per language use the rows that have one; language ID trains only on data
    # where every row has one (else on the starter set).
    langs = [r.get(language_column) if r.get(language_column) in ("kk", "ru", "en") else None for r in records]
    languages = langs if any(lang is not None for lang in langs) else None
    return Dataset(texts, labels, languages, h.hexdigest(), [str(p) for p in paths])


def label_counts(ys) -> Counter:
    """How many messages have each label ("" and None are unlabelled, as in ``TriageModel.fit``)."""
    return Counter(v for v in ys if v is not None and v != "")


def rare_labels(counts: Counter, min_examples: int) -> list:
    """Labels with fewer examples than the calibration folds (each fold needs one of each)."""
    return sorted(lab for lab, c in counts.items() if c < min_examples)


def check_labels(ds: Dataset, min_examples: int) -> None:
    """A clear error for labels no classifier can learn: a head with a single label value, or a
    label with fewer examples than the calibration folds."""
    for head, ys in ds.labels.items():
        counts = label_counts(ys)
        if len(counts) < 2:
            raise DataError(f"{head}: every labelled message has the label {next(iter(counts))!r}; a classifier "
                            f"needs at least two labels (leave the column out to train without this head)")
        rare = rare_labels(counts, min_examples)
        if rare:
            shown = ", ".join(f"{lab!r} ({counts[lab]})" for lab in rare[:10])
            raise DataError(f"{head}: label(s) with fewer than {min_examples} examples: {shown}"
                            f"{' and more' if len(rare) > 10 else ''}; calibrating a label's confidence needs at "
                            f"least {min_examples} (add examples, or merge or drop these labels)")


def min_label_examples(config: TrainConfig) -> int:
    """The fewest messages a label needs: one per inner calibration fold, and at least two (one to
    learn from and one to calibrate on in some other fold)."""
    return max(2, config.calibration_folds) if config.calibration == "inner" else 2


def build_model(config: TrainConfig, n: int) -> TriageModel:
    """The untrained model for ``n`` training messages (its SVM heads left uncalibrated when
    ``config.calibration`` is "validation": :func:`fit_and_validate` calibrates them)."""
    if config.calibration not in ("validation", "inner"):
        raise ValueError(f"calibration must be 'validation' or 'inner', not {config.calibration!r}")
    if config.calibration == "validation":
        cv = None
    else:
        cv = min(3, config.calibration_folds) if n >= config.holdout_above else config.calibration_folds
    heads = {h: make_head(spec.get("kind", "svm"), spec.get("C", 0.5), cv=cv, tol=spec.get("tol", 1e-4))
             for h, spec in config.heads.items()}
    ignore = {h: tuple(spec["ignore"]) for h, spec in config.heads.items() if spec.get("ignore")}
    return TriageModel(features=make_features(**config.features), heads=heads, ignore=ignore or None)


def _splits(ds: Dataset, config: TrainConfig) -> list[tuple[np.ndarray, np.ndarray]]:
    strat_head = "topic" if "topic" in ds.labels else next(iter(ds.labels))
    y = np.array([v or "" for v in ds.labels[strat_head]])
    if len(y) >= config.holdout_above:
        splitter = StratifiedShuffleSplit(n_splits=1, test_size=config.holdout_size, random_state=config.seed)
    else:
        # The configured folds even when a label (or the rows without one) is rarer than that: a
        # single new label must not halve the validation data behind every threshold. A fold's fit
        # leaves out a label too rare to calibrate (CalibratedLinearSVC).
        largest = max(np.unique(y, return_counts=True)[1])
        splitter = StratifiedKFold(n_splits=max(2, min(config.folds, largest)), shuffle=True,
                                   random_state=config.seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        return list(splitter.split(np.zeros(len(y)), y))


def _uncalibrated(est) -> bool:
    return isinstance(est, CalibratedLinearSVC) and est.a_ is None


def _fit(ds: Dataset, config: TrainConfig, rows: np.ndarray | None, predict_rows: np.ndarray | None,
         fold: int = 0):
    """One fit on ``rows`` (None: all). With ``predict_rows``, returns (rows, fold, classes, outputs)
    for them, an output per head: probabilities, or for an uncalibrated SVM head its decision values
    as a ``Scores``; without, returns the fitted model. Runs in a worker process."""
    texts = ds.texts if rows is None else [ds.texts[i] for i in rows]
    labels = ds.labels if rows is None else {h: [v[i] for i in rows] for h, v in ds.labels.items()}
    m = build_model(config, len(ds.texts)).fit(texts, labels)
    if predict_rows is None:
        return m
    X = m.prepare([ds.texts[i] for i in predict_rows]).X
    outputs = {h: Scores(est.decision_function(X).reshape(len(predict_rows), -1)) if _uncalibrated(est)
               else est.predict_proba(X) for h, est in m.heads_.items()}
    return predict_rows, fold, m.classes_, outputs


@dataclass
class Scores:
    """An uncalibrated SVM head's decision values (one column per class, one for two classes)."""

    values: np.ndarray


def _full_scores(values: np.ndarray, classes: list[str], fold_classes: list[str]) -> np.ndarray:
    """A fold model's decision values in the head's score columns (one per class, one for two
    classes: the second's), NaN where the fold model lacked the class. A fold model that learned
    only two of more classes scores the second of them; the first gets the opposite score."""
    n = len(values)
    if len(classes) == 2:
        return values[:, :1] if len(fold_classes) == 2 else np.full((n, 1), np.nan)
    out = np.full((n, len(classes)), np.nan)
    if len(fold_classes) == 2:
        out[:, classes.index(fold_classes[1])] = values[:, 0]
        out[:, classes.index(fold_classes[0])] = -values[:, 0]
    else:
        out[:, [classes.index(c) for c in fold_classes]] = values
    return out


def _check_scored(head: str, scores: np.ndarray, y: np.ndarray, classes: list[str], rows: np.ndarray) -> None:
    """Every label needs at least two labelled messages that a validation fit scored for it (a
    fit that never saw the label can't): else its sigmoid would be flat and the label never
    predicted. Happens when a rare label's messages all fall in one validation fold or, on large
    data, outside (or all inside) the holdout."""
    columns = [0, 0] if len(classes) == 2 else range(len(classes))
    short = [c for c, j in zip(classes, columns, strict=True)
             if int(np.sum((y[rows] == c) & ~np.isnan(scores[rows, j]))) < 2]
    if short:
        raise DataError(f"{head}: too few validation-fold predictions to calibrate label(s) "
                        f"{', '.join(map(repr, short))} (their messages are too few, or all in one fold); train with "
                        f"--calibration inner, or label more messages")


def calibrate_out_of_fold(scores: np.ndarray, y: np.ndarray, classes: list[str], groups: np.ndarray,
                          rows: np.ndarray, head: str = "head") -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Probabilities for ``rows`` from out-of-fold decision values, each group's from sigmoids
    fitted on the other groups' labelled rows (so no row's probability was fitted on its own
    label), and the sigmoids fitted on all of them, for the final model. A row no fit scored (its
    fold's model had no such head) gets all-zero probabilities, as with inner calibration."""
    labelled = rows[np.array([y[i] is not None for i in rows], dtype=bool)]
    _check_scored(head, scores, y, classes, labelled)
    proba = np.zeros((len(scores), len(classes)))
    for g in np.unique(groups[rows]):
        fit_rows = labelled[groups[labelled] != g]
        a, b = fit_sigmoids(scores[fit_rows], y[fit_rows], classes)
        these = rows[groups[rows] == g]
        proba[these] = out_of_fold_proba(scores[these], a, b, len(classes))
    return proba, fit_sigmoids(scores[labelled], y[labelled], classes)


def out_of_fold_proba(scores: np.ndarray, a: np.ndarray, b: np.ndarray, n_classes: int) -> np.ndarray:
    """``sigmoid_proba`` for out-of-fold scores with gaps: a NaN score (a fold model that lacked
    the class) gives that class probability 0, and a row with no score at all gets all zeros."""
    p = ovr_proba(np.nan_to_num(expit(-(scores * a + b)), nan=0.0), n_classes)
    p[np.isnan(scores).all(axis=1)] = 0.0
    return p


def fit_and_validate(ds: Dataset, config: TrainConfig, progress: bool = True, final: bool = True,
                     langid_data: tuple[list[str], list[str]] | None = None
                     ) -> tuple[dict, TriageModel | None, LanguageIdentifier | None]:
    """The validation fits (k-fold, or one holdout on large data) and, with ``final``, the fit on
    all data, run in parallel processes (``config.n_jobs``); with ``langid_data`` (texts,
    languages), the language identifier's fit too.

    Returns out-of-fold probabilities per head plus ``classes`` and ``validated`` (the mask of rows
    that have them), the final model and the language identifier (None when not asked for)."""
    # Longest first, so the two cores finish together: the final fit (all rows), then the validation
    # fits, then language ID (on the 15,398-message split about 35 / 28 / 22 s of one core each; with
    # calibration "validation", 19 / 15 / 22 s, so language ID goes first).
    tasks = ([(None, None)] if final else []) + [(tr, va) for tr, va in _splits(ds, config)]
    jobs = [delayed(_fit)(ds, config, tr, va, fold) for fold, (tr, va) in enumerate(tasks)]
    if langid_data is not None:
        jobs.insert(0 if config.calibration == "validation" else len(jobs),
                    delayed(_fit_langid)(*langid_data, config.langid_class_weight))
    run = Parallel(n_jobs=config.n_jobs, return_as="generator_unordered")(jobs)
    oof: dict[str, np.ndarray] = {}
    scores: dict[str, np.ndarray] = {}
    classes = {h: sorted({v for v in ys if v is not None}) for h, ys in ds.labels.items()}
    validated = np.zeros(len(ds.texts), dtype=bool)
    groups = np.full(len(ds.texts), -1)
    model = langid = None
    for out in tqdm(run, total=len(jobs), desc="fits (validation + final)", disable=not progress):
        if isinstance(out, TriageModel):
            model = out
            continue
        if isinstance(out, LanguageIdentifier):
            langid = out
            continue
        va, fold, fold_classes, outputs = out
        validated[va] = True
        groups[va] = fold
        for h, p in outputs.items():
            if isinstance(p, Scores):
                width = 1 if len(classes[h]) == 2 else len(classes[h])
                scores.setdefault(h, np.full((len(ds.texts), width), np.nan))
                scores[h][va] = _full_scores(p.values, classes[h], fold_classes[h])
                continue
            oof.setdefault(h, np.zeros((len(ds.texts), len(classes[h]))))
            cols = [classes[h].index(c) for c in fold_classes[h]]
            oof[h][np.ix_(va, cols)] = p
    if scores:
        rows = np.flatnonzero(validated)
        if len(np.unique(groups[rows])) < 2:  # one holdout: cross-fit over four random parts of it
            groups[rows] = np.random.default_rng(config.seed).permutation(len(rows)) % 4
        for h, s in scores.items():
            y = np.array(ds.labels[h], dtype=object)
            oof[h], (a, b) = calibrate_out_of_fold(s, y, classes[h], groups, rows, h)
            if model is not None and h in model.heads_:
                model.heads_[h].calibrate(a, b)
    if model is not None:
        for h, est in model.heads_.items():
            if _uncalibrated(est):
                raise DataError(f"{h}: no validation fold could learn two of its labels, so its confidences "
                                f"cannot be calibrated (label more messages)")
    oof = {h: oof[h] for h in ds.labels if h in oof}  # heads in the data's order
    return {"classes": {h: classes[h] for h in oof}, "validated": validated, **oof}, model, langid


def out_of_fold(ds: Dataset, config: TrainConfig, progress: bool = True) -> dict:
    """Out-of-fold probabilities only (see :func:`fit_and_validate`)."""
    return fit_and_validate(ds, config, progress, final=False)[0]


def choose_thresholds(ds: Dataset, oof: dict, config: TrainConfig, rules: EmergencyRules) -> dict:
    """Per-head confidence thresholds reaching ``precision_target`` on out-of-fold predictions,
    and the critical-urgency probability threshold (see ``TrainConfig.critical_miss_cost``), counting
    the emergency rules' hits as flagged."""
    classes, validated = oof["classes"], oof["validated"]
    heads = [h for h in oof if h not in ("classes", "validated")]
    out: dict = {"thresholds": {}, "critical_threshold": None, "rule_veto": None,
                 "validation": {"n": int(validated.sum())}}
    crit_t = None
    if "urgency" in heads and "critical" in classes["urgency"]:
        y = np.array(ds.labels["urgency"], dtype=object)
        p = oof["urgency"][:, classes["urgency"].index("critical")]
        langs = ds.languages or [None] * len(ds.texts)
        skels = [skeleton(normalize(t)) for t in ds.texts]
        rule_hit = np.array([bool(v) and rules.raises_critical(sk, lang)
                             for v, sk, lang in zip(validated, skels, langs, strict=True)])
        veto = config.rule_veto_spec()
        rule_hit &= ~rule_vetoed(p, np.array([len(words(sk)) for sk in skels]), veto)  # as the engine does
        is_crit = (y == "critical") & validated
        grid = [float(round(t, 2)) for t in np.arange(0.5, 0.019, -0.01)]

        def recall(t: float) -> float:
            return float(((p[is_crit] >= t) | rule_hit[is_crit]).mean()) if is_crit.any() else 1.0

        def cost(t: float) -> float:
            flagged = ((p >= t) | rule_hit) & validated
            return config.critical_miss_cost * float((is_crit & ~flagged).sum()) + float((flagged & ~is_crit).sum())

        crit_t = min(grid, key=lambda t: (cost(t), -t))
        for t in grid:  # descending: the largest threshold at or below the cost optimum that reaches the target
            if t <= crit_t and recall(t) >= config.critical_recall_target:
                crit_t = t
                break
        else:
            crit_t = grid[-1]
        flagged = ((p >= crit_t) | rule_hit) & validated
        out["critical_threshold"] = crit_t
        out["rule_veto"] = veto
        out["validation"]["critical_recall"] = float(flagged[is_crit].mean())
        out["validation"]["critical_precision"] = float(is_crit[flagged].mean()) if flagged.any() else 0.0
    for h in heads:
        proba = oof[h]
        y = np.array(ds.labels[h], dtype=object)
        known = np.array([v is not None for v in y]) & validated
        pred_idx = proba.argmax(1)
        if h == "urgency" and crit_t is not None:
            c = classes[h].index("critical")
            pred_idx = np.where(proba[:, c] >= crit_t, c, pred_idx)
        pred = np.array(classes[h], dtype=object)[pred_idx]
        conf = proba[np.arange(len(proba)), pred_idx]
        correct = (pred == y)[known]
        t = precision_threshold(conf[known], correct, config.precision_target, delta=config.precision_delta,
                                grid=config.threshold_grid)
        out["thresholds"][h] = t
        row_t = np.full(int(known.sum()), t)
        langs = np.array(ds.languages, dtype=object)[known] if ds.languages is not None else np.array([])
        masks = {lang: langs == lang for lang in sorted(set(langs) - {None})}
        if masks and config.thresholds_per_language:
            by = out.setdefault("thresholds_by_language", {})[h] = {}
            for lang, m in masks.items():
                by[lang] = row_t[m] = precision_threshold(conf[known][m], correct[m], config.precision_target,
                                                          delta=config.precision_delta, grid=config.threshold_grid)
        routed = conf[known] >= row_t
        out["validation"][h] = {"accuracy": float(correct.mean()), **coverage_precision(correct, routed)}
        if masks:
            out["validation"][h]["per_language"] = {
                lang: {"n": int(m.sum()), "threshold": float(row_t[m][0]), **coverage_precision(correct[m], routed[m])}
                for lang, m in masks.items()}
    return out


def _git_commit() -> str | None:
    """HEAD's commit, with "-dirty" when tracked files differ from it (the code that trained the
    model is then not exactly that commit); None outside a git checkout."""
    cwd = Path(__file__).parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                              cwd=cwd).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "triage", "training"],
                               capture_output=True, text=True, check=True, cwd=cwd.parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    if not head:
        return None
    return head + "-dirty" if dirty else head


def _versions() -> dict:
    import joblib
    import lingua  # noqa: F401
    import sklearn
    import spacy

    from triage import __version__

    return {"python": platform.python_version(), "scikit-learn": sklearn.__version__,
            "spacy": spacy.__version__, "joblib": joblib.__version__, "triage": __version__}


def _fit_langid(texts: list[str], languages: list[str], class_weight: dict[str, float]) -> LanguageIdentifier:
    return LanguageIdentifier(class_weight=class_weight).fit([normalize(t) for t in texts], languages)


def train(paths: list[Path], output: Path, text_column: str = "text", head_columns: dict[str, str] | None = None,
          config: TrainConfig | None = None, progress: bool = True) -> dict:
    """Train and save a model directory. Returns its manifest."""
    config = config or TrainConfig()
    settings = get_settings()
    t0 = time.perf_counter()
    ds = load_dataset(paths, text_column, head_columns)
    check_labels(ds, min_label_examples(config))
    rules = EmergencyRules.load(settings.emergency_rules_path)
    lang_texts, lang_y = ds.texts, ds.languages
    if lang_y is None or None in lang_y:  # a city's export without a language column: learn it from the starter set
        starter = read_records(settings.data_dir / "train.jsonl")
        lang_texts, lang_y = [r["text"] for r in starter], [r["language"] for r in starter]
    # Language ID (lingua over every text, ~18 s on 6,000 messages) is one more task next to the
    # head fits instead of running after them.
    oof, model, langid = fit_and_validate(ds, config, progress, langid_data=(lang_texts, lang_y))
    chosen = choose_thresholds(ds, oof, config, rules)
    elapsed = time.perf_counter() - t0
    manifest = {
        "model_version": datetime.now(UTC).strftime("%Y%m%d-%H%M%S") + "-" + ds.sha256[:8],
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "heads": list(model.heads_),
        "labels": model.classes_,
        "languages": list(map(str, langid.classes_)),
        "thresholds": chosen["thresholds"],
        "thresholds_by_language": chosen.get("thresholds_by_language", {}),
        "critical_threshold": chosen["critical_threshold"],
        "rule_veto": chosen["rule_veto"],
        "validation": chosen["validation"],
        "data": {"paths": ds.paths, "sha256": ds.sha256, "n": len(ds.texts), "text_column": text_column},
        "config": asdict(config),
        "train_seconds": round(elapsed, 1),
        "versions": _versions(),
        "git_commit": _git_commit(),
    }
    return save_model_dir(Path(output), {"model": model, "langid": langid}, manifest)


def main(argv: list[str] | None = None) -> int:
    from triage.cli import main as cli_main

    return cli_main(["train", *(argv or [])])


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
