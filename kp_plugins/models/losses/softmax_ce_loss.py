from typing import Optional

import torch
from mmpose.registry import MODELS
from torch import Tensor

from .base_loss import KPBaseLoss
from .utils import check_weights, keypoint_weighted_mean, mask_invalid


@MODELS.register_module()
class KPSoftmaxCELoss(KPBaseLoss):
    """Cross-entropy of a softmax over the locations of each keypoint (e.g.
    the cells of a grid) against a soft target distribution.

    The target may be any non-negative map (a one-hot cell or a Gaussian
    around the keypoint); it is normalised to sum 1 per keypoint, so
    ``loss = -sum_g t_g * log_softmax(logits)_g``. Unlike ``KPBCELoss`` the
    locations compete, which trains the argmax directly; a keypoint whose
    target is all zero (unlabelled, outside the input) or whose weight is 0
    is left out of the mean. A head trained with it scores a keypoint from
    the softmax (``normalization``; ``KPGridLabel``: the mass of the cells
    around the best one).

    Symbols: ``B`` instances, ``K`` keypoints, ``G`` locations.

    Args:
        loss_weight: multiplier of the loss.
        loss_name: key of this loss in the head's loss dict / log.
    """

    normalization = 'softmax'

    def __init__(self, loss_weight: float = 1.0,
                 loss_name: str = 'loss_softmax_ce') -> None:
        super().__init__(loss_weight, loss_name)

    def forward(self, logits: Tensor, target: Tensor,
                target_weights: Optional[Tensor] = None) -> Tensor:
        """
        Args:
            logits: (B, K, G) logits (trailing dimensions are flattened).
            target: same shape, non-negative.
            target_weights: (B, K) keypoint weights; ``None`` = all ones.

        Returns:
            scalar loss.
        """
        if logits.shape != target.shape:
            raise ValueError(f'logits {tuple(logits.shape)} and target '
                             f'{tuple(target.shape)} must have the same shape')
        if logits.dim() < 3:
            raise ValueError('KPSoftmaxCELoss expects (B, K, G...) logits, got '
                             f'shape {tuple(logits.shape)}')
        logits = logits.flatten(2)
        target = target.flatten(2).to(logits.dtype)
        mass = target.sum(dim=-1)
        weights = (mass > 0).to(logits.dtype)
        if target_weights is not None:
            check_weights(target_weights, mass.shape)
            weights = weights * target_weights.to(logits.dtype)
        # a keypoint left out (weight 0, empty target) adds nothing, even
        # with NaN or inf logits or target
        valid = weights > 0
        logits = mask_invalid(logits, valid)
        target = mask_invalid(target, valid)
        mass = mask_invalid(mass, valid)
        dist = target / mass.clamp(min=torch.finfo(logits.dtype).tiny)[..., None]
        per_keypoint = -(dist * logits.log_softmax(dim=-1)).sum(dim=-1)
        return keypoint_weighted_mean(per_keypoint, weights) * self.loss_weight
