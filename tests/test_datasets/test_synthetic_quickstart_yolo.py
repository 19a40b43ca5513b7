"""configs/quickstart_yolo.py runs end to end on a tiny generated set (no
../shared, no network): tools/train.py trains one epoch and validates it on
the synthetic val split, tools/test.py scores the written checkpoint on the
same split and prints the same AP/AR and writes the same predictions.

The overrides below shrink the data and the run only (sizes, workers, one
epoch, validation at its end; the 20 best candidates kept, score_thr 0); the
config's schedule, loss and optimizer values are left as they are, so the
test follows whatever the config says (a scheduler that would start after
epoch 1 simply does not step)."""
import json
import os
import os.path as osp
import re

import pytest

from helpers import run_tool, tool

QUICKSTART_YOLO = 'configs/quickstart_yolo.py'
#: The metric line of a validation or test run: ``coco/AP: 0.012345  ...``.
METRICS = re.compile(r'(coco/AP: .*coco/AR \(L\): -?[0-9.]+)')


def tiny_options() -> list:
    opts = []
    for split, n in (('train', 6), ('val', 3), ('test', 3)):
        key = f'{split}_dataloader'
        opts += [f'{key}.dataset.num_images={n}', f'{key}.dataset.img_size=(128,128)',
                 f'{key}.num_workers=0', f'{key}.persistent_workers=False',
                 f'{key}.batch_size=3']
    # after two iterations no candidate scores the config's score_thr: keep
    # the 20 best of each image, so that there are predictions to compare
    return opts + ['train_cfg.max_epochs=1', 'train_cfg.val_interval=1', 'train_cfg.val_begin=1',
                   'default_hooks.logger.interval=1', 'model.test_cfg.score_thr=0.0',
                   'model.test_cfg.nms_pre=20']


def metric_line(out: str, what: str) -> str:
    lines = METRICS.findall(out)
    assert len(lines) == 1, f'{what}: expected one metric line, got {lines}\n{out[-3000:]}'
    return lines[0]


@pytest.mark.slow
def test_quickstart_yolo_trains_then_test_scores_the_same_ap(tmp_path):
    cache, work = tmp_path / 'cache', tmp_path / 'work'
    env = {'KP_PLUGINS_CACHE': str(cache), 'HOME': str(tmp_path)}
    opts = tiny_options()
    res = run_tool([tool('train.py'), QUICKSTART_YOLO, '--work-dir', str(work), '--cfg-options',
                    *opts, f'val_evaluator.outfile_prefix={tmp_path}/val'], env=env)
    out = res.stdout
    assert res.returncode == 0, out[-4000:]
    assert 'Epoch(train) [1][2/2]' in out, out[-3000:]  # 6 images, batch 3
    val = metric_line(out, 'training')
    ckpt = work / 'epoch_1.pth'
    assert osp.isfile(ckpt), os.listdir(work)
    # the splits were generated where the environment said, with the sizes asked
    dirs = [d for d in sorted(os.listdir(cache / 'synthetic')) if not d.endswith('.lock')]
    assert [d.split('_')[:4] for d in dirs] == [['train', '6', '128x128', 'seed0'],
                                                ['val', '3', '128x128', 'seed0']], dirs
    val_dir = cache / 'synthetic' / dirs[1]
    assert f'loaded the annotation file from {val_dir}' in out

    res = run_tool([tool('test.py'), QUICKSTART_YOLO, str(ckpt), '--work-dir',
                    str(tmp_path / 'test'), '--cfg-options', *opts,
                    f'test_evaluator.outfile_prefix={tmp_path}/test'], env=env)
    assert res.returncode == 0, res.stdout[-4000:]
    assert f'loaded the annotation file from {val_dir}' in res.stdout
    # same weights (the EMA ones the validation used), same images: same numbers
    assert metric_line(res.stdout, 'tools/test.py') == val
    with open(tmp_path / 'val.keypoints.json') as f:
        val_preds = json.load(f)
    with open(tmp_path / 'test.keypoints.json') as f:
        test_preds = json.load(f)
    with open(val_dir / 'annotations.json') as f:
        val_images = {img['id'] for img in json.load(f)['images']}
    assert {p['image_id'] for p in test_preds} <= val_images and len(test_preds) > 0
    assert test_preds == val_preds


def test_quickstart_split_is_the_quickstart_configs_split(tmp_path):
    """kp_plugins.datasets.synthetic_people's QUICKSTART_* (what
    tools/train_yolo.py / test_yolo.py --synthetic use) are the splits both
    quick-start configs train and validate on; quickstart_split writes the
    split its name says."""
    from mmengine.config import Config

    from kp_plugins.datasets.synthetic_people import (
        QUICKSTART_IMAGES,
        QUICKSTART_IMG_SIZE,
        QUICKSTART_SEED,
        quickstart_split,
    )
    for config in ('configs/quickstart.py', QUICKSTART_YOLO):
        cfg = Config.fromfile(osp.join(osp.dirname(__file__), '..', '..', config))
        for split in ('train', 'val'):
            ds = cfg[f'{split}_dataloader'].dataset
            assert (ds.type, ds.split, ds.num_images, tuple(ds.img_size), ds.seed) == (
                'KPSyntheticPoseDataset', split, QUICKSTART_IMAGES[split],
                QUICKSTART_IMG_SIZE, QUICKSTART_SEED), (config, split)
            assert 'cache_dir' not in ds and 'layout' not in ds
    ann, img_dir = quickstart_split('val', 2, cache_dir=str(tmp_path))
    assert osp.basename(osp.dirname(ann)).startswith('val_2_256x256_seed0_')
    assert sorted(os.listdir(img_dir)) == ['000001.jpg', '000002.jpg']
    assert len(json.load(open(ann))['images']) == 2
