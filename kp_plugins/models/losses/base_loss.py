"""What every kp_plugins loss carries, and the base of the per-coordinate
losses (not registered: the losses are)."""
from typing import Optional

from torch import Tensor, nn

from .utils import check_weights, keypoint_weighted_mean, mask_invalid


class KPBaseLoss(nn.Module):
    """Base of the kp_plugins losses: the attributes the heads read.

    Class attributes (a subclass sets them once):
        requires_area: the loss takes the instance areas (OKS): the head
            gathers the codec's ``areas`` and calls
            ``loss(pred, target, target_weights, areas)``.
        normalization: for a presence loss, how a head trained with it
            turns location logits into scores: ``'softmax'`` (over the
            locations) or ``'sigmoid'`` (per location); ``None`` for the
            other losses.

    Args:
        loss_weight: multiplier of the loss.
        loss_name: key of this loss in the head's loss dict / log (must
            start with ``loss``).
    """

    requires_area: bool = False
    normalization: Optional[str] = None

    def __init__(self, loss_weight: float = 1.0, loss_name: str = 'loss') -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self.loss_name = loss_name


class CoordinateLoss(KPBaseLoss):
    """Base of the per-coordinate keypoint losses (KPL1Loss, KPMSELoss):
    ``distance`` of each coordinate, averaged over the ``D`` coordinates of a
    keypoint and then over valid keypoints only (weighted by the keypoint
    target weights). Not registered.

    Symbols: ``B`` instances, ``K`` keypoints, ``D`` coordinates.

    Args:
        loss_weight: multiplier of the loss.
        loss_name: key of this loss in the head's loss dict / log.
    """

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
