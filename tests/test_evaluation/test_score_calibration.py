"""KPScoreCalibration: hits against COCO's own per-keypoint OKS term, ECE on
hand-made score sets with known answers."""
import numpy as np
import pytest
from pycocotools.cocoeval import COCOeval

from kp_plugins.evaluation import KPScoreCalibration, keypoint_hits, reliability_table
from kp_plugins.utils.oks import COCO_SIGMAS


def test_hits_follow_the_cocoeval_similarity_term():
    """A keypoint at distance d hits iff COCOeval's exp(-d^2/vars/(area+eps)/2)
    >= 0.5; vars = (2 sigma)^2 taken from COCOeval's own parameters."""
    sigmas = np.array(COCOeval(iouType='keypoints').params.kpt_oks_sigmas)
    np.testing.assert_allclose(sigmas, COCO_SIGMAS)
    area = 900.0
    # the distance at which the term is exactly 0.5: d^2 = 2 ln2 vars area
    d_half = np.sqrt(2 * np.log(2) * (2 * sigmas) ** 2 * area)
    gt = np.zeros((17, 2))
    visible = np.full(17, 2.0)
    inside = keypoint_hits(np.stack([d_half * 0.999, np.zeros(17)], -1), gt, visible, area,
                           sigmas)
    outside = keypoint_hits(np.stack([d_half * 1.001, np.zeros(17)], -1), gt, visible, area,
                            sigmas)
    assert inside.all() and not outside.any()
    visible[3] = 0  # unlabelled: never a hit
    assert not keypoint_hits(gt, gt, visible, area, sigmas)[3]


def test_reliability_table_known_answers():
    rng = np.random.RandomState(0)
    scores = rng.uniform(0, 1, 200000)
    calibrated = rng.uniform(0, 1, scores.size) < scores
    assert reliability_table(scores, calibrated)['ece'] < 0.01
    table = reliability_table(np.ones(10), np.arange(10) < 5)
    assert table['ece'] == pytest.approx(0.5)
    assert [r['count'] for r in table['rows']] == [10]  # a score of 1 is in the last bin
    table = reliability_table(np.array([0.05, 0.05, 0.95, 0.95]),
                              np.array([False, False, True, False]))
    # bin 0: score 0.05, hit rate 0 -> gap 0.05; bin 9: 0.95 vs 0.5 -> 0.45
    assert table['ece'] == pytest.approx(0.5 * 0.05 + 0.5 * 0.45)


def test_metric_on_samples():
    metric = KPScoreCalibration(thresholds=(0.3, ))
    gt = np.zeros((17, 3))
    gt[:, :2] = np.arange(34).reshape(17, 2) * 10
    gt[:, 2] = 2
    gt[16, 2] = 0
    pred = gt[:, :2].copy()
    pred[:8] += 1000  # 8 misses far away
    scores = np.full(17, 0.9)
    scores[:8] = 0.1
    sample = dict(raw_ann_info=dict(keypoints=gt.ravel().tolist(), area=2500.0),
                  pred_instances=dict(keypoints=pred[None], keypoint_scores=scores[None]))
    metric.process(None, [sample])
    out = metric.compute_metrics(metric.results)
    # hits: 8 (labelled, exact) of 17; scores 0.1 x 8 misses, 0.9 x 8 hits + 1 unlabelled
    assert out['hit_rate'] == pytest.approx(8 / 17)
    assert out['above_0.3'] == pytest.approx(9 / 17)
    assert out['hits_above_0.3'] == 1.0
    assert out['ECE'] == pytest.approx((8 * 0.1 + abs(8 / 9 - 0.9) * 9) / 17)
    with pytest.raises(KeyError, match='raw_ann_info'):
        metric.process(None, [dict(pred_instances=sample['pred_instances'])])
