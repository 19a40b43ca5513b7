"""Fail fast, with a useful message, when a config's data is not where it says."""
import os
import os.path as osp
from typing import Any, Iterator, List, Optional, Sequence, Tuple

from mmengine.config import Config


class DataNotFoundError(FileNotFoundError):
    """A dataset path named by a config does not exist."""


_QUICKSTART_HINT = (
    'No COCO at hand? `python tools/train.py configs/quickstart.py` trains on '
    'a generated synthetic dataset (see README, "Quick start").')


def _join(root: Optional[str], path: Optional[str]) -> Optional[str]:
    if not path:
        return None
    if root and not osp.isabs(path) and '://' not in path:
        return osp.join(root, path)
    return path


def _iter_datasets(cfg: Any, key: str) -> Iterator[Tuple[str, Any]]:
    """Yield ``(option_path, dataset_cfg)`` for a dataset and its children
    (``ConcatDataset``/``CombinedDataset`` ``datasets``, ``RepeatDataset``
    ``dataset``)."""
    if cfg is None:
        return
    children = cfg.get('datasets')
    if children:
        for i, child in enumerate(children):
            yield from _iter_datasets(child, f'{key}.datasets.{i}')
        return
    inner = cfg.get('dataset')
    if isinstance(inner, dict):
        yield from _iter_datasets(inner, f'{key}.dataset')
        return
    yield key, cfg


def _generates_own_data(dataset_type: Any) -> bool:
    """Datasets that create their files on first use declare
    ``generates_data = True`` (e.g. the synthetic quick-start dataset)."""
    if not isinstance(dataset_type, str):
        return bool(getattr(dataset_type, 'generates_data', False))
    from mmpose.registry import DATASETS
    cls = DATASETS.get(dataset_type)
    return bool(getattr(cls, 'generates_data', False))


def missing_data_paths(cfg: Config,
                       splits: Sequence[str] = ('train', 'val')
                       ) -> List[Tuple[str, str]]:
    """List the dataset files/folders a config names that do not exist.

    Args:
        cfg (Config): a full MMPose config.
        splits (Sequence[str]): which of ``train``, ``val``, ``test`` to check.

    Returns:
        list[tuple[str, str]]: ``(option path for --cfg-options, missing path)``.
    """
    missing: List[Tuple[str, str]] = []
    for split in splits:
        loader = cfg.get(f'{split}_dataloader')
        if not loader:
            continue
        for key, ds in _iter_datasets(loader.get('dataset'), f'{split}_dataloader.dataset'):
            if _generates_own_data(ds.get('type')):
                continue
            root = ds.get('data_root') or ''
            inside = [p for p in [ds.get('ann_file'), *(ds.get('data_prefix') or {}).values()]
                      if p and not osp.isabs(p)]
            if root and inside and not osp.isdir(root):
                what = f' (expected to hold {", ".join(inside)})' if inside else ''
                missing.append((f'{key}.data_root', f'{root}{what}'))
                continue
            ann = _join(root, ds.get('ann_file'))
            if ann and not osp.exists(ann):
                missing.append((f'{key}.ann_file', ann))
            prefix = ds.get('data_prefix') or {}
            for name, sub in prefix.items():
                path = _join(root, sub)
                if path and not osp.exists(path):
                    missing.append((f'{key}.data_prefix.{name}', path))
            bbox = ds.get('bbox_file')
            if bbox and not osp.exists(bbox):
                missing.append((f'{key}.bbox_file', bbox))
        evaluator = cfg.get(f'{split}_evaluator') if split != 'train' else None
        evaluators = evaluator if isinstance(evaluator, (list, tuple)) else [evaluator]
        for i, ev in enumerate(evaluators):
            if isinstance(ev, dict) and ev.get('ann_file') and not osp.exists(ev['ann_file']):
                key = f'{split}_evaluator' + (f'.{i}' if len(evaluators) > 1 else '')
                missing.append((f'{key}.ann_file', ev['ann_file']))
    return missing


def check_data_paths(cfg: Config,
                     splits: Sequence[str] = ('train', 'val'),
                     config_name: str = 'the config') -> None:
    """Raise :class:`DataNotFoundError` naming every missing dataset path.

    The message says which path was expected, relative to which directory,
    and how to point the config elsewhere with ``--cfg-options``.
    """
    missing = missing_data_paths(cfg, splits)
    if not missing:
        return
    lines = [f'{config_name} expects data that is not there '
             f'(relative paths are resolved from {os.getcwd()}):']
    for key, path in missing:
        lines.append(f'  - {key}: {path} does not exist')
    example = ' '.join(f'{key}=<path>' for key, _ in missing[:3])
    lines.append(
        'Put the dataset there (MMPose layout for COCO: data/coco/annotations/'
        'person_keypoints_{train,val}2017.json and data/coco/{train,val}2017/), '
        f'or point the config elsewhere: --cfg-options {example}')
    lines.append(_QUICKSTART_HINT)
    raise DataNotFoundError('\n'.join(lines))
