"""Detectors with random weights for the tool tests (no weights can be
downloaded): MMDet's own RTMDet-tiny config at a 256x256 test size, and an
Ultralytics YOLO11n built from its yaml (the RTMDet one lives in
kp_plugins.benchmark.random_detector, which the crowd benchmark uses too)."""
import os.path as osp
from typing import Sequence

import torch

from kp_plugins.benchmark.random_detector import (  # noqa: F401  (re-exported)
    rtmdet_tiny_config,
    save_random_rtmdet,
)

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


def write_small_rtmdet_config(out_dir, max_per_img: int = 30) -> str:
    path = osp.join(str(out_dir), 'rtmdet_tiny_256.py')
    with open(path, 'w') as f:
        f.write(SMALL_RTMDET.format(base=rtmdet_tiny_config(), max_per_img=max_per_img))
    return path


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
