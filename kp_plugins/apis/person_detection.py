"""Person boxes from an MMDet 3.x detector or an Ultralytics YOLO model.

Both detectors take a batch of BGR images and return, per image, the person
boxes as an ``(N, 5)`` float32 array ``[x1, y1, x2, y2, score]`` in image
pixels, sorted by score (highest first), with

* only the person class kept (its index found by name in the detector's
  classes unless given),
* ``score >= score_thr`` (the same rule as ``CocoDataset``'s
  ``filter_cfg=dict(bbox_score_thr=...)``),
* an optional extra NMS over the person boxes (``nms_iou``), on top of the
  detector's own.

Nothing here downloads weights: a checkpoint or weights file must exist
locally, and a detector config's pretrained-backbone ``init_cfg`` is dropped
(the checkpoint holds all weights).
"""
import os.path as osp
import warnings
from typing import List, Optional, Sequence

import numpy as np
import torch

from ..engine.checkpoint import (
    CheckpointFileError,
    CheckpointMismatchError,
    checkpoint_config,
    describe_checkpoint_config,
    is_pose_checkpoint,
    load_model_checkpoint,
    read_checkpoint,
)
from ..utils.config_check import merge_cfg_options
from ..utils.paths import ConfigNotFoundError, resolve_config_path

#: Boxes of one image: (N, 5) float32, [x1, y1, x2, y2, score].
BOX_COLUMNS = 5


class PersonDetectorError(ValueError):
    """A detector that cannot be built or has no person class."""


def default_device() -> str:
    return 'cuda:0' if torch.cuda.is_available() else 'cpu'


def find_person_class(classes: Sequence[str], person_class: Optional[int] = None,
                      source: str = 'the detector') -> int:
    """The index of the person class: ``person_class`` when given (checked
    against ``classes``), else the class named ``person`` (any case)."""
    classes = list(classes) if classes is not None else []
    if person_class is not None:
        if classes and not 0 <= person_class < len(classes):
            raise PersonDetectorError(
                f'person class index {person_class} is out of range: {source} has '
                f'{len(classes)} classes')
        return int(person_class)
    matches = [i for i, name in enumerate(classes) if str(name).lower() == 'person']
    if not matches:
        shown = ', '.join(map(str, classes[:10])) + (', ...' if len(classes) > 10 else '')
        raise PersonDetectorError(
            f'{source} has no class named "person" (classes: {shown or "none"}); '
            'pass the index of the class to use as persons with --person-class')
    return matches[0]


def select_person_boxes(bboxes: np.ndarray, scores: np.ndarray, labels: np.ndarray,
                        person_index: int, score_thr: float = 0.0,
                        nms_iou: Optional[float] = None) -> np.ndarray:
    """Keep the person boxes with ``score >= score_thr``, then NMS them.

    Args:
        bboxes: (N, 4) xyxy, image pixels.
        scores: (N,).
        labels: (N,) class indices.
        person_index: the class to keep.
        score_thr: lowest score kept.
        nms_iou: IoU above which the lower-scored of two person boxes is
            dropped (torchvision NMS); ``None`` keeps the detector's boxes.

    Returns:
        np.ndarray: (M, 5) float32 ``[x1, y1, x2, y2, score]``, by score,
        highest first.
    """
    bboxes = np.asarray(bboxes, dtype=np.float32).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float32).reshape(-1)
    labels = np.asarray(labels).reshape(-1)
    keep = (labels == person_index) & (scores >= score_thr)
    bboxes, scores = bboxes[keep], scores[keep]
    order = np.argsort(-scores, kind='stable')
    bboxes, scores = bboxes[order], scores[order]
    if nms_iou is not None and len(bboxes) > 1:
        from torchvision.ops import nms
        kept = nms(torch.from_numpy(bboxes), torch.from_numpy(scores), float(nms_iou))
        kept = np.sort(kept.numpy())  # nms returns by score; keep our stable order
        bboxes, scores = bboxes[kept], scores[kept]
    return np.concatenate([bboxes, scores[:, None]], axis=1).astype(np.float32)


class PersonDetector:
    """Base of the detectors: ``__call__(images) -> list of (N, 5) boxes``.

    Attributes:
        classes: the detector's class names.
        person_index: the index of the class kept as persons.
        score_thr, nms_iou: see :func:`select_person_boxes`.
    """
    classes: List[str]
    person_index: int
    name: str = 'detector'

    def __init__(self, score_thr: float = 0.0, nms_iou: Optional[float] = None) -> None:
        if nms_iou is not None and not 0.0 < nms_iou <= 1.0:
            raise PersonDetectorError(f'NMS IoU must be in (0, 1], got {nms_iou}')
        self.score_thr = score_thr
        self.nms_iou = nms_iou

    def __call__(self, images: Sequence[np.ndarray]) -> List[np.ndarray]:
        raise NotImplementedError

    def describe(self) -> str:
        return (f'{self.name}: person class {self.person_index} '
                f'({self.classes[self.person_index]!r} of {len(self.classes)} classes)')


