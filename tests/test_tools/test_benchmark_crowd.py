"""The crowd benchmark (kp_plugins.benchmark.crowd, tools/benchmark_crowd.py):
a tiny run with random weights gives a record with every field, both
onnxruntime columns measured (the models exported on the fly) and the
onnxruntime one-stage AP equal to torch's; the AP
helper scores perfect predictions 1 and a missed person as a missed person;
the table is checked against a hand-written record."""
import json
import os.path as osp

import numpy as np
import pytest

from kp_plugins.benchmark.crowd import (
    ROW_FIELDS,
    CrowdSettings,
    coco_ap,
    crowd_scenes,
    markdown_table,
    metric_samples,
    run_crowd_benchmark,
    write_outputs,
)

from helpers import run_tool, tool
from onestage_models import save_random_pose_checkpoint, write_onestage_config


@pytest.fixture(scope='module')
def models(tmp_path_factory, repo_root):
    tmp = tmp_path_factory.mktemp('crowd')
    os_cfg = write_onestage_config(tmp)
    td_cfg = osp.join(repo_root, 'configs', 'quickstart.py')
    return dict(tmp=tmp, onestage=(os_cfg, save_random_pose_checkpoint(
        os_cfg, str(tmp / 'onestage.pth'))), topdown=(td_cfg, save_random_pose_checkpoint(
            td_cfg, str(tmp / 'topdown.pth'))))


def tiny_settings(tmp, **kwargs) -> CrowdSettings:
    return CrowdSettings(**dict(dict(people=(1, 2), scenes=1, img_size=(320, 240), warmup=1,
                                     repeats=2, threads=1, cache_dir=str(tmp / 'cache')),
                                **kwargs))


def test_tiny_run_record(models, tmp_path):
    record = run_crowd_benchmark(tiny_settings(tmp_path), models['onestage'],
                                 models['topdown'], log=lambda _: None)
    assert [row['people'] for row in record['rows']] == [1, 2]
    for row in record['rows']:
        assert set(row) == set(ROW_FIELDS)
        assert row['scenes'] == 1
        for key in ('onestage_ms', 'detector_ms', 'crops_ms', 'topdown_ms',
                    'onestage_ort_ms', 'crops_ort_ms', 'topdown_ort_ms'):
            assert row[key] > 0, key
        assert row['topdown_ms'] == pytest.approx(row['detector_ms'] + row['crops_ms'])
        assert row['detector_share'] + row['crops_share'] == pytest.approx(1.0)
        assert row['detector_boxes'] >= 1  # the random one-stage keeps its best 8 - NMS
        for key in ('onestage_ap', 'topdown_ap', 'topdown_gt_ap', 'onestage_ar'):
            assert 0.0 <= row[key] <= 1.0, key
        # the exported one-stage model finds the same persons as torch
        assert row['onestage_ort_ap'] == pytest.approx(row['onestage_ap'], abs=1e-6)
        assert row['onestage_ort_ar'] == pytest.approx(row['onestage_ar'], abs=1e-6)
        # the exported one-stage model is the top-down pipeline's detector in onnxruntime
        assert row['topdown_ort_ms'] == pytest.approx(row['onestage_ort_ms']
                                                      + row['crops_ort_ms'])
    assert not any('skipped' in n for n in record['notes']), record['notes']
    assert any(n.startswith('onestage_ort_ms: OnnxBottomupPoseModel.predict on the whole')
               for n in record['notes'])
    assert record['settings']['people'] == (1, 2) and record['settings']['repeats'] == 2
    assert record['models']['onestage']['head'] == 'YOLOXPoseHead'
    assert record['models']['topdown']['head'] == 'KPGridHead'
    paths = write_outputs(record, str(tmp_path / 'out'))
    assert json.load(open(paths['record']))['rows'][1]['people'] == 2
    assert open(paths['table']).read() == markdown_table(json.load(open(paths['record'])))
    assert open(paths['plot'], 'rb').read(8) == b'\x89PNG\r\n\x1a\n'


def test_random_rtmdet_gives_n_boxes(models, tmp_path):
    """With the random RTMDet-tiny as detector, it returns N boxes per image
    (max_per_img = N) and no AP on its boxes is claimed. A given one-stage
    ONNX file is used, not replaced by an export: a missing one skips the
    column with a note naming it."""
    from random_detectors import write_small_rtmdet_config
    settings = tiny_settings(tmp_path, people=(2, ), detector='random-rtmdet')
    missing = str(tmp_path / 'missing.onnx')
    record = run_crowd_benchmark(settings, models['onestage'], models['topdown'],
                                 onestage_onnx=missing,
                                 rtmdet_config=write_small_rtmdet_config(tmp_path),
                                 log=lambda _: None)
    row = record['rows'][0]
    assert row['detector_boxes'] == 2
    assert row['topdown_ap'] is None and row['topdown_gt_ap'] is not None
    assert any('random weights, timed only' in n for n in record['notes'])
    assert row['onestage_ort_ms'] is None and row['onestage_ort_ap'] is None
    assert row['crops_ort_ms'] > 0
    assert (f"one-stage onnxruntime column skipped: OnnxModelError: ONNX file {missing!r} "
            'not found') in record['notes']


