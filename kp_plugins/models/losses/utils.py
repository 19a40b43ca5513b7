"""Reduction shared by the kp_plugins keypoint losses."""
from typing import Optional

import torch
from torch import Tensor


def mask_invalid(values: Tensor, valid: Tensor) -> Tensor:
    """``values`` with every entry of an invalid keypoint replaced by 0.

    ``0 * NaN`` is NaN, so weighting alone does not shield a loss from a
    NaN or inf prediction (or target) at a keypoint of weight 0; selecting
    with ``torch.where`` does, in the forward pass and in the gradient (the
    masked entries get an exact 0). Apply it to the inputs of a loss, before
    any operation whose derivative could be NaN there.

    Args:
        values: (B, K, *) per-keypoint values.
        valid: (B, K) bool.
    """
    mask = valid.reshape(*valid.shape, *([1] * (values.dim() - valid.dim())))
    return torch.where(mask, values, torch.zeros((), dtype=values.dtype,
                                                 device=values.device))


def check_weights(target_weights: Tensor, keypoints_shape) -> None:
    """``target_weights`` must be (B, K) for (B, K) keypoints."""
    if tuple(target_weights.shape) != tuple(keypoints_shape):
        raise ValueError(f'target_weights of shape {tuple(target_weights.shape)}'
                         ' do not match the per-keypoint loss of shape '
                         f'{tuple(keypoints_shape)}')


def keypoint_weighted_mean(per_keypoint: Tensor,
                           target_weights: Optional[Tensor]) -> Tensor:
    """Weighted mean of per-keypoint losses over valid keypoints only.

    ``sum(w * loss) / sum(w)``: a keypoint with weight 0 neither adds loss
    nor dilutes the mean, even when its loss is NaN or inf. With no valid
    keypoint the result is a zero that still carries the graph (so
    ``backward`` works on any batch).

    Args:
        per_keypoint: (B, K) loss of each keypoint.
        target_weights: (B, K) weights (>= 0); ``None`` means all ones.
    """
    if target_weights is None:
        return per_keypoint.mean()
    check_weights(target_weights, per_keypoint.shape)
    weights = target_weights.to(per_keypoint.dtype)
    per_keypoint = mask_invalid(per_keypoint, weights > 0)
    # no host sync: with all weights 0 the numerator is 0 and so is the mean
    total = weights.sum().clamp(min=torch.finfo(weights.dtype).tiny)
    return (per_keypoint * weights).sum() / total

