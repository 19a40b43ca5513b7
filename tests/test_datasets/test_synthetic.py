"""The synthetic people dataset: determinism, COCO loaders, annotation
consistency, visible left/right cues, caching, and a few training iterations
through MMEngine's Runner."""
import colorsys
import hashlib
import json
import multiprocessing as mp
import os
import os.path as osp

import cv2
import numpy as np
import pytest

from kp_plugins.datasets.synthetic_people import (
    KEYPOINT_NAMES,
    SyntheticSplitSpec,
    ensure_split,
    iter_split,
    split_dir,
    synthetic_ann_file,
    write_split,
)

from helpers import xtcocotools_ap

SMALL = dict(num_images=12, img_size=(160, 128), seed=3)


def _digest(folder: str) -> dict:
    """sha256 of every file of a generated split, by relative path."""
    out = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = osp.join(root, name)
            with open(path, 'rb') as f:
                out[osp.relpath(path, folder)] = hashlib.sha256(f.read()).hexdigest()
    return out


@pytest.fixture(scope='module')
def small_split(tmp_path_factory):
    """A 40-image PNG split (lossless, for the pixel checks) and its json."""
    spec = SyntheticSplitSpec(split='val', num_images=40, img_size=(192, 160),
                              seed=11, image_format='png')
    folder = ensure_split(spec, str(tmp_path_factory.mktemp('cache')))
    with open(osp.join(folder, 'annotations.json')) as f:
        coco = json.load(f)
    return spec, folder, coco


def test_same_seed_same_files_other_seed_or_split_differs(tmp_path):
    a = tmp_path / 'a'
    b = tmp_path / 'b'
    write_split(SyntheticSplitSpec(**SMALL), str(a))
    write_split(SyntheticSplitSpec(**SMALL), str(b))
    da, db = _digest(str(a)), _digest(str(b))
    assert da == db and 'annotations.json' in da and len(da) == 12 + 2

    c = tmp_path / 'c'
    write_split(SyntheticSplitSpec(**{**SMALL, 'seed': 4}), str(c))
    assert _digest(str(c))['annotations.json'] != da['annotations.json']
    d = tmp_path / 'd'
    write_split(SyntheticSplitSpec(**{**SMALL, 'split': 'val'}), str(d))
    assert _digest(str(d))['annotations.json'] != da['annotations.json']


def test_each_image_has_its_own_stream():
    """Image i is the same whatever the split size (per-image random streams)."""
    short = list(iter_split(SyntheticSplitSpec(**{**SMALL, 'num_images': 3})))
    long = list(iter_split(SyntheticSplitSpec(**{**SMALL, 'num_images': 5})))
    for (_, img_s, ppl_s), (_, img_l, ppl_l) in zip(short, long):
        assert np.array_equal(img_s, img_l)
        assert all(np.array_equal(p['keypoints'], q['keypoints']) for p, q in zip(ppl_s, ppl_l))


def test_loads_with_pycocotools_and_xtcocotools(small_split):
    from pycocotools.coco import COCO as PyCOCO
    from xtcocotools.coco import COCO as XtCOCO
    spec, folder, coco = small_split
    ann_file = osp.join(folder, 'annotations.json')
    for loader in (PyCOCO, XtCOCO):
        api = loader(ann_file)
        assert len(api.getImgIds()) == spec.num_images
        assert api.getCatIds() == [1]
        assert api.loadCats(1)[0]['keypoints'] == list(KEYPOINT_NAMES)
        assert len(api.getAnnIds()) == len(coco['annotations']) > spec.num_images
        for img in api.loadImgs(api.getImgIds()):
            assert osp.isfile(osp.join(folder, 'images', img['file_name']))
            assert (img['width'], img['height']) == spec.img_size


def test_annotations_are_consistent(small_split):
    spec, _, coco = small_split
    w, h = spec.img_size
    counts = np.zeros(3, int)
    for ann in coco['annotations']:
        kpts = np.array(ann['keypoints'], float).reshape(17, 3)
        v = kpts[:, 2]
        assert set(np.unique(v)) <= {0, 1, 2}
        counts += np.bincount(v.astype(int), minlength=3)
        assert ann['num_keypoints'] == int((v > 0).sum())
        assert np.all(kpts[v == 0, :2] == 0)
        lab = kpts[v > 0, :2]
        assert np.all((lab >= 0) & (lab <= [w - 1, h - 1])), ann
        x, y, bw, bh = ann['bbox']
        assert 0 <= x and 0 <= y and x + bw <= w + 1e-6 and y + bh <= h + 1e-6
        assert np.all((lab >= [x, y]) & (lab <= [x + bw, y + bh])), ann
        # area: silhouette pixels, so never more than its box
        assert 0 < ann['area'] <= bw * bh + 1e-6
        assert ann['iscrowd'] == 0 and ann['category_id'] == 1
    # every visibility class occurs (border cuts, turned faces, overlaps)
    assert counts.min() > 0, counts


