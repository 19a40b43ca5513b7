"""Do keypoint scores mean something? A reliability table and the expected
calibration error (ECE) of per-keypoint scores, as an MMEngine metric.

A keypoint *hits* when it is labelled (COCO visibility > 0) and predicted
within its OKS tolerance: its COCO similarity term
``exp(-d^2 / (2 * area * (2 * sigma_k)^2))`` (``COCOeval.computeOks``) is at
least ``oks_thr`` (0.5 by default). A score that estimates "the keypoint is
visible and where predicted" should hit that often: among keypoints scored
about 0.7, about 70% should hit. The table bins the scores and compares each
bin's mean score with its hit rate; ECE is the count-weighted mean gap.

Symbols: ``K`` keypoints, ``N`` scored keypoints.
"""
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger
from mmpose.registry import METRICS

from kp_plugins.utils.oks import OKS_AREA_EPS, load_sigmas


def keypoint_hits(pred: np.ndarray, gt: np.ndarray, visible: np.ndarray, area: float,
                  sigmas: np.ndarray, oks_thr: float = 0.5) -> np.ndarray:
    """(K,) bool: labelled and within the OKS tolerance.

    Args:
        pred: (K, 2) predicted keypoints, image pixels.
        gt: (K, 2) ground truth, image pixels.
        visible: (K,) COCO visibility flags (0 = unlabelled).
        area: the instance's COCO area, image pixels^2.
        sigmas: (K,) OKS sigmas.
        oks_thr: the per-keypoint similarity a hit needs.
    """
    d2 = ((np.asarray(pred, np.float64) - np.asarray(gt, np.float64)) ** 2).sum(-1)
    similarity = np.exp(-d2 / (2 * (2 * sigmas) ** 2 * (area + OKS_AREA_EPS)))
    return (np.asarray(visible) > 0) & (similarity >= oks_thr)


def reliability_table(scores: np.ndarray, hits: np.ndarray,
                      bins: int = 10) -> Dict[str, object]:
    """Bin ``scores`` (N,) in ``[0, 1]`` into ``bins`` equal-width bins.

    Returns:
        dict with ``rows`` (per non-empty bin: ``lo``, ``hi``, ``count``,
        ``mean_score``, ``hit_rate``), ``ece`` (sum over bins of
        ``count / N * |hit_rate - mean_score|``), ``n`` and the overall
        ``mean_score`` and ``hit_rate``.
    """
    scores = np.clip(np.asarray(scores, np.float64).ravel(), 0.0, 1.0)
    hits = np.asarray(hits, bool).ravel()
    if scores.size != hits.size:
        raise ValueError(f'{scores.size} scores but {hits.size} hit flags')
    if scores.size == 0:
        return dict(rows=[], ece=float('nan'), n=0, mean_score=float('nan'),
                    hit_rate=float('nan'))
    index = np.minimum((scores * bins).astype(int), bins - 1)
    rows, ece = [], 0.0
    for b in range(bins):
        sel = index == b
        if not sel.any():
            continue
        mean_score, hit_rate = float(scores[sel].mean()), float(hits[sel].mean())
        ece += sel.sum() / scores.size * abs(hit_rate - mean_score)
        rows.append(dict(lo=b / bins, hi=(b + 1) / bins, count=int(sel.sum()),
                         mean_score=mean_score, hit_rate=hit_rate))
    return dict(rows=rows, ece=float(ece), n=int(scores.size),
                mean_score=float(scores.mean()), hit_rate=float(hits.mean()))


def format_table(table: Dict[str, object]) -> str:
    """The reliability table as Markdown."""
    lines = ['| score bin | keypoints | mean score | hit rate |', '|---|---|---|---|']
    for r in table['rows']:
        lines.append(f"| {r['lo']:.1f}–{r['hi']:.1f} | {r['count']} | "
                     f"{r['mean_score']:.3f} | {r['hit_rate']:.3f} |")
    lines.append(f"\nECE {table['ece']:.3f} over {table['n']} keypoints (mean score "
                 f"{table['mean_score']:.3f}, hit rate {table['hit_rate']:.3f})")
    return '\n'.join(lines)


