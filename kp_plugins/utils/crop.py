"""Crop geometry in numpy + OpenCV alone (no torch): top-down person
crops, the bottom-up resize, and the way back to image pixels.

It sits at the bottom layer, so that the model core (``KPBBoxLabel``) and
the deployment runtime (:mod:`kp_plugins.deploy.runtime`,
:mod:`kp_plugins.deploy.bottomup_runtime`) share one copy, and importing it
imports neither torch nor MMPose.

The same geometry as MMPose's test pipeline and estimator, so that a model
deployed with :mod:`kp_plugins.deploy.runtime` sees exactly the crops
``tools/test.py`` feeds it:

- ``GetBBoxCenterScale``: box ``xyxy`` -> centre and ``padding`` x size;
- ``TopdownAffine`` (``use_udp=False``, no rotation): the size is widened
  to the input's aspect ratio, then ``cv2.warpAffine`` with the matrix of
  ``mmpose.structures.bbox.get_warp_matrix`` (bilinear);
- ``TopdownPoseEstimator.add_pred_to_datasample``: input pixels -> image
  pixels, ``kp / input_size * scale + center - scale / 2``.

:func:`warp_matrix` follows ``get_warp_matrix`` of MMPose 1.3.2
(``mmpose/structures/bbox/transforms.py``, Copyright (c) OpenMMLab,
Apache-2.0) for ``rot=0, shift=0``; the float32 arithmetic is kept so the
matrices are bit-identical.

Symbols: ``N`` persons, ``K`` keypoints, model input ``[W, H]``.
"""
from typing import Tuple

import cv2
import numpy as np

#: ``GetBBoxCenterScale``'s default padding.
DEFAULT_BBOX_PADDING = 1.25


def bbox_xyxy_to_center_scale(bboxes: np.ndarray,
                              padding: float = DEFAULT_BBOX_PADDING
                              ) -> Tuple[np.ndarray, np.ndarray]:
    """(N, 4) ``xyxy`` boxes -> centres (N, 2) and padded sizes (N, 2),
    float32 like the boxes MMPose's datasets hold."""
    bboxes = np.asarray(bboxes, dtype=np.float32).reshape(-1, 4)
    scale = (bboxes[:, 2:] - bboxes[:, :2]) * padding
    center = (bboxes[:, 2:] + bboxes[:, :2]) * 0.5
    return center, scale


def fix_aspect_ratio(scale: np.ndarray, aspect_ratio: float) -> np.ndarray:
    """Widen (N, 2) sizes ``(w, h)`` to ``w / h == aspect_ratio``, as
    ``TopdownAffine`` does."""
    w, h = np.hsplit(np.asarray(scale), [1])
    return np.where(w > h * aspect_ratio, np.hstack([w, w / aspect_ratio]),
                    np.hstack([h * aspect_ratio, h]))


def warp_matrix(center: np.ndarray, scale: np.ndarray,
                output_size: Tuple[int, int]) -> np.ndarray:
    """(2, 3) affine matrix mapping the box ``center, scale`` (image pixels)
    onto an ``output_size = (W, H)`` crop (MMPose's ``get_warp_matrix`` with
    no rotation and no shift)."""
    src_w = scale[0]
    dst_w, dst_h = output_size
    src = np.zeros((3, 2), dtype=np.float32)
    src[0] = center
    src[1] = center + np.array([src_w * -0.5, 0.])
    dst = np.zeros((3, 2), dtype=np.float32)
    dst[0] = [dst_w * 0.5, dst_h * 0.5]
    dst[1] = np.array([dst_w * 0.5, dst_h * 0.5]) + np.array([dst_w * -0.5, 0.])
    src[2] = _third_point(src[0], src[1])
    dst[2] = _third_point(dst[0], dst[1])
    return cv2.getAffineTransform(np.float32(src), np.float32(dst))


