"""Geometry shared by the kp_plugins codecs.

Symbols: ``N`` instances, ``K`` keypoints, model input ``[W, H]``.

``TopdownAffine`` maps the image to the model input by a similarity
(rotation + one isotropic scale ``W / input_scale[0] == H / input_scale[1]``,
because it first fixes ``input_scale`` to the input's aspect ratio), so
areas scale by the square of that factor whatever the rotation.
"""
from typing import Optional, Tuple

import numpy as np

#: MMPose's fallback ``area = 0.53 * box area`` when an annotation has none
#: (``BaseCocoStyleDataset.parse_data_info``).
AREA_FROM_BBOX = 0.53


def check_input_size(input_size, owner: str) -> Tuple[int, int]:
    """Validate ``input_size = (W, H)`` and return it as ints."""
    try:
        w, h = input_size
    except (TypeError, ValueError):
        raise ValueError(f'{owner}: input_size must be (width, height), got '
                         f'{input_size!r}') from None
    if int(w) != w or int(h) != h or w <= 0 or h <= 0:
        raise ValueError(f'{owner}: input_size must be two positive integers '
                         f'(width, height), got {input_size!r}')
    return int(w), int(h)


def labelled_mask(keypoints: np.ndarray,
                  keypoints_visible: Optional[np.ndarray]) -> np.ndarray:
    """(N, K) bool: the keypoint carries a label (visibility > 0.5)."""
    if keypoints_visible is None:
        return np.ones(keypoints.shape[:2], dtype=bool)
    keypoints_visible = np.asarray(keypoints_visible)
    if keypoints_visible.ndim == 3:  # (N, K, 2): (visible, weight)
        keypoints_visible = keypoints_visible[..., 0]
    return keypoints_visible > 0.5


def inside_input(keypoints: np.ndarray, input_size: Tuple[int, int]
                 ) -> np.ndarray:
    """(N, K) bool: ``0 <= x <= W - 1`` and ``0 <= y <= H - 1`` (MMPose's
    ``RegressionLabel`` convention for "inside the input")."""
    w, h = input_size
    xy = keypoints[..., :2]
    return ((xy >= 0) & (xy <= np.array([w - 1, h - 1]))).all(axis=-1)


def input_scale_factor(input_scale: Optional[np.ndarray],
                       input_size: Tuple[int, int]) -> float:
    """Image-to-input scale factor of ``TopdownAffine`` (1 without one)."""
    if input_scale is None:
        return 1.0
    scale = np.asarray(input_scale, dtype=np.float64).reshape(-1)
    return float(input_size[0] / scale[0])


def areas_in_input(num_instances: int, area: Optional[np.ndarray],
                   bbox: Optional[np.ndarray],
                   input_scale: Optional[np.ndarray],
                   input_size: Tuple[int, int]) -> Optional[np.ndarray]:
    """Instance areas converted from image pixels^2 to model-input pixels^2.

    Args:
        num_instances: ``N``.
        area: COCO ``area`` per instance, () or (N,), image pixels^2.
        bbox: (N, 4) xyxy image boxes, used (``0.53 * w * h``, MMPose's own
            fallback) where ``area`` is missing.
        input_scale: (2,) ``TopdownAffine``'s ``input_scale``; ``None`` when
            the keypoints are already in model-input pixels.
        input_size: ``(W, H)``.

    Returns:
        (N,) float64 areas, or ``None`` when neither area nor box is known.
    """
    if area is not None:
        areas = np.asarray(area, dtype=np.float64).reshape(-1)
    elif bbox is not None:
        boxes = np.asarray(bbox, dtype=np.float64).reshape(-1, 4)
        areas = np.clip((boxes[:, 2] - boxes[:, 0]) *
                        (boxes[:, 3] - boxes[:, 1]) * AREA_FROM_BBOX, 1.0,
                        None)
    else:
        return None
    if areas.size == 1 and num_instances > 1:
        areas = np.repeat(areas, num_instances)
    if areas.size != num_instances:
        raise ValueError(f'got {areas.size} areas for {num_instances} '
                         'instances')
    return areas * input_scale_factor(input_scale, input_size)**2


def to_frame(keypoints: np.ndarray, center: np.ndarray,
             unit: np.ndarray) -> np.ndarray:
    """Input pixels -> an isotropic frame: ``(p - center) / unit`` (the
    inverse is ``KPFrameLabel.decode_tensors``).

    Args:
        keypoints: (N, K, 2) in model-input pixels.
        center: (N, 2) frame origin in model-input pixels.
        unit: (N,) frame unit length in model-input pixels.
    """
    return (keypoints - center[:, None, :]) / unit[:, None, None]

