"""Run a bottom-up ONNX file written by ``tools/export_onnx.py`` (one-stage
``YOLOXPoseHead`` models, :mod:`kp_plugins.deploy.bottomup_export`) with
onnxruntime: whole images -> every person's box, score and keypoints in
image pixels, no detector.

numpy, OpenCV and onnxruntime only (no torch)::

    from kp_plugins.deploy.bottomup_runtime import OnnxBottomupPoseModel
    model = OnnxBottomupPoseModel('yolo.onnx')
    persons = model.predict(image_bgr)          # one image
    batch = model.predict_batch([img1, img2])   # one run of the graph

What MMPose's test pipeline and ``YOLOXPoseHead.predict`` do, in the same
order and float32 arithmetic:

1. ``BottomupResize`` (:func:`kp_plugins.utils.crop.bottomup_resize`);
2. the graph: normalization, network, decode, the ``M`` best candidates;
3. :func:`select_persons`: ``score > score_thr``, greedy box NMS
   (:func:`nms_boxes`, MMPose's ``nms_torch``), boxes clamped to the input;
4. ``BottomupPoseEstimator``'s mapping to the image
   (:func:`kp_plugins.utils.crop.input_to_image` with the image's
   ``input_center`` / ``input_scale``).

Symbols: ``N`` persons, ``M`` candidates, ``K`` keypoints, input ``[W, H]``.
"""
from typing import List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from kp_plugins.utils.crop import bottomup_resize, input_to_image

from .runtime import OnnxModelError, dataset_meta_from, open_session

#: Output names the graph must have, in this order.
OUTPUTS = ('bboxes', 'bbox_scores', 'keypoints', 'keypoint_scores')


class BottomupPersons(NamedTuple):
    """The persons found in one image, the highest score first.

    Attributes:
        bboxes: (N, 4) ``xyxy`` (image pixels, or model-input pixels from
            :func:`select_persons`).
        bbox_scores: (N, ) person scores.
        keypoints: (N, K, 2).
        keypoint_scores: (N, K).
    """
    bboxes: np.ndarray
    bbox_scores: np.ndarray
    keypoints: np.ndarray
    keypoint_scores: np.ndarray


def box_iou(box: np.ndarray, boxes: np.ndarray, eps: float = 1e-6
            ) -> np.ndarray:
    """IoU (M, ) of one ``xyxy`` box (4, ) with boxes (M, 4), in the input's
    float type and in the order of MMPose's ``bbox_overlaps`` (union at
    least ``eps``)."""
    dtype = boxes.dtype.type
    area1 = (box[2] - box[0]) * (box[3] - box[1])
    area2 = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    lt = np.maximum(box[:2], boxes[:, :2])
    rb = np.minimum(box[2:], boxes[:, 2:])
    wh = np.maximum(rb - lt, dtype(0))
    overlap = wh[:, 0] * wh[:, 1]
    union = np.maximum(area1 + area2 - overlap, dtype(eps))
    return overlap / union


def nms_boxes(bboxes: np.ndarray, scores: np.ndarray,
              threshold: float) -> np.ndarray:
    """Greedy NMS as MMPose's ``nms_torch``: visit the boxes by decreasing
    score (equal scores: the lower index first), keep a box and drop every
    remaining one whose IoU with it is above ``threshold``.

    Args:
        bboxes: (M, 4) ``xyxy``.
        scores: (M, ).
        threshold: IoU above which a box is suppressed.

    Returns:
        indices of the kept boxes (N, ), in visiting order.
    """
    order = np.argsort(-scores, kind='stable')
    threshold = bboxes.dtype.type(threshold)
    keep = []
    while order.size:
        first, order = order[0], order[1:]
        keep.append(first)
        order = order[box_iou(bboxes[first], bboxes[order]) <= threshold]
    return np.asarray(keep, dtype=np.int64)


