"""The one list of keypoint approaches: each one's head, codec, configs and
benchmark entry.

Everything that goes over the approaches reads :data:`APPROACHES`:
``tools/benchmark.py`` (its entries, :mod:`kp_plugins.benchmark.entries`),
``tools/benchmark_heads.py`` (the ResNet-50 configs), the config tests
(``tests/test_models/test_approach_configs.py``,
``test_effl0_approach_configs.py``), the train/test tool test
(``tests/test_tools/test_approach_train_test.py``) and the deployment tests.
A new approach is one :class:`Approach` line here (or one
:func:`register_approach` call from outside the package).
"""
import os.path as osp
from typing import Dict, List, NamedTuple, Optional, Tuple

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = osp.join(REPO_ROOT, 'configs')
BENCHMARK_CONFIGS = osp.join(CONFIGS, 'benchmark')
MMPOSE_RES50 = 'mmpose::body_2d_keypoint/'
#: The accuracy protocols of the benchmark: each top-down approach has an
#: EfficientNet-Lite0 config for each (``Approach.configs``).
PROTOCOLS = ('128x96', '256x192')


class Approach(NamedTuple):
    """One approach: a head with its codec, its configs, and its benchmark
    entry.

    Attributes:
        name: the benchmark's ``--entries`` name (the head class; ``YOLO``
            for approach 5).
        approach: which of the five approaches (``regression``, ``grid``,
            ``bbox``, ``heatmap``, ``yolo``), or ``mmpose`` for a reference
            head of MMPose's.
        description: one line for the benchmark table.
        configs: protocol name (``128x96``, ``256x192``) -> top-down config
            on EfficientNet-Lite0 (trained by the benchmark, checked by
            ``test_effl0_approach_configs.py``); a bottom-up entry's one
            whole-image config under every protocol; empty for YOLO.
        r50_config: the same head on ResNet-50 256x192 (the benchmark's
            speed table, ``tools/benchmark_heads.py``; for a kp_plugins head
            also the config tests), or ``None``.
        kind: ``topdown`` (MMPose Runner via tools/train.py), ``bottomup``
            (the same, whole images and the config's own schedule:
            :mod:`kp_plugins.benchmark.bottomup`) or ``yolo`` (Ultralytics'
            trainer via tools/train_yolo.py).
        head: the registered head type its configs use (``None`` for YOLO).
        codec: the registered codec type its configs use.
        source: where head and codec come from: ``kp_plugins`` (ours: the
            ResNet-50 config tests and the train/test tool test cover it),
            ``mmpose`` or ``ultralytics``.
        extra_configs: more configs of the same head, not benchmarked but
            checked with ``r50_config`` (e.g. the whole-image setting).
    """
    name: str
    approach: str
    description: str
    configs: Dict[str, str]
    r50_config: Optional[str]
    kind: str = 'topdown'
    head: Optional[str] = None
    codec: Optional[str] = None
    source: str = 'kp_plugins'
    extra_configs: Tuple[str, ...] = ()


def effl0_configs(stem: str, folder: str = CONFIGS) -> Dict[str, str]:
    """``{stem}_effl0_128x96.py`` and ``{stem}_effl0.py`` in ``folder``, by
    protocol."""
    return {'128x96': osp.join(folder, f'{stem}_effl0_128x96.py'),
            '256x192': osp.join(folder, f'{stem}_effl0.py')}


def _config(name: str) -> str:
    return osp.join(CONFIGS, name)


#: Every approach, in benchmark order.
APPROACHES: List[Approach] = [
    Approach('KPRegressionHead', 'regression', 'kp_plugins regression (L1 + OKS, visibility)',
             effl0_configs('regression'), _config('regression_r50.py'),
             head='KPRegressionHead', codec='KPRegressionLabel',
             extra_configs=(_config('regression_r50_wholeimage.py'), )),
    Approach('KPGridHead', 'grid', 'kp_plugins grid (cell presence + offset, OKS)',
             effl0_configs('grid'), _config('grid_r50.py'),
             head='KPGridHead', codec='KPGridLabel',
             extra_configs=(_config('grid_r50_wholeimage.py'), )),
    Approach('KPBBoxHead', 'bbox', 'kp_plugins box-relative regression (OKS in box units)',
             effl0_configs('bbox'), _config('bbox_r50.py'),
             head='KPBBoxHead', codec='KPBBoxLabel'),
    Approach('HeatmapHead', 'heatmap', 'MMPose HeatmapHead (MSRAHeatmap, 3 deconvolutions)',
             effl0_configs('heatmap'), _config('heatmap_r50.py'),
             head='HeatmapHead', codec='MSRAHeatmap', source='mmpose'),
    Approach('RegressionHead', 'mmpose', 'MMPose RegressionHead (DeepPose, SmoothL1)',
             effl0_configs('deeppose', BENCHMARK_CONFIGS),
             MMPOSE_RES50 + 'topdown_regression/coco/td-reg_res50_8xb64-210e_coco-256x192.py',
             head='RegressionHead', codec='RegressionLabel', source='mmpose'),
    Approach('RLEHead', 'mmpose', 'MMPose RLEHead (regression, RLE loss)',
             effl0_configs('rle', BENCHMARK_CONFIGS),
             MMPOSE_RES50 + 'topdown_regression/coco/td-reg_res50_rle-8xb64-210e_coco-256x192.py',
             head='RLEHead', codec='RegressionLabel', source='mmpose'),
    Approach('SimCCHead', 'mmpose', 'MMPose SimCCHead (1-D classification, KL loss)',
             effl0_configs('simcc', BENCHMARK_CONFIGS),
             MMPOSE_RES50 + 'simcc/coco/simcc_res50_8xb64-210e_coco-256x192.py',
             head='SimCCHead', codec='SimCCLabel', source='mmpose'),
    Approach('YOLOXPoseHead', 'yolo',
             'MMPose YOLOX-Pose on EfficientNet-Lite0 (ImageNet), bottom-up 256x256, own schedule',
             {p: _config('yolo_effl0_256.py') for p in PROTOCOLS}, None, kind='bottomup',
             head='YOLOXPoseHead', codec='YOLOXPoseAnnotationProcessor', source='mmpose'),
    Approach('YOLO', 'yolo', 'Ultralytics yolo11n-pose, bottom-up, own trainer (from scratch)',
             {}, None, kind='yolo', source='ultralytics'),
]


def approach_names() -> List[str]:
    """The names of :data:`APPROACHES`, in order."""
    return [a.name for a in APPROACHES]


def register_approach(approach: Approach) -> Approach:
    """Add ``approach`` at the end of :data:`APPROACHES` (a plugin outside
    this package does this on import).

    Raises:
        ValueError: an approach of that name (case-insensitive) exists, or a
            top-down approach lacks a config for one of :data:`PROTOCOLS`.
    """
    if approach.name.lower() in {n.lower() for n in approach_names()}:
        raise ValueError(f'an approach named {approach.name!r} exists already')
    missing = [p for p in PROTOCOLS if p not in approach.configs]
    if approach.kind == 'topdown' and missing:
        raise ValueError(f'approach {approach.name!r} has no config for protocol(s) '
                         f'{missing}')
    APPROACHES.append(approach)
    return approach


def remove_approach(name: str) -> Approach:
    """Take the approach ``name`` out of :data:`APPROACHES` and return it."""
    for i, approach in enumerate(APPROACHES):
        if approach.name == name:
            return APPROACHES.pop(i)
    raise KeyError(f'no approach named {name!r}; approaches: {", ".join(approach_names())}')
