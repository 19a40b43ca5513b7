"""Fit a score temperature: the ``T`` that makes keypoint scores computed
from logits ``/ T`` match how often the keypoints hit (temperature scaling,
Guo et al. 2017, applied to keypoint scores).

A *hit* is what :class:`~kp_plugins.evaluation.KPScoreCalibration` counts: a
labelled keypoint predicted within its OKS tolerance. The fit minimizes the
mean binary cross-entropy (negative log-likelihood) of the hits under the
scores; ``T`` does not move the predicted keypoints (the argmax of ``l / T``
is the argmax of ``l``), so the hits stay fixed while ``T`` varies.

Symbols: ``N`` scored keypoints.
"""
from typing import Callable, Dict, Tuple

import numpy as np

from .score_calibration import reliability_table

#: Scores are clipped to [EPS, 1 - EPS] before the log-likelihood.
EPS = 1e-6


def hit_nll(scores: np.ndarray, hits: np.ndarray) -> float:
    """Mean binary cross-entropy of ``hits`` (N,) bool under ``scores`` (N,)."""
    s = np.clip(np.asarray(scores, np.float64).ravel(), EPS, 1 - EPS)
    h = np.asarray(hits, bool).ravel()
    if s.size != h.size or s.size == 0:
        raise ValueError(f'{s.size} scores and {h.size} hit flags: need the same, '
                         'non-zero number')
    return float(-np.mean(np.where(h, np.log(s), np.log1p(-s))))


def fit_temperature(scores_at: Callable[[float], np.ndarray], hits: np.ndarray,
                    low: float = 0.05, high: float = 20.0,
                    steps: int = 61) -> Tuple[float, Dict[str, float]]:
    """The temperature in ``[low, high]`` with the least hit NLL.

    A log-spaced search over ``steps`` temperatures, then a golden-section
    refinement between the best one's neighbours (to 0.1% of ``T``).

    Args:
        scores_at: ``T -> scores (N,)`` in [0, 1], the same keypoints in the
            same order as ``hits`` for every ``T``.
        hits: (N,) bool.
        low, high: the search range (``0 < low < high``).
        steps: points of the first, coarse search.

    Returns:
        the fitted ``T`` and a summary: ``nll`` and ``ece`` at ``T = 1`` and at
        the fitted ``T`` (``nll_1``, ``ece_1``, ``nll``, ``ece``), the hit rate
        and the mean score before and after.

    Raises:
        ValueError: an empty set, or hits that are all true or all false (any
            ``T`` that pushes every score to 1 or 0 would "fit": there is
            nothing to calibrate on).
    """
    if not 0 < low < 1 <= high:
        raise ValueError(f'the search range must satisfy 0 < low < 1 <= high, got '
                         f'[{low}, {high}]')
    hits = np.asarray(hits, bool).ravel()
    if hits.size == 0 or hits.all() or not hits.any():
        raise ValueError(
            f'cannot fit a temperature on {hits.size} keypoints of which {int(hits.sum())} '
            'hit: it needs both hits and misses (a trained model on labelled data)')

    def nll(log_t: float) -> float:
        return hit_nll(scores_at(float(np.exp(log_t))), hits)

    grid = np.linspace(np.log(low), np.log(high), steps)
    values = [nll(x) for x in grid]
    best = int(np.argmin(values))
    a, b = grid[max(best - 1, 0)], grid[min(best + 1, steps - 1)]
    ratio = (np.sqrt(5) - 1) / 2
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = nll(c), nll(d)
    while b - a > 1e-3:
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = nll(c)
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = nll(d)
    log_t = (a + b) / 2
    if nll(log_t) > values[best]:  # a flat or edge minimum: keep the grid point
        log_t = grid[best]
    temperature = float(np.exp(log_t))
    before, after = scores_at(1.0), scores_at(temperature)
    table_1, table = reliability_table(before, hits), reliability_table(after, hits)
    return temperature, dict(
        nll_1=hit_nll(before, hits), ece_1=table_1['ece'], mean_score_1=table_1['mean_score'],
        nll=hit_nll(after, hits), ece=table['ece'], mean_score=table['mean_score'],
        hit_rate=table['hit_rate'], n=int(hits.size))
