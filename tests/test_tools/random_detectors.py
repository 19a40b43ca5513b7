"""Detectors with random weights for the tool tests (no weights can be
downloaded): MMDet's own RTMDet-tiny config at a 256x256 test size, and an
Ultralytics YOLO11n built from its yaml."""
import os.path as osp
from typing import Sequence

import numpy as np
import torch

SMALL_RTMDET = '''
_base_ = ['{base}']
# 256x256 test input and fewer candidates: CPU-cheap. The backbone's
# pretrained init_cfg (a URL) is kept on purpose: the tools must not fetch it.
model = dict(test_cfg=dict(nms_pre=1000, max_per_img={max_per_img}))
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='Resize', scale=(256, 256), keep_ratio=True),
    dict(type='Pad', size=(256, 256), pad_val=dict(img=(114, 114, 114))),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
'''


def rtmdet_tiny_config() -> str:
    """The RTMDet-tiny config MMDet ships inside its package."""
    from kp_plugins.utils.paths import resolve_config_path
    return resolve_config_path('mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py')


def write_small_rtmdet_config(out_dir, max_per_img: int = 30) -> str:
    path = osp.join(str(out_dir), 'rtmdet_tiny_256.py')
    with open(path, 'w') as f:
        f.write(SMALL_RTMDET.format(base=rtmdet_tiny_config(), max_per_img=max_per_img))
    return path


def save_random_rtmdet(config: str, out: str, calibration_images: Sequence[np.ndarray],
                       classes: Sequence[str] = None, person_index: int = 0) -> None:
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


def save_random_yolo(out: str, classes: Sequence[str] = None) -> None:
    """An Ultralytics YOLO11n with random weights (built from the yaml that
    ships with Ultralytics; no download), its classes named (default:
    COCO's 80, as a COCO-trained YOLO has them), saved as a .pt file."""
    from mmdet.evaluation import get_classes

    from kp_plugins.ultralytics.offline import import_ultralytics
    import_ultralytics(online=False)
    from ultralytics import YOLO
    torch.manual_seed(0)
    classes = list(classes) if classes is not None else list(get_classes('coco'))
    model = YOLO('yolo11n.yaml')
    model.model.names = dict(enumerate(classes))
    model.save(out)
