"""Flip-test geometry shared by every kp_plugins head.

MMPose's flip test (``TopdownPoseEstimator`` with ``test_cfg.flip_test``)
runs the model on ``inputs.flip(-1)``: pixel ``j`` of the flipped input is
pixel ``W - 1 - j`` of the original, so a point at ``x`` moves to
``W - 1 - x`` (the convention of ``RandomFlip``) and left/right keypoints
swap by the dataset's ``flip_indices``.

Symbols: ``N`` instances, ``B`` batch, ``K`` keypoints, grid ``Gh x Gw``.
"""
from typing import Sequence

import numpy as np
from torch import Tensor


def flip_keypoints_px(keypoints: np.ndarray, flip_indices: Sequence[int],
                      input_width: int) -> np.ndarray:
    """Map keypoints predicted on the flipped input back to the original.

    Args:
        keypoints: (N, K, 2) in model-input pixels of the flipped input.
        flip_indices: (K,) index of each keypoint's mirror keypoint.
        input_width: model-input width ``W``.

    Returns:
        (N, K, 2) in model-input pixels of the original input.
    """
    flipped = keypoints[:, list(flip_indices)].copy()
    flipped[..., 0] = input_width - 1 - flipped[..., 0]
    return flipped


def flip_keypoint_values(values: np.ndarray,
                         flip_indices: Sequence[int]) -> np.ndarray:
    """Swap per-keypoint values (scores, logits) of mirror keypoints.

    Args:
        values: (N, K) values predicted on the flipped input.
    """
    return values[:, list(flip_indices)]


def flip_bboxes_px(bboxes: np.ndarray, input_width: int) -> np.ndarray:
    """Mirror boxes given in model-input pixels, (N, 4) xyxy -> (N, 4)."""
    x1, y1, x2, y2 = np.moveaxis(bboxes, -1, 0)
    return np.stack([input_width - 1 - x2, y1, input_width - 1 - x1, y2],
                    axis=-1)


def flip_grid_outputs(presence: Tensor, offsets: Tensor,
                      flip_indices: Sequence[int]):
    """Map grid outputs of the flipped input back onto the original grid.

    ``KPGridLabel``'s cells are pixel-centre aligned (cell ``g`` spans
    ``[g * cw - 0.5, (g + 1) * cw - 0.5)``), so a point in flipped cell ``i``
    at offset ``o`` (grid units) lies in original cell ``Gw - 1 - i`` at
    offset ``1 - o``; decoding the returned maps gives exactly the
    flipped-back keypoints, and the maps can be averaged with the original
    ones.

    Args:
        presence: (B, K, Gh, Gw) presence logits.
        offsets: (B, K, 2, Gh, Gw) in-cell offsets (x, y), grid units.
        flip_indices: (K,) mirror keypoint indices.

    Returns:
        ``(presence, offsets)`` with the input shapes.
    """
    index = list(flip_indices)
    presence = presence[:, index].flip(-1)
    offsets = offsets[:, index].flip(-1).clone()
    offsets[:, :, 0] = 1.0 - offsets[:, :, 0]
    return presence, offsets
