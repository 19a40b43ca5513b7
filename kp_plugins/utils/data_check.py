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
   MMPose would drop silently are counted and logged.
"""
import json
import math
import os
import os.path as osp
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Set, Tuple

from mmengine.config import Config


class DataNotFoundError(FileNotFoundError):
    """A dataset path named by a config does not exist."""


class DataCheckError(ValueError):
    """The config's data (or the config against its data) is unusable; the
    message lists every problem found."""


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
# pre-flight check of the data's content
# --------------------------------------------------------------------------

#: How many ids a message lists before "(and N more)".
SHOWN_IDS = 5


def format_ids(ids: Sequence, shown: int = SHOWN_IDS) -> str:
    """``'1, 2, 3 (and 7 more)'``."""
    ids = list(ids)
    text = ', '.join(str(i) for i in ids[:shown])
    if len(ids) > shown:
        text += f' (and {len(ids) - shown} more)'
    return text


def load_json_file(path: str, what: str) -> Any:
    """``json.load`` with the file's name (and line/column) in the error.

    Raises:
        DataCheckError: the file is not valid JSON or not UTF-8 text.
    """
    try:
        with open(path, 'rb') as f:
            return json.loads(f.read().decode('utf-8'))
    except json.JSONDecodeError as exc:
        raise DataCheckError(
            f'{what} {path} is not valid JSON: {exc.msg} at line {exc.lineno}, '
            f'column {exc.colno}') from None
    except UnicodeDecodeError as exc:
        raise DataCheckError(
            f'{what} {path} is not valid JSON: not UTF-8 text ({exc.reason} at '
            f'byte {exc.start}); is it an annotation file?') from None


def _finite_numbers(values: Any, length: Optional[int] = None) -> Optional[str]:
    """None when ``values`` is a list of finite numbers (of ``length``);
    otherwise what is wrong with it."""
    if not isinstance(values, (list, tuple)):
        return f'is {type(values).__name__}, not a list of numbers'
    if length is not None and len(values) != length:
        return f'holds {len(values)} values, expected {length}'
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return f'value {i} is {v!r}, not a number'
        if not math.isfinite(v):
            return f'value {i} is {v!r}'
    return None


@dataclass
class AnnotationSummary:
    """What :func:`check_coco_annotations` found in one annotation file.

    ``used`` counts the persons MMPose's top-down ``CocoDataset`` keeps; the
    others are dropped by MMPose for the reason they are counted under.
    """

    path: str
    images: int = 0
    annotations: int = 0
    used: int = 0
    crowd: int = 0
    no_keypoints: List = field(default_factory=list)
    empty_box: List = field(default_factory=list)
    num_keypoints_mismatch: List = field(default_factory=list)
    image_ids: Set = field(default_factory=set)
    #: image id -> file name, for images that hold a used person
    used_images: Dict = field(default_factory=dict)
    errors: List[str] = field(default_factory=list)

    def describe(self, training: bool) -> List[str]:
        """Log lines: the counts, and a warning line per silent drop."""
        name = osp.basename(self.path)
        lines = [f'{name}: {self.images} images, {self.annotations} '
                 f'annotations: {self.used} persons used'
                 + (f', {self.crowd} crowd regions' if self.crowd else '')
                 + (f', {len(self.no_keypoints)} persons without labelled '
                    'keypoints' if self.no_keypoints else '')]
        if self.empty_box:
            consequence = ('' if training else
                           '; COCOeval still scores them, as missed persons')
            lines.append(
                f'WARNING {name}: dropped {len(self.empty_box)} persons with '
                'empty boxes (zero width or height, or outside the image, '
                f'after clipping to the image): annotation ids '
                f'{format_ids(self.empty_box)}{consequence}')
        if self.num_keypoints_mismatch:
            lines.append(
                f'WARNING {name}: {len(self.num_keypoints_mismatch)} '
                'annotations have num_keypoints 0 but labelled keypoints '
                '(MMPose trusts num_keypoints and drops them): annotation ids '
                f'{format_ids(self.num_keypoints_mismatch)}')
        return lines


def check_coco_annotations(path: str, num_keypoints: Optional[int] = None,
                           training: bool = True) -> AnnotationSummary:
    """Check a COCO keypoint annotation file the way MMPose will read it.

    Errors (in ``summary.errors``): not valid JSON, no ``images`` /
    ``annotations`` lists, images without ``id`` / ``file_name`` / ``width``
    / ``height``, duplicate image or annotation ids, annotations whose
    ``image_id`` is not an image, keypoints that are not ``3 * K`` finite
    numbers, boxes / areas that are not finite, and, for training, no usable
    person at all.

    Counted (MMPose drops them without a word): crowd regions, persons
    without labelled keypoints, persons whose box is empty after clipping
    to the image.

    Args:
        path: the annotation file.
        num_keypoints: ``K`` of the dataset (None: not checked).
        training: a training set needs at least one usable person.
    """
    summary = AnnotationSummary(path=path)
    errors = summary.errors
    name = osp.basename(path)
    try:
        data = load_json_file(path, 'annotation file')
    except DataCheckError as exc:
        errors.append(str(exc))
        return summary
    if not isinstance(data, dict) or not isinstance(data.get('images'), list) \
            or not isinstance(data.get('annotations'), list):
        keys = sorted(data) if isinstance(data, dict) else type(data).__name__
        errors.append(
            f'annotation file {path} is not a COCO keypoint annotation file: it '
            f'needs "images" and "annotations" lists (found: {keys or "nothing"})')
        return summary

    images: Dict[Any, dict] = {}
    bad_images, duplicate_images = [], []
    for i, img in enumerate(data['images']):
        if not isinstance(img, dict) or 'id' not in img:
            bad_images.append(f'#{i}')
            continue
        if img['id'] in images:
            duplicate_images.append(img['id'])
        missing = [k for k in ('file_name', 'width', 'height') if k not in img]
        size_ok = all(isinstance(img.get(k), (int, float)) and img.get(k) > 0
                      for k in ('width', 'height'))
        if missing or not size_ok:
            bad_images.append(img['id'])
        images[img['id']] = img
    summary.images = len(images)
    summary.image_ids = set(images)
    if bad_images:
        errors.append(
            f'{name}: {len(bad_images)} images lack an id, a file_name or a '
            f'positive width/height: image ids {format_ids(bad_images)}')
    if duplicate_images:
        errors.append(f'{name}: image ids used twice: '
                      f'{format_ids(sorted(set(duplicate_images)))}')

    seen_ann_ids: Set = set()
    duplicate_anns, orphans, no_iscrowd = [], [], []
    bad_numbers: Dict[str, List] = {}
    summary.annotations = len(data['annotations'])
    for i, ann in enumerate(data['annotations']):
        if not isinstance(ann, dict) or 'id' not in ann:
            bad_numbers.setdefault('has no "id"', []).append(f'#{i}')
            continue
        ann_id = ann['id']
        if ann_id in seen_ann_ids:
            duplicate_anns.append(ann_id)
        seen_ann_ids.add(ann_id)
        img = images.get(ann.get('image_id'))
        if img is None:
            orphans.append(ann_id)
            continue
        if 'iscrowd' not in ann:
            no_iscrowd.append(ann_id)
        problem = None
        if 'keypoints' in ann:
            length = None if num_keypoints is None else 3 * num_keypoints
            problem = _finite_numbers(ann['keypoints'], length)
            if problem:
                bad_numbers.setdefault('keypoints', []).append(
                    f'{ann_id} (image {ann.get("image_id")}: {problem})')
        if 'bbox' in ann:
            box_problem = _finite_numbers(ann['bbox'], 4)
            if box_problem:
                bad_numbers.setdefault('bbox', []).append(
                    f'{ann_id} (image {ann.get("image_id")}: {box_problem})')
                problem = problem or box_problem
        if 'area' in ann and _finite_numbers([ann['area']]):
            bad_numbers.setdefault('area', []).append(
                f'{ann_id} (image {ann.get("image_id")}: {ann["area"]!r})')
            problem = problem or 'area'
        if problem:
            continue
        # MMPose's rules (BaseCocoStyleDataset.parse_data_info and
        # _is_valid_instance, top-down mode), in the same order
        if ann.get('iscrowd', 0):
            summary.crowd += 1
            continue
        keypoints = ann.get('keypoints')
        if 'bbox' not in ann or not keypoints or max(keypoints) == 0:
            summary.no_keypoints.append(ann_id)
            continue
        labelled = sum(1 for v in keypoints[2::3] if v > 0)
        count = ann.get('num_keypoints', labelled)
        if count == 0:
            summary.no_keypoints.append(ann_id)
            if labelled:
                summary.num_keypoints_mismatch.append(ann_id)
            continue
        x, y, w, h = ann['bbox']
        img_w, img_h = img.get('width', 0), img.get('height', 0)
        x1, x2 = min(max(x, 0), img_w - 1), min(max(x + w, 0), img_w - 1)
        y1, y2 = min(max(y, 0), img_h - 1), min(max(y + h, 0), img_h - 1)
        if x2 - x1 <= 0 or y2 - y1 <= 0:
            summary.empty_box.append(ann_id)
            continue
        summary.used += 1
        summary.used_images[img['id']] = img.get('file_name')

    if duplicate_anns:
        errors.append(f'{name}: annotation ids used twice (xtcocotools keeps '
                      f'only the last): {format_ids(sorted(set(duplicate_anns)))}')
    if orphans:
        errors.append(f'{name}: {len(orphans)} annotations refer to an image_id '
                      f'that is not in "images": annotation ids {format_ids(orphans)}')
    if no_iscrowd:
        errors.append(f'{name}: {len(no_iscrowd)} annotations have no "iscrowd" '
                      '(MMPose\'s COCO reader needs it; 0 for a single person): '
                      f'annotation ids {format_ids(no_iscrowd)}')
    for key, items in bad_numbers.items():
        what = ('are not finite numbers' if key != 'keypoints' or
                num_keypoints is None else
                f'are not {3 * num_keypoints} finite numbers ({num_keypoints} '
                'keypoints x (x, y, visibility))')
        if key == 'has no "id"':
            errors.append(f'{name}: {len(items)} annotations have no "id": '
                          f'{format_ids(items)}')
            continue
        errors.append(
            f'{name}: the {key} of {len(items)} annotations {what}: annotation '
            f'ids {format_ids(items, 3)}; fix or remove these annotations')
    if training and not summary.errors and summary.used == 0:
        errors.append(
            f'{name} holds no usable person for top-down training (of '
            f'{summary.annotations} annotations: {summary.crowd} crowd regions, '
            f'{len(summary.no_keypoints)} without labelled keypoints '
            '(num_keypoints 0), '
            f'{len(summary.empty_box)} with empty boxes); it needs persons with '
            'a box and at least one labelled keypoint')
    return summary


def check_bbox_file(path: str, ann_image_ids: Set, ann_path: str) -> List[str]:
    """Check a detection file (COCO results format) against its annotation
    file: valid JSON, a list of ``{image_id, category_id, bbox, score}``
    with finite numbers and a non-empty box, image ids present in
    ``ann_path``.

    Returns:
        list[str]: the problems found (empty when usable).
    """
    name = osp.basename(path)
    try:
        dets = load_json_file(path, 'bbox_file')
    except DataCheckError as exc:
        return [str(exc)]
    if not isinstance(dets, list):
        return [f'bbox_file {path} is not a detection file: expected a list of '
                '{"image_id", "category_id", "bbox": [x, y, w, h], "score"} '
                f'(COCO results format), got a {type(dets).__name__}']
    errors: List[str] = []
    malformed, bad_box, empty_box, unknown = [], [], [], []
    for i, det in enumerate(dets):
        if not isinstance(det, dict) or not {'image_id', 'bbox', 'score',
                                             'category_id'} <= set(det):
            malformed.append(i)
            continue
        problem = _finite_numbers(det['bbox'], 4) or _finite_numbers([det['score']])
        if problem:
            bad_box.append(f'#{i} (image {det["image_id"]}: {problem})')
            continue
        if det['category_id'] != 1:
            continue  # MMPose keeps persons only
        if det['bbox'][2] <= 0 or det['bbox'][3] <= 0:
            empty_box.append(f'#{i} (image {det["image_id"]})')
        if det['image_id'] not in ann_image_ids:
            unknown.append(det['image_id'])
    if malformed:
        errors.append(f'bbox_file {name}: {len(malformed)} entries lack image_id, '
                      f'category_id, bbox or score: entries {format_ids(malformed)}')
    if bad_box:
        errors.append(f'bbox_file {name}: {len(bad_box)} boxes or scores are not '
                      f'finite numbers: entries {format_ids(bad_box, 3)}')
    if empty_box:
        errors.append(f'bbox_file {name}: {len(empty_box)} person boxes have zero '
                      f'width or height: entries {format_ids(empty_box, 3)}')
    if unknown:
        missing = sorted(set(unknown), key=str)
        errors.append(
            f'bbox_file {name}: {len(unknown)} boxes refer to {len(missing)} image '
            f'ids that are not in the annotation file {ann_path}: '
            f'{format_ids(missing)}; use the annotation file the detections were '
            'made for (or kp_plugins.apis.subset_coco_annotations)')
    return errors


#: First bytes of the image formats OpenCV reads.
IMAGE_MAGIC = {
    b'\xff\xd8\xff': 'JPEG', b'\x89PNG\r\n\x1a\n': 'PNG', b'BM': 'BMP',
    b'II*\x00': 'TIFF', b'MM\x00*': 'TIFF', b'RIFF': 'WEBP',
}
#: How far from the end of a JPEG its end-of-image marker may lie.
JPEG_TAIL = 4096


#: Kinds of image problems, in the order they are reported.
MISSING, NOT_IMAGE, UNREADABLE, CORRUPT = ('missing', 'not image files', 'unreadable',
                                           'truncated or corrupt')


def image_problem(path: str, decode: bool = False) -> Optional[Tuple[str, str]]:
    """What is wrong with an image file: ``(kind, detail)``, or None.

    Always: the file exists, starts like an image, and a JPEG or PNG ends
    with its end marker (a truncated download does not; files that do not
    are decoded to be sure). ``decode=True`` also decodes every image with
    OpenCV (as ``LoadImage`` does) and Pillow (which, unlike OpenCV, fails
    on a truncated JPEG).
    """
    if not osp.isfile(path):
        return MISSING, 'no such file'
    try:
        with open(path, 'rb') as f:
            head = f.read(16)
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - JPEG_TAIL))
            tail = f.read()
    except OSError as exc:
        return UNREADABLE, str(exc.strerror)
    kind = next((k for magic, k in IMAGE_MAGIC.items() if head.startswith(magic)),
                None)
    if kind is None:
        return NOT_IMAGE, f'it starts with {head[:12]!r}'
    if (kind == 'JPEG' and b'\xff\xd9' not in tail) or (
            kind == 'PNG' and b'IEND' not in tail):
        decode = True  # no end marker: maybe truncated, decode to be sure
    if decode:
        return _decode_problem(path)
    return None


def _decode_problem(path: str) -> Optional[Tuple[str, str]]:
    import cv2
    import numpy as np
    from PIL import Image
    img = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        return CORRUPT, 'OpenCV cannot decode it'
    try:
        with Image.open(path) as im:
            im.load()
    except Exception as exc:  # PIL raises OSError/SyntaxError/...
        return CORRUPT, f'Pillow: {exc}'
    return None


def check_image_files(img_dir: str, images: Dict[Any, str], name: str,
                      decode: bool = False) -> List[str]:
    """Check the image files of ``images`` (image id -> file name) under
    ``img_dir``; return one error per kind of problem, naming the files and
    image ids."""
    problems: Dict[str, List[str]] = {}
    for img_id, file_name in images.items():
        path = osp.join(img_dir, str(file_name))
        problem = image_problem(path, decode)
        if problem:
            kind, detail = problem
            shown = '' if kind == MISSING else f': {detail}'
            problems.setdefault(kind, []).append(f'{path} (image {img_id}{shown})')
    errors = []
    for kind in (MISSING, NOT_IMAGE, UNREADABLE, CORRUPT):
        items = problems.get(kind)
        if items:
            errors.append(f'{name}: {len(items)} image files are {kind}: '
                          f'{format_ids(items, 3)}')
    return errors


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
    from mmpose.datasets.datasets.utils import parse_pose_metainfo
    try:
        parsed = parse_pose_metainfo(dict(metainfo))
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
