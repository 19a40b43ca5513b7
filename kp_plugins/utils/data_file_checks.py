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


#: The COCO person category (MMPose's CocoDataset keeps detections of it only).
PERSON_CATEGORY = 1
#: COCO keypoint visibility flags: 0 not labelled, 1 labelled but hidden, 2 visible.
VISIBILITY_FLAGS = (0, 1, 2)


def annotation_field_problems(ann: dict, num_keypoints: Optional[int] = None
                              ) -> List[Tuple[str, str]]:
    """The impossible values of one COCO person annotation, as ``(kind,
    detail)`` pairs; ``kind`` is ``'keypoints'``, ``'bbox'`` or ``'area'``
    (not finite numbers), ``'visibility'`` (a flag outside 0, 1, 2: MMPose
    uses it as the keypoint's loss weight) or ``'area <= 0'`` (of a labelled,
    non-crowd person: COCOeval and the OKS losses divide by it).

    Shared by the pre-flight check (:func:`check_coco_annotations`) and
    :class:`~kp_plugins.engine.hooks.KPNonFiniteLossHook`, which names the
    annotation behind a non-finite loss."""
    found: List[Tuple[str, str]] = []
    labelled = False
    if 'keypoints' in ann:
        length = None if num_keypoints is None else 3 * num_keypoints
        problem = _finite_numbers(ann['keypoints'], length)
        if problem:
            found.append(('keypoints', problem))
        else:
            flags = ann['keypoints'][2::3]
            labelled = any(v > 0 for v in flags)
            bad = [(j, v) for j, v in enumerate(flags) if v not in VISIBILITY_FLAGS]
            if bad:
                found.append(('visibility', ', '.join(
                    f'keypoint {j} has v = {v!r}' for j, v in bad[:3])))
    if 'bbox' in ann:
        problem = _finite_numbers(ann['bbox'], 4)
        if problem:
            found.append(('bbox', problem))
    if 'area' in ann:
        if _finite_numbers([ann['area']]):
            found.append(('area', repr(ann['area'])))
        elif ann['area'] <= 0 and labelled and not ann.get('iscrowd', 0):
            found.append(('area <= 0', repr(ann['area'])))
    return found


#: The messages of :func:`annotation_field_problems`' kinds (after "the ...
#: of N annotations").
FIELD_PROBLEMS = {
    'visibility': (
        'keypoint visibility', 'is not 0, 1 or 2 (0: not labelled, 1: labelled but '
        'hidden, 2: visible; MMPose uses it as the keypoint\'s loss weight, so -1 '
        'gives a negative loss)'),
    'area <= 0': (
        'area', 'is zero or negative for labelled persons (COCOeval and the OKS '
        'losses divide by it: a wrong AP, an infinite loss); set it to the '
        'person\'s area in pixels (MMPose\'s own fallback is 0.53 x box area)'),
}


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
    #: image id -> (file name, width, height), every image
    image_files: Dict = field(default_factory=dict)
    #: persons whose labelled keypoints lie further than a box size outside
    #: their own box, and persons whose box reaches past the image edge
    #: (with how many of those read as x1, y1, x2, y2 boxes)
    outside_box: List = field(default_factory=list)
    past_edge: List = field(default_factory=list)
    past_edge_xyxy: int = 0
    #: persons whose box fits its keypoints better read as x1, y1, x2, y2
    xyxy_like: List = field(default_factory=list)
    errors: List[str] = field(default_factory=list)

    def pattern_lines(self) -> List[Tuple[bool, str]]:
        """``(is_error, text)`` for the suspicious patterns: an error when
        more than :data:`FORMAT_SHARE` of the used persons show it (the
        file's format, not a slip), else a warning."""
        name = osp.basename(self.path)
        found = []
        for items, what, cause in (
                (self.outside_box, 'labelled keypoints further than a box size outside '
                 'their own box', 'the keypoints and the box of different persons, or in '
                 'different units (keypoints in 0-1 instead of pixels, boxes written as x1, '
                 'y1, x2, y2 instead of x, y, w, h)?'),
                (self.past_edge, 'boxes that reach more than 1 px past the image edge '
                 '(MMPose clips them to the image)',
                 'they read as x1, y1, x2, y2 boxes: COCO boxes are x, y, width, height'
                 if 2 * self.past_edge_xyxy > len(self.past_edge) else
                 'a wrong image width/height, or boxes of a resized image?')):
            if not items:
                continue
            share = len(items) / max(self.used, 1)
            found.append((share > FORMAT_SHARE, f'{name}: {len(items)} of {self.used} persons '
                          f'have {what}: annotation ids {format_ids(items)}; {cause}'))
        if len(self.xyxy_like) > FORMAT_SHARE * self.used:  # a few: COCO's own boxes do
            found.append((True, (
                f'{name}: the boxes of {len(self.xyxy_like)} of {self.used} persons fit '
                'their keypoints only when read as x1, y1, x2, y2 (as x, y, w, h they reach '
                'far beyond the keypoints): annotation ids '
                f'{format_ids(self.xyxy_like)}; COCO boxes are x, y, width, height: '
                'convert them (w = x2 - x1, h = y2 - y1)')))
        return found

    def describe(self, training: bool) -> List[str]:
        """Log lines: the counts, and a warning line per silent drop or
        suspicious pattern."""
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
        lines += [f'WARNING {text}' for is_error, text in self.pattern_lines()
                  if not is_error]
        return lines


