"""Run an ONNX file written by ``tools/export_onnx.py`` with onnxruntime:
image + person boxes -> keypoints in image pixels.

numpy, OpenCV and onnxruntime only (no torch): this module and
:mod:`kp_plugins.utils.crop` are all a deployment needs::

    from kp_plugins.deploy.runtime import OnnxPoseModel
    model = OnnxPoseModel('grid.onnx')
    keypoints, scores = model.predict(image_bgr, boxes_xyxy)  # (N, K, 2), (N, K)

The crop is MMPose's ``GetBBoxCenterScale`` + ``TopdownAffine`` and the way
back its ``TopdownPoseEstimator`` mapping (see
:mod:`kp_plugins.utils.crop`); the model's input size, box padding,
keypoint names and dataset metadata come from the file's
``metadata_props``.

Symbols: ``N`` persons, ``K`` keypoints, model input ``[W, H]``.
"""
import json
import os.path as osp
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from kp_plugins.utils.crop import crop_persons, input_to_image


class OnnxModelError(ValueError):
    """An ONNX file or an input the runtime cannot use."""


def read_metadata(session) -> Dict[str, object]:
    """The kp_plugins metadata of an onnxruntime session, JSON values
    decoded."""
    return decode_metadata(session.get_modelmeta().custom_metadata_map)


def decode_metadata(raw: Dict[str, str]) -> Dict[str, object]:
    """``metadata_props`` (all strings) with their JSON values decoded."""
    meta: Dict[str, object] = {}
    for key, value in raw.items():
        try:
            meta[key] = json.loads(value)
        except (TypeError, ValueError):
            meta[key] = value
    return meta


def dataset_meta_from(metadata: Dict[str, object]) -> dict:
    """The model's ``dataset_meta`` as MMPose holds it, from the file's
    metadata (integer keypoint ids, numpy colours and sigmas)."""
    meta = dict(metadata.get('dataset_meta') or {})
    if 'keypoint_id2name' in meta:  # JSON turned the int keys to str
        meta['keypoint_id2name'] = {
            int(k): v for k, v in meta['keypoint_id2name'].items()}
        meta['keypoint_name2id'] = {
            v: k for k, v in meta['keypoint_id2name'].items()}
    for key in ('keypoint_colors', 'skeleton_link_colors', 'sigmas'):
        if key in meta:
            meta[key] = np.asarray(meta[key])
    return meta


def open_session(onnx_file: str,
                 providers: Sequence[str] = ('CPUExecutionProvider', ),
                 num_threads: Optional[int] = None):
    """An onnxruntime session of a file written by kp_plugins' exporter and
    its metadata (:func:`read_metadata`).

    Raises:
        OnnxModelError: no onnxruntime, a missing or unreadable file, or a
            file without kp_plugins metadata.
    """
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise OnnxModelError(
            'the onnxruntime backend needs onnxruntime: pip install '
            '"kp_plugins[deploy]", or without torch pip install -r '
            'requirements/runtime.txt (docs/runtime_without_torch.md)') from exc
    if not osp.isfile(onnx_file):
        raise OnnxModelError(f'ONNX file {onnx_file!r} not found')
    options = ort.SessionOptions()
    if num_threads:
        options.intra_op_num_threads = int(num_threads)
        options.inter_op_num_threads = 1
    try:
        session = ort.InferenceSession(onnx_file, options,
                                       providers=list(providers))
    except Exception as exc:  # onnxruntime raises its own types
        raise OnnxModelError(
            f'onnxruntime cannot load {onnx_file!r}: {exc}') from exc
    metadata = read_metadata(session)
    if 'kp_plugins_version' not in metadata:
        raise OnnxModelError(
            f'{onnx_file!r} was not written by kp_plugins\' '
            'tools/export_onnx.py (no kp_plugins metadata): its input '
            'size, box padding and outputs are unknown')
    return session, metadata


