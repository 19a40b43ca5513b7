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
                A keypoint of weight 0 adds nothing, even where ``pred`` or
                ``target`` is NaN or inf.

        Returns:
            scalar loss.
        """
        diff = pred - target
        if target_weights is not None:
            check_weights(target_weights, diff.shape[:2])
            diff = mask_invalid(diff, target_weights > 0)
        per_keypoint = self.distance(diff).mean(dim=-1)
        return keypoint_weighted_mean(per_keypoint, target_weights) * self.loss_weight
