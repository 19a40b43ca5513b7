"""Score YOLO-pose predictions with MMPose's CocoMetric, as tools/test.py does.

Symbols: ``N`` persons predicted in an image, ``K`` keypoints.

Each image becomes one bottom-up data sample, the dict MMEngine's
``Evaluator`` hands to ``CocoMetric.process`` for MMPose's one-stage models::

    id              list of N instance indices (a list marks the sample as
                    bottom-up, so CocoMetric keeps every instance)
    img_id          the COCO image id
    category_id     1 (person)
    ori_shape       (H, W)
    gt_instances    {} (ground truth comes from the annotation file)
    pred_instances  keypoints (N, K, 2) image pixels, keypoint_scores (N, K),
                    bboxes (N, 4) xyxy pixels, bbox_scores (N,)

CocoMetric then rescores (``bbox_score`` x mean keypoint score above 0.2),
runs OKS-NMS (thr 0.9) with the dataset sigmas and evaluates with
xtcocotools against ``ann_file`` - the defaults of the ``val_evaluator`` in
``configs/_base_/datasets/coco_topdown.py``, so ``coco/AP`` is comparable
with approaches 1-4.
"""
import json
import os.path as osp
import warnings
from typing import Dict, Iterable, List, NamedTuple, Optional

import numpy as np

COCO_STATS = ('AP', 'AP .5', 'AP .75', 'AP (M)', 'AP (L)', 'AR', 'AR .5', 'AR .75', 'AR (M)',
              'AR (L)')


class CocoImage(NamedTuple):
    """One image of a COCO annotation file."""
    img_id: int
    path: str
    width: int
    height: int


def load_coco_images(ann_file: str, img_dir: str) -> List[CocoImage]:
    """Every image of ``ann_file`` (annotated or not), in file order."""
    with open(ann_file) as f:
        coco = json.load(f)
    if 'images' not in coco:
        raise ValueError(f'{ann_file}: no "images" list; not a COCO annotation file')
    images = []
    for img in coco['images']:
        path = osp.join(img_dir, img['file_name'])
        if not osp.isfile(path):
            raise FileNotFoundError(f'{ann_file}: image id {img["id"]}: {path} does not exist')
        images.append(CocoImage(int(img['id']), path, int(img['width']), int(img['height'])))
    return images


def make_sample(img: CocoImage, keypoints: np.ndarray, keypoint_scores: np.ndarray,
                bboxes: np.ndarray, bbox_scores: np.ndarray, category_id: int = 1) -> dict:
    """One bottom-up data sample for ``CocoMetric.process``.

    Args:
        img (CocoImage): the image.
        keypoints (np.ndarray): (N, K, 2) image pixels.
        keypoint_scores (np.ndarray): (N, K).
        bboxes (np.ndarray): (N, 4) xyxy image pixels.
        bbox_scores (np.ndarray): (N,).
        category_id (int): COCO category of the instances.
    """
    keypoints = np.asarray(keypoints, dtype=np.float32)
    num = len(keypoints)
    num_keypoints = keypoints.shape[1] if keypoints.ndim == 3 else 0
    return dict(
        id=list(range(num)), img_id=img.img_id, category_id=category_id,
        ori_shape=(img.height, img.width), gt_instances={},
        pred_instances=dict(
            keypoints=keypoints.reshape(num, num_keypoints, 2),
            keypoint_scores=np.asarray(keypoint_scores, dtype=np.float32).reshape(
                num, num_keypoints),
            bboxes=np.asarray(bboxes, dtype=np.float32).reshape(num, 4),
            bbox_scores=np.asarray(bbox_scores, dtype=np.float32).reshape(num)))


def sample_from_result(img: CocoImage, result, class_id: int = 0, category_id: int = 1) -> dict:
    """Turn one Ultralytics pose ``Results`` into a data sample, keeping the
    detections of ``class_id`` (keypoints without a confidence channel, i.e.
    ``kpt_shape [K, 2]``, get score 1)."""
    boxes = result.boxes
    keep = (boxes.cls.cpu().numpy().astype(int) == class_id) if len(boxes) else np.zeros(0, bool)
    data = result.keypoints.data.cpu().numpy() if result.keypoints is not None else None
    if data is None or len(data) == 0:
        num_keypoints = data.shape[1] if data is not None and data.ndim == 3 else 0
        return make_sample(img, np.zeros((0, num_keypoints, 2)), np.zeros((0, num_keypoints)),
                           np.zeros((0, 4)), np.zeros(0), category_id)
    data = data[keep]
    scores = data[..., 2] if data.shape[-1] == 3 else np.ones(data.shape[:2], np.float32)
    return make_sample(img, data[..., :2], scores, boxes.xyxy.cpu().numpy()[keep],
                       boxes.conf.cpu().numpy()[keep], category_id)