def read_detector_checkpoint(checkpoint: str) -> dict:
    """The checkpoint dict of a detector checkpoint file; refuses a file
    that is not a checkpoint and the checkpoint of a pose model.

    Raises:
        PersonDetectorError: naming what the file is instead.
    """
    try:
        ckpt = read_checkpoint(checkpoint)
    except CheckpointFileError as exc:
        raise PersonDetectorError(f'detector checkpoint: {exc}') from exc
    info = checkpoint_config(ckpt)
    if is_pose_checkpoint(info):
        raise PersonDetectorError(
            f'{checkpoint} is a pose-model checkpoint (saved with '
            f'{describe_checkpoint_config(info)}), not a detector: pass an MMDet detector '
            'checkpoint as --det-checkpoint (the pose checkpoint goes to the pose tools)')
    return ckpt


class MMDetPersonDetector(PersonDetector):
    """An MMDet 3.x detector (``mmdet.apis.init_detector``) run on batches.

    A batch goes through the detector's test pipeline (its first step
    swapped for ``LoadImageFromNDArray``, as ``inference_detector`` does for
    arrays) and ``model.test_step``; with one image per batch this is
    exactly ``mmdet.apis.inference_detector``.

    Args:
        config: detector config path (or ``mmdet::...``).
        checkpoint: local checkpoint; its ``meta.dataset_meta.classes``
            name the classes (MMDet falls back to the 80 COCO classes for a
            checkpoint without them, and says so).
        device: ``'cpu'``, ``'cuda:0'``...
        person_class: index of the person class; default: found by name.
        score_thr, nms_iou: see :func:`select_person_boxes`.
        cfg_options: overrides merged into the config.
    """
    name = 'MMDet detector'

    def __init__(self, config: str, checkpoint: str, device: Optional[str] = None,
                 person_class: Optional[int] = None, score_thr: float = 0.0,
                 nms_iou: Optional[float] = None, cfg_options: Optional[dict] = None) -> None:
        super().__init__(score_thr, nms_iou)
        from mmcv.transforms import Compose
        from mmengine.config import Config
        from mmengine.registry import DefaultScope

        import kp_plugins  # noqa: F401  (weights-only loading of MMEngine checkpoints)
        try:
            from mmdet.apis import init_detector
            from mmdet.utils import get_test_pipeline_cfg
        except ImportError as exc:
            raise PersonDetectorError(
                f'MMDetection is needed for a detector config: {exc}') from exc

        try:
            config = resolve_config_path(config)
        except ConfigNotFoundError as exc:
            raise PersonDetectorError(str(exc)) from exc
        if not osp.isfile(checkpoint):
            raise PersonDetectorError(f'detector checkpoint {checkpoint!r} not found')
        try:
            cfg = Config.fromfile(config)
        except Exception as exc:
            raise PersonDetectorError(
                f'cannot load detector config {config!r}: {type(exc).__name__}: {exc}') from exc
        if cfg_options:
            merge_cfg_options(cfg, cfg_options)
        if 'model' not in cfg or 'test_dataloader' not in cfg:
            raise PersonDetectorError(
                f'{config!r} is not an MMDet detector config (needs "model" and '
                '"test_dataloader")')
        # All weights come from the checkpoint: never fetch a pretrained backbone.
        if isinstance(cfg.model.get('backbone'), dict) and 'init_cfg' in cfg.model.backbone:
            cfg.model.backbone.init_cfg = None
        ckpt = read_detector_checkpoint(checkpoint)
        with DefaultScope.overwrite_default_scope(cfg.get('default_scope', 'mmdet')):
            try:
                with warnings.catch_warnings():  # "checkpoint is None, use COCO classes"
                    warnings.simplefilter('ignore')
                    self.model = init_detector(cfg, None, device=device or default_device())
            except Exception as exc:
                raise PersonDetectorError(
                    f'cannot build the detector from {config!r}: '
                    f'{type(exc).__name__}: {exc}') from exc
            try:  # init_detector loads non-strictly: check the keys, then load
                load_model_checkpoint(self.model, ckpt, config=config, name=checkpoint)
            except CheckpointMismatchError as exc:
                raise PersonDetectorError(f'detector checkpoint: {exc}') from exc
            meta = ckpt.get('meta') or {}
            if 'dataset_meta' in meta:  # as init_detector does
                self.model.dataset_meta = {k.lower(): v for k, v in meta['dataset_meta'].items()}
            elif 'CLASSES' in meta:  # MMDet 2.x
                self.model.dataset_meta = {'classes': meta['CLASSES']}
            pipeline_cfg = get_test_pipeline_cfg(cfg.copy())
            pipeline_cfg[0].type = 'mmdet.LoadImageFromNDArray'
            self.pipeline = Compose(pipeline_cfg)
        self.classes = list(self.model.dataset_meta.get('classes', []))
        self.person_index = find_person_class(self.classes, person_class,
                                              f'detector checkpoint {checkpoint!r}')

    def raw_predictions(self, images: Sequence[np.ndarray]) -> list:
        """The detector's ``DetDataSample`` per image (all classes)."""
        data = [self.pipeline(dict(img=img, img_id=i)) for i, img in enumerate(images)]
        batch = dict(inputs=[d['inputs'] for d in data],
                     data_samples=[d['data_samples'] for d in data])
        with torch.no_grad():
            return self.model.test_step(batch)

    def __call__(self, images: Sequence[np.ndarray]) -> List[np.ndarray]:
        if not images:
            return []
        out = []
        for sample in self.raw_predictions(images):
            pred = sample.pred_instances
            out.append(select_person_boxes(
                pred.bboxes.cpu().numpy(), pred.scores.cpu().numpy(),
                pred.labels.cpu().numpy(), self.person_index, self.score_thr, self.nms_iou))
        return out


