"""Fail fast, with a useful message, when a config's data is not where it
says or cannot be used as it is.

Two stages, both run by ``tools/train.py`` and ``tools/test.py`` before the
Runner is built (:func:`kp_plugins.engine.launch.check_data`):

1. :func:`check_data_paths`: every file and folder the config names exists.
2. :func:`preflight_check`: the config agrees with itself and with the data
   (head vs. codec, keypoint count), and the annotation, ``bbox_file`` and
   image files are usable: valid JSON, COCO structure, finite numbers, ids
   that resolve, at least one usable person for training, image files that
   exist and are images (optionally decoded, ``check_images=True``). Every
   problem found is listed at once in one :class:`DataCheckError`; persons
   MMPose would drop silently are counted and logged. The checks of the
   files themselves are :mod:`kp_plugins.utils.data_file_checks`.
"""
import os
import os.path as osp
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Set, Tuple

from mmengine.config import Config

from .config_check import codec_input_size_problems
from .data_file_checks import (
    AnnotationSummary,
    DataCheckError,
    check_bbox_file,
    check_coco_annotations,
    check_image_files,
)
from .metainfo import load_pose_metainfo


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


# --------------------------------------------------------------------------
# the config against itself and its data
# --------------------------------------------------------------------------

def _dataset_class(dataset_type: Any):
    if not isinstance(dataset_type, str):
        return dataset_type
    from mmpose.registry import DATASETS
    return DATASETS.get(dataset_type)


def dataset_num_keypoints(ds_cfg: Any) -> Optional[int]:
    """``K`` of a dataset config (its ``metainfo`` or its class's METAINFO),
    or None when it cannot be told without building the dataset."""
    cls = _dataset_class(ds_cfg.get('type'))
    metainfo = ds_cfg.get('metainfo') or getattr(cls, 'METAINFO', None)
    if not metainfo:
        return None
    try:
        parsed = load_pose_metainfo(dict(metainfo))
    except Exception:  # a metainfo file we cannot find: MMPose will say so
        return None
    return parsed.get('num_keypoints')


def _is_coco_style(ds_cfg: Any) -> bool:
    cls = _dataset_class(ds_cfg.get('type'))
    if cls is None:
        return False
    from mmpose.datasets.datasets.base import BaseCocoStyleDataset
    return isinstance(cls, type) and issubclass(cls, BaseCocoStyleDataset)


def _encoders(pipeline: Iterable) -> List[Tuple[int, Any]]:
    found = []
    for i, step in enumerate(pipeline or []):
        if isinstance(step, dict) and step.get('type') == 'GenerateTarget':
            found.append((i, step.get('encoder')))
    return found


def _codec_str(codec: dict) -> str:
    return 'dict(' + ', '.join(f'{k}={v!r}' for k, v in codec.items()) + ')'


def check_config_consistency(cfg: Config, splits: Sequence[str]) -> List[str]:
    """Problems of the config with itself: the head's codec (``decoder``)
    against the training pipeline's ``GenerateTarget`` encoder (same type,
    same values for the settings both name, e.g. ``grid_size``), and the
    head's ``num_keypoints`` against the datasets' keypoint count."""
    errors: List[str] = []
    reported_k: Set[int] = set()
    head = (cfg.get('model') or {}).get('head') or {}
    decoder = head.get('decoder')
    for split in splits:
        loader = cfg.get(f'{split}_dataloader')
        if not loader:
            continue
        for key, ds in _iter_datasets(loader.get('dataset'), f'{split}_dataloader.dataset'):
            for index, encoder in _encoders(ds.get('pipeline')):
                if not (isinstance(encoder, dict) and isinstance(decoder, dict)):
                    continue
                differ = sorted(k for k in set(encoder) & set(decoder)
                                if _plain(encoder[k]) != _plain(decoder[k]))
                if differ:
                    errors.append(
                        f'the model\'s codec model.head.decoder={_codec_str(decoder)} and '
                        f'the codec that makes the training targets, {key}.pipeline'
                        f'[{index}] (GenerateTarget) encoder={_codec_str(encoder)}, '
                        f'differ in {", ".join(differ)}: the head would learn targets '
                        'of one codec and decode them with another. Define the codec '
                        'once (codec = dict(...)) and use it in both places, or change '
                        'both with --cfg-options')
            k_data = dataset_num_keypoints(ds)
            converters = [step for step in ds.get('pipeline') or []
                          if isinstance(step, dict) and step.get('type') == 'KeypointConverter']
            if converters:  # MMPose maps this dataset's keypoints onto another set
                k_data = converters[-1].get('num_keypoints', k_data)
            k_head = head.get('num_keypoints')
            if k_data is not None and isinstance(k_head, int) and k_head != k_data \
                    and k_data not in reported_k:
                reported_k.add(k_data)
                errors.append(
                    f'model.head.num_keypoints={k_head} but {key} '
                    f'({ds.get("type")}) has {k_data} keypoints; set '
                    f'model.head.num_keypoints={k_data}')
    errors.extend(codec_input_size_problems(cfg, splits))
    return list(dict.fromkeys(errors))