def select_persons(bboxes: np.ndarray, bbox_scores: np.ndarray,
                   keypoints: np.ndarray, keypoint_scores: np.ndarray,
                   score_thr: float, nms_thr: float,
                   input_size: Sequence[int]) -> BottomupPersons:
    """One image's candidates (the graph's outputs) -> its persons, as
    ``YOLOXPoseHead.predict`` selects them: score above ``score_thr``, box
    NMS when ``nms_thr < 1``, boxes clamped to ``[0, W] x [0, H]``.

    Args:
        bboxes: (M, 4), bbox_scores: (M, ), keypoints: (M, K, 2),
            keypoint_scores: (M, K), model-input pixels, sorted by score.
        score_thr: ``test_cfg.score_thr``.
        nms_thr: ``test_cfg.nms_thr``.
        input_size: ``(W, H)``.

    Returns:
        :class:`BottomupPersons` in model-input pixels.
    """
    keep = bbox_scores > bbox_scores.dtype.type(score_thr)
    bboxes, bbox_scores = bboxes[keep], bbox_scores[keep]
    keypoints, keypoint_scores = keypoints[keep], keypoint_scores[keep]
    if len(bboxes) and nms_thr < 1.0:
        kept = nms_boxes(bboxes, bbox_scores, nms_thr)
        bboxes, bbox_scores = bboxes[kept], bbox_scores[kept]
        keypoints, keypoint_scores = keypoints[kept], keypoint_scores[kept]
    bboxes = bboxes.copy()
    w, h = input_size
    bboxes[:, 0::2] = np.clip(bboxes[:, 0::2], 0, w)
    bboxes[:, 1::2] = np.clip(bboxes[:, 1::2], 0, h)
    return BottomupPersons(bboxes, bbox_scores, keypoints, keypoint_scores)


def persons_to_image(persons: BottomupPersons, center: np.ndarray,
                     scale: np.ndarray, input_size: Sequence[int]
                     ) -> BottomupPersons:
    """Model-input pixels -> image pixels (``BottomupPoseEstimator``'s
    ``add_pred_to_datasample``: keypoints and box corners alike)."""
    n = len(persons.bboxes)
    centers = np.repeat(np.asarray(center)[None], n, axis=0)
    scales = np.repeat(np.asarray(scale)[None], n, axis=0)
    keypoints = input_to_image(persons.keypoints, centers, scales, input_size)
    corners = input_to_image(persons.bboxes.reshape(n, 2, 2), centers,
                             scales, input_size)
    return BottomupPersons(corners.reshape(n, 4).astype(np.float32),
                           persons.bbox_scores,
                           keypoints.astype(np.float32),
                           persons.keypoint_scores)


