"""A one-stage (bottom-up) MMPose pose model as the person detector of a
top-down pipeline: its person boxes and box scores, e.g. those of
``configs/yolo_effl0_256.py`` (YOLOXPoseHead), written to a bbox file by
``tools/detect_persons.py`` like an MMDet detector's.

A top-down pose model (``TopdownPoseEstimator``) needs person boxes and
cannot provide them: it is refused.
"""
from typing import List, Optional, Sequence

import numpy as np

from .person_detection import PersonDetector, PersonDetectorError, select_person_boxes

#: ``model.type`` of the pose configs that find the persons themselves.
BOTTOMUP_MODEL_TYPES = ('BottomupPoseEstimator', )


def pose_model_type(config: str) -> Optional[str]:
    """``model.type`` of ``config`` when it is an MMPose pose config
    (``TopdownPoseEstimator``, ``BottomupPoseEstimator``...), else ``None``
    (an MMDet config, or a file that cannot be read: the caller's own
    loading reports that)."""
    from mmengine.config import Config

    from ..utils.paths import ConfigNotFoundError, resolve_config_path
    try:
        cfg = Config.fromfile(resolve_config_path(config))
    except (ConfigNotFoundError, Exception):  # noqa: BLE001  (reported by the MMDet path)
        return None
    model_type = cfg.get('model', {}).get('type') if isinstance(cfg.get('model'), dict) else None
    if isinstance(model_type, str) and model_type.endswith('PoseEstimator'):
        return model_type
    return None


def _topdown_refusal(config: str, model_type: Optional[str]) -> str:
    return (f'{config!r} is a top-down pose config ({model_type}): it needs person boxes '
            'and cannot provide them; give a detector, or a bottom-up pose model '
            '(BottomupPoseEstimator, e.g. configs/yolo_effl0_256.py)')


class BottomupPersonDetector(PersonDetector):
    """The persons a bottom-up MMPose model finds (its ``bboxes`` and
    ``bbox_scores``, through :func:`~kp_plugins.apis.predict_poses_bottomup`),
    as ``(N, 5)`` ``[x1, y1, x2, y2, score]`` boxes.

    Args:
        config: pose config path (or ``mmpose::...``) of a
            ``BottomupPoseEstimator``.
        checkpoint: local checkpoint.
        device: ``'cpu'``, ``'cuda:0'``...
        score_thr, nms_iou: see :func:`select_person_boxes` (on top of the
            model's own score threshold and NMS, its ``test_cfg``).
        cfg_options: overrides merged into the config.

    Raises:
        PersonDetectorError: missing files, a config that does not build,
            or a top-down pose model.
    """
    name = 'bottom-up pose model'

    def __init__(self, config: str, checkpoint: str, device: Optional[str] = None,
                 score_thr: float = 0.0, nms_iou: Optional[float] = None,
                 cfg_options: Optional[dict] = None) -> None:
        super().__init__(score_thr, nms_iou)
        from .pose_inference import PoseModelError, is_bottomup, load_pose_model
        model_type = pose_model_type(config)
        if model_type is not None and model_type not in BOTTOMUP_MODEL_TYPES:
            raise PersonDetectorError(_topdown_refusal(config, model_type))
        try:
            self.model = load_pose_model(config, checkpoint, device, cfg_options,
                                         bottomup_ok=True)
        except PoseModelError as exc:
            raise PersonDetectorError(str(exc)) from exc
        if not is_bottomup(self.model):
            raise PersonDetectorError(_topdown_refusal(config, type(self.model).__name__))
        self.classes = ['person']
        self.person_index = 0
        #: the last call's poses, one PoseDataSample per image
        self.last_poses: list = []

    def __call__(self, images: Sequence[np.ndarray]) -> List[np.ndarray]:
        from .pose_inference import predict_poses_bottomup
        out, self.last_poses = [], []
        for image in images:
            sample = predict_poses_bottomup(self.model, image)
            pred = sample.pred_instances
            boxes = np.asarray(pred.bboxes, np.float32).reshape(-1, 4)
            scores = np.asarray(pred.bbox_scores, np.float32).reshape(-1)
            out.append(select_person_boxes(boxes, scores, np.zeros(len(boxes), np.int64), 0,
                                           self.score_thr, self.nms_iou))
            self.last_poses.append(sample)
        return out

    def describe(self) -> str:
        return f'{self.name} ({type(self.model.head).__name__}): its person boxes'


def build_pose_person_detector(config: str, checkpoint: str,
                               cfg_options: Optional[dict] = None,
                               person_class: Optional[int] = None,
                               **kwargs) -> BottomupPersonDetector:
    """:class:`BottomupPersonDetector` for a pose config (what
    :func:`~kp_plugins.apis.build_person_detector` picks for one); a
    top-down pose config is refused before any model is built.

    Raises:
        PersonDetectorError: a top-down pose config, or a person class
            other than 0 (a pose model has one class, the person).
    """
    model_type = pose_model_type(config)
    if model_type not in BOTTOMUP_MODEL_TYPES:
        raise PersonDetectorError(_topdown_refusal(config, model_type))
    if person_class not in (None, 0):
        raise PersonDetectorError(
            f'person class {person_class} given for a bottom-up pose model: it has one '
            'class, the person (index 0)')
    return BottomupPersonDetector(config, checkpoint, cfg_options=cfg_options, **kwargs)
