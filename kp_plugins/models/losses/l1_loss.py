from typing import Optional

from torch import Tensor, nn

from mmpose.registry import MODELS
from .utils import keypoint_weighted_mean


@MODELS.register_module()
class KPL1Loss(nn.Module):
    """L1 distance between predicted and target coordinates, averaged over
    the ``D`` coordinates of a keypoint and then over valid keypoints only
    (weighted by the keypoint target weights).

    Symbols: ``B`` instances, ``K`` keypoints, ``D`` coordinates.

    Args:
        loss_weight: multiplier of the loss.
        loss_name: key of this loss in the head's loss dict / log.
    """

    requires_area = False

    def __init__(self, loss_weight: float = 1.0,
                 loss_name: str = 'loss_l1') -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self.loss_name = loss_name

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
        per_keypoint = (pred - target).abs().mean(dim=-1)
        return keypoint_weighted_mean(per_keypoint,
                                      target_weights) * self.loss_weight