def _plain(value: Any) -> Any:
    """Lists and tuples compare equal (configs turn tuples into lists)."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def preflight_check(cfg: Config, splits: Sequence[str] = ('train', 'val'),
                    check_images: bool = False,
                    log: Optional[Callable[[str], None]] = None) -> List[str]:
    """Check, before anything is built or trained, that the config's data can
    be used as it is (see the module docstring).

    Args:
        cfg: a full MMPose config (paths already checked by
            :func:`check_data_paths`).
        splits: which of ``train``, ``val``, ``test`` the run uses.
        check_images: decode every image (slow on large sets); without it
            images are checked for existence, header and JPEG completeness.
        log: called with each summary / warning line (default: none).

    Returns:
        list[str]: the summary and warning lines.

    Raises:
        DataCheckError: listing every problem found.
    """
    lines: List[str] = []
    errors = check_config_consistency(cfg, splits)
    checked: Dict[str, AnnotationSummary] = {}

    def annotations(path: str, k: Optional[int], training: bool) -> AnnotationSummary:
        real = osp.realpath(path)
        if real not in checked:
            summary = check_coco_annotations(path, k, training)
            checked[real] = summary
            errors.extend(summary.errors)
            if not summary.errors:
                lines.extend(summary.describe(training))
        return checked[real]

    for split in splits:
        loader = cfg.get(f'{split}_dataloader')
        if not loader:
            continue
        for key, ds in _iter_datasets(loader.get('dataset'), f'{split}_dataloader.dataset'):
            if _generates_own_data(ds.get('type')) or not _is_coco_style(ds):
                continue
            root = ds.get('data_root') or ''
            ann = _join(root, ds.get('ann_file'))
            if not ann:
                continue
            k = dataset_num_keypoints(ds)
            training = split == 'train'
            summary = annotations(ann, k, training)
            bbox_file = ds.get('bbox_file') if not training else None
            if bbox_file:
                errors.extend(check_bbox_file(bbox_file, summary.image_ids, ann))
            elif not summary.errors:
                img_dir = _join(root, (ds.get('data_prefix') or {}).get('img', '')) or ''
                errors.extend(check_image_files(img_dir, summary.used_images,
                                                f'{key} ({osp.basename(ann)})',
                                                decode=check_images))
        if split == 'train':
            continue
        evaluator = cfg.get(f'{split}_evaluator')
        for ev in evaluator if isinstance(evaluator, (list, tuple)) else [evaluator]:
            if isinstance(ev, dict) and ev.get('ann_file') and osp.isfile(ev['ann_file']):
                annotations(ev['ann_file'], None, training=False)
    if log is not None:
        for line in lines:
            log(line)
    if errors:
        raise DataCheckError(
            'the data check before training/testing found '
            f'{len(errors)} problem(s):\n' + '\n'.join(f'  - {e}' for e in errors)
            + '\nFix them (or point the config at other files with --cfg-options); '
            'nothing was trained or evaluated.')
    return lines