def load_onnx_model(onnx_file: str, **kwargs):
    """The runtime model for ``onnx_file``: :class:`OnnxPoseModel` for a
    top-down file, ``OnnxBottomupPoseModel`` for a bottom-up one
    (metadata ``mode``); ``kwargs`` go to its constructor."""
    session, metadata = open_session(onnx_file)
    del session
    if metadata.get('mode', 'topdown') == 'bottomup':
        from .bottomup_runtime import OnnxBottomupPoseModel
        return OnnxBottomupPoseModel(onnx_file, **kwargs)
    return OnnxPoseModel(onnx_file, **kwargs)


class OnnxPoseModel:
    """A top-down pose model exported by ``tools/export_onnx.py``, run by
    onnxruntime.

    Args:
        onnx_file: the ``.onnx`` file.
        providers: onnxruntime execution providers.
        num_threads: intra-op threads (``None``: onnxruntime's default).

    Raises:
        OnnxModelError: a missing or unreadable file, a file not written by
            kp_plugins' exporter, or one exported with ``--raw``.
    """

    def __init__(self, onnx_file: str,
                 providers: Sequence[str] = ('CPUExecutionProvider', ),
                 num_threads: Optional[int] = None) -> None:
        self.session, self.metadata = open_session(onnx_file, providers,
                                                   num_threads)
        self.path = onnx_file
        if self.metadata.get('mode', 'topdown') != 'topdown':
            raise OnnxModelError(
                f'{onnx_file!r} is a {self.metadata["mode"]} model (whole '
                'images, no person boxes): run it with '
                'kp_plugins.deploy.bottomup_runtime.OnnxBottomupPoseModel '
                '(or load_onnx_model)')
        if self.metadata.get('decode') != 'graph':
            raise OnnxModelError(
                f'{onnx_file!r} was exported with --raw (outputs '
                f'{self.metadata.get("outputs")}); the runtime needs the '
                'decode in the graph: export without --raw')
        self.input_size: Tuple[int, int] = tuple(self.metadata['input_size'])
        self.bbox_padding = float(self.metadata['bbox_padding'])
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.needs_bbox = 'bbox' in self.input_names
        batch = self.session.get_inputs()[0].shape[0]
        self.batch_size: Optional[int] = batch if isinstance(batch, int) \
            else None
        self.dataset_meta = self._dataset_meta()

    def _dataset_meta(self) -> dict:
        return dataset_meta_from(self.metadata)

    @property
    def num_keypoints(self) -> int:
        return len(self.metadata['keypoint_names'])

    def check_crops(self, crops: np.ndarray,
                    bboxes: Optional[np.ndarray] = None) -> None:
        """Raise :class:`OnnxModelError` naming the expected input when
        ``crops`` (or ``bboxes``) do not fit the model."""
        w, h = self.input_size
        expected = f'float32 (N, 3, {h}, {w}) crops in 0-255'
        if not isinstance(crops, np.ndarray):
            raise OnnxModelError(f'{self.path}: expected {expected}, got '
                                 f'{type(crops).__name__}')
        if crops.dtype != np.float32:
            raise OnnxModelError(f'{self.path}: expected {expected}, got '
                                 f'dtype {crops.dtype}')
        if crops.ndim != 4 or crops.shape[1:] != (3, h, w):
            raise OnnxModelError(f'{self.path}: expected {expected}, got '
                                 f'shape {tuple(crops.shape)}')
        if self.needs_bbox:
            if bboxes is None:
                raise OnnxModelError(
                    f'{self.path} ({self.metadata["head"]}) also takes the '
                    'person boxes in model-input pixels: float32 (N, 4) xyxy')
            bboxes = np.asarray(bboxes)
            if bboxes.dtype != np.float32 or bboxes.shape != (len(crops), 4):
                raise OnnxModelError(
                    f'{self.path}: expected float32 ({len(crops)}, 4) xyxy '
                    f'boxes, got {bboxes.dtype} {tuple(bboxes.shape)}')

    def infer(self, crops: np.ndarray, bboxes: Optional[np.ndarray] = None
              ) -> Tuple[np.ndarray, np.ndarray]:
        """Run the graph on crops.

        Args:
            crops: (N, 3, H, W) float32, 0-255, the pipeline's channel order.
            bboxes: (N, 4) float32 ``xyxy`` boxes in model-input pixels
                (models with a ``bbox`` input only).

        Returns:
            keypoints (N, K, 2) in model-input pixels and scores (N, K).
        """
        self.check_crops(crops, bboxes)
        step = self.batch_size or max(len(crops), 1)
        keypoints, scores = [], []
        for start in range(0, len(crops), step):
            chunk = crops[start:start + step]
            feed = {'input': self._pad(chunk, step)}
            if self.needs_bbox:
                feed['bbox'] = self._pad(bboxes[start:start + step], step)
            kpts, scr = self.session.run(['keypoints', 'scores'], feed)
            keypoints.append(kpts[:len(chunk)])
            scores.append(scr[:len(chunk)])
        if not keypoints:
            k = self.num_keypoints
            return (np.zeros((0, k, 2), np.float32),
                    np.zeros((0, k), np.float32))
        return np.concatenate(keypoints), np.concatenate(scores)

    def _pad(self, array: np.ndarray, size: int) -> np.ndarray:
        """Pad a chunk to a fixed-batch model's batch size."""
        if self.batch_size is None or len(array) == size:
            return array
        pad = np.zeros((size - len(array), ) + array.shape[1:], array.dtype)
        return np.concatenate([array, pad])

    def predict(self, image: np.ndarray, bboxes: np.ndarray
                ) -> Tuple[np.ndarray, np.ndarray]:
        """Keypoints of the persons in ``bboxes``.

        Args:
            image: (h, w, 3) uint8, BGR as ``cv2.imread`` loads it.
            bboxes: (N, 4) ``xyxy`` person boxes in image pixels (extra
                columns, e.g. a score, are ignored).

        Returns:
            keypoints (N, K, 2) in image pixels and scores (N, K).
        """
        keypoints, scores, _ = self.predict_with_crops(image, bboxes)
        return keypoints, scores

    def predict_with_crops(self, image: np.ndarray, bboxes: np.ndarray
                           ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`predict`, plus each person's crop size (N, 2) in image
        pixels (the ``bbox_scales`` MMPose's pipeline gives ``CocoMetric``).
        """
        if not isinstance(image, np.ndarray) or image.ndim != 3 or \
                image.shape[2] != 3 or image.dtype != np.uint8:
            got = (f'{image.dtype} {tuple(image.shape)}'
                   if isinstance(image, np.ndarray) else type(image).__name__)
            raise OnnxModelError(f'expected an (h, w, 3) uint8 BGR image, '
                                 f'got {got}')
        bboxes = np.asarray(bboxes, dtype=np.float32)
        if bboxes.size == 0:
            keypoints, scores = self.infer(
                np.zeros((0, 3, self.input_size[1], self.input_size[0]),
                         np.float32),
                np.zeros((0, 4), np.float32) if self.needs_bbox else None)
            return keypoints, scores, np.zeros((0, 2))
        if bboxes.ndim != 2 or bboxes.shape[1] < 4:
            raise OnnxModelError(f'expected (N, 4) xyxy person boxes, got '
                                 f'shape {tuple(bboxes.shape)}')
        crops, center, scale, input_bboxes = crop_persons(
            image, bboxes[:, :4], self.input_size, self.bbox_padding)
        keypoints, scores = self.infer(
            crops, input_bboxes.astype(np.float32) if self.needs_bbox else None)
        keypoints = input_to_image(keypoints, center, scale, self.input_size)
        return keypoints.astype(np.float32), scores, scale
