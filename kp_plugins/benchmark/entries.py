"""What the approaches benchmark compares: one entry per head/approach, its
config under each accuracy protocol (EfficientNet-Lite0 at 128x96 and
256x192) and its ResNet-50 256x192 config for the speed table."""
import os.path as osp
from typing import Dict, List, NamedTuple, Optional

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = osp.join(REPO_ROOT, 'configs')
MMPOSE_RES50 = 'mmpose::body_2d_keypoint/'


class Entry(NamedTuple):
    """One compared approach.

    Attributes:
        name: the ``--entries`` name (the head class; ``YOLO`` for approach 5).
        approach: which of the five approaches (or ``mmpose`` for a
            reference head of MMPose's).
        description: one line for the table.
        configs: protocol name (``128x96``, ``256x192``) -> top-down config
            on EfficientNet-Lite0 (trained by the benchmark); empty for YOLO.
        r50_config: the same head on ResNet-50 256x192 (speed and size
            only), or ``None``.
        kind: ``topdown`` (MMPose Runner via tools/train.py) or ``yolo``
            (Ultralytics' trainer via tools/train_yolo.py).
    """
    name: str
    approach: str
    description: str
    configs: Dict[str, str]
    r50_config: Optional[str]
    kind: str = 'topdown'


def _effl0(stem: str, folder: str = CONFIGS) -> Dict[str, str]:
    return {'128x96': osp.join(folder, f'{stem}_effl0_128x96.py'),
            '256x192': osp.join(folder, f'{stem}_effl0.py')}


BENCHMARK_CONFIGS = osp.join(CONFIGS, 'benchmark')

ENTRIES: List[Entry] = [
    Entry('KPRegressionHead', 'regression', 'kp_plugins regression (L1 + OKS, visibility)',
          _effl0('regression'), osp.join(CONFIGS, 'regression_r50.py')),
    Entry('KPGridHead', 'grid', 'kp_plugins grid (cell presence + offset, OKS)',
          _effl0('grid'), osp.join(CONFIGS, 'grid_r50.py')),
    Entry('KPBBoxHead', 'bbox', 'kp_plugins box-relative regression (OKS in box units)',
          _effl0('bbox'), osp.join(CONFIGS, 'bbox_r50.py')),
    Entry('HeatmapHead', 'heatmap', 'MMPose HeatmapHead (MSRAHeatmap, 3 deconvolutions)',
          _effl0('heatmap'), osp.join(CONFIGS, 'heatmap_r50.py')),
    Entry('RegressionHead', 'mmpose', 'MMPose RegressionHead (DeepPose, SmoothL1)',
          _effl0('deeppose', BENCHMARK_CONFIGS),
          MMPOSE_RES50 + 'topdown_regression/coco/td-reg_res50_8xb64-210e_coco-256x192.py'),
    Entry('RLEHead', 'mmpose', 'MMPose RLEHead (regression, RLE loss)',
          _effl0('rle', BENCHMARK_CONFIGS),
          MMPOSE_RES50 + 'topdown_regression/coco/td-reg_res50_rle-8xb64-210e_coco-256x192.py'),
    Entry('SimCCHead', 'mmpose', 'MMPose SimCCHead (1-D classification, KL loss)',
          _effl0('simcc', BENCHMARK_CONFIGS),
          MMPOSE_RES50 + 'simcc/coco/simcc_res50_8xb64-210e_coco-256x192.py'),
    Entry('YOLO', 'yolo', 'Ultralytics yolo11n-pose, bottom-up, own trainer (from scratch)',
          {}, None, kind='yolo'),
]
ENTRY_NAMES = [e.name for e in ENTRIES]
PROTOCOLS = ('128x96', '256x192')


def select_entries(names: Optional[List[str]] = None) -> List[Entry]:
    """Entries in benchmark order; ``names`` filters them (case-insensitive).

    Raises:
        ValueError: naming the unknown entries and the valid names.
    """
    if not names:
        return list(ENTRIES)
    by_name = {e.name.lower(): e for e in ENTRIES}
    unknown = [n for n in names if n.lower() not in by_name]
    if unknown:
        raise ValueError(f'unknown benchmark entries {unknown}; choose from '
                         f'{", ".join(ENTRY_NAMES)}')
    wanted = {n.lower() for n in names}
    return [e for e in ENTRIES if e.name.lower() in wanted]
