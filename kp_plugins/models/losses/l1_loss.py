from mmpose.registry import MODELS
from torch import Tensor

from .base_loss import CoordinateLoss


@MODELS.register_module()
class KPL1Loss(CoordinateLoss):
    """L1 distance between predicted and target coordinates, averaged over
    the ``D`` coordinates of a keypoint and then over valid keypoints only
    (weighted by the keypoint target weights); see :class:`CoordinateLoss`
    for the shapes.

    Args:
        loss_weight: multiplier of the loss.
        loss_name: key of this loss in the head's loss dict / log.
    """

    def __init__(self, loss_weight: float = 1.0, loss_name: str = 'loss_l1') -> None:
        super().__init__(loss_weight, loss_name)

    def distance(self, diff: Tensor) -> Tensor:
        return diff.abs()
