"""fit_temperature recovers the temperature that generated the hits."""
import numpy as np
import pytest

from kp_plugins.evaluation.score_temperature import fit_temperature, hit_nll


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


@pytest.mark.parametrize('true_t', [0.4, 1.0, 2.5, 7.0])
def test_fit_recovers_the_generating_temperature(true_t):
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, 200_000)
    hits = rng.random(logits.size) < _sigmoid(logits / true_t)
    t, summary = fit_temperature(lambda temp: _sigmoid(logits / temp), hits)
    assert t == pytest.approx(true_t, rel=0.01)
    assert summary['ece'] < 0.01
    assert summary['nll'] <= summary['nll_1'] + 1e-12
    # nll_1 is the likelihood at T = 1, computed independently here
    assert summary['nll_1'] == pytest.approx(hit_nll(_sigmoid(logits), hits))


def test_hit_nll_known_value():
    # -(log 0.8 + log(1 - 0.4)) / 2
    assert hit_nll(np.array([0.8, 0.4]), np.array([True, False])) == pytest.approx(
        -(np.log(0.8) + np.log(0.6)) / 2)


@pytest.mark.parametrize('hits', [np.ones(10, bool), np.zeros(10, bool), np.zeros(0, bool)])
def test_fit_refuses_nothing_to_calibrate(hits):
    with pytest.raises(ValueError, match='both hits and misses'):
        fit_temperature(lambda t: np.full(hits.size, 0.5), hits)
