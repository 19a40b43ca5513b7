"""Top-down poses for given person boxes, as JSON and as drawings.

Thin wrappers around MMPose's own API (``mmpose.apis.init_model``,
``inference_topdown``, ``PoseLocalVisualizer``) that work the same for
kp_plugins' and MMPose's configs: importing kp_plugins first registers our
heads and codecs, and makes MMEngine checkpoints loadable under
``torch.load(weights_only=True)``.

Symbols: ``N`` persons, ``K`` keypoints.
"""
import os.path as osp
from typing import List, Optional

import numpy as np

from ..engine.checkpoint import (
    CheckpointFileError,
    CheckpointMismatchError,
    load_model_checkpoint,
)
from ..utils.config_check import (
    ConfigConsistencyError,
    check_codec_input_sizes,
    merge_cfg_options,
)
from ..utils.paths import ConfigNotFoundError, resolve_config_path
from .person_detection import default_device


class PoseModelError(ValueError):
    """A pose config or checkpoint that cannot be used for inference."""


def load_pose_model(config: str, checkpoint: Optional[str], device: Optional[str] = None,
                    cfg_options: Optional[dict] = None, bottomup_ok: bool = False):
    """``mmpose.apis.init_model`` for a top-down config (ours or MMPose's,
    path or ``mmpose::...``) and a local checkpoint; with ``bottomup_ok``
    also a bottom-up one (``BottomupPoseEstimator``, e.g.
    ``configs/yolo_effl0_256.py``: :func:`predict_poses_bottomup`).

    ``model.dataset_meta`` comes from the checkpoint's
    ``meta.dataset_meta`` (what MMEngine's CheckpointHook saves), else
    from the config's training dataset.

    The checkpoint must fit the model (every weight, no other): the
    checkpoint of another config is refused, naming the config it was
    saved with (:func:`kp_plugins.engine.checkpoint.check_model_checkpoint`).

    Raises:
        PoseModelError: missing files, a config MMPose cannot build, a
            bottom-up model (without ``bottomup_ok``), or a checkpoint that
            is not one or does not fit the model.
    """
    from mmengine.config import Config
    from mmpose.apis import init_model

    import kp_plugins  # noqa: F401  (registers our modules, allows MMEngine checkpoints)

    try:
        config = resolve_config_path(config)
    except ConfigNotFoundError as exc:
        raise PoseModelError(str(exc)) from exc
    if checkpoint is not None and not osp.isfile(checkpoint):
        raise PoseModelError(f'pose checkpoint {checkpoint!r} not found')
    try:
        cfg = Config.fromfile(config)
    except Exception as exc:
        raise PoseModelError(
            f'cannot load pose config {config!r}: {type(exc).__name__}: {exc}') from exc
    if cfg_options:
        merge_cfg_options(cfg, cfg_options)
    try:  # crops, codec and decode of one input size
        check_codec_input_sizes(cfg, ('test', ))
    except ConfigConsistencyError as exc:
        raise PoseModelError(f'{config}: {exc}') from exc
    model_type = cfg.get('model', {}).get('type')
    allowed = ('TopdownPoseEstimator', 'BottomupPoseEstimator') if bottomup_ok else (
        'TopdownPoseEstimator', )
    if model_type not in allowed:
        raise PoseModelError(
            f'{config!r} builds a {model_type!r}; this runs '
            + (' or '.join(allowed) + ' models' if bottomup_ok else
               'top-down pose models (TopdownPoseEstimator) on person boxes'))
    # init_model drops a pretrained init_cfg only without cfg_options; the
    # checkpoint holds all weights, so never fetch a backbone here.
    if 'init_cfg' in cfg.model.get('backbone', {}):
        cfg.model.backbone.init_cfg = None
    try:
        model = init_model(cfg, None, device=device or default_device())
    except Exception as exc:
        raise PoseModelError(
            f'cannot build the pose model from {config!r}: {type(exc).__name__}: {exc}') from exc
    if checkpoint is not None:
        # init_model loads non-strictly: another model's checkpoint would
        # leave a random head. Check the keys first, then load.
        try:
            ckpt = load_model_checkpoint(model, checkpoint, config=config)
        except (CheckpointFileError, CheckpointMismatchError) as exc:
            raise PoseModelError(str(exc)) from exc
        if 'dataset_meta' in (ckpt.get('meta') or {}):  # as init_model: checkpoint > config
            model.dataset_meta = ckpt['meta']['dataset_meta']
    return model


def predict_poses(model, image: np.ndarray, boxes: np.ndarray):
    """Poses of the persons in ``boxes`` (``inference_topdown``), merged into
    one ``PoseDataSample``.

    Args:
        model: a top-down pose estimator from :func:`load_pose_model`.
        image: (H, W, 3) uint8 BGR.
        boxes: (N, 5) ``[x1, y1, x2, y2, score]`` image pixels.

    Returns:
        PoseDataSample: ``pred_instances`` with ``keypoints`` (N, K, 2),
        ``keypoint_scores`` (N, K), ``bboxes`` (N, 4), ``bbox_scores`` (N,);
        ``N == 0`` when there is no box (no whole-image fallback).
    """
    from mmpose.apis import inference_topdown
    from mmpose.structures import merge_data_samples

    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 5)
    if len(boxes) == 0:
        num_keypoints = model.dataset_meta['num_keypoints']
        return poses_sample(image.shape[:2], np.zeros((0, num_keypoints, 2), np.float32),
                            np.zeros((0, num_keypoints), np.float32), boxes)
    samples = inference_topdown(model, image, boxes[:, :4], bbox_format='xyxy')
    for sample, score in zip(samples, boxes[:, 4]):
        # inference_topdown gives every box score 1; keep the detector's.
        sample.pred_instances.bbox_scores = np.array([score], dtype=np.float32)
    return merge_data_samples(samples)