def test_coco_ap_of_perfect_and_missing_predictions(tmp_path):
    """Ground-truth keypoints as predictions score AP 1; with one of the two
    persons of every scene missing, AR is 0.5."""
    from mmengine.structures import InstanceData
    from mmpose.structures import PoseDataSample

    from kp_plugins.benchmark.speed import coco_metainfo
    settings = tiny_settings(tmp_path, people=(2, ), scenes=3)
    ann_file, images = crowd_scenes(settings, 2)
    coco = json.load(open(ann_file))
    perfect, half = [], []
    for img in images:
        anns = [a for a in coco['annotations'] if a['image_id'] == img['id']]
        kpts = np.array([a['keypoints'] for a in anns], np.float32).reshape(len(anns), 17, 3)
        sample = PoseDataSample()
        sample.pred_instances = InstanceData(
            keypoints=kpts[..., :2], keypoint_scores=np.ones((len(anns), 17), np.float32),
            bboxes=img['boxes'], bbox_scores=np.ones(len(anns), np.float32))
        perfect += metric_samples(sample, img['id'], len(perfect))
        first = PoseDataSample()
        first.pred_instances = sample.pred_instances[:1]
        half += metric_samples(first, img['id'], len(half))
    assert len(perfect) == 6 and len(half) == 3
    meta = coco_metainfo()
    assert coco_ap(perfect, ann_file, meta) == dict(AP=pytest.approx(1.0), AR=pytest.approx(1.0))
    assert coco_ap(half, ann_file, meta)['AR'] == pytest.approx(0.5)
    assert coco_ap([], ann_file, meta) == dict(AP=0.0, AR=0.0)


def test_onnxruntime_persons_score_like_torch_samples(tmp_path):
    """The onnxruntime one-stage model's persons (BottomupPersons) go to the
    metric through persons_sample: the ground truth as persons scores AP 1,
    its keypoints shifted by 40 px score 0."""
    from kp_plugins.benchmark.crowd import persons_sample
    from kp_plugins.benchmark.speed import coco_metainfo
    from kp_plugins.deploy.bottomup_runtime import BottomupPersons
    settings = tiny_settings(tmp_path, people=(2, ), scenes=2)
    ann_file, images = crowd_scenes(settings, 2)
    coco = json.load(open(ann_file))
    perfect, shifted = [], []
    for img in images:
        anns = [a for a in coco['annotations'] if a['image_id'] == img['id']]
        kpts = np.array([a['keypoints'] for a in anns], np.float32).reshape(len(anns), 17, 3)
        persons = BottomupPersons(img['boxes'], np.ones(len(anns), np.float32), kpts[..., :2],
                                  np.ones((len(anns), 17), np.float32))
        perfect += metric_samples(persons_sample(persons), img['id'], len(perfect))
        moved = persons._replace(keypoints=persons.keypoints + 40)
        shifted += metric_samples(persons_sample(moved), img['id'], len(shifted))
    meta = coco_metainfo()
    assert len(perfect) == 4
    assert coco_ap(perfect, ann_file, meta) == dict(AP=pytest.approx(1.0), AR=pytest.approx(1.0))
    assert coco_ap(shifted, ann_file, meta) == dict(AP=0.0, AR=0.0)


HAND_RECORD = dict(
    settings=dict(people=[1, 32], scenes=20, img_size=[640, 480], seed=0, warmup=3,
                  repeats=10, threads=2, detector='onestage'),
    models=dict(detector='onestage'),
    notes=['onestage_ort_ms: OnnxBottomupPoseModel.predict on the whole image'],
    rows=[dict(people=1, onestage_ms=40.0, topdown_ms=50.0, detector_ms=40.0, crops_ms=10.0,
               detector_share=0.8, crops_share=0.2, onestage_ort_ms=20.25, topdown_ort_ms=45.5,
               onestage_ap=0.5, onestage_ort_ap=0.4996, topdown_ap=0.61234,
               topdown_gt_ap=0.7),
          dict(people=32, onestage_ms=41.25, topdown_ms=200.0, detector_ms=40.0,
               crops_ms=160.0, detector_share=0.2, crops_share=0.8, onestage_ort_ms=None,
               topdown_ort_ms=None, onestage_ap=0.1, onestage_ort_ap=None, topdown_ap=None,
               topdown_gt_ap=0.0)])

HAND_TABLE = '''\
| persons | one-stage ms | top-down ms | detector | crops | one-stage ORT ms | top-down ORT ms | one-stage AP | one-stage ORT AP | top-down AP | top-down AP (GT boxes) |
|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
| 1 | 40.0 | 50.0 | 40.0 (80%) | 10.0 (20%) | 20.2 | 45.5 | 0.500 | 0.500 | 0.612 | 0.700 |
| 32 | 41.2 | 200.0 | 40.0 (20%) | 160.0 (80%) | – | – | 0.100 | – | – | 0.000 |

Latency: median of 10 runs after 3 (2 threads, one 640x480 image); top-down = detector (onestage) + crops. AP: 20 held-out scenes per crowd size (CocoMetric).
- onestage_ort_ms: OnnxBottomupPoseModel.predict on the whole image
'''  # noqa: E501


def test_markdown_table_of_hand_record():
    assert markdown_table(HAND_RECORD) == HAND_TABLE


def test_tool_errors(models, tmp_path):
    res = run_tool([tool('benchmark_crowd.py'), '--onestage', *models['topdown'], '--topdown',
                    *models['topdown'], '--people', '1', '--scenes', '1', '--img-size', '320',
                    '240', '--cache-dir', str(tmp_path / 'cache'), '--out-dir',
                    str(tmp_path / 'out')])
    assert res.returncode != 0 and 'Traceback' not in res.stdout, res.stdout[-3000:]
    assert 'is a top-down pose config (TopdownPoseEstimator)' in res.stdout
    assert not osp.exists(tmp_path / 'out')
