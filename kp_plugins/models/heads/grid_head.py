import logging
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.logging import print_log
from mmpose.registry import KEYPOINT_CODECS, MODELS
from mmpose.utils.typing import ConfigType, OptConfigType, OptSampleList, Predictions
from torch import Tensor, nn

from kp_plugins.utils.flip import flip_grid_outputs

from .base_head import KPBaseHead, LossConfigs

#: Arguments that moved from ``KPGridHead`` to its codec ``KPGridLabel``
#: (kp_plugins 0.2: the codec builds the whole target).
MOVED_TO_CODEC = ('presence_sigma', 'offset_radius')


def fold_batch_norm(module: ConvModule) -> None:
    """Fold the BatchNorm of a ``ConvModule`` (conv -> norm order) into its
    conv and drop it: ``w' = w * g / sqrt(v + eps)``, ``b' = (b - m) * g /
    sqrt(v + eps) + beta`` with the running mean ``m`` and variance ``v``
    (computed in float64), so the module computes its eval-mode output with
    one convolution. A module without a norm is left as it is.

    Raises:
        ValueError: a norm that is not a BatchNorm with running statistics
            and affine parameters, or that does not follow the conv.
    """
    if not module.with_norm:
        return
    bn, conv = module.norm, module.conv
    if not isinstance(bn, nn.modules.batchnorm._BatchNorm) or \
            bn.running_mean is None or not bn.affine or \
            tuple(module.order[:2]) != ('conv', 'norm'):
        raise ValueError(
            f'cannot fold {type(bn).__name__} (order {module.order}) into '
            'its conv: only a BatchNorm with running statistics and affine '
            'parameters right after the conv folds')
    scale = bn.weight.double() / (bn.running_var.double() + bn.eps).sqrt()
    bias = conv.bias.double() if conv.bias is not None else torch.zeros_like(
        scale)
    weight = conv.weight.double() * scale.view(-1, *[1] * (conv.weight.dim() - 1))
    bias = (bias - bn.running_mean.double()) * scale + bn.bias.double()
    dtype = conv.weight.dtype
    conv.weight = nn.Parameter(weight.to(dtype), conv.weight.requires_grad)
    conv.bias = nn.Parameter(bias.to(dtype), conv.weight.requires_grad)
    delattr(module, module.norm_name)
    module.norm_name = None
    module.with_norm = False