def is_bottomup(model) -> bool:
    """Whether ``model`` (from :func:`load_pose_model`) finds the persons
    itself (MMPose's ``BottomupPoseEstimator``)."""
    return type(model).__name__ == 'BottomupPoseEstimator'


def predict_poses_bottomup(model, image: np.ndarray, bbox_thr: float = 0.0):
    """Poses of the persons a bottom-up model finds (``inference_bottomup``),
    those with a person score of at least ``bbox_thr``.

    Args:
        model: a bottom-up pose estimator from :func:`load_pose_model`.
        image: (H, W, 3) uint8 BGR.

    Returns:
        PoseDataSample: as :func:`predict_poses` (``bboxes`` and
        ``bbox_scores`` are the model's own).
    """
    from mmpose.apis import inference_bottomup

    sample = inference_bottomup(model, image)[0]
    pred = sample.pred_instances
    num = len(pred.keypoints)
    scores = (np.asarray(pred.bbox_scores, np.float32).reshape(-1) if 'bbox_scores' in pred
              else np.ones(num, np.float32))
    if 'bboxes' in pred:
        bboxes = np.asarray(pred.bboxes, np.float32).reshape(-1, 4)
    else:  # a model without boxes: the keypoints' extent
        kpts = np.asarray(pred.keypoints, np.float32).reshape(num, -1, 2)
        bboxes = np.concatenate([kpts.min(1), kpts.max(1)], -1) if num else np.zeros((0, 4))
    keep = scores >= bbox_thr
    return poses_sample(image.shape[:2], np.asarray(pred.keypoints, np.float32)[keep],
                        np.asarray(pred.keypoint_scores, np.float32)[keep],
                        np.concatenate([bboxes[keep], scores[keep, None]], -1))


def poses_sample(image_shape, keypoints: np.ndarray, keypoint_scores: np.ndarray,
                 boxes: np.ndarray):
    """A ``PoseDataSample`` holding given poses (e.g. from an ONNX model), as
    :func:`predict_poses` returns them.

    Args:
        image_shape: ``(h, w)`` of the image.
        keypoints: (N, K, 2) image pixels.
        keypoint_scores: (N, K).
        boxes: (N, 5) ``[x1, y1, x2, y2, score]``.
    """
    from mmengine.structures import InstanceData
    from mmpose.structures import PoseDataSample
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 5)
    sample = PoseDataSample(metainfo=dict(ori_shape=tuple(image_shape)))
    scores = np.asarray(keypoint_scores, np.float32)
    # keypoints_visible = the scores, as TopdownPoseEstimator sets them: the
    # visualizer hides keypoints and links under kpt_thr by it.
    sample.pred_instances = InstanceData(
        keypoints=np.asarray(keypoints, np.float32), keypoint_scores=scores,
        keypoints_visible=scores.copy(), bboxes=boxes[:, :4].copy(),
        bbox_scores=boxes[:, 4].copy())
    return sample


def poses_to_json(sample) -> List[dict]:
    """One dict per person: ``bbox`` [x1, y1, x2, y2], ``bbox_score``,
    ``keypoints`` K x [x, y] (image pixels), ``keypoint_scores`` (K)."""
    pred = sample.pred_instances
    persons = []
    for i in range(len(pred.keypoints)):
        persons.append(dict(
            bbox=[round(float(v), 2) for v in np.asarray(pred.bboxes[i]).reshape(-1)[:4]],
            bbox_score=round(float(np.asarray(pred.bbox_scores[i]).reshape(-1)[0]), 5),
            keypoints=[[round(float(x), 2), round(float(y), 2)]
                       for x, y in np.asarray(pred.keypoints[i])[:, :2]],
            keypoint_scores=[round(float(s), 5) for s in np.asarray(pred.keypoint_scores[i])]))
    return persons


def build_pose_visualizer(dataset_meta: dict, radius: int = 3, line_width: int = 1):
    """MMPose's ``PoseLocalVisualizer`` with the model's skeleton and colours."""
    import time

    from mmpose.visualization import PoseLocalVisualizer
    vis = PoseLocalVisualizer(name=f'kp_plugins_demo_{time.time()}', radius=radius,
                              line_width=line_width)
    vis.set_dataset_meta(dataset_meta)
    return vis


def draw_poses(visualizer, image: np.ndarray, sample, kpt_thr: float = 0.3,
               draw_bbox: bool = True) -> np.ndarray:
    """The image with skeletons (and boxes) drawn; (H, W, 3) uint8 BGR in
    and out."""
    rgb = np.ascontiguousarray(image[..., ::-1])
    if len(sample.pred_instances) == 0:
        return image.copy()
    drawn = visualizer.add_datasample('pose', rgb, data_sample=sample, draw_gt=False,
                                      draw_heatmap=False, draw_bbox=draw_bbox, show=False,
                                      kpt_thr=kpt_thr)
    return np.ascontiguousarray(drawn[..., ::-1])