class OnnxBottomupPoseModel:
    """A bottom-up pose model exported by ``tools/export_onnx.py``, run by
    onnxruntime on whole images.

    Args:
        onnx_file: the ``.onnx`` file.
        providers: onnxruntime execution providers.
        num_threads: intra-op threads (``None``: onnxruntime's default).
        score_thr: person score threshold (``None``: the exported config's
            ``test_cfg.score_thr``).
        nms_thr: box NMS IoU threshold (``None``: ``test_cfg.nms_thr``;
            1 or more: no NMS).

    Raises:
        OnnxModelError: a missing or unreadable file, a file not written by
            kp_plugins' exporter, or a top-down one.
    """

    #: the demo and tools tell bottom-up models by this.
    mode = 'bottomup'

    def __init__(self, onnx_file: str,
                 providers: Sequence[str] = ('CPUExecutionProvider', ),
                 num_threads: Optional[int] = None,
                 score_thr: Optional[float] = None,
                 nms_thr: Optional[float] = None) -> None:
        self.session, self.metadata = open_session(onnx_file, providers,
                                                   num_threads)
        self.path = onnx_file
        if self.metadata.get('mode') != 'bottomup':
            raise OnnxModelError(
                f'{onnx_file!r} is a top-down model (person crops and '
                'boxes): run it with kp_plugins.deploy.runtime.OnnxPoseModel '
                '(or load_onnx_model)')
        outputs = tuple(o.name for o in self.session.get_outputs())
        if outputs != OUTPUTS:
            raise OnnxModelError(f'{onnx_file!r} has outputs {outputs}, '
                                 f'expected {OUTPUTS}')
        self.input_size: Tuple[int, int] = tuple(self.metadata['input_size'])
        self.pad_val = self.metadata['pad_val']
        self.score_thr = float(self.metadata['score_thr']
                               if score_thr is None else score_thr)
        self.nms_thr = float(self.metadata['nms_thr']
                             if nms_thr is None else nms_thr)
        batch = self.session.get_inputs()[0].shape[0]
        self.batch_size: Optional[int] = batch if isinstance(batch, int) \
            else None
        self.dataset_meta = dataset_meta_from(self.metadata)

    @property
    def num_keypoints(self) -> int:
        return len(self.metadata['keypoint_names'])

    def preprocess(self, image: np.ndarray
                   ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One image -> the model input (3, H, W) float32, its
        ``input_center`` and ``input_scale`` (``BottomupResize``)."""
        if not isinstance(image, np.ndarray) or image.ndim != 3 or \
                image.shape[2] != 3 or image.dtype != np.uint8 or \
                0 in image.shape:
            got = (f'{image.dtype} {tuple(image.shape)}'
                   if isinstance(image, np.ndarray) else type(image).__name__)
            raise OnnxModelError(f'expected an (h, w, 3) uint8 BGR image, '
                                 f'got {got}')
        return bottomup_resize(image, self.input_size, self.pad_val)

    def infer(self, inputs: np.ndarray) -> List[np.ndarray]:
        """Run the graph on padded images.

        Args:
            inputs: (B, 3, H, W) float32, 0-255, the pipeline's channel
                order.

        Returns:
            ``bboxes`` (B, M, 4), ``bbox_scores`` (B, M), ``keypoints``
            (B, M, K, 2), ``keypoint_scores`` (B, M, K) in model-input
            pixels, sorted by score.
        """
        w, h = self.input_size
        if not isinstance(inputs, np.ndarray) or inputs.dtype != np.float32 \
                or inputs.ndim != 4 or inputs.shape[1:] != (3, h, w):
            got = (f'{inputs.dtype} {tuple(inputs.shape)}'
                   if isinstance(inputs, np.ndarray) else type(inputs).__name__)
            raise OnnxModelError(f'{self.path}: expected float32 (B, 3, {h}, '
                                 f'{w}) padded images, got {got}')
        step = self.batch_size or max(len(inputs), 1)
        chunks = []
        for start in range(0, len(inputs), step):
            chunk = inputs[start:start + step]
            feed = chunk
            if self.batch_size is not None and len(chunk) < step:
                feed = np.concatenate([chunk, np.zeros(
                    (step - len(chunk), ) + chunk.shape[1:], chunk.dtype)])
            outs = self.session.run(list(OUTPUTS), {'input': feed})
            chunks.append([o[:len(chunk)] for o in outs])
        return [np.concatenate(parts) for parts in zip(*chunks)]

    def predict(self, image: np.ndarray) -> BottomupPersons:
        """The persons in one image.

        Args:
            image: (h, w, 3) uint8, BGR as ``cv2.imread`` loads it.

        Returns:
            :class:`BottomupPersons` in image pixels.
        """
        return self.predict_batch([image])[0]

    def predict_batch(self, images: Sequence[np.ndarray]
                      ) -> List[BottomupPersons]:
        """The persons in each of ``images`` (any sizes), with one run of
        the graph per batch (a fixed-batch file: per chunk of its size)."""
        if len(images) == 0:
            return []
        prepared = [self.preprocess(image) for image in images]
        outputs = self.infer(np.stack([p[0] for p in prepared]))
        results = []
        for i, (_, center, scale) in enumerate(prepared):
            persons = select_persons(*(o[i] for o in outputs),
                                     score_thr=self.score_thr,
                                     nms_thr=self.nms_thr,
                                     input_size=self.input_size)
            results.append(persons_to_image(persons, center, scale,
                                            self.input_size))
        return results
