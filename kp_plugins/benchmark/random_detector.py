"""MMDet detectors with random weights whose boxes are usable, for timing a
top-down pipeline without a trained detector (nothing is downloaded): MMDet's
own RTMDet-tiny config, its BatchNorm statistics taken from a few images.
"""
import os.path as osp
from typing import Optional, Sequence

import numpy as np
import torch

#: MMDet's RTMDet-tiny config (inside the mmdet package).
RTMDET_TINY = 'mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py'


def rtmdet_tiny_config() -> str:
    """Path of the RTMDet-tiny config MMDet ships inside its package."""
    from kp_plugins.utils.paths import resolve_config_path
    return resolve_config_path(RTMDET_TINY)


def save_random_rtmdet(config: str, out: str, calibration_images: Sequence[np.ndarray],
                       classes: Optional[Sequence[str]] = None, person_index: int = 0) -> None:
    """Save a random-init checkpoint of ``config`` whose boxes are usable.

    A random RTMDet gives degenerate output: features vanish through the
    eval-mode BatchNorms (all scores equal) and zero-initialised regression
    gives empty boxes. So the BatchNorm statistics are taken from
    ``calibration_images`` (one train-mode forward), the regression biases
    are set to 1-4 strides (boxes of a few strides), and the classifier's
    weights are scaled by 0.2 with a +3 logit bias for the person class
    (random scores, but persons among the top boxes on most images).
    ``classes`` (default: COCO's 80) go to ``meta.dataset_meta`` as MMDet's
    runner saves them.

    Args:
        config: an RTMDet config (path).
        out: the checkpoint to write.
        calibration_images: (H, W, 3) uint8 BGR images.
    """
    from mmcv.transforms import Compose
    from mmdet.evaluation import get_classes
    from mmdet.registry import MODELS
    from mmdet.utils import get_test_pipeline_cfg
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    import kp_plugins  # noqa: F401
    cfg = Config.fromfile(config)
    cfg.model.backbone.init_cfg = None
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model)
        pipeline_cfg = get_test_pipeline_cfg(cfg)
        pipeline_cfg[0].type = 'mmdet.LoadImageFromNDArray'
        pipeline = Compose(pipeline_cfg)
    data = [pipeline(dict(img=img, img_id=i)) for i, img in enumerate(calibration_images)]
    batch = model.data_preprocessor(dict(inputs=[d['inputs'] for d in data],
                                         data_samples=[d['data_samples'] for d in data]), False)
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None  # running stats = this batch's
    model.train()
    with torch.no_grad():
        model.bbox_head(model.extract_feat(batch['inputs']))
        for conv in model.bbox_head.rtm_reg:
            conv.bias.uniform_(1.0, 4.0)
        for conv in model.bbox_head.rtm_cls:
            conv.weight.mul_(0.2)
            conv.bias[person_index] += 3.0
    model.eval()
    classes = list(classes) if classes is not None else list(get_classes('coco'))
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(dataset_meta=dict(classes=classes))), out)


def random_rtmdet_detector(out_dir: str, calibration_images: Sequence[np.ndarray],
                           config: Optional[str] = None, device: str = 'cpu'):
    """An :class:`~kp_plugins.apis.MMDetPersonDetector` of RTMDet-tiny
    (``config``, default MMDet's own at its 640x640 test size) with random
    weights (:func:`save_random_rtmdet`, checkpoint written to ``out_dir``),
    every box kept (score threshold 0).

    Its boxes are not persons: time it, never score it.
    """
    from kp_plugins.apis import MMDetPersonDetector
    config = config or rtmdet_tiny_config()
    checkpoint = osp.join(out_dir, 'rtmdet_tiny_random.pth')
    save_random_rtmdet(config, checkpoint, calibration_images)
    return MMDetPersonDetector(config, checkpoint, device=device, score_thr=0.0)
