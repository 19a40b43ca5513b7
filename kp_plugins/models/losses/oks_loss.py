from typing import Optional, Sequence, Union

import torch
from mmpose.registry import MODELS
from torch import Tensor

from kp_plugins.utils.oks import instance_oks, load_sigmas

from .base_loss import KPBaseLoss


@MODELS.register_module()
class KPOKSLoss(KPBaseLoss):
    """COCO object keypoint similarity as a loss.

    Per instance, ``OKS = mean over labelled k of exp(-d_k^2 / (2 * area *
    (2 * sigma_k)^2))`` exactly as ``COCOeval.computeOks`` (see
    :mod:`kp_plugins.utils.oks`); then ``linear``: ``1 - OKS``, ``square``:
    ``1 - OKS^2``, ``log``: ``-log(OKS)``; averaged over instances that have
    at least one labelled keypoint.

    Coordinates and ``areas`` must be in the same units (pixels and
    pixels^2, or a codec's normalized frame and its squared unit); the codec
    that produced the targets provides ``areas`` in its frame.

    Symbols: ``B`` instances, ``K`` keypoints.

    Args:
        mode: ``'linear'``, ``'square'`` or ``'log'``.
        sigmas: per-keypoint sigmas (K,); wins over ``metainfo``.
        metainfo: dataset metainfo path or dict with the sigmas (see
            :func:`kp_plugins.utils.oks.load_sigmas`). Neither given: COCO's
            17 sigmas.
        reduction: ``'mean'`` over valid instances, ``'sum'``, or ``'none'``
            (per-instance loss, (B,), 0 for instances without labels).
        loss_weight: multiplier of the loss.
        loss_name: key of this loss in the head's loss dict / log.
    """

    requires_area = True
    _modes = ('linear', 'square', 'log')

    def __init__(self, mode: str = 'linear',
                 sigmas: Optional[Sequence[float]] = None,
                 metainfo: Union[str, dict, None] = None,
                 reduction: str = 'mean', loss_weight: float = 1.0,
                 loss_name: str = 'loss_oks', eps: float = 1e-8) -> None:
        if mode not in self._modes:
            raise ValueError(f'KPOKSLoss mode must be one of {self._modes}, '
                             f'got {mode!r}')
        if reduction not in ('mean', 'sum', 'none'):
            raise ValueError("KPOKSLoss reduction must be 'mean', 'sum' or "
                             f"'none', got {reduction!r}")
        super().__init__(loss_weight, loss_name)
        self.mode = mode
        self.reduction = reduction
        self.eps = eps
        self.register_buffer(
            'sigmas',
            torch.as_tensor(load_sigmas(sigmas, metainfo), dtype=torch.float32),
            persistent=False)

    def forward(self, pred: Tensor, target: Tensor, target_weights: Tensor,
                areas: Tensor) -> Tensor:
        """
        Args:
            pred: (B, K, 2) predicted coordinates.
            target: (B, K, 2) target coordinates, same frame as ``pred``.
            target_weights: (B, K); a keypoint counts where it is > 0
                (OKS itself is unweighted, as in COCOeval).
            areas: (B,) instance areas in the squared units of the frame.

        Returns:
            scalar loss, or (B,) with ``reduction='none'``.
        """
        areas = areas.reshape(-1).to(pred.dtype)
        if areas.numel() != pred.shape[0]:
            raise ValueError(f'KPOKSLoss got {areas.numel()} areas for '
                             f'{pred.shape[0]} instances')
        oks, valid = instance_oks(pred, target, target_weights > 0, areas,
                                  self.sigmas.to(pred))
        if self.mode == 'linear':
            loss = 1.0 - oks
        elif self.mode == 'square':
            loss = 1.0 - oks**2
        else:
            loss = -torch.log(oks.clamp(min=self.eps))
        loss = torch.where(valid, loss, torch.zeros_like(loss))
        if self.reduction == 'none':
            return loss * self.loss_weight
        if self.reduction == 'sum':
            return loss.sum() * self.loss_weight
        return loss.sum() / valid.sum().clamp(min=1) * self.loss_weight