#: Share of a file's used persons above which a suspicious pattern (keypoints
#: outside their box, boxes past the image edge) is an error, not a warning.
FORMAT_SHARE = 0.5
#: How far past the image edge a box may reach before it counts, pixels.
EDGE_TOLERANCE = 1.0


def _reads_as_xyxy(box: Sequence[float], labelled: List[Tuple[float, float]]) -> bool:
    """Whether a box ``[a, b, c, d]`` fits its keypoints better read as
    ``x1, y1, x2, y2`` than as ``x, y, w, h``: the two readings differ
    (the xywh box is at least 1.5 times the xyxy box) and every labelled
    keypoint lies inside the xyxy box. True for 0-2 of the 294 persons of
    COCO's own boxes in ../shared/data, and for about 70-80 % of them once
    the boxes are written as x1, y1, x2, y2."""
    x, y, w, h = box
    tol = EDGE_TOLERANCE
    if not (w > x and h > y) or w * h < 1.5 * (w - x) * (h - y):
        return False
    return all(x - tol <= px <= w + tol and y - tol <= py <= h + tol for px, py in labelled)


def _person_patterns(summary: 'AnnotationSummary', ann: dict, img: dict,
                     keypoints: Sequence[float]) -> bool:
    """Record the suspicious patterns of a used person in ``summary``;
    return True when the person is impossible (its labelled keypoints all
    lie within 0-1: normalized, not pixels)."""
    labelled = [(keypoints[i], keypoints[i + 1]) for i in range(0, len(keypoints), 3)
                if keypoints[i + 2] > 0]
    if len(labelled) >= 2 and all(0 <= x <= 1 and 0 <= y <= 1 for x, y in labelled) \
            and max(img['width'], img['height']) > 2:
        return True
    x, y, w, h = ann['bbox']
    size = max(w, h, 1)
    if any(max(x - px, px - x - w, y - py, py - y - h) > size for px, py in labelled):
        summary.outside_box.append(ann['id'])
    xyxy = _reads_as_xyxy(ann['bbox'], labelled)
    if xyxy:
        summary.xyxy_like.append(ann['id'])
    tol = EDGE_TOLERANCE
    if x < -tol or y < -tol or x + w > img['width'] + tol or y + h > img['height'] + tol:
        summary.past_edge.append(ann['id'])
        summary.past_edge_xyxy += int(xyxy)
    return False