def test_visibility_follows_geometry(small_split):
    """Recompute every label from the re-rendered figures (unclipped points,
    face orientation, silhouette masks): v=0 exactly for points outside the
    image or faces turned away, v=1 exactly where a figure drawn later covers
    the point, v=2 otherwise; re-rendering reproduces the written file."""
    spec, _, coco = small_split
    by_image = {}
    for ann in coco['annotations']:
        by_image.setdefault(ann['image_id'], []).append(ann)
    w, h = spec.img_size
    n = dict(occluded=0, outside=0, face_hidden=0, cut=0)
    for idx, _, people in iter_split(spec):
        anns = sorted(by_image[idx + 1], key=lambda a: a['id'])
        assert len(anns) == len(people)
        for i, (ann, person) in enumerate(zip(anns, people)):
            kpts = np.array(ann['keypoints'], float).reshape(17, 3)
            raw = person['raw_keypoints']
            inside = ((raw[:, 0] >= 0) & (raw[:, 0] <= w - 1) &
                      (raw[:, 1] >= 0) & (raw[:, 1] <= h - 1))
            labelled = inside & person['face_visible']
            assert np.array_equal(kpts[:, 2] > 0, labelled), (idx, i)
            assert np.allclose(kpts[labelled, :2], raw[labelled], atol=0.006)
            assert person['face_visible'][5:].all()  # only face points turn away
            for k in np.flatnonzero(labelled):
                px, py = int(round(raw[k, 0])), int(round(raw[k, 1]))
                covered = any(people[j]['mask'][py, px] for j in range(i + 1, len(people)))
                assert (kpts[k, 2] == 1) == covered, (idx, i, k, kpts[k, 2])
                assert person['mask'][py, px], (idx, i, k)  # on its own figure
                n['occluded'] += int(covered)
            n['outside'] += int((~inside).sum())
            n['face_hidden'] += int((inside & ~person['face_visible']).sum())
            n['cut'] += int(not inside.all())
    assert min(n.values()) > 0, n


def _mean_hue(img: np.ndarray, x: float, y: float) -> float:
    patch = img[int(round(y)) - 1:int(round(y)) + 2, int(round(x)) - 1:int(round(x)) + 2]
    b, g, r = patch.reshape(-1, 3).mean(0) / 255
    return colorsys.rgb_to_hsv(r, g, b)[0]


def test_left_and_right_limbs_are_told_apart_by_hue(small_split):
    """Left limbs are warm (red..yellow), right limbs cool (cyan..blue), read
    from the image at the middle of each upper arm and thigh."""
    spec, folder, coco = small_split
    warm = lambda hue: hue >= 0.93 or hue <= 0.17  # noqa: E731
    cool = lambda hue: 0.44 <= hue <= 0.73  # noqa: E731
    hits = {'left': [], 'right': []}
    segments = {'left': [(5, 7), (11, 13)], 'right': [(6, 8), (12, 14)]}
    by_image = {}
    for ann in coco['annotations']:
        by_image.setdefault(ann['image_id'], []).append(ann)
    for img_info in coco['images']:
        img = cv2.imread(osp.join(folder, 'images', img_info['file_name']))
        for ann in by_image[img_info['id']]:
            kpts = np.array(ann['keypoints'], float).reshape(17, 3)
            for side, segs in segments.items():
                for a, b in segs:
                    if kpts[a, 2] == 2 and kpts[b, 2] == 2:
                        mid = (kpts[a, :2] + kpts[b, :2]) / 2
                        hue = _mean_hue(img, *mid)
                        hits[side].append(warm(hue) if side == 'left' else cool(hue))
    # limbs crossing each other or the other figures' limbs blur the rate
    assert len(hits['left']) > 50 and len(hits['right']) > 50
    assert np.mean(hits['left']) > 0.75, np.mean(hits['left'])
    assert np.mean(hits['right']) > 0.75, np.mean(hits['right'])


def test_people_per_image_vary_within_the_limits(small_split):
    spec, _, coco = small_split
    per_image = np.bincount([a['image_id'] for a in coco['annotations']])[1:]
    assert per_image.min() >= spec.min_people and per_image.max() <= spec.max_people
    assert len(set(per_image.tolist())) >= 3  # 1..4 people, not a constant


def test_cache_is_reused_and_parallel_generation_is_safe(tmp_path):
    spec = SyntheticSplitSpec(**{**SMALL, 'num_images': 4})
    ctx = mp.get_context('fork')
    with ctx.Pool(2) as pool:
        paths = pool.starmap(ensure_split, [(spec, str(tmp_path))] * 2)
    assert paths[0] == paths[1] == split_dir(spec, str(tmp_path))
    # one finished folder and its lock file, no temporary leftovers
    assert sorted(os.listdir(tmp_path)) == sorted([spec.dirname, spec.dirname + '.lock'])
    ann = osp.join(paths[0], 'annotations.json')
    mtime = os.stat(ann).st_mtime_ns
    assert synthetic_ann_file(cache_dir=str(tmp_path), **{**SMALL, 'num_images': 4,
                                                         'split': 'train'}) == ann
    assert os.stat(ann).st_mtime_ns == mtime  # not regenerated


