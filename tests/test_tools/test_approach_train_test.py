"""The ResNet-50 config (and the extra configs) of each kp_plugins approach
(kp_plugins.approaches) trains through tools/train.py on the real COCO subset
and tools/test.py prints coco/AP for the checkpoint (ResNet-18 instead of
ResNet-50 and 8 training samples, to stay cheap on 2 CPU cores)."""
import os.path as osp
import re

import pytest
from mmengine.config import Config

from approach_cases import kp_r50_cases
from helpers import run_tool, shared_coco_options, tool, xtcocotools_ap

pytestmark = pytest.mark.slow  # a training run (tools/train.py) per config


@pytest.mark.slow
@pytest.mark.parametrize('config,approach', kp_r50_cases())
def test_config_trains_and_tests(config, approach, tmp_path, coco_trainval):
    work = tmp_path / 'work'
    cfg = Config.fromfile(config)
    assert cfg.model.head.type == approach.head
    # A config that scores the dataset's own ground truth (the whole-image
    # ones: single-person images) keeps its evaluator's ann_file=None.
    own_gt = cfg.val_evaluator.get('ann_file', '') is None
    opts = shared_coco_options(coco_trainval, evaluator_ann=not own_gt) + [
        'model.backbone.depth=18', 'model.head.in_channels=512',
        'train_dataloader.batch_size=8', 'train_dataloader.dataset.indices=8',
        'train_cfg.max_epochs=1', 'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.interval=1', 'default_hooks.checkpoint.save_best=None',
    ]
    if cfg.model.head.get('fuse_in_channels'):  # the grid head: + ResNet-18's stride-16 stage
        opts.append('model.head.fuse_in_channels=256')
    train = run_tool([tool('train.py'), config, '--work-dir', str(work), '--no-validate',
                      '--cfg-options', *opts])
    assert train.returncode == 0, train.stdout[-4000:]
    assert re.search(r'Epoch\(train\) \[1\]\[1/1\].*loss: [0-9.]+', train.stdout), \
        train.stdout[-2000:]
    ckpt = work / 'epoch_1.pth'
    assert ckpt.is_file()
    prefix = tmp_path / 'coco'
    test = run_tool([tool('test.py'), config, str(ckpt), '--work-dir', str(tmp_path / 'test'),
                     '--cfg-options', *opts, f'test_evaluator.outfile_prefix={prefix}'])
    assert test.returncode == 0, test.stdout[-4000:]
    m = re.search(r'coco/AP: (-?[0-9.]+)', test.stdout)
    assert m, test.stdout[-3000:]
    # the printed AP is xtcocotools' on the predictions CocoMetric wrote, against
    # the val annotations (or the ground truth CocoMetric wrote from the dataset)
    ann = f'{prefix}.gt.json' if own_gt else osp.join(coco_trainval, 'annotations_val.json')
    assert xtcocotools_ap(ann, f'{prefix}.keypoints.json') == pytest.approx(
        float(m.group(1)), abs=1e-4)
