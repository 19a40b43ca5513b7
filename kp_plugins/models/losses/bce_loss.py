from typing import Optional

import torch
import torch.nn.functional as F
from mmpose.registry import MODELS
from torch import Tensor

from .base_loss import KPBaseLoss
from .utils import check_weights, keypoint_weighted_mean, mask_invalid


@MODELS.register_module()
class KPBCELoss(KPBaseLoss):
    """Binary cross-entropy on logits for keypoint presence / visibility.

    Uses ``binary_cross_entropy_with_logits`` (log-sum-exp form, stable for
    any logit). The loss is averaged over any trailing dimensions of a
    keypoint (e.g. the cells of a grid) and then over valid keypoints only.

    Symbols: ``B`` instances, ``K`` keypoints, ``*`` optional trailing
    dimensions (e.g. grid cells).

    Args:
        pos_weight: weight of the positive term (``None`` = 1), e.g. the
            number of cells when exactly one cell of many is positive.
        loss_weight: multiplier of the loss.
        loss_name: key of this loss in the head's loss dict / log.
    """

    # a head trained with it scores a location by the sigmoid of its logit
    normalization = 'sigmoid'

    def __init__(self, pos_weight: Optional[float] = None,
                 loss_weight: float = 1.0,
                 loss_name: str = 'loss_bce') -> None:
        if pos_weight is not None and not pos_weight > 0:
            raise ValueError(f'pos_weight must be > 0, got {pos_weight}')
        super().__init__(loss_weight, loss_name)
        self.pos_weight = pos_weight

    def forward(self, logits: Tensor, target: Tensor,
                target_weights: Optional[Tensor] = None) -> Tensor:
        """
        Args:
            logits: (B, K, *) logits.
            target: (B, K, *) targets in [0, 1].
            target_weights: (B, K) keypoint weights; ``None`` = all ones.
                A keypoint of weight 0 adds nothing, even where its logits
                are NaN or inf.

        Returns:
            scalar loss.
        """
        if logits.shape != target.shape:
            raise ValueError(f'logits {tuple(logits.shape)} and target '
                             f'{tuple(target.shape)} must have the same shape')
        pos_weight = None
        if self.pos_weight is not None:
            pos_weight = torch.tensor(self.pos_weight, dtype=logits.dtype,
                                      device=logits.device)
        target = target.to(logits.dtype)
        if target_weights is not None:
            check_weights(target_weights, logits.shape[:2])
            # a keypoint of weight 0 adds nothing, even a NaN or inf logit
            valid = target_weights > 0
            logits = mask_invalid(logits, valid)
            target = mask_invalid(target, valid)
        elementwise = F.binary_cross_entropy_with_logits(
            logits, target, reduction='none', pos_weight=pos_weight)
        per_keypoint = elementwise.flatten(2).mean(dim=-1) \
            if elementwise.dim() > 2 else elementwise
        return keypoint_weighted_mean(per_keypoint,
                                      target_weights) * self.loss_weight