def ground_truth_samples(ann_file: str, images: Iterable[CocoImage]) -> List[dict]:
    """The ground truth as predictions (a check of the scoring path: AP = 1).

    Every non-crowd person with at least one labelled keypoint becomes a
    prediction with score 1; labelled keypoints keep their place (score 1),
    unlabelled ones sit at the box centre with score 0 (COCO's OKS ignores
    them). Crowd regions and keypoint-less persons are ignored by COCO's
    keypoint evaluation, so they are not predicted.
    """
    with open(ann_file) as f:
        coco = json.load(f)
    by_image: Dict[int, List[dict]] = {}
    for ann in coco['annotations']:
        kpts = np.asarray(ann.get('keypoints') or [], dtype=np.float64).reshape(-1, 3)
        if ann.get('iscrowd', 0) or not (kpts[:, 2] > 0).any():
            continue
        by_image.setdefault(ann['image_id'], []).append(ann)
    samples = []
    for img in images:
        anns = by_image.get(img.img_id, [])
        keypoints, scores, bboxes = [], [], []
        for ann in anns:
            kpts = np.asarray(ann['keypoints'], dtype=np.float64).reshape(-1, 3)
            x, y, w, h = ann['bbox']
            labelled = kpts[:, 2] > 0
            xy = kpts[:, :2].copy()
            xy[~labelled] = (x + w / 2, y + h / 2)
            keypoints.append(xy)
            scores.append(labelled.astype(np.float32))
            bboxes.append([x, y, x + w, y + h])
        num_keypoints = len(keypoints[0]) if keypoints else 0
        samples.append(make_sample(
            img, np.asarray(keypoints).reshape(len(anns), num_keypoints, 2),
            np.asarray(scores).reshape(len(anns), num_keypoints),
            np.asarray(bboxes).reshape(len(anns), 4), np.ones(len(anns)),
            ann_category(anns)))
    return samples


def ann_category(anns: List[dict]) -> int:
    return int(anns[0].get('category_id', 1)) if anns else 1


def coco_metric_scores(samples: List[dict], ann_file: str, meta: dict,
                       outfile_prefix: Optional[str] = None, **metric_kwargs) -> Dict[str, float]:
    """Run MMPose's CocoMetric over the samples, as MMEngine's Evaluator does
    (``dataset_meta``, ``process`` per batch, ``evaluate(dataset size)``).

    Args:
        samples (list[dict]): one data sample per image (:func:`make_sample`).
        ann_file (str): COCO ground-truth json.
        meta (dict): parsed MMPose metainfo (sigmas, num_keypoints).
        outfile_prefix (str, optional): writes
            ``<prefix>.keypoints.json`` (COCO results format).
        **metric_kwargs: other CocoMetric arguments (score_mode, nms_mode...).

    Returns:
        dict: ``coco/AP``, ``coco/AP .5``, ... ``coco/AR (L)``.
    """
    from mmpose.evaluation import CocoMetric

    metric = CocoMetric(ann_file=ann_file, outfile_prefix=outfile_prefix, **metric_kwargs)
    metric.dataset_meta = meta
    if not any(len(s['pred_instances']['keypoints']) for s in samples):
        # xtcocotools cannot load an empty result list; nothing found scores 0.
        warnings.warn('no person predicted in any image: every coco/ metric is 0')
        if outfile_prefix:
            with open(f'{outfile_prefix}.keypoints.json', 'w') as f:
                json.dump([], f)
        return {f'coco/{name}': 0.0 for name in COCO_STATS}
    batch = 8
    for start in range(0, len(samples), batch):
        chunk = samples[start:start + batch]
        metric.process([dict(inputs=None, data_samples=None)] * len(chunk), chunk)
    return metric.evaluate(len(samples))
