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


class CoordinateLoss(torch.nn.Module):
    """Base of the per-coordinate keypoint losses (KPL1Loss, KPMSELoss):
    ``distance`` of each coordinate, averaged over the ``D`` coordinates of a
    keypoint and then over valid keypoints only (weighted by the keypoint
    target weights). Not registered.

    Symbols: ``B`` instances, ``K`` keypoints, ``D`` coordinates.

    Args:
        loss_weight: multiplier of the loss.
        loss_name: key of this loss in the head's loss dict / log.
    """

    requires_area = False

    def __init__(self, loss_weight: float = 1.0, loss_name: str = 'loss') -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self.loss_name = loss_name

    def distance(self, diff: Tensor) -> Tensor:
        """(B, K, D) prediction - target -> (B, K, D) per-coordinate loss."""
        raise NotImplementedError

    def forward(self, pred: Tensor, target: Tensor,
                target_weights: Optional[Tensor] = None) -> Tensor:
        """
        Args:
            pred: (B, K, D) predicted coordinates.
            target: (B, K, D) target coordinates.
            target_weights: (B, K) keypoint weights; ``None`` = all ones.

        Returns:
            scalar loss.
        """
        per_keypoint = self.distance(pred - target).mean(dim=-1)
        return keypoint_weighted_mean(per_keypoint, target_weights) * self.loss_weight