@pytest.mark.parametrize('kwargs, words', [
    (dict(num_images=0), 'num_images'),
    (dict(img_size=(32, 32)), 'img_size'),
    (dict(img_size=256), 'img_size'),
    (dict(min_people=3, max_people=2), 'min_people'),
    (dict(image_format='gif'), 'image_format'),
    (dict(split='../x'), 'split'),
    (dict(seed=-1), 'seed'),
])
def test_bad_parameters_are_named(kwargs, words):
    with pytest.raises(ValueError, match=words):
        SyntheticSplitSpec(**kwargs)


def test_dataset_class_builds_a_coco_dataset(tmp_path):
    from mmengine.registry import init_default_scope
    from mmpose.registry import DATASETS

    import kp_plugins  # noqa: F401
    init_default_scope('mmpose')
    cfg = dict(type='KPSyntheticPoseDataset', split='val', cache_dir=str(tmp_path),
               test_mode=True, pipeline=[dict(type='LoadImage')], **SMALL)
    ds = DATASETS.build(cfg)
    assert DATASETS.get('KPSyntheticPoseDataset').generates_data is True
    with open(osp.join(ds.split_dir, 'annotations.json')) as f:
        anns = json.load(f)['annotations']
    assert len(ds) == sum(a['num_keypoints'] > 0 for a in anns)
    assert ds.metainfo['num_keypoints'] == 17
    assert list(ds.metainfo['flip_indices'][:5]) == [0, 2, 1, 4, 3]
    item = ds[0]
    assert item['img'].shape == (SMALL['img_size'][1], SMALL['img_size'][0], 3)
    assert item['keypoints'].shape == (1, 17, 2)

    with pytest.raises(ValueError, match='ann_file'):
        DATASETS.build({**cfg, 'ann_file': 'x.json'})


TINY_REGRESSION = dict(
    default_scope='mmpose',
    model=dict(
        type='TopdownPoseEstimator',
        data_preprocessor=dict(type='PoseDataPreprocessor', mean=[128.] * 3, std=[64.] * 3,
                               bgr_to_rgb=True),
        backbone=dict(type='ResNet', depth=18, num_stages=2, out_indices=(1, ),
                      strides=(1, 2), dilations=(1, 1)),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='RegressionHead', in_channels=128, num_joints=17,
                  loss=dict(type='SmoothL1Loss', use_target_weight=True),
                  decoder=dict(type='RegressionLabel', input_size=(48, 64))),
        test_cfg=dict(flip_test=False)),
)


def test_tiny_set_trains_and_evaluates_through_runner(tmp_path):
    from mmengine.config import Config
    from mmengine.runner import Runner

    import kp_plugins  # noqa: F401
    codec = dict(type='RegressionLabel', input_size=(48, 64))
    common = dict(type='KPSyntheticPoseDataset', cache_dir=str(tmp_path / 'cache'),
                  num_images=6, img_size=(128, 128), seed=5)
    train_pipeline = [dict(type='LoadImage'), dict(type='GetBBoxCenterScale'),
                      dict(type='RandomFlip', direction='horizontal'),
                      dict(type='TopdownAffine', input_size=codec['input_size']),
                      dict(type='GenerateTarget', encoder=codec), dict(type='PackPoseInputs')]
    val_pipeline = [dict(type='LoadImage'), dict(type='GetBBoxCenterScale'),
                    dict(type='TopdownAffine', input_size=codec['input_size']),
                    dict(type='PackPoseInputs')]
    cfg = Config(dict(
        **TINY_REGRESSION,
        work_dir=str(tmp_path / 'work'),
        train_dataloader=dict(batch_size=4, num_workers=0,
                              sampler=dict(type='DefaultSampler', shuffle=True),
                              dataset=dict(**common, split='train', pipeline=train_pipeline)),
        val_dataloader=dict(batch_size=8, num_workers=0,
                            sampler=dict(type='DefaultSampler', shuffle=False),
                            dataset=dict(**common, split='val', test_mode=True,
                                         pipeline=val_pipeline)),
        val_evaluator=dict(type='CocoMetric', ann_file=None,
                           outfile_prefix=str(tmp_path / 'coco')),
        train_cfg=dict(by_epoch=True, max_epochs=1, val_interval=1),
        val_cfg=dict(),
        optim_wrapper=dict(optimizer=dict(type='Adam', lr=1e-3)),
        default_hooks=dict(logger=dict(type='LoggerHook', interval=1),
                           checkpoint=dict(type='CheckpointHook', interval=1)),
        log_processor=dict(by_epoch=True),
        env_cfg=dict(dist_cfg=dict(backend='gloo')),
        visualizer=dict(type='PoseLocalVisualizer'),
        randomness=dict(seed=0)))
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter >= 2
    assert osp.isfile(tmp_path / 'work' / 'epoch_1.pth')
    metrics = runner.val_loop.run()
    # the AP is xtcocotools' on the predictions CocoMetric wrote, against the
    # synthetic split's annotation file (which it loads when ann_file is None)
    assert metrics['coco/AP'] == pytest.approx(xtcocotools_ap(
        runner.val_dataloader.dataset.ann_file, str(tmp_path / 'coco.keypoints.json')),
        abs=1e-9)
