"""The mmdeploy SDK's own crop, re-implemented in numpy from its C++ source, so
the tests can show that the SDK and kp_plugins' runtime differ only there.

mmdeploy 1.3.1 (Copyright (c) OpenMMLab, Apache-2.0), read from
open-mmlab/mmdeploy ``csrc/mmdeploy``:

- ``apis/c/mmdeploy/pose_detector.cpp``: an ``xyxy`` box becomes
  ``(x1, y1, x2 - x1 + 1, y2 - y1 + 1)``;
- ``codebase/mmpose/topdown_get_bbox_center_scale.cpp``: centre, the size
  widened to the input's aspect ratio, times the padding (in units of 200 px);
- ``codebase/mmpose/topdown_affine.cpp``: the box rounded to integers,
  intersected with the image, resized by ``cv::resize`` (bilinear) into a
  zero image, with the centre and scale corrected to the rounded crop;
- ``codebase/mmpose/simcc_label.cpp`` (``export_postprocess``): crop pixels
  -> image pixels with those corrected centre and scale.

float32 arithmetic as in the C++ code.
"""
from typing import List, Sequence, Tuple

import cv2
import numpy as np

F32 = np.float32


def _round(value: float) -> int:
    """``std::round``: halves away from zero."""
    return int(np.sign(value) * np.floor(abs(float(value)) + 0.5))


def _intersect(a: List[float], b: List[float]) -> List[float]:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    w = min(a[0] + a[2], b[0] + b[2]) - x1
    h = min(a[1] + a[3], b[1] + b[3]) - y1
    return [0, 0, 0, 0] if w <= 0 or h <= 0 else [x1, y1, w, h]


def sdk_crop(image: np.ndarray, box_xyxy: Sequence[float], input_size: Tuple[int, int],
             padding: float = 1.25) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The crop ``PoseDetector`` gives the net for one box.

    Returns:
        the crop (H, W, 3) uint8, and the corrected centre (2, ) and size
        (2, ) in image pixels that map crop pixels back:
        ``x_image = x_crop / W * size + centre - size / 2``.
    """
    width, height = input_size
    x, y = F32(box_xyxy[0]), F32(box_xyxy[1])
    w = F32(box_xyxy[2]) - x + F32(1)
    h = F32(box_xyxy[3]) - y + F32(1)
    aspect = F32(width) / F32(height)
    center = [x + w * F32(0.5), y + h * F32(0.5)]
    if w > aspect * h:
        h = w / aspect
    elif w < aspect * h:
        w = h * aspect
    scale = [w / F32(200) * F32(padding) * F32(200), h / F32(200) * F32(padding) * F32(200)]
    roi = [_round(center[0] - scale[0] / F32(2)), _round(center[1] - scale[1] / F32(2)),
           _round(scale[0]), _round(scale[1])]
    src = _intersect(roi, [0, 0, image.shape[1], image.shape[0]])
    factor = F32(width) / scale[0]
    dst = [_round((src[0] - roi[0]) * factor), _round((src[1] - roi[1]) * factor),
           _round(src[2] * factor), _round(src[3] * factor)]
    dst = _intersect(dst, [0, 0, width, height])
    factor_x, factor_y = F32(dst[2]) / F32(src[2]), F32(dst[3]) / F32(src[3])
    c_src = (src[0] + (src[2] - 1) / F32(2), src[1] + (src[3] - 1) / F32(2))
    c_dst = (dst[0] + (dst[2] - 1) / F32(2), dst[1] + (dst[3] - 1) / F32(2))
    corrected_center = np.array([c_src[0] + (width / F32(2) - c_dst[0]) / factor_x,
                                 c_src[1] + (height / F32(2) - c_dst[1]) / factor_y])
    corrected_size = np.array([width / factor_x, height / factor_y])
    crop = np.zeros((height, width, 3), np.uint8)
    crop[dst[1]:dst[1] + dst[3], dst[0]:dst[0] + dst[2]] = cv2.resize(
        image[src[1]:src[1] + src[3], src[0]:src[0] + src[2]], (dst[2], dst[3]))
    return crop, corrected_center, corrected_size


def predict_on_sdk_crops(model, image: np.ndarray, boxes: np.ndarray
                         ) -> Tuple[np.ndarray, np.ndarray]:
    """kp_plugins' runtime (``OnnxPoseModel.infer``) on the SDK's crops,
    mapped back as the SDK maps them: keypoints (N, K, 2), scores (N, K)."""
    crops, centers, sizes = zip(*(sdk_crop(image, box, model.input_size, model.bbox_padding)
                                  for box in boxes))
    batch = np.stack(crops).transpose(0, 3, 1, 2).astype(np.float32)
    keypoints, scores = model.infer(batch)
    size = np.asarray(model.input_size, np.float64)
    centers, sizes = np.stack(centers)[:, None], np.stack(sizes)[:, None]
    return keypoints / size * sizes + centers - sizes / 2, scores