@METRICS.register_module()
class KPScoreCalibration(BaseMetric):
    """Reliability of ``keypoint_scores`` on a top-down COCO-style test set
    (``tools/test.py --score-calibration``).

    Every instance's predicted keypoints (image pixels) are compared with
    its annotation (``raw_ann_info``: ``keypoints``, ``area``); the metric
    reports ``calibration/ECE``, ``calibration/hit_rate``,
    ``calibration/mean_score`` and the share of keypoints scored above
    ``thresholds`` (e.g. the demo's 0.3), and logs the reliability table.

    Args:
        oks_thr: per-keypoint OKS similarity of a hit (0.5).
        bins: equal-width score bins of the table.
        thresholds: report the share of keypoints (and of hits) scored at
            least each of these.
        sigmas / metainfo: OKS sigmas (default COCO's 17).
        out_file: also write the table and the per-keypoint scores/hits as
            JSON here.
    """

    default_prefix = 'calibration'

    def __init__(self, oks_thr: float = 0.5, bins: int = 10,
                 thresholds: Sequence[float] = (0.2, 0.3),
                 sigmas: Optional[Sequence[float]] = None,
                 metainfo: Optional[str] = None, out_file: Optional[str] = None,
                 collect_device: str = 'cpu', prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if not 0 < oks_thr < 1:
            raise ValueError(f'oks_thr must be in (0, 1), got {oks_thr}')
        self.oks_thr = float(oks_thr)
        self.bins = int(bins)
        self.thresholds = tuple(float(t) for t in thresholds)
        self.sigmas = load_sigmas(sigmas, metainfo)
        self.out_file = out_file

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            ann = sample.get('raw_ann_info')
            if not ann or 'keypoints' not in ann:
                raise KeyError('KPScoreCalibration needs each sample\'s raw_ann_info '
                               '(a top-down COCO-style test set with ground truth)')
            pred = sample['pred_instances']
            keypoints = np.asarray(pred['keypoints'])[0]
            scores = np.asarray(pred['keypoint_scores'])[0]
            gt = np.asarray(ann['keypoints'], np.float64).reshape(-1, 3)
            if gt.shape[0] != keypoints.shape[0] or gt.shape[0] != self.sigmas.size:
                raise ValueError(f'KPScoreCalibration: {keypoints.shape[0]} predicted, '
                                 f'{gt.shape[0]} annotated keypoints and '
                                 f'{self.sigmas.size} sigmas')
            hits = keypoint_hits(keypoints, gt[:, :2], gt[:, 2], float(ann['area']),
                                 self.sigmas, self.oks_thr)
            self.results.append(dict(scores=scores.astype(float).tolist(),
                                     hits=hits.tolist(),
                                     labelled=(gt[:, 2] > 0).tolist()))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        scores = np.array([s for r in results for s in r['scores']])
        hits = np.array([h for r in results for h in r['hits']])
        table = reliability_table(scores, hits, self.bins)
        metrics = dict(ECE=table['ece'], hit_rate=table['hit_rate'],
                       mean_score=table['mean_score'])
        for t in self.thresholds:
            above = scores >= t
            metrics[f'above_{t:g}'] = float(above.mean()) if scores.size else float('nan')
            metrics[f'hits_above_{t:g}'] = (float(above[hits].mean()) if hits.any()
                                            else float('nan'))
        MMLogger.get_current_instance().info(
            f'keypoint score reliability (hit: labelled and OKS term >= {self.oks_thr}):\n'
            + format_table(table))
        if self.out_file:
            with open(osp.abspath(self.out_file), 'w') as f:
                json.dump(dict(table=table, metrics=metrics, scores=scores.tolist(),
                               hits=hits.tolist()), f)
        return metrics
