from typing import Tuple

from mmpose.registry import KEYPOINT_CODECS, MODELS
from mmpose.utils.typing import ConfigType, OptConfigType, OptSampleList, Predictions
from torch import Tensor, nn

from .base_head import KPBaseHead, LossConfigs


@MODELS.register_module()
class KPRegressionHead(KPBaseHead):
    """Approach 1: globally pooled features -> K coordinates + K visibility
    logits, one linear layer (DeepPose-style), in the frame of
    :class:`~kp_plugins.codecs.KPRegressionLabel`.

    Symbols: ``B`` batch, ``C`` feature channels, ``K`` keypoints,
    ``Hf x Wf`` feature map.

    Args:
        in_channels: ``C`` of the last feature map (B, C, Hf, Wf) or of
            already pooled features (B, C), e.g. after a
            ``GlobalAveragePooling`` neck.
        num_keypoints: ``K``.
        loss: coordinate loss config(s), each logged under its
            ``loss_name``: ``KPL1Loss``, ``KPMSELoss``, ``KPOKSLoss``...
        visibility_loss: loss on the visibility logits (``KPBCELoss``), or
            ``None``.
        decoder: the codec (``KPRegressionLabel``), needed to predict.
        init_cfg: initialisation config.
    """

    def __init__(self,
                 in_channels: int,
                 num_keypoints: int,
                 loss: LossConfigs = dict(type='KPL1Loss'),
                 visibility_loss: OptConfigType = dict(
                     type='KPBCELoss', loss_name='loss_visibility'),
                 decoder: OptConfigType = None,
                 init_cfg: OptConfigType = None) -> None:
        if init_cfg is None:
            init_cfg = [dict(type='Normal', layer=['Linear'], std=0.01,
                             bias=0)]
        super().__init__(init_cfg)
        self.in_channels = in_channels
        self.num_keypoints = num_keypoints
        self.coord_losses = self.build_losses(loss)
        self.visibility_losses = self.build_losses(visibility_loss)
        self.check_loss_names(self.coord_losses, self.visibility_losses)
        self.decoder = KEYPOINT_CODECS.build(decoder) if decoder else None
        self.fc = nn.Linear(in_channels, num_keypoints * 3)

    def forward(self, feats: Tuple[Tensor]) -> Tuple[Tensor, Tensor]:
        """
        Args:
            feats: backbone/neck features; the last one, (B, C, Hf, Wf) or
                (B, C), is used.

        Returns:
            coords (B, K, 2) in the codec's frame and visibility logits
            (B, K).
        """
        x = feats[-1]
        if x.dim() == 4:
            x = x.mean(dim=(2, 3))
        elif x.dim() != 2:
            raise ValueError('KPRegressionHead expects (B, C, H, W) or (B, C) '
                             f'features, got shape {tuple(x.shape)}')
        self.check_in_channels(x, self.in_channels, 'KPRegressionHead')
        out = self.fc(x).view(-1, self.num_keypoints, 3)
        return out[..., :2], out[..., 2]

    def predict(self,
                feats,
                batch_data_samples: OptSampleList,
                test_cfg: ConfigType = {}) -> Predictions:
        """Decode keypoints in model-input pixels with scores; with
        ``test_cfg.flip_test`` average with the flipped input's prediction.

        Returns:
            per-sample ``InstanceData`` with ``keypoints`` (1, K, 2) and
            ``keypoint_scores`` (1, K).
        """
        if test_cfg.get('flip_test', False):
            self.check_flip_feats(feats, 'KPRegressionHead')
            preds = self.decode(self.forward(feats[0]))
            preds_flip = self.decode(self.forward(feats[1]))
            return self.merge_flipped(preds, preds_flip, batch_data_samples)
        return self.decode(self.forward(feats))