@MODELS.register_module()
class KPGridHead(KPBaseHead):
    """Approach 2: per keypoint, which grid cell holds it (presence logits)
    and where inside that cell (offsets), from a light convolutional head.

    No deconvolution stack: a 1x1 conv reduces the stride-``in_stride``
    feature map to ``feat_channels``; with ``fuse_in_channels`` the reduced
    map is upsampled x2 (nearest) and added to a 1x1 projection of the
    previous, stride-``in_stride / 2`` feature map (one FPN-style top-down
    step, so cells see finer features); the prediction conv then gives
    ``3 * K * ry * rx`` channels and a pixel shuffle rearranges them into
    the ``Gh x Gw`` grid (``rx = S / cell_w``, ``ry = S / cell_h`` with
    ``S`` the stride of the map it runs on), so each feature vector
    predicts its ``ry x rx`` block of cells. The prediction conv is a 1x1
    conv, a 3x3 conv, or (``depthwise=True``, the default) a 3x3 depthwise
    conv followed by the 1x1 conv: the 3x3 context at a fraction of the
    cost.

    The codec (``KPGridLabel``) builds every target (presence over the
    cells, offsets of the true cell and its neighbours, weights) and owns
    the decode; this head predicts, applies its losses to what the codec
    encoded and calls the codec to decode. Presence is trained over the
    cells with ``KPSoftmaxCELoss`` (the default: the cells compete for each
    labelled keypoint) or per cell with ``KPBCELoss`` (an unlabelled or
    out-of-input keypoint then teaches "no cell"); the codec's
    ``presence_normalization`` must name the same choice. The defaults are
    the recommended recipe (docs/benchmark.md); ``fuse_in_channels``
    depends on the backbone and has no default.

    Symbols: ``B`` batch, ``C`` in_channels, ``K`` keypoints, feature map
    ``Hf x Wf``, grid ``Gh x Gw = Hf * ry x Wf * rx``, ``G = Gh * Gw``,
    ``M`` offset neighbourhood cells.

    Args:
        in_channels: ``C`` of the last feature map.
        num_keypoints: ``K``.
        decoder: the codec, a ``KPGridLabel`` config (required: it defines
            the grid and the targets).
        in_stride: stride of the last feature map w.r.t. the input (32 for
            ResNet's last stage).
        feat_channels: width after the 1x1 reduction (0 = no reduction;
            required with ``fuse_in_channels``).
        kernel_size: kernel of the prediction conv (1 or 3).
        depthwise: with ``kernel_size=3``, a depthwise 3x3 conv + 1x1 conv
            instead of a full 3x3 conv.
        fuse_in_channels: channels of the second-to-last feature map (at
            stride ``in_stride / 2``) to fuse in, or ``None`` to use the last
            map only.
        presence_loss: loss on the (B, K, G) presence logits against the
            codec's (B, K, G) ``presence_target``: ``KPSoftmaxCELoss`` or
            ``KPBCELoss``.
        offset_loss: loss on the in-cell offsets (``KPL1Loss``) of the
            cells the codec lists in ``offset_cells``.
        coord_loss: loss(es) on coordinates decoded softly (expectation
            over the cells' softmax, ``KPGridLabel.soft_decode``), e.g.
            ``KPOKSLoss``; ``None`` for none.
        init_cfg: initialisation config.
    """

    raw_output_names = ('presence', 'offsets')
    #: set by :meth:`switch_to_deploy` (BatchNorm folded, no training)
    deployed = False
    _version = 2  # 2: pixel-centre cells (kp_plugins 0.2); see _load_from_state_dict

    def __init__(self,
                 in_channels: int,
                 num_keypoints: int,
                 decoder: ConfigType,
                 in_stride: int = 32,
                 feat_channels: int = 128,
                 kernel_size: int = 3,
                 depthwise: bool = True,
                 fuse_in_channels: Optional[int] = None,
                 presence_loss: LossConfigs = dict(
                     type='KPSoftmaxCELoss', loss_name='loss_presence'),
                 offset_loss: LossConfigs = dict(
                     type='KPL1Loss', loss_name='loss_offset'),
                 coord_loss: LossConfigs = dict(
                     type='KPOKSLoss', mode='linear', loss_name='loss_oks'),
                 init_cfg: OptConfigType = None,
                 **kwargs) -> None:
        moved = [k for k in MOVED_TO_CODEC if k in kwargs]
        if moved:
            raise TypeError(
                f'KPGridHead: {", ".join(moved)} moved to the codec in '
                'kp_plugins 0.2 (it builds the whole target): set '
                + ', '.join(f'{k}=...' for k in moved) +
                ' in the KPGridLabel config (the `codec` used by both '
                'GenerateTarget and head.decoder) instead of in the head')
        if kwargs:
            raise TypeError('KPGridHead got unexpected arguments '
                            f'{sorted(kwargs)}')
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
        out_channels = 3 * num_keypoints * rx * ry
        self.depthwise = bool(depthwise and kernel_size == 3)
        if self.depthwise:
            self.predict_dw = nn.Conv2d(feat_channels, feat_channels, 3,
                                        padding=1, groups=feat_channels)
            self.predict_conv = nn.Conv2d(feat_channels, out_channels, 1)
        else:
            self.predict_conv = nn.Conv2d(feat_channels, out_channels,
                                          kernel_size,
                                          padding=kernel_size // 2)

        self.presence_losses = self.build_losses(presence_loss)
        self.offset_losses = self.build_losses(offset_loss)
        self.coord_losses = self.build_losses(coord_loss)
        self.check_loss_names(self.presence_losses, self.offset_losses,
                              self.coord_losses)
        norms = {loss.normalization
                 for loss in self.presence_losses}
        if len(self.presence_losses) == 0 or None in norms or len(norms) > 1:
            raise ValueError(
                'KPGridHead: presence_loss must be KPSoftmaxCELoss (softmax '
                'over cells) or KPBCELoss (sigmoid per cell), not '
                f'{[type(x).__name__ for x in self.presence_losses]}')
        self.presence_normalization = norms.pop()
        if self.presence_normalization != self.decoder.presence_normalization:
            raise ValueError(
                f'KPGridHead: presence_loss '
                f'{type(self.presence_losses[0]).__name__} trains a '
                f'{self.presence_normalization} over the presence logits, but '
                'the codec decodes them as a '
                f'{self.decoder.presence_normalization}: set '
                f"presence_normalization='{self.presence_normalization}' in "
                'the KPGridLabel config')

    def offset_bias(self, bias: Tensor) -> Tensor:
        """View of the prediction conv's (K * 3 * ry * rx) bias as
        (K, 2, ry * rx): the offset channels."""
        rx, ry = self.upscale
        return bias.view(self.num_keypoints, 3, ry * rx)[:, 1:]

    def init_weights(self) -> None:
        """Init from ``init_cfg``, then start offsets at the cell centre and
        the depthwise conv near the identity (centre tap 1): with two small
        random factors in a row the prediction would start at ~0 with ~0
        gradients."""
        super().init_weights()
        self.offset_bias(self.predict_conv.bias.data)[:] = 0.5
        if self.depthwise:
            self.predict_dw.weight.data[:, :, 1, 1] += 1.0

    def _load_from_state_dict(self, state_dict, prefix, local_metadata,
                              *args, **kwargs) -> None:
        """Load a checkpoint saved before kp_plugins 0.2 (state-dict version
        1), whose cells were ``[g * cw, (g + 1) * cw)``: the cells now start
        half a pixel earlier, so ``cw / 2`` pixels are added to its offset
        biases (``0.5 / cw`` grid units), which makes the argmax decode give
        exactly the old checkpoint's keypoints."""
        weight = state_dict.get(prefix + 'predict_conv.weight')
        if weight is not None and weight.shape != self.predict_conv.weight.shape:
            saved = dict(feat_channels=int(weight.shape[1]),
                         kernel_size=int(weight.shape[-1]),
                         depthwise=prefix + 'predict_dw.weight' in state_dict)
            raise ValueError(
                f'KPGridHead: the checkpoint\'s prediction conv '
                f'{tuple(weight.shape)} does not fit this head '
                f'{tuple(self.predict_conv.weight.shape)}: it was saved by a '
                f'head with {saved} (before kp_plugins 0.2 the grid configs '
                'used feat_channels=256, kernel_size=3, depthwise=False; the '
                'defaults are now 128, 3, True); set these in model.head')
        key = prefix + 'predict_conv.bias'
        version = local_metadata.get('version', None)
        if (version is None or version < 2) and key in state_dict and \
                state_dict[key].shape == self.predict_conv.bias.shape:
            bias = state_dict[key].clone()
            view = self.offset_bias(bias)
            cw, ch = self.decoder.cell_size
            view[:, 0] += 0.5 / cw
            view[:, 1] += 0.5 / ch
            state_dict[key] = bias
            print_log('KPGridHead: checkpoint from before kp_plugins 0.2 '
                      '(cells [g*cw, (g+1)*cw)); offset biases shifted by half '
                      'a pixel to the pixel-centre cells, predictions are '
                      'unchanged', logger='current', level=logging.WARNING)
        super()._load_from_state_dict(state_dict, prefix, local_metadata,
                                      *args, **kwargs)

    def forward(self, feats: Tuple[Tensor]) -> Tuple[Tensor, Tensor]:
        """
        Args:
            feats: backbone/neck features; the last one (B, C, H, W) is
                used, and with ``fuse_in_channels`` also the one before it
                (B, C', 2H, 2W).

        Returns:
            presence logits (B, K, Gh, Gw) and offsets (B, K, 2, Gh, Gw) in
            grid units (``KPGridLabel``).
        """
        return self.unpack(self.forward_packed(feats))

    def forward_packed(self, feats: Tuple[Tensor]) -> Tensor:
        """The prediction conv's output, before the pixel shuffle.

        Args:
            feats: as :meth:`forward`.

        Returns:
            (B, K * 3 * ry * rx, Hf, Wf), the layout
            ``KPGridLabel.decode_packed_tensors`` decodes (:meth:`unpack`
            shuffles it into the grid maps).
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
        hf, wf = x.shape[-2:]
        rx, ry = self.upscale
        gw, gh = self.decoder.grid_size
        if (hf * ry, wf * rx) != (gh, gw):
            raise ValueError(
                f'KPGridHead: a {hf}x{wf} feature map upscaled by {ry}x{rx} '
                f'gives a {hf * ry}x{wf * rx} grid, not the codec\'s '
                f'{gh}x{gw} (H x W); is in_stride right for this backbone '
                'and input size?')
        if self.depthwise:
            x = self.predict_dw(x)
        return self.predict_conv(x)

    def unpack(self, packed: Tensor) -> Tuple[Tensor, Tensor]:
        """The pixel shuffle: (B, K * 3 * ry * rx, Hf, Wf) from
        :meth:`forward_packed` -> presence logits (B, K, Gh, Gw) and offsets
        (B, K, 2, Gh, Gw)."""
        b, _, hf, wf = packed.shape
        rx, ry = self.upscale
        k = self.num_keypoints
        # (B, K*3*ry*rx, Hf, Wf) -> (B, K, 3, Hf*ry, Wf*rx)
        out = packed.view(b, k, 3, ry, rx, hf, wf).permute(0, 1, 2, 5, 3, 6, 4)
        out = out.reshape(b, k, 3, hf * ry, wf * rx)
        return out[:, :, 0], out[:, :, 1:]

    def predict_tensors(self, feats: Tuple[Tensor]) -> Tuple[Tensor, Tensor]:
        """Keypoints and scores straight from the features (flip test off):
        the codec decodes the prediction conv's output without the pixel
        shuffle (``KPGridLabel.decode_packed_tensors``). What :meth:`predict`
        runs without flip test and what an ONNX graph with the decode
        computes (:mod:`kp_plugins.deploy.decode`).

        Returns:
            keypoints (B, K, 2) in model-input pixels and scores (B, K).
        """
        return self.decoder.decode_packed_tensors(self.forward_packed(feats))

    def switch_to_deploy(self, test_cfg: OptConfigType = None) -> None:
        """Inference form (MMPose's ``BasePoseEstimator.switch_to_deploy``
        calls it, as mmdeploy does before an export): the BatchNorm of the
        1x1 reduction and of the lateral projection is folded into their
        convolutions (their eval-mode running statistics, so the outputs
        stay those of the eval-mode head up to float rounding) and dropped.
        Idempotent; the head can no longer be trained (``train()`` raises).
        ``test_cfg`` is not used.
        """
        if self.deployed:
            return
        super().train(False)
        for module in (self.reduce, getattr(self, 'lateral', None)):
            if isinstance(module, ConvModule):
                fold_batch_norm(module)
        self.deployed = True

    def train(self, mode: bool = True) -> 'KPGridHead':
        """``nn.Module.train``; refused after :meth:`switch_to_deploy`."""
        if mode and self.deployed:
            raise RuntimeError(
                'KPGridHead was switched to deploy mode (switch_to_deploy: '
                'BatchNorm folded into the convolutions) and cannot be '
                'trained; build the model again from its config and '
                'checkpoint to train it')
        return super().train(mode)

    def predict(self,
                feats,
                batch_data_samples: OptSampleList,
                test_cfg: ConfigType = {}) -> Predictions:
        """Best cell + offset in model-input pixels, scored as the codec's
        docstring says (softmax mass around the best cell); with
        ``test_cfg.flip_test`` the flipped input's maps are mapped back and
        averaged before decoding, without it the codec decodes the packed
        prediction (:meth:`predict_tensors`).

        Returns:
            per-sample ``InstanceData`` with ``keypoints`` (1, K, 2) and
            ``keypoint_scores`` (1, K).
        """
        if test_cfg.get('flip_test', False):
            self.check_flip_feats(feats, 'KPGridHead')
            presence, offsets = self.forward(feats[0])
            presence_flip, offsets_flip = flip_grid_outputs(
                *self.forward(feats[1]),
                batch_data_samples[0].metainfo['flip_indices'])
            presence = (presence + presence_flip) * 0.5
            offsets = (offsets + offsets_flip) * 0.5
            return self.decode((presence, offsets))
        return self.decode(self.forward_packed(feats))  # no pixel shuffle

    def loss(self,
             feats: Tuple[Tensor],
             batch_data_samples: OptSampleList,
             train_cfg: ConfigType = {}) -> dict:
        """Presence, offset and optional decoded-coordinate losses, and
        ``acc_pose``, against the codec's packed ``grid_targets`` read back
        by ``KPGridLabel.unpack`` (which builds the presence target).
        ``acc_pose`` is MMPose's (PCK@0.05 of the input size) of the
        argmax decode without scores (``KPGridLabel.decode_keypoints``)."""
        presence, offsets = self.forward(feats)
        b, k = presence.shape[:2]
        targets = self.decoder.unpack(
            self.gather_labels(batch_data_samples, 'grid_targets'))
        weights = targets['keypoint_weights']
        labels = targets['keypoint_labels']
        presence_target = targets['presence_target']
        losses = {
            loss.loss_name: loss(presence.flatten(2),
                                 presence_target.to(presence.dtype))
            for loss in self.presence_losses
        }

        near_cells = targets['offset_cells']
        near_targets = targets['offset_targets']
        near_weights = targets['offset_weights']
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
            if any(x.requires_area
                   for x in self.coord_losses):
                areas = self.gather_labels(batch_data_samples, 'areas',
                                           'needed by the OKS loss')
            losses.update(
                self.coordinate_losses(
                    self.coord_losses,
                    self.decoder.soft_decode(presence, offsets), labels,
                    weights, areas))

        pred_px = self.decoder.decode_keypoints(presence.detach(),
                                                offsets.detach())
        losses['acc_pose'] = self.pck_accuracy(
            pred_px.cpu().numpy(), labels.cpu().numpy(),
            (weights > 0).cpu().numpy(), self.decoder.input_size,
            presence.device)
        return losses
