"""Reduction shared by the kp_plugins keypoint losses."""
from typing import Optional

import torch
from torch import Tensor


def keypoint_weighted_mean(per_keypoint: Tensor,
                           target_weights: Optional[Tensor]) -> Tensor:
    """Weighted mean of per-keypoint losses over valid keypoints only.

    ``sum(w * loss) / sum(w)``: a keypoint with weight 0 neither adds loss
    nor dilutes the mean. With no valid keypoint the result is a zero that
    still carries the graph (so ``backward`` works on any batch).

    Args:
        per_keypoint: (B, K) loss of each keypoint.
        target_weights: (B, K) weights (>= 0); ``None`` means all ones.
    """
    if target_weights is None:
        return per_keypoint.mean()
    if target_weights.shape != per_keypoint.shape:
        raise ValueError(f'target_weights of shape {tuple(target_weights.shape)}'
                         ' do not match the per-keypoint loss of shape '
                         f'{tuple(per_keypoint.shape)}')
    weights = target_weights.to(per_keypoint.dtype)
    # no host sync: with all weights 0 the numerator is 0 and so is the mean
    total = weights.sum().clamp(min=torch.finfo(weights.dtype).tiny)
    return (per_keypoint * weights).sum() / total
