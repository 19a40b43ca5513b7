"""kp_plugins/ultralytics/evaluate.py: Ultralytics results -> CocoMetric samples,
and the scoring path checked against numbers known in advance."""
import json
import os
import os.path as osp

import numpy as np
import pytest
import torch

from kp_plugins.ultralytics.convert import load_pose_metainfo
from kp_plugins.ultralytics.evaluate import (
    CocoImage,
    coco_metric_scores,
    ground_truth_samples,
    load_coco_images,
    sample_from_result,
)


@pytest.fixture(scope='module')
def val_set(coco_trainval):
    ann = osp.join(coco_trainval, 'annotations_val.json')
    images = load_coco_images(ann, osp.join(coco_trainval, 'images'))
    with open(ann) as f:
        coco = json.load(f)
    scorable = [a for a in coco['annotations'] if not a['iscrowd'] and a['num_keypoints'] > 0]
    return dict(ann=ann, images=images, scorable=scorable, meta=load_pose_metainfo())


def test_ground_truth_scores_one_and_dropping_persons_lowers_recall(val_set, tmp_path):
    samples = ground_truth_samples(val_set['ann'], val_set['images'])
    assert sum(len(s['pred_instances']['keypoints']) for s in samples) == len(val_set['scorable'])
    full = coco_metric_scores(samples, val_set['ann'], val_set['meta'],
                              outfile_prefix=str(tmp_path / 'full'))
    assert full['coco/AP'] == pytest.approx(1.0) and full['coco/AR'] == pytest.approx(1.0)

    # Keep only the first person of every image: recall = kept / scorable, exactly.
    kept = 0
    for s in samples:
        inst = s['pred_instances']
        n = min(1, len(inst['keypoints']))
        kept += n
        for key in inst:
            inst[key] = inst[key][:n]
        s['id'] = s['id'][:n]
    part = coco_metric_scores(samples, val_set['ann'], val_set['meta'])
    assert part['coco/AR'] == pytest.approx(kept / len(val_set['scorable']), abs=1e-6)
    assert part['coco/AP'] < 1.0


def test_shifted_keypoints_score_below_one(val_set):
    samples = ground_truth_samples(val_set['ann'], val_set['images'])
    for s in samples:
        s['pred_instances']['keypoints'] = s['pred_instances']['keypoints'] + 8.0
    shifted = coco_metric_scores(samples, val_set['ann'], val_set['meta'])
    assert 0.0 < shifted['coco/AP'] < 0.9


def test_sample_from_ultralytics_result():
    os.environ.setdefault('YOLO_OFFLINE', '1')  # no DNS probe on import
    results = pytest.importorskip('ultralytics.engine.results')
    img = CocoImage(img_id=7, path='x.jpg', width=64, height=48)
    boxes = torch.tensor([[1., 2., 30., 40., .9, 0.], [5., 5., 20., 20., .8, 1.],
                          [0., 0., 10., 10., .3, 0.]])
    kpts = torch.rand(3, 17, 3) * torch.tensor([64., 48., 1.])
    result = results.Results(np.zeros((48, 64, 3), np.uint8), 'x.jpg', {0: 'person', 1: 'x'},
                             boxes=boxes, keypoints=kpts)
    sample = sample_from_result(img, result, class_id=0)
    inst = sample['pred_instances']
    assert sample['img_id'] == 7 and sample['id'] == [0, 1] and sample['ori_shape'] == (48, 64)
    np.testing.assert_allclose(inst['keypoints'], kpts[[0, 2], :, :2].numpy())
    np.testing.assert_allclose(inst['keypoint_scores'], kpts[[0, 2], :, 2].numpy())
    np.testing.assert_allclose(inst['bboxes'], boxes[[0, 2], :4].numpy())
    np.testing.assert_allclose(inst['bbox_scores'], [.9, .3])

    empty = results.Results(np.zeros((48, 64, 3), np.uint8), 'x.jpg', {0: 'person'},
                            boxes=torch.zeros(0, 6), keypoints=torch.zeros(0, 17, 3))
    assert len(sample_from_result(img, empty)['pred_instances']['keypoints']) == 0


def test_no_prediction_at_all_scores_zero(val_set, tmp_path):
    samples = ground_truth_samples(val_set['ann'], val_set['images'])
    for s in samples:
        for key, value in s['pred_instances'].items():
            s['pred_instances'][key] = value[:0]
        s['id'] = []
    with pytest.warns(UserWarning, match='no person predicted'):
        scores = coco_metric_scores(samples, val_set['ann'], val_set['meta'],
                                    outfile_prefix=str(tmp_path / 'r'))
    assert scores['coco/AP'] == 0.0
    assert json.load(open(tmp_path / 'r.keypoints.json')) == []