def _third_point(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The point that makes ``a, b`` a right angle at ``b`` (MMPose's
    ``_get_3rd_point``)."""
    direction = a - b
    return b + np.r_[-direction[1], direction[0]]


def boxes_in_input(bboxes: np.ndarray, warp: np.ndarray) -> np.ndarray:
    """Image boxes -> axis-aligned boxes in model-input pixels: centres
    warped, sides scaled by the warp's isotropic factor.

    Args:
        bboxes: (N, 4) ``xyxy`` in image pixels.
        warp: (2, 3) affine matrix (a similarity).

    Returns:
        (N, 4) ``xyxy`` in model-input pixels, float64.
    """
    bboxes = np.asarray(bboxes, dtype=np.float64).reshape(-1, 4)
    warp = np.asarray(warp, dtype=np.float64)
    factor = np.sqrt(abs(np.linalg.det(warp[:, :2])))
    centers = (bboxes[:, :2] + bboxes[:, 2:]) / 2
    centers = centers @ warp[:, :2].T + warp[:, 2]
    half = (bboxes[:, 2:] - bboxes[:, :2]) * factor / 2
    return np.concatenate([centers - half, centers + half], axis=-1)


def check_person_boxes(bboxes: np.ndarray) -> None:
    """Raise ``ValueError`` naming the first person box (N, 4) ``xyxy``
    that is not finite or has no area: its crop would be NaN or empty, and
    the model would return NaN keypoints with finite scores."""
    bboxes = np.asarray(bboxes, dtype=np.float64).reshape(-1, 4)
    finite = np.isfinite(bboxes).all(axis=1)
    positive = (bboxes[:, 2] > bboxes[:, 0]) & (bboxes[:, 3] > bboxes[:, 1])
    bad = np.flatnonzero(~(finite & positive))
    if bad.size:
        i = int(bad[0])
        box = ', '.join(f'{v:g}' for v in bboxes[i])
        why = ('is not finite' if not finite[i] else
               f'has width {bboxes[i, 2] - bboxes[i, 0]:g} and height '
               f'{bboxes[i, 3] - bboxes[i, 1]:g} (x2 must exceed x1 and y2 exceed y1)')
        more = f' ({bad.size} bad boxes in all)' if bad.size > 1 else ''
        raise ValueError(f'person box {i} of {len(bboxes)} [{box}] (x1, y1, x2, y2, image '
                         f'pixels) {why}{more}; remove it or give a valid box')


def crop_persons(image: np.ndarray, bboxes: np.ndarray,
                 input_size: Tuple[int, int],
                 padding: float = DEFAULT_BBOX_PADDING
                 ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Crop every person box to the model input.

    Args:
        image: (h, w, 3) uint8 image, in the channel order the model takes.
        bboxes: (N, 4) ``xyxy`` person boxes in image pixels.
        input_size: model input ``(W, H)``.
        padding: ``GetBBoxCenterScale``'s padding.

    Raises:
        ValueError: a box that is not finite or has no area
            (:func:`check_person_boxes`).

    Returns:
        crops (N, 3, H, W) float32 in 0-255, centres (N, 2), crop sizes
        (N, 2) in image pixels (``input_center`` / ``input_scale``), and the
        person boxes in model-input pixels (N, 4) ``xyxy`` (what
        ``KPBBoxHead`` takes as its ``bbox`` input).
    """
    check_person_boxes(bboxes)
    w, h = input_size
    center, scale = bbox_xyxy_to_center_scale(bboxes, padding)
    scale = fix_aspect_ratio(scale, aspect_ratio=w / h)
    crops = np.zeros((len(center), 3, h, w), dtype=np.float32)
    input_bboxes = np.zeros((len(center), 4), dtype=np.float64)
    for i, (c, s) in enumerate(zip(center, scale)):
        warp = warp_matrix(c, s, (w, h))
        crop = cv2.warpAffine(image, warp, (int(w), int(h)),
                              flags=cv2.INTER_LINEAR)
        crops[i] = crop.transpose(2, 0, 1)
        input_bboxes[i] = boxes_in_input(np.asarray(bboxes)[i], warp)[0]
    return crops, center, scale, input_bboxes


def input_to_image(keypoints: np.ndarray, center: np.ndarray,
                   scale: np.ndarray, input_size: Tuple[int, int]
                   ) -> np.ndarray:
    """(N, K, 2) keypoints in model-input pixels -> image pixels, the
    inverse of the crop (``TopdownPoseEstimator``'s mapping)."""
    size = np.asarray(input_size, dtype=np.float64)
    center = np.asarray(center, dtype=np.float64)[:, None]
    scale = np.asarray(scale, dtype=np.float64)[:, None]
    return keypoints / size * scale + center - 0.5 * scale


def bottomup_center_scale(image_size: Tuple[int, int],
                          input_size: Tuple[int, int]
                          ) -> Tuple[np.ndarray, np.ndarray]:
    """``input_center`` and ``input_scale`` (float32 (2, )) of MMPose's
    ``BottomupResize`` (``resize_mode='fit'``, ``use_udp=False``): the
    image, resized by its long side to fit ``input_size``, centred in it;
    ``input_scale`` is the image-pixel size of the whole padded input.

    Args:
        image_size: the image's ``(w, h)``.
        input_size: the model input ``(W, H)``.
    """
    img_w, img_h = image_size
    pad_w, pad_h = input_size
    ratio = img_w / img_h
    rsz_w = min(pad_w, pad_h * ratio)
    rsz_h = min(pad_h, pad_w / ratio)
    center = np.array([img_w / 2, img_h / 2], dtype=np.float32)
    scale = np.array([img_w * pad_w / rsz_w, img_h * pad_h / rsz_h],
                     dtype=np.float32)
    return center, scale


def bottomup_resize(image: np.ndarray, input_size: Tuple[int, int],
                    pad_val) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A whole image -> the model input, as MMPose's ``BottomupResize``
    (``resize_mode='fit'``, ``use_udp=False``, no ``aug_scales``) makes it:
    ``cv2.warpAffine`` (bilinear) of :func:`bottomup_center_scale`'s box
    with the border filled by ``pad_val``.

    Args:
        image: (h, w, 3) uint8 image, in the channel order the model takes.
        input_size: model input ``(W, H)``.
        pad_val: ``BottomupResize.pad_val`` as the config gives it (a
            3-sequence, or a number, which OpenCV applies to the first
            channel only, as in MMPose).

    Returns:
        the input (3, H, W) float32 in 0-255, ``input_center`` and
        ``input_scale`` (float32 (2, ), image pixels; the way back is
        :func:`input_to_image`).
    """
    h_img, w_img = image.shape[:2]
    w, h = input_size
    center, scale = bottomup_center_scale((w_img, h_img), input_size)
    warp = warp_matrix(center, scale, (w, h))
    border = tuple(float(v) for v in pad_val) \
        if isinstance(pad_val, (list, tuple)) else float(pad_val)
    resized = cv2.warpAffine(image, warp, (int(w), int(h)),
                             flags=cv2.INTER_LINEAR, borderValue=border)
    return resized.transpose(2, 0, 1).astype(np.float32), center, scale
