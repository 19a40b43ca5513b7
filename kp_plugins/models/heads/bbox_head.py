from typing import List, Optional, Tuple

import numpy as np
import torch
from mmpose.registry import KEYPOINT_CODECS, MODELS
from mmpose.utils.typing import ConfigType, OptConfigType, OptSampleList, Predictions, SampleList
from torch import Tensor, nn

from kp_plugins.utils.flip import flip_bboxes_px

from .base_head import KPBaseHead, LossConfigs

#: ``GetBBoxCenterScale``'s default padding: without a box, the head assumes
#: the box is the input shrunk by it (see :meth:`KPBBoxHead.forward`).
DEFAULT_BOX_PADDING = 1.25


@MODELS.register_module()
class KPBBoxHead(KPBaseHead):
    """Approach 3: keypoints relative to the person's box, + visibility.

    Box-relative coordinates (``(p - box centre) / sqrt(box area)``, see
    :class:`~kp_plugins.codecs.KPBBoxLabel`) are only defined given the
    box, and pixels do not show where a (detector or jittered) box ends: in
    the crop the box is centred with its limiting side at 1 / 1.25 of the
    input, but its other side depends on the box's aspect ratio. The head
    therefore takes the box's geometry in the input as an extra input (4
    numbers: centre / input size - 0.5, log of the sides / input size),
    embedded and added to the pooled image features before the output
    layer. At train time the box comes from the codec (``input_bboxes``),
    at test time from the data sample's box (``gt_instances.bboxes``: the
    ground-truth or detector box) mapped into the input by the codec.

    Symbols: ``B`` batch, ``C`` feature channels, ``K`` keypoints,
    ``Hf x Wf`` feature map.

    Args:
        in_channels: ``C`` of the last feature map (B, C, Hf, Wf) or of
            pooled features (B, C).
        num_keypoints: ``K``.
        decoder: the codec, a ``KPBBoxLabel`` config (required).
        hidden_channels: width of the hidden layer.
        loss: coordinate loss config(s), box frame; by default OKS with the
            area in box units (COCO area / box area) plus L1.
        visibility_loss: loss on the visibility logits, or ``None``.
        init_cfg: initialisation config.
    """

    needs_bbox = True

    def __init__(self,
                 in_channels: int,
                 num_keypoints: int,
                 decoder: ConfigType,
                 hidden_channels: int = 512,
                 loss: LossConfigs = (dict(type='KPOKSLoss'),
                                      dict(type='KPL1Loss')),
                 visibility_loss: OptConfigType = dict(
                     type='KPBCELoss', loss_name='loss_visibility'),
                 init_cfg: OptConfigType = None) -> None:
        if init_cfg is None:
            init_cfg = [dict(type='Normal', layer=['Linear'], std=0.01,
                             bias=0)]
        super().__init__(init_cfg)
        if decoder is None:
            raise ValueError('KPBBoxHead needs decoder=dict(type='
                             '"KPBBoxLabel", ...)')
        self.decoder = KEYPOINT_CODECS.build(decoder)
        if not hasattr(self.decoder, 'bbox_to_input'):
            raise TypeError('KPBBoxHead needs a KPBBoxLabel decoder, got '
                            f'{type(self.decoder).__name__}')
        self.in_channels = in_channels
        self.num_keypoints = num_keypoints
        self.coord_losses = self.build_losses(loss)
        self.visibility_losses = self.build_losses(visibility_loss)
        self.check_loss_names(self.coord_losses, self.visibility_losses)
        self.feature_fc = nn.Linear(in_channels, hidden_channels)
        self.box_fc = nn.Linear(4, hidden_channels)
        self.out_fc = nn.Linear(hidden_channels, num_keypoints * 3)

    def box_geometry(self, input_bboxes: Tensor) -> Tensor:
        """(B, 4) xyxy input-pixel boxes -> (B, 4) head input: centre /
        input size - 0.5 and log(side / input size)."""
        size = input_bboxes.new_tensor(self.decoder.input_size)
        centers = (input_bboxes[:, :2] + input_bboxes[:, 2:]) / 2
        sides = (input_bboxes[:, 2:] - input_bboxes[:, :2]).clamp(min=1.0)
        return torch.cat([centers / size - 0.5, torch.log(sides / size)], -1)

    def default_bboxes(self, batch_size: int, like: Tensor) -> Tensor:
        """(B, 4) the box ``GetBBoxCenterScale`` + ``TopdownAffine`` make
        when the box has the input's aspect ratio."""
        w, h = self.decoder.input_size
        half = like.new_tensor([w, h]) / DEFAULT_BOX_PADDING / 2
        center = like.new_tensor([w / 2, h / 2])
        return torch.cat([center - half, center + half]).expand(batch_size, 4)

    def forward(self, feats: Tuple[Tensor],
                input_bboxes: Optional[Tensor] = None
                ) -> Tuple[Tensor, Tensor]:
        """
        Args:
            feats: backbone/neck features; the last one, (B, C, Hf, Wf) or
                (B, C), is used.
            input_bboxes: (B, 4) xyxy person boxes in model-input pixels;
                ``None`` (e.g. ``mode='tensor'``) assumes
                :meth:`default_bboxes`.

        Returns:
            coords (B, K, 2) in the box frame and visibility logits (B, K).
        """
        x = feats[-1]
        if x.dim() == 4:
            x = x.mean(dim=(2, 3))
        elif x.dim() != 2:
            raise ValueError('KPBBoxHead expects (B, C, H, W) or (B, C) '
                             f'features, got shape {tuple(x.shape)}')
        self.check_in_channels(x, self.in_channels, 'KPBBoxHead')
        if input_bboxes is None:
            input_bboxes = self.default_bboxes(x.shape[0], x)
        hidden = torch.relu(
            self.feature_fc(x) +
            self.box_fc(self.box_geometry(input_bboxes.to(x.dtype))))
        out = self.out_fc(hidden).view(-1, self.num_keypoints, 3)
        return out[..., :2], out[..., 2]

    def sample_input_bboxes(self, batch_data_samples: SampleList) -> np.ndarray:
        """(B, 4) each sample's person box (``gt_instances.bboxes``, the
        ground-truth or detector box in image pixels) in model-input
        pixels."""
        boxes: List[np.ndarray] = []
        for sample in batch_data_samples:
            if 'bboxes' not in sample.gt_instances:
                raise KeyError('KPBBoxHead.predict needs each data sample\'s '
                               'person box (gt_instances.bboxes, packed by '
                               'PackPoseInputs from results["bbox"])')
            meta = sample.metainfo
            boxes.append(
                self.decoder.bbox_to_input(
                    np.asarray(sample.gt_instances.bboxes)[:1],
                    meta['input_center'], meta['input_scale']))
        return np.concatenate(boxes).astype(np.float32)

    def predict(self,
                feats,
                batch_data_samples: OptSampleList,
                test_cfg: ConfigType = {}) -> Predictions:
        """Decode keypoints in model-input pixels with scores, relative to
        each sample's box; with ``test_cfg.flip_test`` average with the
        flipped input's prediction (made with the mirrored box).

        Returns:
            per-sample ``InstanceData`` with ``keypoints`` (1, K, 2) and
            ``keypoint_scores`` (1, K).
        """
        boxes_np = self.sample_input_bboxes(batch_data_samples)
        if test_cfg.get('flip_test', False):
            self.check_flip_feats(feats, 'KPBBoxHead')
            preds = self._predict_view(feats[0], boxes_np)
            boxes_flip = flip_bboxes_px(boxes_np, self.decoder.input_size[0])
            preds_flip = self._predict_view(feats[1], boxes_flip)
            return self.merge_flipped(preds, preds_flip, batch_data_samples)
        return self._predict_view(feats, boxes_np)

    def _predict_view(self, feats: Tuple[Tensor], boxes: np.ndarray):
        x = feats[-1]
        input_bboxes = torch.as_tensor(boxes, device=x.device, dtype=x.dtype)
        coords, logits = self.forward(feats, input_bboxes)
        return self.decode((coords, logits, input_bboxes))

    def forward_for_loss(self, feats: Tuple[Tensor],
                         batch_data_samples: SampleList
                         ) -> Tuple[Tensor, Tensor, Tensor]:
        """The training forward with the codec's boxes (``input_bboxes``);
        :meth:`KPBaseHead.loss` computes the losses and ``acc_pose``."""
        input_bboxes = self.gather_labels(batch_data_samples, 'input_bboxes')
        coords, visibility_logits = self.forward(feats, input_bboxes)
        return coords, visibility_logits, input_bboxes
