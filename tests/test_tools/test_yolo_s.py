"""configs/yolo_s.py (approach 5, MMPose-native YOLOX-Pose with kp_plugins'
KPOKSLoss / KPBCELoss): builds without downloads, its keypoint losses match
the recipe's MMPose losses, and it trains and tests through tools/train.py and
tools/test.py on the real COCO subset (small input via a derived config)."""
import glob
import os.path as osp

import pytest
import torch

from conftest import REPO_ROOT
from helpers import run_tool, shared_coco_options, tool

CONFIG = osp.join(REPO_ROOT, 'configs', 'yolo_s.py')

SMALL = '''
_base_ = ['{base}']
input_size = (128, 128)
codec = dict(type='YOLOXPoseAnnotationProcessor', input_size=input_size)
model = dict(data_preprocessor=dict(batch_augments=[
    dict(type='BatchSyncRandomResize', random_size_range=(96, 160), size_divisor=32,
         interval=1)]))
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='Mosaic', img_scale=input_size, pad_val=114.0,
         pre_transform=[dict(type='LoadImage')]),
    dict(type='BottomupRandomAffine', input_size=input_size, shift_factor=0.1,
         rotate_factor=10, scale_factor=(0.75, 1.0), pad_val=114, distribution='uniform',
         transform_mode='perspective', bbox_keep_corner=False, clip_border=True),
    dict(type='YOLOXHSVRandomAug'),
    dict(type='RandomFlip'),
    dict(type='FilterAnnotations', by_kpt=True, by_box=True, keep_empty=False),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs'),
]
val_pipeline = [
    dict(type='LoadImage'),
    dict(type='BottomupResize', input_size=input_size, pad_val=(114, 114, 114)),
    dict(type='PackPoseInputs', meta_keys=('id', 'img_id', 'img_path', 'ori_shape',
         'img_shape', 'input_size', 'input_center', 'input_scale')),
]
train_dataloader = dict(batch_size=4, dataset=dict(pipeline=train_pipeline, indices=8))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline, indices=6))
test_dataloader = val_dataloader
train_cfg = dict(max_epochs=1, val_interval=100)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1))
'''


def test_config_builds_with_kp_losses_and_no_download():
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpose.registry import MODELS

    import kp_plugins  # noqa: F401

    cfg = Config.fromfile(CONFIG)
    assert '://' not in cfg.pretty_text and 'Pretrained' not in cfg.pretty_text
    assert cfg.train_dataloader.dataset.data_mode == 'bottomup'
    assert cfg.test_dataloader.dataset.data_mode == 'bottomup'
    init_default_scope('mmpose')
    model = MODELS.build(cfg.model)
    assert type(model).__name__ == 'BottomupPoseEstimator'
    assert type(model.head.loss_oks).__name__ == 'KPOKSLoss'
    assert type(model.head.loss_vis).__name__ == 'KPBCELoss'


def test_kp_losses_equal_the_recipes_mmpose_losses():
    """On YOLOXPoseHead's call (pred, target, vis, areas) / (logits, vis,
    weights), kp_plugins' losses give MMPose's OKSLoss(reduction='none',
    norm_target_weight=True) averaged as MMEngine does, and MMPose's
    BCELoss(use_target_weight=True)."""
    from mmengine.registry import init_default_scope
    from mmpose.registry import MODELS

    import kp_plugins  # noqa: F401
    init_default_scope('mmpose')
    torch.manual_seed(0)
    pred, target = torch.rand(6, 17, 2) * 100, torch.rand(6, 17, 2) * 100
    vis = (torch.rand(6, 17) > 0.4).float()
    vis[:, 0] = 1  # every assigned person has a labelled keypoint (FilterAnnotations)
    areas = torch.rand(6) * 5000 + 100
    ours = MODELS.build(dict(type='KPOKSLoss', mode='linear', reduction='mean',
                             metainfo='configs/_base_/datasets/coco.py', loss_weight=30.0))
    theirs = MODELS.build(dict(type='OKSLoss', reduction='none', norm_target_weight=True,
                               metainfo='configs/_base_/datasets/coco.py', loss_weight=30.0))
    torch.testing.assert_close(ours(pred, target, vis, areas),
                               theirs(pred, target, vis, areas).mean())
    logits = torch.randn(6, 17) * 3
    bce_ours = MODELS.build(dict(type='KPBCELoss', loss_weight=1.0))
    bce_theirs = MODELS.build(dict(type='BCELoss', use_target_weight=True, reduction='mean',
                                   loss_weight=1.0))
    weights = torch.ones(6, 17)
    torch.testing.assert_close(bce_ours(logits, vis, weights), bce_theirs(logits, vis, weights))


@pytest.mark.slow
def test_trains_and_tests_through_the_mmpose_tools(tmp_path, coco_trainval):
    cfg = tmp_path / 'yolo_s_small.py'
    cfg.write_text(SMALL.format(base=CONFIG))
    opts = shared_coco_options(coco_trainval)
    work = tmp_path / 'work'
    res = run_tool([tool('train.py'), str(cfg), '--work-dir', str(work), '--no-validate',
                    '--cfg-options', *opts])
    assert res.returncode == 0, res.stdout[-5000:]
    assert 'loss_kpt' in res.stdout and 'loss_vis' in res.stdout
    ckpt = osp.join(work, 'epoch_1.pth')
    assert osp.isfile(ckpt), glob.glob(str(work / '*'))
    res = run_tool([tool('test.py'), str(cfg), ckpt, '--work-dir', str(tmp_path / 'test'),
                    '--cfg-options', *opts])
    assert res.returncode == 0, res.stdout[-5000:]
    assert 'coco/AP: ' in res.stdout
