"""Each approach's config trains through tools/train.py on the real COCO
subset and tools/test.py prints coco/AP for the checkpoint (ResNet-18 instead
of ResNet-50 and 8 training samples, to stay cheap on 2 CPU cores)."""
import os.path as osp
import re

import pytest

from conftest import REPO_ROOT
from helpers import run_tool, shared_coco_options, tool

CONFIGS = ['regression_r50', 'grid_r50', 'bbox_r50', 'regression_r50_wholeimage',
           'grid_r50_wholeimage']


@pytest.mark.parametrize('name', CONFIGS)
def test_config_trains_and_tests(name, tmp_path, coco_trainval):
    config = osp.join(REPO_ROOT, 'configs', f'{name}.py')
    work = tmp_path / 'work'
    # The whole-image configs score the dataset's own (single-person) ground
    # truth, so their evaluator keeps ann_file=None.
    opts = shared_coco_options(coco_trainval, evaluator_ann='wholeimage' not in name) + [
        'model.backbone.depth=18', 'model.head.in_channels=512',
        'train_dataloader.batch_size=8', 'train_dataloader.dataset.indices=8',
        'train_cfg.max_epochs=1', 'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.interval=1', 'default_hooks.checkpoint.save_best=None',
    ]
    if 'grid' in name:  # the grid head also fuses ResNet-18's stride-16 stage
        opts.append('model.head.fuse_in_channels=256')
    train = run_tool([tool('train.py'), config, '--work-dir', str(work), '--no-validate',
                      '--cfg-options', *opts])
    assert train.returncode == 0, train.stdout[-4000:]
    assert re.search(r'Epoch\(train\) \[1\]\[1/1\].*loss: [0-9.]+', train.stdout), \
        train.stdout[-2000:]
    ckpt = work / 'epoch_1.pth'
    assert ckpt.is_file()
    test = run_tool([tool('test.py'), config, str(ckpt), '--work-dir', str(tmp_path / 'test'),
                     '--cfg-options', *opts])
    assert test.returncode == 0, test.stdout[-4000:]
    m = re.search(r'coco/AP: (-?[0-9.]+)', test.stdout)
    assert m, test.stdout[-3000:]
    assert 0.0 <= float(m.group(1)) <= 1.0
