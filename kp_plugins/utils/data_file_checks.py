"""Checks of a dataset's files, each returning (or holding) every problem it
finds: a COCO keypoint annotation file read the way MMPose reads it, a
detector ``bbox_file`` against its annotation file, and image files (exist,
are images, are complete). :func:`kp_plugins.utils.data_check.preflight_check`
runs them for the datasets a config names.
"""
import json
import math
import os
import os.path as osp
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple


class DataCheckError(ValueError):
    """The config's data (or the config against its data) is unusable; the
    message lists every problem found."""


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
