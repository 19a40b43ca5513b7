from typing import Optional, Tuple

import numpy as np
import torch
from mmcv.cnn import ConvModule
import torch.nn.functional as F
from torch import Tensor, nn

from mmpose.registry import KEYPOINT_CODECS, MODELS
from mmpose.utils.typing import (ConfigType, OptConfigType, OptSampleList,
                                 Predictions)
from kp_plugins.utils.flip import flip_grid_outputs
from .base_head import KPBaseHead, LossConfigs


@MODELS.register_module()
class KPGridHead(KPBaseHead):
    """Approach 2: per keypoint, which grid cell holds it (presence logits)
    and where inside that cell (offsets), from a light convolutional head.

    No deconvolution stack: a 1x1 conv reduces the stride-``in_stride``
    feature map to ``feat_channels``; with ``fuse_in_channels`` the reduced
    map is upsampled x2 (nearest) and added to a 1x1 projection of the
    previous, stride-``in_stride / 2`` feature map (one FPN-style top-down
    step, so cells see finer features); one conv then predicts
    ``3 * K * ry * rx`` channels, and a pixel shuffle rearranges them into
    the ``Gh x Gw`` grid (``rx = S / cell_w``, ``ry = S / cell_h`` with
    ``S`` the stride of the map the prediction conv runs on), so each
    feature vector predicts its ``ry x rx`` block of cells.

    Presence is trained either per cell with ``KPBCELoss`` (sigmoid; every
    keypoint counts, so an unlabelled or out-of-input keypoint teaches "no
    cell") or over the cells with ``KPSoftmaxCELoss`` (softmax; the cells
    compete for each labelled keypoint). The target is the true cell
    (``presence_sigma=0``) or a Gaussian of ``presence_sigma`` cells around
    the keypoint's exact position, peak 1 (the cell-level analogue of a
    heatmap target). A keypoint's score is its best cell's probability under
    the same normalization. The configs' choice (fusion, 3x3 conv, softmax
    CE, ``presence_sigma=1``) and its measured effect: README, "Benchmark".

    Symbols: ``B`` batch, ``C`` in_channels, ``K`` keypoints, feature map
    ``Hf x Wf``, grid ``Gh x Gw = Hf * ry x Wf * rx``, ``G = Gh * Gw``.

    Args:
        in_channels: ``C`` of the last feature map.
        num_keypoints: ``K``.
        decoder: the codec, a ``KPGridLabel`` config (required: it defines
            the grid).
        in_stride: stride of the last feature map w.r.t. the input (32 for
            ResNet's last stage).
        feat_channels: width after the 1x1 reduction (0 = no reduction;
            required with ``fuse_in_channels``).
        kernel_size: kernel of the prediction conv (1 or 3).
        fuse_in_channels: channels of the second-to-last feature map (at
            stride ``in_stride / 2``) to fuse in, or ``None`` to use the last
            map only.
        presence_loss: loss on the (B, K, G) presence logits against the
            (B, K, G) cell target: ``KPBCELoss`` or ``KPSoftmaxCELoss``.
        offset_loss: loss on the in-cell offsets (``KPL1Loss``) of the true
            cell and of its neighbours within ``offset_radius`` cells (their
            targets are the same point expressed from that cell), so a
            neighbouring argmax still decodes well.
        coord_loss: optional loss(es) on coordinates decoded softly
            (expectation over the cells' softmax), e.g. ``KPOKSLoss``.
        offset_radius: neighbourhood radius for the offset loss (0 = the
            true cell only).
        presence_sigma: standard deviation, in cells, of the Gaussian
            presence target (0 = one-hot true cell).
        init_cfg: initialisation config.
    """

    def __init__(self,
                 in_channels: int,
                 num_keypoints: int,
                 decoder: ConfigType,
                 in_stride: int = 32,
                 feat_channels: int = 128,
                 kernel_size: int = 1,
                 fuse_in_channels: Optional[int] = None,
                 presence_loss: LossConfigs = dict(
                     type='KPBCELoss', loss_name='loss_presence'),
                 offset_loss: LossConfigs = dict(
                     type='KPL1Loss', loss_name='loss_offset'),
                 coord_loss: LossConfigs = None,
                 offset_radius: int = 1,
                 presence_sigma: float = 0.0,
                 init_cfg: OptConfigType = None) -> None:
        if init_cfg is None:
            init_cfg = [
                dict(type='Normal', layer=['Conv2d'], std=0.01, bias=0),
                dict(type='Constant', layer='BatchNorm2d', val=1)
            ]
        super().__init__(init_cfg)
        if decoder is None:
            raise ValueError('KPGridHead needs decoder=dict(type='
                             '"KPGridLabel", ...): the codec defines the grid')
        self.decoder = KEYPOINT_CODECS.build(decoder)
        if not hasattr(self.decoder, 'grid_size'):
            raise TypeError('KPGridHead needs a KPGridLabel decoder, got '
                            f'{type(self.decoder).__name__}')
        self.in_channels = in_channels
        self.num_keypoints = num_keypoints
        if fuse_in_channels is not None:
            if not feat_channels:
                raise ValueError('KPGridHead: fuse_in_channels needs '
                                 'feat_channels > 0 (the fused width)')
            if in_stride % 2:
                raise ValueError('KPGridHead: fuse_in_channels needs an even '
                                 f'in_stride, got {in_stride}')
        self.fuse_in_channels = fuse_in_channels
        pred_stride = in_stride // 2 if fuse_in_channels else in_stride
        self.pred_stride = pred_stride
        cell_w, cell_h = self.decoder.cell_size
        if pred_stride % cell_w or pred_stride % cell_h:
            raise ValueError(
                f'KPGridHead: cells of {cell_w}x{cell_h} input pixels (grid '
                f'{self.decoder.grid_size} on input {self.decoder.input_size}'
                f') do not tile the stride-{pred_stride} feature map; choose a '
                f'grid whose cell size divides {pred_stride}')
        self.upscale = (pred_stride // cell_w, pred_stride // cell_h)  # rx, ry
        if kernel_size not in (1, 3):
            raise ValueError(f'kernel_size must be 1 or 3, got {kernel_size}')
        if offset_radius < 0:
            raise ValueError(f'offset_radius must be >= 0, got {offset_radius}')
        if not presence_sigma >= 0:
            raise ValueError(
                f'presence_sigma must be >= 0 (cells), got {presence_sigma}')
        self.offset_radius = offset_radius
        self.presence_sigma = float(presence_sigma)

        if feat_channels:
            self.reduce = ConvModule(in_channels, feat_channels, 1,
                                     norm_cfg=dict(type='BN'))
        else:
            self.reduce = nn.Identity()
            feat_channels = in_channels
        if fuse_in_channels:
            self.lateral = ConvModule(fuse_in_channels, feat_channels, 1,
                                      norm_cfg=dict(type='BN'), act_cfg=None)
            self.fuse_act = nn.ReLU(inplace=True)
        rx, ry = self.upscale
        self.predict_conv = nn.Conv2d(
            feat_channels, 3 * num_keypoints * rx * ry, kernel_size,
            padding=kernel_size // 2)

        self.presence_losses = self.build_losses(presence_loss)
        self.offset_losses = self.build_losses(offset_loss)
        self.coord_losses = self.build_losses(coord_loss)
        self.check_loss_names(self.presence_losses, self.offset_losses,
                              self.coord_losses)
        norms = {getattr(loss, 'normalization', None)
                 for loss in self.presence_losses}
        if len(self.presence_losses) == 0 or None in norms or len(norms) > 1:
            raise ValueError(
                'KPGridHead: presence_loss must be KPBCELoss (sigmoid per '
                'cell) or KPSoftmaxCELoss (softmax over cells), not '
                f'{[type(x).__name__ for x in self.presence_losses]}')
        self.presence_normalization = norms.pop()

    def init_weights(self) -> None:
        """Init from ``init_cfg``, then start offsets at the cell centre."""
        super().init_weights()
        rx, ry = self.upscale
        bias = self.predict_conv.bias.data.view(self.num_keypoints, 3,
                                                ry * rx)
        bias[:, 1:] = 0.5

    def forward(self, feats: Tuple[Tensor]) -> Tuple[Tensor, Tensor]:
        """
        Args:
            feats: backbone/neck features; the last one (B, C, H, W) is
                used, and with ``fuse_in_channels`` also the one before it
                (B, C', 2H, 2W).

        Returns:
            presence logits (B, K, Gh, Gw) and offsets (B, K, 2, Gh, Gw) in
            cell units.
        """
        x = feats[-1]
        if x.dim() != 4:
            raise ValueError('KPGridHead expects (B, C, H, W) features, got '
                             f'shape {tuple(x.shape)}')
        self.check_in_channels(x, self.in_channels, 'KPGridHead')
        x = self.reduce(x)
        if self.fuse_in_channels:
            if len(feats) < 2:
                raise ValueError(
                    'KPGridHead with fuse_in_channels needs two feature maps '
                    f'(strides {self.pred_stride} and {2 * self.pred_stride}),'
                    f' got {len(feats)}; set the backbone\'s out_indices to '
                    'both layers')
            lat = feats[-2]
            if lat.dim() != 4 or lat.shape[1] != self.fuse_in_channels:
                raise ValueError(
                    f'KPGridHead was built with fuse_in_channels='
                    f'{self.fuse_in_channels} but the second-to-last feature '
                    f'map has shape {tuple(lat.shape)}; set '
                    'head.fuse_in_channels to its channel count')
            if lat.shape[-2:] != (2 * x.shape[-2], 2 * x.shape[-1]):
                raise ValueError(
                    f'KPGridHead: the fused map is {tuple(lat.shape[-2:])}, '
                    f'not twice the last map {tuple(x.shape[-2:])}; the two '
                    'feature maps must be at strides S/2 and S')
            x = self.fuse_act(
                F.interpolate(x, scale_factor=2, mode='nearest') +
                self.lateral(lat))
        b, _, hf, wf = x.shape
        rx, ry = self.upscale
        gw, gh = self.decoder.grid_size
        if (hf * ry, wf * rx) != (gh, gw):
            raise ValueError(
                f'KPGridHead: a {hf}x{wf} feature map upscaled by {ry}x{rx} '
                f'gives a {hf * ry}x{wf * rx} grid, not the codec\'s '
                f'{gh}x{gw} (H x W); is in_stride right for this backbone '
                'and input size?')
        out = self.predict_conv(x)
        k = self.num_keypoints
        # (B, K*3*ry*rx, Hf, Wf) -> (B, K, 3, Hf*ry, Wf*rx)
        out = out.view(b, k, 3, ry, rx, hf, wf).permute(0, 1, 2, 5, 3, 6, 4)
        out = out.reshape(b, k, 3, gh, gw)
        return out[:, :, 0], out[:, :, 1:]

    def predict(self,
                feats,
                batch_data_samples: OptSampleList,
                test_cfg: ConfigType = {}) -> Predictions:
        """Best cell + offset in model-input pixels, scored by the cell's
        presence probability; with ``test_cfg.flip_test`` the flipped
        input's maps are mapped back and averaged before decoding.

        Returns:
            per-sample ``InstanceData`` with ``keypoints`` (1, K, 2) and
            ``keypoint_scores`` (1, K).
        """
        if test_cfg.get('flip_test', False):
            self.check_flip_feats(feats, 'KPGridHead')
            presence, offsets = self.forward(feats[0])
            presence_flip, offsets_flip = flip_grid_outputs(
                *self.forward(feats[1]),
                batch_data_samples[0].metainfo['flip_indices'],
                self.decoder.cell_size[0])
            presence = (presence + presence_flip) * 0.5
            offsets = (offsets + offsets_flip) * 0.5
        else:
            presence, offsets = self.forward(feats)
        preds = self.decode((presence, offsets))
        if self.presence_normalization == 'softmax':
            # The cell comes from the logits themselves (a transform of them
            # to sigmoid-logits would round near-equal cells to ties); the
            # score is the best cell's softmax probability.
            best_probs = presence.detach().flatten(2).softmax(dim=-1).amax(dim=-1)
            for pred, probs in zip(preds, best_probs.cpu().numpy()):
                pred.keypoint_scores = probs[None].astype(np.float32)
        return preds

    @staticmethod
    def cell_xy(gh: int, gw: int, like: Tensor) -> Tensor:
        """(G, 2) ``(x, y)`` index of every cell in row-major (flat) order,
        on ``like``'s device and dtype."""
        ys, xs = torch.meshgrid(
            torch.arange(gh, device=like.device, dtype=like.dtype),
            torch.arange(gw, device=like.device, dtype=like.dtype),
            indexing='ij')
        return torch.stack([xs.flatten(), ys.flatten()], dim=-1)

    def presence_targets(self, cells: Tensor, offsets: Tensor,
                         weights: Tensor, grid_shape: Tuple[int, int]
                         ) -> Tensor:
        """(B, K, G) presence targets: one-hot true cell, or a Gaussian of
        ``presence_sigma`` cells around the keypoint's exact position
        (``cell + offset``) scaled to peak 1; all zero where the weight is 0.

        Args:
            cells: (B, K) flat true-cell index.
            offsets: (B, K, 2) offset in the true cell (cell units).
            weights: (B, K).
            grid_shape: ``(Gh, Gw)``.
        """
        gh, gw = grid_shape
        valid = (weights > 0)[..., None]
        if self.presence_sigma == 0:
            target = torch.zeros(*cells.shape, gh * gw, dtype=offsets.dtype,
                                 device=offsets.device)
            target.scatter_(-1, cells[..., None], 1.0)
            return target * valid.to(target.dtype)
        point = torch.stack([cells % gw, cells // gw], dim=-1).to(
            offsets.dtype) + offsets  # (B, K, 2), cell units
        centres = self.cell_xy(gh, gw, offsets).view(1, 1, -1, 2) + 0.5
        d2 = ((centres - point[:, :, None]) ** 2).sum(dim=-1)  # (B, K, G)
        target = torch.exp(-d2 / (2 * self.presence_sigma ** 2))
        peak = target.amax(dim=-1, keepdim=True).clamp(
            min=torch.finfo(target.dtype).tiny)
        return torch.where(valid, target / peak, torch.zeros_like(target))

    def soft_decode(self, presence: Tensor, offsets: Tensor) -> Tensor:
        """Differentiable keypoints (B, K, 2) in model-input pixels: the
        expectation of ``(cell + offset) * cell_size`` under the softmax of
        the presence logits over the cells."""
        b, k, gh, gw = presence.shape
        probs = presence.flatten(2).softmax(dim=-1)  # (B, K, G)
        cells = self.cell_xy(gh, gw, presence).t()  # (2, G)
        points = (cells + offsets.flatten(3)) * offsets.new_tensor(
            self.decoder.cell_size)[:, None]  # (B, K, 2, G)
        return (points * probs[:, :, None]).sum(dim=-1)

    def offset_targets(self, cells: Tensor, offsets: Tensor, weights: Tensor
                       ) -> Tuple[Tensor, Tensor, Tensor]:
        """Offset targets on the true cell and its neighbours.

        Args:
            cells: (B, K) flat true-cell index.
            offsets: (B, K, 2) offset in the true cell.
            weights: (B, K).

        Returns:
            flat cell indices (B, K, M), targets (B, K, M, 2) and weights
            (B, K, M) for ``M = (2 * offset_radius + 1)^2`` cells (weight 0
            for neighbours outside the grid).
        """
        gw, gh = self.decoder.grid_size
        r = self.offset_radius
        steps = torch.arange(-r, r + 1, device=cells.device)
        dy, dx = torch.meshgrid(steps, steps, indexing='ij')
        shift = torch.stack([dx.flatten(), dy.flatten()], dim=-1)  # (M, 2)
        cell_xy = torch.stack([cells % gw, cells // gw], dim=-1)  # (B, K, 2)
        near_xy = cell_xy[:, :, None] + shift  # (B, K, M, 2)
        inside = ((near_xy >= 0) &
                  (near_xy < near_xy.new_tensor([gw, gh]))).all(dim=-1)
        near_xy = torch.where(inside[..., None], near_xy,
                              cell_xy[:, :, None].expand_as(near_xy))
        targets = offsets[:, :, None] - shift.to(offsets.dtype)
        near_weights = weights[:, :, None] * inside.to(weights.dtype)
        return near_xy[..., 1] * gw + near_xy[..., 0], targets, near_weights

    def loss(self,
             feats: Tuple[Tensor],
             batch_data_samples: OptSampleList,
             train_cfg: ConfigType = {}) -> dict:
        """Presence, offset and optional decoded-coordinate losses, and
        ``acc_pose``."""
        presence, offsets = self.forward(feats)
        b, k, gh, gw = presence.shape
        cells = self.gather_labels(batch_data_samples, 'keypoint_cells').long()
        cell_offsets = self.gather_labels(batch_data_samples,
                                          'keypoint_offsets')
        weights = self.gather_labels(batch_data_samples, 'keypoint_weights')
        labels = self.gather_labels(batch_data_samples, 'keypoint_labels')

        presence_flat = presence.flatten(2)
        presence_target = self.presence_targets(
            cells, cell_offsets.to(presence.dtype), weights, (gh, gw))
        losses = {
            loss.loss_name: loss(presence_flat, presence_target)
            for loss in self.presence_losses
        }

        near_cells, near_targets, near_weights = self.offset_targets(
            cells, cell_offsets, weights)
        m = near_cells.shape[-1]
        pred_offsets = offsets.flatten(3).gather(
            -1, near_cells.view(b, k, 1, m).expand(-1, -1, 2, -1))
        pred_offsets = pred_offsets.permute(0, 1, 3, 2).reshape(b, k * m, 2)
        for loss in self.offset_losses:
            losses[loss.loss_name] = loss(pred_offsets,
                                          near_targets.reshape(b, k * m, 2),
                                          near_weights.reshape(b, k * m))

        if len(self.coord_losses):
            areas = None
            if any(getattr(x, 'requires_area', False)
                   for x in self.coord_losses):
                areas = self.gather_labels(batch_data_samples, 'areas',
                                           'needed by the OKS loss')
            losses.update(
                self.coordinate_losses(self.coord_losses,
                                       self.soft_decode(presence, offsets),
                                       labels, weights, areas))

        pred_px, _ = self.decoder.batch_decode(presence, offsets)
        losses['acc_pose'] = self.pck_accuracy(
            np.concatenate(pred_px),
            labels.cpu().numpy(), (weights > 0).cpu().numpy(),
            self.decoder.input_size, presence.device)
        return losses