def check_coco_annotations(path: str, num_keypoints: Optional[int] = None,
                           training: bool = True) -> AnnotationSummary:
    """Check a COCO keypoint annotation file the way MMPose will read it.

    Errors (in ``summary.errors``): not valid JSON, no ``images`` /
    ``annotations`` lists, images without ``id`` / ``file_name`` / ``width``
    / ``height``, image ids that are not integers, duplicate image or
    annotation ids, annotations whose ``image_id`` is not an image, the
    impossible values of :func:`annotation_field_problems` (keypoints that
    are not ``3 * K`` finite numbers, visibility outside 0, 1, 2, boxes /
    areas that are not finite, areas <= 0), persons MMPose would use whose
    ``category_id`` is not the person category, persons whose labelled
    keypoints all lie within 0-1 (normalized, not pixels), a suspicious
    pattern shown by most of the file's persons (see
    :meth:`AnnotationSummary.pattern_lines`), and, for training, no usable
    person at all.

    Counted (MMPose drops them without a word): crowd regions, persons
    without labelled keypoints, persons whose box is empty after clipping
    to the image; counted and warned: the suspicious patterns of a few
    persons (keypoints far outside their box, boxes past the image edge).

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
    bad_images, duplicate_images, not_int_ids = [], [], []
    for i, img in enumerate(data['images']):
        if not isinstance(img, dict) or 'id' not in img or \
                isinstance(img['id'], (list, dict)):
            bad_images.append(f'#{i}')
            continue
        if isinstance(img['id'], bool) or not isinstance(img['id'], int):
            not_int_ids.append(repr(img['id']))
        if img['id'] in images:
            duplicate_images.append(img['id'])
        missing = [k for k in ('file_name', 'width', 'height') if k not in img]
        size_ok = all(isinstance(img.get(k), (int, float)) and img.get(k) > 0
                      for k in ('width', 'height'))
        if missing or not size_ok:
            bad_images.append(img['id'])
        else:
            summary.image_files[img['id']] = (img['file_name'], img['width'], img['height'])
        images[img['id']] = img
    summary.images = len(images)
    summary.image_ids = set(images)
    if bad_images:
        errors.append(
            f'{name}: {len(bad_images)} images lack an id, a file_name or a '
            f'positive width/height: image ids {format_ids(bad_images)}')
    if not_int_ids:
        errors.append(
            f'{name}: {len(not_int_ids)} image ids are not integers: '
            f'{format_ids(not_int_ids)}; COCO image ids are integers (detection files, '
            'results and COCOeval match them by value, and \'1\' is not 1): renumber the '
            'images and their annotations\' image_id')
    if duplicate_images:
        errors.append(f'{name}: image ids used twice: '
                      f'{format_ids(sorted(set(duplicate_images), key=str))}')

    seen_ann_ids: Set = set()
    duplicate_anns, orphans, no_iscrowd = [], [], []
    wrong_category, normalized = [], []
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
        problems = annotation_field_problems(ann, num_keypoints)
        for kind, problem in problems:
            bad_numbers.setdefault(kind, []).append(
                f'{ann_id} (image {ann.get("image_id")}: {problem})')
        if problems:
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
        # MMPose would train on / score this annotation as a person
        if ann.get('category_id') != PERSON_CATEGORY:
            wrong_category.append(f'{ann_id} (category_id {ann.get("category_id")!r})')
            continue
        if _person_patterns(summary, ann, img, keypoints):
            normalized.append(ann_id)
            continue
        summary.used += 1
        summary.used_images[img['id']] = img.get('file_name')

    if duplicate_anns:
        errors.append(f'{name}: annotation ids used twice (xtcocotools keeps '
                      f'only the last): {format_ids(sorted(set(duplicate_anns), key=str))}')
    if orphans:
        errors.append(f'{name}: {len(orphans)} annotations refer to an image_id '
                      f'that is not in "images": annotation ids {format_ids(orphans)}')
    if no_iscrowd:
        errors.append(f'{name}: {len(no_iscrowd)} annotations have no "iscrowd" '
                      '(MMPose\'s COCO reader needs it; 0 for a single person): '
                      f'annotation ids {format_ids(no_iscrowd)}')
    for key, items in bad_numbers.items():
        if key == 'has no "id"':
            errors.append(f'{name}: {len(items)} annotations have no "id": '
                          f'{format_ids(items)}')
            continue
        if key in FIELD_PROBLEMS:
            what, problem = FIELD_PROBLEMS[key]
            errors.append(f'{name}: the {what} of {len(items)} annotations {problem}: '
                          f'annotation ids {format_ids(items, 3)}')
            continue
        what = ('are not finite numbers' if key != 'keypoints' or
                num_keypoints is None else
                f'are not {3 * num_keypoints} finite numbers ({num_keypoints} '
                'keypoints x (x, y, visibility))')
        errors.append(
            f'{name}: the {key} of {len(items)} annotations {what}: annotation '
            f'ids {format_ids(items, 3)}; fix or remove these annotations')
    if wrong_category:
        errors.append(
            f'{name}: {len(wrong_category)} annotations with a box and labelled keypoints '
            f'have a category_id other than {PERSON_CATEGORY}, the person category: '
            f'annotation ids {format_ids(wrong_category, 3)}; MMPose\'s CocoDataset reads '
            'every annotation of an image as a person, and COCOeval scores them as another '
            'category (an instances_*.json instead of person_keypoints_*.json?); set '
            f'category_id {PERSON_CATEGORY} or remove them')
    if normalized:
        errors.append(
            f'{name}: the labelled keypoints of {len(normalized)} persons all lie within '
            f'0-1: annotation ids {format_ids(normalized)}; keypoints given as fractions '
            'of the image instead of pixels? COCO keypoints are x, y in image pixels '
            '(multiply x by the image width and y by its height)')
    errors.extend(text for is_error, text in summary.pattern_lines() if is_error)
    if training and not summary.errors and summary.used == 0:
        errors.append(
            f'{name} holds no usable person for top-down training (of '
            f'{summary.annotations} annotations: {summary.crowd} crowd regions, '
            f'{len(summary.no_keypoints)} without labelled keypoints '
            '(num_keypoints 0), '
            f'{len(summary.empty_box)} with empty boxes); it needs persons with '
            'a box and at least one labelled keypoint')
    return summary


@dataclass
class BBoxFileSummary:
    """What :func:`read_bbox_file` found in a detection file."""

    path: str
    detections: int = 0
    not_person: int = 0
    below_thr: int = 0
    best_person_score: Optional[float] = None
    #: image ids of the person boxes MMPose keeps (person category, score
    #: at or above the threshold)
    used_images: Set = field(default_factory=set)
    used: int = 0
    errors: List[str] = field(default_factory=list)

    def nothing_left(self, score_thr: Optional[float]) -> Optional[str]:
        """The error when no person box is left to evaluate, else None."""
        if self.errors or self.used:
            return None
        best = ('' if self.best_person_score is None else
                f' (the highest person score is {self.best_person_score:.4g})')
        thr = (f', {self.below_thr} person boxes score below bbox_score_thr={score_thr}'
               f'{best}' if score_thr is not None else '')
        return (f'bbox_file {osp.basename(self.path)} leaves no person box to evaluate: '
                f'of {self.detections} detections, {self.not_person} are not persons '
                f'(category_id other than {PERSON_CATEGORY}; MMPose keeps persons only)'
                f'{thr}; nothing would be evaluated (lower the threshold, or use the '
                'person detections of these images)')


def read_bbox_file(path: str, ann_image_ids: Set, ann_path: str,
                   score_thr: Optional[float] = None) -> BBoxFileSummary:
    """Check a detection file (COCO results format) against its annotation
    file: valid JSON, a list of ``{image_id, category_id, bbox, score}``
    with finite numbers and a non-empty box, image ids present in
    ``ann_path``; count what MMPose's ``CocoDataset(bbox_file=...)`` keeps
    (person boxes scoring at least ``score_thr``)."""
    summary = BBoxFileSummary(path=path)
    name = osp.basename(path)
    try:
        dets = load_json_file(path, 'bbox_file')
    except DataCheckError as exc:
        summary.errors.append(str(exc))
        return summary
    if not isinstance(dets, list):
        summary.errors.append(
            f'bbox_file {path} is not a detection file: expected a list of '
            '{"image_id", "category_id", "bbox": [x, y, w, h], "score"} '
            f'(COCO results format), got a {type(dets).__name__}')
        return summary
    errors = summary.errors
    summary.detections = len(dets)
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
        if det['category_id'] != PERSON_CATEGORY:
            summary.not_person += 1
            continue  # MMPose keeps persons only
        if det['bbox'][2] <= 0 or det['bbox'][3] <= 0:
            empty_box.append(f'#{i} (image {det["image_id"]})')
        if det['image_id'] not in ann_image_ids:
            unknown.append(det['image_id'])
        best = summary.best_person_score
        summary.best_person_score = det['score'] if best is None else max(best, det['score'])
        if score_thr is not None and det['score'] < score_thr:
            summary.below_thr += 1
            continue
        summary.used += 1
        summary.used_images.add(det['image_id'])
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
    return summary


def check_bbox_file(path: str, ann_image_ids: Set, ann_path: str) -> List[str]:
    """The problems :func:`read_bbox_file` finds (empty when usable)."""
    return read_bbox_file(path, ann_image_ids, ann_path).errors


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
WRONG_SIZE = ('not the size their annotation gives (the loader would crop other pixels '
              'than the keypoints were placed on)')


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


#: EXIF orientations that turn the image by 90 or 270 degrees when OpenCV
#: (MMPose's LoadImage, the ONNX runtime) reads it.
TURNING_ORIENTATIONS = (5, 6, 7, 8)


def image_header_size(path: str) -> Tuple[int, int, int]:
    """``(width, height, exif_orientation)`` of an image file as the loaders
    see it (after the EXIF orientation, which OpenCV applies), from its
    header alone: no pixel is decoded."""
    from PIL import Image
    with Image.open(path) as im:
        width, height = im.size
        orientation = 1
        if 'exif' in im.info or im.format == 'TIFF':  # a PNG would decode otherwise
            orientation = int(im.getexif().get(0x0112, 1) or 1)
    if orientation in TURNING_ORIENTATIONS:
        width, height = height, width
    return width, height, orientation


def _size_problem(path: str, width: Any, height: Any) -> Optional[str]:
    """What differs between the file's size and its entry's, or None."""
    try:
        file_w, file_h, orientation = image_header_size(path)
    except Exception:  # PIL cannot read the header: the decode check reports the file
        return None
    if (file_w, file_h) == (width, height):
        return None
    text = f'the file is {file_w}x{file_h}'
    if orientation in TURNING_ORIENTATIONS:
        text += (f' as loaded (stored {file_h}x{file_w}; its EXIF orientation {orientation} '
                 'turns it by 90 degrees when OpenCV reads it)')
    text += f', the annotation says {width}x{height}'
    if orientation in TURNING_ORIENTATIONS and (file_h, file_w) == (width, height):
        text += (': the loaders turn it against its keypoints; store the pixels turned '
                 '(e.g. PIL.ImageOps.exif_transpose) and turn the annotation, or drop the '
                 'EXIF orientation tag')
    elif (file_h, file_w) == (width, height):
        text += ': width and height swapped?'
    else:
        text += ': another image under this name, or a resized copy?'
    return text


def check_image_files(img_dir: str, images: Dict[Any, str], name: str,
                      decode: bool = False,
                      sizes: Optional[Dict[Any, Tuple[Any, Any]]] = None) -> List[str]:
    """Check the image files of ``images`` (image id -> file name) under
    ``img_dir``; return one error per kind of problem, naming the files and
    image ids. With ``sizes`` (image id -> the entry's (width, height)),
    each readable file's size (from its header, after its EXIF orientation)
    must match its entry: the keypoints were placed on that image."""
    problems: Dict[str, List[str]] = {}
    for img_id, file_name in images.items():
        path = osp.join(img_dir, str(file_name))
        problem = image_problem(path, decode)
        if problem is None and sizes and img_id in sizes:
            detail = _size_problem(path, *sizes[img_id])
            if detail:
                problem = WRONG_SIZE, detail
        if problem:
            kind, detail = problem
            shown = '' if kind == MISSING else f': {detail}'
            problems.setdefault(kind, []).append(f'{path} (image {img_id}{shown})')
    errors = []
    for kind in (MISSING, NOT_IMAGE, UNREADABLE, CORRUPT, WRONG_SIZE):
        items = problems.get(kind)
        if items:
            errors.append(f'{name}: {len(items)} image files are {kind}: '
                          f'{format_ids(items, 3)}')
    return errors


@dataclass
class DatasetFilesCheck:
    """What :func:`check_dataset_files` found for one dataset."""

    annotations: AnnotationSummary
    bbox: Optional[BBoxFileSummary] = None
    #: image ids the model will run on (a used person or a kept detection)
    predicted_images: Set = field(default_factory=set)
    errors: List[str] = field(default_factory=list)


def check_dataset_files(ann_file: str, img_dir: str, name: str, *,
                        num_keypoints: Optional[int] = None, training: bool = False,
                        bbox_file: Optional[str] = None,
                        bbox_score_thr: Optional[float] = None,
                        all_images: bool = False, persons_required: bool = True,
                        decode: bool = False,
                        summary: Optional[AnnotationSummary] = None) -> DatasetFilesCheck:
    """Check one top-down dataset's files together: its annotation file
    (:func:`check_coco_annotations`), its ``bbox_file`` if any
    (:func:`read_bbox_file`), and the image files the model will see
    (exist, are images, have the size their entry gives).

    Args:
        ann_file: the COCO annotation file.
        img_dir: the folder its ``file_name`` entries are relative to.
        name: how messages name the dataset.
        num_keypoints: ``K`` of the dataset (None: not checked).
        training: a training set (needs a usable person; no bbox_file).
        bbox_file: detections to evaluate on instead of ground-truth boxes.
        bbox_score_thr: ``filter_cfg.bbox_score_thr`` of the detections.
        all_images: the model runs on every image of the file (a bottom-up
            or detector tool), not only on those with persons.
        persons_required: an evaluation set needs at least one person to
            evaluate (False for a detector, which makes the boxes).
        decode: decode every image (slow).
        summary: the annotation file's summary, if already made.
    """
    summary = summary or check_coco_annotations(ann_file, num_keypoints, training)
    result = DatasetFilesCheck(annotations=summary)
    if summary.errors:
        return result  # the images are checked once the annotation file is usable
    ann_name = osp.basename(ann_file)
    if bbox_file and not training:
        result.bbox = read_bbox_file(bbox_file, summary.image_ids, ann_file, bbox_score_thr)
        result.errors.extend(result.bbox.errors)
        nothing = result.bbox.nothing_left(bbox_score_thr) if persons_required else None
        if nothing:
            result.errors.append(nothing)
        result.predicted_images = result.bbox.used_images & summary.image_ids
    else:
        result.predicted_images = set(summary.used_images)
        if not training and persons_required and summary.used == 0:
            result.errors.append(
                f'{ann_name} holds no person to evaluate on ground-truth boxes (of '
                f'{summary.annotations} annotations: {summary.crowd} crowd regions, '
                f'{len(summary.no_keypoints)} without labelled keypoints, '
                f'{len(summary.empty_box)} with empty boxes): MMPose scores non-crowd '
                'persons with a box and labelled keypoints; nothing would be evaluated '
                '(give a bbox_file of detections, or another annotation file)')
    if all_images:
        result.predicted_images = set(summary.image_files)
    files = {i: summary.image_files[i][0] for i in sorted(result.predicted_images, key=str)
             if i in summary.image_files}
    sizes = {i: summary.image_files[i][1:] for i in files}
    result.errors.extend(check_image_files(img_dir, files, f'{name} ({ann_name})',
                                           decode=decode, sizes=sizes))
    return result