class UltralyticsPersonDetector(PersonDetector):
    """An Ultralytics YOLO model (detect, segment or pose task) as box source.

    Ultralytics runs offline (``kp_plugins.ultralytics.offline``) and the
    weights file must exist: a name like ``yolo11n.pt`` that is not a local
    file is an error, never a download.

    Args:
        weights: local ``.pt`` file.
        device, person_class, score_thr: as :class:`MMDetPersonDetector`
            (``score_thr`` is also Ultralytics' ``conf``).
        nms_iou: Ultralytics' own NMS IoU (its default 0.7 when ``None``);
            no extra NMS is needed on top.
        imgsz: inference size.
    """
    name = 'Ultralytics detector'

    def __init__(self, weights: str, device: Optional[str] = None,
                 person_class: Optional[int] = None, score_thr: float = 0.0,
                 nms_iou: Optional[float] = None, imgsz: int = 640) -> None:
        super().__init__(score_thr, nms_iou)
        if not osp.isfile(weights):
            raise PersonDetectorError(
                f'Ultralytics weights {weights!r} not found: give a local .pt file '
                '(kp_plugins never downloads detector weights)')
        from kp_plugins.ultralytics.offline import import_ultralytics
        try:
            import_ultralytics(online=False)
        except ImportError as exc:
            raise PersonDetectorError(str(exc)) from exc
        from ultralytics import YOLO
        try:
            self.model = YOLO(weights)
        except Exception as exc:
            raise PersonDetectorError(
                f'cannot load Ultralytics weights {weights!r}: '
                f'{type(exc).__name__}: {exc}') from exc
        if self.model.task not in ('detect', 'segment', 'pose'):
            raise PersonDetectorError(
                f'{weights!r} is an Ultralytics {self.model.task!r} model; '
                'person boxes need a detect, segment or pose model')
        names = self.model.names
        self.classes = [names[i] for i in sorted(names)] if isinstance(names, dict) else list(names)
        self.person_index = find_person_class(self.classes, person_class,
                                              f'Ultralytics model {weights!r}')
        self.device = device or default_device()
        self.imgsz = imgsz

    def __call__(self, images: Sequence[np.ndarray]) -> List[np.ndarray]:
        if not images:
            return []
        results = self.model.predict(
            list(images), conf=self.score_thr, iou=0.7 if self.nms_iou is None else self.nms_iou,
            classes=[self.person_index], device=self.device, imgsz=self.imgsz, verbose=False)
        out = []
        for res in results:
            boxes = res.boxes
            out.append(select_person_boxes(
                boxes.xyxy.cpu().numpy(), boxes.conf.cpu().numpy(), boxes.cls.cpu().numpy(),
                self.person_index, self.score_thr, None))
        return out


def build_person_detector(det_config: Optional[str] = None,
                          det_checkpoint: Optional[str] = None,
                          ultralytics: Optional[str] = None,
                          cfg_options: Optional[dict] = None, imgsz: int = 640,
                          **kwargs) -> PersonDetector:
    """An :class:`MMDetPersonDetector` (``det_config`` + ``det_checkpoint``,
    ``cfg_options``), a
    :class:`~kp_plugins.apis.pose_person_detector.BottomupPersonDetector`
    when ``det_config`` is an MMPose bottom-up pose config (a top-down pose
    config is refused), or an :class:`UltralyticsPersonDetector`
    (``ultralytics`` weights, ``imgsz``); ``kwargs`` (device, person_class,
    score_thr, nms_iou) go to the detector."""
    if ultralytics is not None:
        if det_config is not None or det_checkpoint is not None:
            raise PersonDetectorError('give either an MMDet detector (config + checkpoint) '
                                      'or Ultralytics weights, not both')
        return UltralyticsPersonDetector(ultralytics, imgsz=imgsz, **kwargs)
    if det_config is None or det_checkpoint is None:
        raise PersonDetectorError('an MMDet detector needs both a config and a checkpoint')
    from .pose_person_detector import build_pose_person_detector, pose_model_type
    if pose_model_type(det_config) is not None:
        return build_pose_person_detector(det_config, det_checkpoint, cfg_options, **kwargs)
    return MMDetPersonDetector(det_config, det_checkpoint, cfg_options=cfg_options, **kwargs)
