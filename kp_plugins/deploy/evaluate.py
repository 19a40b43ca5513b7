"""COCO keypoint AP of an exported ONNX model, computed by MMPose's own
``CocoDataset`` (ground-truth or ``bbox_file`` person boxes) and
``CocoMetric`` -- the numbers ``tools/test.py`` prints for the checkpoint.

The model runs through :class:`kp_plugins.deploy.runtime.OnnxPoseModel`
(numpy + onnxruntime); MMPose is used only to read the annotations and to
score.
"""
import os.path as osp
import sys
from collections import OrderedDict
from typing import Dict, List, Optional

import numpy as np

from .runtime import OnnxPoseModel


def evaluate_onnx(model: OnnxPoseModel, ann_file: str, img_prefix: str = '',
                  data_root: str = '', bbox_file: Optional[str] = None,
                  bbox_score_thr: Optional[float] = None,
                  metric_options: Optional[dict] = None,
                  log_every: int = 0,
                  predictions: Optional[list] = None) -> Dict[str, float]:
    """Score ``model`` on a COCO person-keypoints annotation file.

    Args:
        model: the ONNX model.
        ann_file: COCO annotation file (scored against; also the persons'
            boxes unless ``bbox_file`` is given).
        img_prefix: image folder (``data_prefix.img``), relative to
            ``data_root`` unless absolute.
        data_root: the dataset root, as in MMPose configs.
        bbox_file: COCO results file of detected person boxes.
        bbox_score_thr: drop detected boxes below this score.
        metric_options: extra ``CocoMetric`` arguments (``score_mode``,
            ``nms_mode``, ``nms_thr``...).
        log_every: print progress every N images (0: never).
        predictions: if given, every person's data sample (``id``,
            ``img_id``, ``pred_instances`` with image-pixel ``keypoints``
            (1, K, 2) and ``keypoint_scores`` (1, K)) is appended to it.

    Returns:
        ``CocoMetric``'s results, e.g. ``{'coco/AP': ..., 'coco/AR': ...}``.
    """
    from mmpose.datasets import CocoDataset
    from mmpose.evaluation import CocoMetric

    filter_cfg = None
    if bbox_score_thr is not None:
        filter_cfg = dict(bbox_score_thr=bbox_score_thr)
    dataset = CocoDataset(ann_file=ann_file, data_root=data_root,
                          data_prefix=dict(img=img_prefix), data_mode='topdown',
                          test_mode=True, bbox_file=bbox_file,
                          filter_cfg=filter_cfg, pipeline=[])
    metric = CocoMetric(ann_file=osp.join(data_root, ann_file)
                        if data_root and not osp.isabs(ann_file) else ann_file,
                        **(metric_options or {}))
    metric.dataset_meta = dataset.metainfo

    by_image: Dict[str, List[dict]] = OrderedDict()
    for index in range(len(dataset)):
        info = dataset.get_data_info(index)
        by_image.setdefault(info['img_path'], []).append(info)
    for done, (img_path, infos) in enumerate(by_image.items(), 1):
        samples = predict_image(model, img_path, infos)
        metric.process([], samples)
        if predictions is not None:
            predictions.extend(samples)
        if log_every and done % log_every == 0:
            print(f'[{done}/{len(by_image)}] images', file=sys.stderr)
    return metric.evaluate(len(dataset))


def predict_image(model: OnnxPoseModel, img_path: str,
                  infos: List[dict]) -> List[dict]:
    """``CocoMetric`` data samples for the persons ``infos`` of one image
    (``CocoDataset`` data infos), predicted by ``model``."""
    import cv2
    image = cv2.imread(img_path, cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f'cannot read image {img_path!r}')
    bboxes = np.concatenate([np.asarray(i['bbox'], np.float32).reshape(1, 4)
                             for i in infos])
    keypoints, scores, scales = model.predict_with_crops(image, bboxes)
    samples = []
    for n, info in enumerate(infos):
        samples.append(dict(
            id=info['id'], img_id=info['img_id'],
            category_id=info.get('category_id', 1),
            ori_shape=image.shape[:2],
            pred_instances=dict(
                keypoints=keypoints[n:n + 1],
                keypoint_scores=scores[n:n + 1],
                bboxes=bboxes[n:n + 1],
                bbox_scores=np.asarray(info['bbox_score'],
                                       np.float32).reshape(1)),
            gt_instances=dict(bbox_scales=scales[n:n + 1])))
    return samples


def evaluate_onnx_bottomup(model, ann_file: str, img_prefix: str = '',
                           data_root: str = '',
                           metric_options: Optional[dict] = None,
                           log_every: int = 0, batch_size: int = 1,
                           predictions: Optional[list] = None
                           ) -> Dict[str, float]:
    """Score a bottom-up ONNX model
    (:class:`kp_plugins.deploy.bottomup_runtime.OnnxBottomupPoseModel`) on
    whole images: every image of ``ann_file`` (those without persons too,
    as MMPose's bottom-up test set holds them), no ground-truth boxes; the
    data samples ``CocoMetric`` gets are those of ``tools/test.py``'s
    bottom-up run (the image's annotation ids as ``id``, the model's boxes
    and box scores).

    Args:
        model: the bottom-up ONNX model.
        ann_file, img_prefix, data_root, metric_options, log_every,
            predictions: as :func:`evaluate_onnx` (one data sample per
            image).
        batch_size: images per run of the graph.

    Returns:
        ``CocoMetric``'s results.
    """
    import cv2
    from mmpose.datasets import CocoDataset
    from mmpose.evaluation import CocoMetric

    dataset = CocoDataset(ann_file=ann_file, data_root=data_root,
                          data_prefix=dict(img=img_prefix),
                          data_mode='bottomup', test_mode=True, pipeline=[])
    metric = CocoMetric(ann_file=osp.join(data_root, ann_file)
                        if data_root and not osp.isabs(ann_file) else ann_file,
                        **(metric_options or {}))
    metric.dataset_meta = dataset.metainfo
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    for start in range(0, len(infos), max(int(batch_size), 1)):
        chunk = infos[start:start + max(int(batch_size), 1)]
        images = []
        for info in chunk:
            image = cv2.imread(info['img_path'], cv2.IMREAD_COLOR)
            if image is None:
                raise FileNotFoundError(
                    f'cannot read image {info["img_path"]!r}')
            images.append(image)
        samples = []
        for info, image, persons in zip(chunk, images,
                                        model.predict_batch(images)):
            samples.append(dict(
                id=list(info.get('id') or []), img_id=info['img_id'],
                category_id=1, ori_shape=image.shape[:2],
                pred_instances=dict(
                    keypoints=persons.keypoints,
                    keypoint_scores=persons.keypoint_scores,
                    bboxes=persons.bboxes, bbox_scores=persons.bbox_scores),
                gt_instances=dict()))
        metric.process([], samples)
        if predictions is not None:
            predictions.extend(samples)
        done = start + len(chunk)
        if log_every and (done // log_every > start // log_every):
            print(f'[{done}/{len(infos)}] images', file=sys.stderr)
    return metric.evaluate(len(dataset))
