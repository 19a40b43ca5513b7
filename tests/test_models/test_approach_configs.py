"""The ResNet-50 configs of the kp_plugins approaches (and their extra
configs, kp_plugins.approaches) build, and a real batch runs through each
one's own train pipeline, loss and (flip-test) predict."""
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmpose.registry import DATASETS, MODELS

import kp_plugins  # noqa: F401  (registration)

from approach_cases import kp_r50_cases

CASES = kp_r50_cases()


def load(config: str) -> Config:
    init_default_scope('mmpose')  # the runner does this from default_scope
    return Config.fromfile(config)


@pytest.mark.parametrize('config,approach', CASES)
def test_config_builds(config, approach):
    """The config's own model (ResNet-50) builds, its head takes the
    stride-32 ResNet-50 map of the config's input, and no weights are
    downloaded by default."""
    cfg = load(config)
    assert cfg.model.head.type == approach.head
    assert cfg.codec.type == approach.codec
    assert cfg.model.test_cfg.flip_test
    for key in ('backbone', 'head'):
        assert 'Pretrained' not in str(cfg.model[key].get('init_cfg', ''))
    model = MODELS.build(cfg.model)
    assert type(model.head).__name__ == cfg.model.head.type
    w, h = model.head.decoder.input_size
    feats = (torch.randn(2, 2048, h // 32, w // 32),)
    if cfg.model.head.get('fuse_in_channels'):  # grid: + the stride-16 stage
        feats = (torch.randn(2, 1024, h // 16, w // 16), ) + feats
    outputs = model.head.forward(feats)
    assert outputs[0].shape[:2] == (2, 17)


@pytest.mark.parametrize('config,approach', CASES)
def test_config_trains_and_predicts_on_real_data(coco_trainval, config,
                                                 approach):
    """Real photos through the config's own dataset class and pipelines, its
    head, losses and flip-test predict (a small ResNet-18 replaces the
    ResNet-50 to keep this cheap on CPU)."""
    torch.manual_seed(0)
    np.random.seed(0)
    cfg = load(config)
    cfg.model.backbone.update(depth=18, stem_channels=16, base_channels=16)
    cfg.model.head.in_channels = 128
    if cfg.model.head.get('fuse_in_channels'):  # the grid head's stride-16 stage
        cfg.model.head.fuse_in_channels = 64
    model = MODELS.build(cfg.model)
    data = model.data_preprocessor(real_samples(cfg, coco_trainval, 'train'),
                                   training=True)
    losses = model.loss(data['inputs'], data['data_samples'])
    loss_keys = [k for k in losses if k.startswith('loss')]
    assert len(loss_keys) >= 2 and 'acc_pose' in losses
    total = sum(losses[k] for k in loss_keys)
    assert torch.isfinite(total)
    total.backward()

    model.eval()
    data = model.data_preprocessor(real_samples(cfg, coco_trainval, 'val'),
                                   training=False)
    with torch.no_grad():
        results = model.predict(data['inputs'], data['data_samples'])
    for result in results:
        assert result.pred_instances.keypoints.shape == (1, 17, 2)
        assert np.isfinite(result.pred_instances.keypoints).all()


def real_samples(cfg: Config, coco_root: str, split: str, num: int = 2):
    dataset_cfg = cfg[f'{split}_dataloader'].dataset.copy()
    dataset_cfg.update(
        data_root=coco_root, data_prefix=dict(img='images/'),
        ann_file='annotations_train.json' if split == 'train'
        else 'annotations_val.json')
    dataset = DATASETS.build(dataset_cfg)
    return pseudo_collate([dataset[i] for i in range(num)])
