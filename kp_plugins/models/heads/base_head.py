"""Plumbing shared by the kp_plugins heads (not registered: the heads are).

Symbols: ``B`` batch, ``K`` keypoints.
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.structures import InstanceData
from mmpose.evaluation.functional import keypoint_pck_accuracy
from mmpose.models.heads.base_head import BaseHead
from mmpose.registry import MODELS
from mmpose.utils.typing import ConfigType, OptSampleList, SampleList
from torch import Tensor, nn

from kp_plugins.models.losses.base_loss import KPBaseLoss
from kp_plugins.utils.flip import flip_keypoint_values, flip_keypoints_px

LossConfigs = Union[ConfigType, Sequence[ConfigType], None]


class KPBaseHead(BaseHead):
    """Base of the kp_plugins heads: loss building, target gathering,
    accuracy and flip-test merging, written once.

    Its :meth:`loss` is that of a head whose ``forward`` returns coordinates
    (B, K, 2) in its codec's frame and visibility logits (B, K) and which
    has ``coord_losses``, ``visibility_losses`` and ``decoder``
    (``KPRegressionHead``, ``KPBBoxHead``); a head with other outputs
    overrides it.

    Every kp_plugins head states its export facts (read by
    :mod:`kp_plugins.deploy.decode`; the decode itself is its codec's
    ``decode_tensors``, the same code ``predict`` runs):

    Attributes:
        raw_output_names: a name for each of ``forward``'s outputs, in order
            (the ONNX output names of a raw export).
        needs_bbox: ``forward`` and the codec's ``decode_tensors`` take the
            person boxes (B, 4) ``xyxy`` in model-input pixels as their
            last argument.

    A head may also define ``predict_tensors(feats)`` -> keypoints (B, K, 2)
    in model-input pixels and scores (B, K): its ``predict`` without flip
    test in one traceable pass (``KPGridHead``: the codec decodes the
    prediction conv's output before the pixel shuffle); the in-graph decode
    then uses it instead of ``forward`` + ``decode_tensors``.
    """

    raw_output_names: Tuple[str, ...] = ('coords', 'visibility_logits')
    needs_bbox: bool = False

    @staticmethod
    def build_losses(cfgs: LossConfigs) -> nn.ModuleList:
        """Build one loss config or a list of them (``None`` -> empty).

        Raises:
            TypeError: a loss that is not a :class:`KPBaseLoss` (the heads
                read its ``loss_name``, ``requires_area`` and
                ``normalization``).
        """
        if cfgs is None:
            return nn.ModuleList()
        if isinstance(cfgs, dict):
            cfgs = [cfgs]
        losses = nn.ModuleList(MODELS.build(cfg) for cfg in cfgs)
        for loss in losses:
            if not isinstance(loss, KPBaseLoss):
                raise TypeError(
                    f'{type(loss).__name__} is not a kp_plugins loss: the '
                    'kp_plugins heads take losses derived from '
                    'kp_plugins.models.losses.KPBaseLoss (loss_name, '
                    'loss_weight, requires_area, normalization)')
        return losses

    def check_loss_names(self, *groups: nn.ModuleList) -> None:
        """Every loss must log under its own ``loss_*`` name."""
        names = [m.loss_name for group in groups for m in group]
        bad = [n for n in names if not str(n).startswith('loss')]
        if bad:
            raise ValueError(f'{type(self).__name__}: loss_name {bad} must '
                             'start with "loss" so MMEngine counts it as a '
                             'loss')
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(
                f'{type(self).__name__}: losses {duplicates} share a '
                'loss_name; give each loss its own loss_name so each is '
                'logged (and summed) separately')

    @staticmethod
    def gather_labels(batch_data_samples: SampleList, key: str,
                      why: str = '') -> Tensor:
        """Concatenate ``gt_instance_labels.<key>`` over the batch.

        Returns a tensor with the codec's per-sample shape, batched along
        the first (instance) dimension.
        """
        try:
            return torch.cat(
                [d.gt_instance_labels.get(key) for d in batch_data_samples])
        except (AttributeError, TypeError):
            raise KeyError(
                f'the data samples carry no gt_instance_labels.{key}'
                f'{" (" + why + ")" if why else ""}; is the codec in '
                'GenerateTarget the one this head expects?') from None

    def coordinate_losses(self, losses: nn.ModuleList, pred: Tensor,
                          target: Tensor, target_weights: Tensor,
                          areas: Optional[Tensor]) -> Dict[str, Tensor]:
        """Run coordinate losses; OKS-type losses (``requires_area``) also
        get the instance areas.

        Args:
            pred, target: (B, K, 2) in the same frame.
            target_weights: (B, K).
            areas: (B,) in squared frame units, or ``None``.
        """
        values = {}
        for loss in losses:
            if loss.requires_area:
                if areas is None:
                    raise KeyError(
                        f'{type(loss).__name__} needs instance areas but the '
                        'codec produced none (its encode got neither "area" '
                        'nor "bbox")')
                values[loss.loss_name] = loss(pred, target, target_weights,
                                              areas)
            else:
                values[loss.loss_name] = loss(pred, target, target_weights)
        return values

    def gather_areas(self, losses: nn.ModuleList,
                     batch_data_samples: SampleList) -> Optional[Tensor]:
        """(B,) the codec's ``areas`` if one of ``losses`` needs them (an
        OKS loss), else ``None``."""
        if not any(loss.requires_area for loss in losses):
            return None
        return self.gather_labels(batch_data_samples, 'areas',
                                  'needed by the OKS loss')

    def forward_for_loss(self, feats: Tuple[Tensor],
                         batch_data_samples: SampleList
                         ) -> Tuple[Tensor, Tensor, Optional[Tensor]]:
        """The training forward of :meth:`loss`.

        Returns:
            coords (B, K, 2) in the codec's frame, visibility logits (B, K)
            and the (B, 4) person boxes the codec's frame is built from
            (``None`` for a frame that does not depend on the box).
        """
        coords, visibility_logits = self.forward(feats)
        return coords, visibility_logits, None

    def loss(self,
             feats: Tuple[Tensor],
             batch_data_samples: OptSampleList,
             train_cfg: ConfigType = {}) -> dict:
        """Coordinate losses (in the codec's frame), visibility loss and
        ``acc_pose``."""
        coords, visibility_logits, input_bboxes = self.forward_for_loss(
            feats, batch_data_samples)
        labels = self.gather_labels(batch_data_samples, 'keypoint_labels')
        weights = self.gather_labels(batch_data_samples, 'keypoint_weights')
        visibility = self.gather_labels(batch_data_samples,
                                        'keypoint_visibility')
        areas = self.gather_areas(self.coord_losses, batch_data_samples)
        losses = self.coordinate_losses(self.coord_losses, coords, labels,
                                        weights, areas)
        for loss in self.visibility_losses:
            losses[loss.loss_name] = loss(visibility_logits, visibility)

        if self.decoder is not None:
            frame = {} if input_bboxes is None else dict(
                input_bboxes=input_bboxes.cpu().numpy())
            pred_px, _ = self.decoder.decode(coords.detach().cpu().numpy(),
                                             **frame)
            gt_px, _ = self.decoder.decode(labels.cpu().numpy(), **frame)
            losses['acc_pose'] = self.pck_accuracy(
                pred_px, gt_px, (visibility > 0).cpu().numpy(),
                self.decoder.input_size, coords.device)
        return losses

    @staticmethod
    def pck_accuracy(pred_px: np.ndarray, gt_px: np.ndarray,
                     mask: np.ndarray, input_size: Sequence[int],
                     device: torch.device) -> Tensor:
        """``acc_pose`` as in MMPose's heads: PCK@0.05 of the input size.

        Args:
            pred_px, gt_px: (B, K, 2) model-input pixels.
            mask: (B, K) bool, keypoints that count.
            input_size: ``(W, H)``.
        """
        norm = np.tile(np.asarray(input_size, dtype=np.float32),
                       (pred_px.shape[0], 1))
        _, avg_acc, _ = keypoint_pck_accuracy(
            pred=pred_px, gt=gt_px, mask=mask, thr=0.05, norm_factor=norm)
        return torch.tensor(avg_acc, device=device)

    @staticmethod
    def check_flip_feats(feats, owner: str) -> None:
        if not (isinstance(feats, (list, tuple)) and len(feats) == 2):
            raise ValueError(
                f'{owner}: flip test expects [features, flipped features] '
                '(TopdownPoseEstimator with test_cfg.flip_test=True)')

    @staticmethod
    def merge_flipped(preds: List[InstanceData],
                      preds_flip: List[InstanceData],
                      batch_data_samples: SampleList) -> List[InstanceData]:
        """Average predictions with those of the flipped input mapped back
        (keypoints mirrored in model-input pixels, mirror keypoints swapped).
        """
        meta = batch_data_samples[0].metainfo
        flip_indices = meta['flip_indices']
        input_width = meta['input_size'][0]
        for pred, pred_flip in zip(preds, preds_flip):
            keypoints_back = flip_keypoints_px(pred_flip.keypoints,
                                               flip_indices, input_width)
            scores_back = flip_keypoint_values(pred_flip.keypoint_scores,
                                               flip_indices)
            pred.keypoints = (pred.keypoints + keypoints_back) * 0.5
            pred.keypoint_scores = (pred.keypoint_scores + scores_back) * 0.5
        return preds

    @staticmethod
    def check_in_channels(x: Tensor, in_channels: int, owner: str) -> None:
        if x.shape[1] != in_channels:
            raise ValueError(
                f'{owner} was built with in_channels={in_channels} but the '
                f'backbone/neck gives {x.shape[1]} channels; set '
                f'head.in_channels={x.shape[1]}')
