"""Write and read person-box files in COCO results format.

A bbox file is the JSON list MMPose's ``CocoDataset(bbox_file=...)`` reads
for top-down evaluation on detector boxes, one entry per box::

    {"image_id": 785, "category_id": 1, "bbox": [x, y, w, h], "score": 0.98}

``bbox`` is COCO's ``[x, y, w, h]`` in image pixels; ``image_id`` must be an
image of the ``ann_file`` the dataset is given (see
:mod:`kp_plugins.apis.images`).
"""
import json
import os
import os.path as osp
import sys
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np

from .images import ImageSource, UnreadableImageError, read_image, write_image_info
from .person_detection import PersonDetector


class BBoxFileError(ValueError):
    """A bbox file that is not a COCO results list of person boxes."""


def boxes_to_coco_results(image_id: int, boxes: np.ndarray) -> List[dict]:
    """COCO result entries (``category_id`` 1) for an (N, 5) xyxy+score
    array of one image."""
    results = []
    for x1, y1, x2, y2, score in np.asarray(boxes, dtype=np.float64).reshape(-1, 5):
        results.append(dict(
            image_id=int(image_id), category_id=1,
            bbox=[round(x1, 3), round(y1, 3), round(x2 - x1, 3), round(y2 - y1, 3)],
            score=round(float(score), 6)))
    return results


@dataclass
class DetectionSummary:
    """What :func:`detect_to_bbox_file` did."""
    out_file: str
    num_images: int = 0
    num_detected: int = 0
    num_boxes: int = 0
    skipped: List[Tuple[str, str]] = field(default_factory=list)
    image_info_file: Optional[str] = None

    def lines(self) -> List[str]:
        lines = [f'images: {self.num_images}, detected: {self.num_detected}, '
                 f'skipped (unreadable): {len(self.skipped)}',
                 f'person boxes written: {self.num_boxes} '
                 f'({self.num_boxes / max(self.num_detected, 1):.2f} per image) -> {self.out_file}']
        for path, reason in self.skipped:
            lines.append(f'  skipped {path}: {reason}')
        if self.image_info_file:
            lines.append(f'image info (ann_file for this bbox file): {self.image_info_file}')
        return lines


def detect_to_bbox_file(detector: PersonDetector, source: ImageSource, out_file: str,
                        batch_size: int = 1, image_info_file: Optional[str] = None,
                        progress: bool = True) -> DetectionSummary:
    """Run ``detector`` over ``source`` and write the bbox file.

    An image that cannot be read is named on stderr, skipped and counted;
    the others are still processed. For a folder or list source (ids
    ``1..N``), ``image_info_file`` receives the matching COCO image-info
    file (the images that could be read).

    Returns:
        DetectionSummary: counts, skipped files, output paths.
    """
    if batch_size < 1:
        raise ValueError(f'batch size must be >= 1, got {batch_size}')
    summary = DetectionSummary(out_file=out_file, num_images=len(source.records),
                               image_info_file=image_info_file)
    results: List[dict] = []
    image_infos: List[dict] = []
    bar = None
    if progress:
        from mmengine.utils import ProgressBar
        bar = ProgressBar(len(source.records))
    records = source.records
    for start in range(0, len(records), batch_size):
        chunk = records[start:start + batch_size]
        images, readable = [], []
        for rec in chunk:
            try:
                img = read_image(rec.path)
            except UnreadableImageError as exc:
                summary.skipped.append((rec.path, exc.reason))
                print(f'\nwarning: skipped unreadable image {rec.path}: {exc.reason}',
                      file=sys.stderr, flush=True)
                continue
            images.append(img)
            readable.append(rec)
        for rec, img, boxes in zip(readable, images, detector(images)):
            results.extend(boxes_to_coco_results(rec.image_id, boxes))
            image_infos.append(dict(id=rec.image_id, file_name=rec.file_name,
                                    width=int(img.shape[1]), height=int(img.shape[0])))
        summary.num_detected += len(readable)
        if bar is not None:
            bar.update(len(chunk))
    if bar is not None:
        bar.file.write('\n')
    summary.num_boxes = len(results)
    os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
    with open(out_file, 'w', encoding='utf-8') as f:
        json.dump(results, f)
    if image_info_file:
        write_image_info(image_infos, image_info_file)
    return summary


def load_bbox_file(path: str) -> Dict[int, np.ndarray]:
    """Person boxes of a bbox file by image id.

    Returns:
        dict: ``image_id`` -> (N, 5) float32 ``[x1, y1, x2, y2, score]``
        (entries with ``category_id != 1`` are ignored, as CocoDataset does).

    Raises:
        BBoxFileError: not a list of COCO result dicts.
    """
    if not osp.isfile(path):
        raise BBoxFileError(f'bbox file {path!r} not found')
    try:
        with open(path, encoding='utf-8') as f:
            entries = json.load(f)
    except json.JSONDecodeError as exc:
        raise BBoxFileError(f'bbox file {path!r} is not valid JSON: {exc}') from exc
    if not isinstance(entries, list):
        raise BBoxFileError(f'bbox file {path!r} must hold a list of COCO results, '
                            f'got {type(entries).__name__}')
    boxes: Dict[int, List[List[float]]] = {}
    for i, det in enumerate(entries):
        if not isinstance(det, dict) or not {'image_id', 'bbox', 'score'} <= set(det):
            raise BBoxFileError(f'bbox file {path!r}: entry {i} lacks image_id, bbox or score')
        if det.get('category_id', 1) != 1:
            continue
        x, y, w, h = (float(v) for v in det['bbox'][:4])
        boxes.setdefault(int(det['image_id']), []).append([x, y, x + w, y + h, float(det['score'])])
    return {k: np.asarray(v, dtype=np.float32).reshape(-1, 5) for k, v in boxes.items()}
