"""Abstention thresholds: the point-estimate rule and the Clopper-Pearson (fixed-sequence) rule."""

import numpy as np
import pytest

from training.metrics import NOTHING_QUALIFIES, precision_threshold


def synthetic(rng, n):
    conf = rng.random(n)
    correct = rng.random(n) < 0.7 + 0.3 * conf  # precision rises with confidence, crosses 0.95 near 0.83
    return conf, correct


def test_point_estimate_is_the_smallest_threshold_with_target_precision():
    conf, correct = synthetic(np.random.default_rng(0), 2000)
    t = precision_threshold(conf, correct, 0.95)
    assert correct[conf >= t].mean() >= 0.95
    lower = conf[conf < t].max()
    assert correct[conf >= lower].mean() < 0.95 or (conf >= lower).sum() < 20


@pytest.mark.parametrize("delta", [0.05, 0.10])
def test_clopper_pearson_rule_is_stricter_and_passes_its_test(delta):
    from scipy.stats import beta

    conf, correct = synthetic(np.random.default_rng(1), 2000)
    t = precision_threshold(conf, correct, 0.95, delta=delta)
    assert t >= precision_threshold(conf, correct, 0.95)
    m = conf >= t
    s, n = int(correct[m].sum()), int(m.sum())
    assert beta.ppf(delta, s, n - s + 1) >= 0.95


def test_too_little_evidence_routes_nothing():
    for delta in (None, 0.05):
        assert precision_threshold(np.ones(10), np.ones(10, bool), 0.95, delta=delta) > 1.0
        assert precision_threshold(np.linspace(0, 1, 200), np.zeros(200, bool), 0.95, delta=delta) > 1.0
        assert precision_threshold(np.array([]), np.array([], bool), 0.95, delta=delta) == NOTHING_QUALIFIES


def test_held_out_precision_falls_short_rarely_with_the_bound_and_often_without():
    rng = np.random.default_rng(2)
    short = {None: 0, 0.1: 0}
    trials = 150
    for _ in range(trials):
        conf, correct = synthetic(rng, 1500)
        new_conf, new_correct = synthetic(rng, 20000)  # exchangeable new messages
        for delta in short:
            t = precision_threshold(conf, correct, 0.95, delta=delta)
            m = new_conf >= t
            short[delta] += m.any() and new_correct[m].mean() < 0.95
    assert short[0.1] / trials <= 0.15  # promised: at most delta = 0.10
    assert short[None] / trials >= 0.25  # the point estimate misses about half the time


def test_grid_tests_only_at_multiples_of_the_start_count_and_survives_a_short_run_of_errors():
    from training.metrics import _power_start

    need = _power_start(0.95, 0.05)
    conf = np.linspace(1.0, 0.0, 3000, endpoint=False)  # distinct, most confident first
    correct = np.ones(3000, bool)
    correct[need + 5: need + 15] = False  # a run of 10 errors just past the first test point
    correct[1500:] = np.random.default_rng(3).random(1500) < 0.5  # and a bad tail
    every = precision_threshold(conf, correct, 0.95, delta=0.05)
    grid = precision_threshold(conf, correct, 0.95, delta=0.05, grid=True)
    assert (conf >= every).sum() < need + 15  # the sequence of every threshold stops in the run
    assert (conf >= grid).sum() > 2 * need  # the grid steps over it...
    assert (conf >= grid).sum() % need == 0  # ...and lands on a multiple of the start count
    assert (conf >= grid).sum() <= 1500  # but not into the bad tail


def test_grid_also_tests_all_predictions_so_a_clean_tail_is_routed():
    from training.metrics import _power_start

    need = _power_start(0.95, 0.05)
    conf = np.linspace(1.0, 0.0, 2 * need - 1, endpoint=False)
    correct = np.ones(len(conf), bool)
    assert precision_threshold(conf, correct, 0.95, delta=0.05, grid=True) == conf[-1]
