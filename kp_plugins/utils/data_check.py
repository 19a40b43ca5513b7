"""Fail fast, with a useful message, when a config's data is not where it
says or cannot be used as it is.

Two stages, both run by ``tools/train.py`` and ``tools/test.py`` before the
Runner is built (:func:`kp_plugins.engine.launch.check_data`):

1. :func:`check_data_paths`: every file and folder the config names exists.
2. :func:`preflight_check`: the config agrees with itself and with the data
   (head vs. codec, keypoint count), and the annotation, ``bbox_file`` and
   image files are usable: valid JSON, COCO structure, finite and plausible
   numbers (visibility 0/1/2, area > 0, person category, pixel keypoints,
   x, y, w, h boxes), integer ids that resolve, at least one usable person
   for training and one to evaluate, an evaluator ``ann_file`` holding the
   dataset's images, image files that exist, are images and have the size
   their entry gives (optionally decoded, ``check_images=True``). Every
   problem found is listed at once in one :class:`DataCheckError`; persons
   MMPose would drop silently, and a few suspicious ones, are counted and
   logged. The checks of the files themselves are
   :mod:`kp_plugins.utils.data_file_checks`.

Tools that read a COCO annotation file without a config (``tools/test_onnx.py``,
``tools/test_yolo.py``, ``tools/detect_persons.py``, ``tools/coco2yolo.py``)
run the same checks through :func:`check_coco_files`.
"""
import os
import os.path as osp
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Set, Tuple

from mmengine.config import Config

from .config_check import codec_input_size_problems
from .data_file_checks import (  # noqa: F401  (check_bbox_file: re-exported)
    AnnotationSummary,
    DataCheckError,
    check_bbox_file,
    check_coco_annotations,
    check_dataset_files,
    format_ids,
)
from .metainfo import load_pose_metainfo


class DataNotFoundError(FileNotFoundError):
    """A dataset path named by a config does not exist."""


_QUICKSTART_HINT = (
    'No COCO at hand? `python tools/train.py configs/quickstart.py` trains on '
    'a generated synthetic dataset (see README, "Install and first run").')


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
        predicted: Set = set()  # the images the split's model runs on
        ann_ids: Set = set()  # every image of the split's annotation files
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
            if summary.errors:
                continue
            img_dir = _join(root, (ds.get('data_prefix') or {}).get('img', '')) or ''
            bottom_up = ds.get('data_mode', 'topdown') != 'topdown'
            found = check_dataset_files(
                ann, img_dir, key, num_keypoints=k, training=training,
                bbox_file=ds.get('bbox_file'),
                bbox_score_thr=(ds.get('filter_cfg') or {}).get('bbox_score_thr'),
                persons_required=not bottom_up, decode=check_images, summary=summary)
            errors.extend(found.errors)
            predicted |= found.predicted_images
            ann_ids |= summary.image_ids
        if split == 'train':
            continue
        evaluator = cfg.get(f'{split}_evaluator')
        for ev in evaluator if isinstance(evaluator, (list, tuple)) else [evaluator]:
            if isinstance(ev, dict) and ev.get('ann_file') and osp.isfile(ev['ann_file']):
                ev_summary = annotations(ev['ann_file'], None, training=False)
                if not ev_summary.errors and ann_ids:
                    errors.extend(evaluator_id_problems(
                        f'{split}_evaluator.ann_file', ev['ann_file'], ev_summary,
                        predicted, ann_ids))
    return report_data_check(lines, errors, log)


def evaluator_id_problems(key: str, path: str, summary: AnnotationSummary,
                          predicted: Set, dataset_ids: Set) -> List[str]:
    """The evaluator's annotation file against the dataset's: every image
    the model predicts must be in it (or ``CocoMetric`` stops after the whole
    inference pass: "Results do not correspond to current coco set"), and
    every image it scores persons of must be in the dataset (or they count
    as missed persons)."""
    problems = []
    unknown = sorted(predicted - summary.image_ids, key=str)
    if unknown:
        problems.append(
            f'{key}={path} lacks {len(unknown)} image ids of the dataset that the model '
            f'will predict: {format_ids(unknown)}; CocoMetric would stop after the whole '
            'inference pass ("Results do not correspond to current coco set"): evaluate '
            "against the dataset's own annotation file")
    unseen = sorted(set(summary.used_images) - dataset_ids, key=str)
    if unseen:
        problems.append(
            f'{key}={path} scores persons in {len(unseen)} images the dataset does not '
            f'hold: image ids {format_ids(unseen)}; they would count as missed persons '
            "(a lower AP): evaluate against the dataset's own annotation file")
    return problems


def report_data_check(lines: List[str], errors: Sequence[str],
                      log: Optional[Callable[[str], None]]) -> List[str]:
    """Log the check's counted ``lines``, then raise :class:`DataCheckError`
    if it found ``errors``; returns ``lines``."""
    if log is not None:
        for line in lines:
            log(line)
    if errors:
        raise_data_problems(errors)
    return lines


def raise_data_problems(errors: Sequence[str]) -> None:
    """Raise :class:`DataCheckError` listing ``errors``."""
    raise DataCheckError(
        'the data check before training/testing found '
        f'{len(errors)} problem(s):\n' + '\n'.join(f'  - {e}' for e in errors)
        + '\nFix them (or point the config at other files with --cfg-options); '
        'nothing was trained or evaluated.')


def check_coco_files(ann_file: str, img_dir: str, *, name: str = 'the data',
                     num_keypoints: Optional[int] = None, training: bool = False,
                     bbox_file: Optional[str] = None, bbox_score_thr: Optional[float] = None,
                     all_images: bool = False, persons_required: bool = True,
                     check_images: bool = False,
                     log: Optional[Callable[[str], None]] = None) -> List[str]:
    """The pre-flight check of :func:`preflight_check` for a tool that reads
    a COCO annotation file without a config (``tools/test_onnx.py``,
    ``tools/test_yolo.py``, ``tools/detect_persons.py``, ``tools/coco2yolo.py``):
    the annotation file, the ``bbox_file`` and the image files the tool will
    read (see :func:`~kp_plugins.utils.data_file_checks.check_dataset_files`).

    Returns:
        list[str]: the summary and warning lines (also passed to ``log``).

    Raises:
        DataCheckError: listing every problem found.
    """
    found = check_dataset_files(
        ann_file, img_dir, name, num_keypoints=num_keypoints, training=training,
        bbox_file=bbox_file, bbox_score_thr=bbox_score_thr, all_images=all_images,
        persons_required=persons_required, decode=check_images)
    errors = found.annotations.errors + found.errors
    lines = [] if found.annotations.errors else found.annotations.describe(training)
    return report_data_check(lines, errors, log)
