"""Ultralytics YOLO-pose datasets -> COCO person-keypoint json.

:func:`yolo_to_coco` is the inverse of
:func:`~kp_plugins.ultralytics.coco2yolo.coco_to_yolo`: ``category_id =
cls + 1``, keypoints and boxes in pixels, ``num_keypoints`` = labelled
keypoints, ``iscrowd = 0``. What YOLO labels do not store comes back as:
``area = max(0.53 * w * h, 1)`` (MMPose's own fallback when a COCO
annotation lacks ``area``), no segmentation, annotation ids ``1..``, image ids
taken from the file name when every stem is an integer (COCO's
``000000012345.jpg`` -> 12345), else ``1..`` in file-name order.

So COCO -> YOLO -> COCO gives back every non-crowd person with a box, in the
same order per image, keypoints within ``0.5e-6 * W`` px, visibility and
box within float rounding; crowd regions are the documented loss.
"""
import json
import os
import os.path as osp
from typing import List, Optional

import numpy as np

from ..utils.metainfo import coco_skeleton, keypoint_names, load_pose_metainfo
from .yolo_format import (
    YoloLabelError,
    image_size,
    img2label_path,
    load_data_yaml,
    read_yolo_labels,
    split_images,
)


def yolo_to_coco(data_yaml: str, split: str = 'val', out_file: Optional[str] = None,
                 metainfo: Optional[str] = None, decimals: Optional[int] = 3) -> dict:
    """Convert one split of a YOLO-pose dataset to a COCO keypoint json.

    Args:
        data_yaml (str): Ultralytics dataset YAML (``path``, splits,
            ``kpt_shape``, ``names``, optional ``kpt_names``).
        split (str): which split to convert.
        out_file (str, optional): where to write the json.
        metainfo (str, optional): MMPose metainfo for the COCO ``categories``
            (keypoint names, skeleton) when K matches it; default COCO-17.
        decimals (int, optional): pixel decimals kept for boxes and
            keypoints (None: no rounding).

    Returns:
        dict: the COCO json (``images`` with ``file_name`` relative to the
        split's image folder, ``annotations``, ``categories``).
    """
    data = load_data_yaml(data_yaml)
    num_keypoints, ndim = data['kpt_shape']
    base, files = split_images(data, split)
    if not files:
        raise FileNotFoundError(f'{data_yaml}: no images found for split "{split}"')

    kpt_names = None
    if isinstance(data.get('kpt_names'), dict) and data['kpt_names']:
        kpt_names = list(next(iter(data['kpt_names'].values())))
    skeleton: List[List[int]] = []
    try:
        meta = load_pose_metainfo(metainfo)
        if int(meta['num_keypoints']) == num_keypoints:
            kpt_names = kpt_names or keypoint_names(meta)
            skeleton = coco_skeleton(meta)
    except (ImportError, FileNotFoundError):
        pass
    kpt_names = kpt_names or [str(i) for i in range(num_keypoints)]
    categories = [dict(id=int(i) + 1, name=str(name), supercategory=str(name),
                       keypoints=kpt_names, skeleton=skeleton)
                  for i, name in sorted(data['names'].items())]

    rel_names = [osp.relpath(f, base) for f in files]
    stems = [osp.splitext(osp.basename(f))[0] for f in files]
    use_stem_ids = all(s.isdigit() for s in stems) and len(set(int(s) for s in stems)) == len(stems)
    images, annotations, errors = [], [], []
    for index, (img_path, rel) in enumerate(zip(files, rel_names)):
        width, height = image_size(img_path)
        image_id = int(stems[index]) if use_stem_ids else index + 1
        images.append(dict(id=image_id, file_name=rel, width=width, height=height))
        label_file = img2label_path(img_path)
        if not osp.isfile(label_file):
            continue
        try:
            rows = read_yolo_labels(label_file, num_keypoints, ndim, len(data['names']))
        except YoloLabelError as e:
            errors.append(str(e).split('\n', 1)[1])
            continue
        scale = np.array([width, height], dtype=np.float64)
        for row in rows:
            cx, cy, bw, bh = row[1:5] * np.tile(scale, 2)
            kpts = row[5:].reshape(num_keypoints, ndim)
            xy = kpts[:, :2] * scale
            vis = (kpts[:, 2].astype(int) if ndim == 3 else
                   np.where((kpts[:, :2] > 0).any(axis=1), 2, 0))
            xy[vis == 0] = 0
            out_kpts = np.concatenate([_round(xy, decimals), vis[:, None]], axis=1)
            box = [float(v) for v in _round(np.array([cx - bw / 2, cy - bh / 2, bw, bh]), decimals)]
            annotations.append(dict(
                id=len(annotations) + 1, image_id=image_id, category_id=int(row[0]) + 1,
                bbox=box, area=float(_round(np.array(max(0.53 * bw * bh, 1.0)), decimals)),
                iscrowd=0,
                num_keypoints=int((vis > 0).sum()),
                keypoints=[int(v) if j % 3 == 2 else float(v)
                           for j, v in enumerate(out_kpts.reshape(-1).tolist())]))
    if errors:
        raise YoloLabelError('bad YOLO-pose labels:\n' + '\n'.join(errors))
    coco = dict(info=dict(description=f'converted from {osp.abspath(data_yaml)} split {split} '
                          'by kp_plugins (tools/yolo2coco.py)'),
                images=images, annotations=annotations, categories=categories)
    if out_file:
        os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
        with open(out_file, 'w') as f:
            json.dump(coco, f)
    return coco


def _round(values: np.ndarray, decimals: Optional[int]) -> np.ndarray:
    return values if decimals is None else np.round(values, decimals)
