"""Base of the codecs that regress keypoints in an isotropic frame (not
registered: :class:`KPRegressionLabel` and :class:`KPBBoxLabel` are)."""
from typing import List, Optional, Tuple

import numpy as np
import torch
from mmpose.codecs.base import BaseKeypointCodec
from torch import Tensor

from .utils import areas_in_input, check_input_size, inside_input, labelled_mask, to_frame


class KPFrameLabel(BaseKeypointCodec):
    r"""Keypoint coordinates in an isotropic frame, with visibility targets
    and OKS areas in the same frame::

        label = (keypoint - centre) / unit
        area_label = area_input / unit^2

    One unit for both axes keeps distances isotropic, so OKS is exact in
    the frame. Subclasses say where the frame is (:meth:`frame_tensors`,
    the one hook): the model input (:class:`KPRegressionLabel`) or the
    person box (:class:`KPBBoxLabel`).

    The decode is written once, in torch (:meth:`decode_tensors`, batched
    and traceable): the heads' ``predict`` (through :meth:`batch_decode`),
    the numpy :meth:`decode` and the exported ONNX graph all run it.

    Note:
        - instance number: N
        - keypoint number: K
        - model input size: [W, H]

    Encoded (:meth:`encode_in_frame`; the subclasses' docstrings list
    them in full): ``keypoint_labels`` (N, K, 2) frame coordinates of every
    keypoint, ``keypoint_weights`` (N, K) its label flag,
    ``keypoint_visibility`` (N, K) labelled and inside the input,
    ``input_bboxes`` (N, 4) for a frame built from the person box, and
    ``areas`` (N,) in squared frame units when ``area`` or ``bbox`` is given.

    Args:
        input_size: model input size ``(W, H)``.
    """

    def __init__(self, input_size: Tuple[int, int]) -> None:
        super().__init__()
        self.input_size = check_input_size(input_size, type(self).__name__)

    def frame_tensors(self, coords: Tensor,
                      input_bboxes: Optional[Tensor] = None
                      ) -> Tuple[Tensor, Tensor]:
        """The frame of each instance, in torch (traceable): the hook a
        subclass implements.

        Args:
            coords: (N, K, 2) frame coordinates (only their dtype and device
                are used).
            input_bboxes: (N, 4) xyxy person boxes in model-input pixels, for
                a frame built from the box.

        Returns:
            centre (N, 2) and unit (N,) in model-input pixels, or (1, 2) and
            (1,) for a frame that is the same for every instance.
        """
        raise NotImplementedError

    def frame(self, num_instances: int,
              input_bboxes: Optional[np.ndarray] = None
              ) -> Tuple[np.ndarray, np.ndarray]:
        """:meth:`frame_tensors` in numpy (float64), one row per instance.

        Args:
            num_instances: ``N``.
            input_bboxes: (N, 4) xyxy person boxes in model-input pixels, for
                a frame built from the box.

        Returns:
            centre (N, 2) and unit (N,), in model-input pixels.
        """
        like = torch.zeros((num_instances, 1, 2), dtype=torch.float64)
        boxes = None if input_bboxes is None else torch.as_tensor(
            np.asarray(input_bboxes, dtype=np.float64).reshape(-1, 4))
        center, unit = self.frame_tensors(like, boxes)
        return (np.broadcast_to(center.numpy(), (num_instances, 2)).copy(),
                np.broadcast_to(unit.numpy(), (num_instances, )).copy())

    def encode_in_frame(self, keypoints: np.ndarray,
                        keypoints_visible: Optional[np.ndarray],
                        area: Optional[np.ndarray], bbox: Optional[np.ndarray],
                        input_scale: Optional[np.ndarray],
                        input_bboxes: Optional[np.ndarray] = None) -> dict:
        """Encode keypoints given in model-input pixels in :meth:`frame`.

        Args:
            keypoints: (N, K, 2+) in model-input pixels.
            keypoints_visible: (N, K) labelled flag (> 0.5), optional.
            area: () or (N,) COCO area in image pixels^2, optional.
            bbox: (N, 4) xyxy image box, the area fallback, optional.
            input_scale: (2,) ``TopdownAffine``'s crop size in image pixels;
                ``None`` if the image is the input.
            input_bboxes: (N, 4) xyxy person boxes in model-input pixels,
                passed to :meth:`frame` and encoded when given.

        Returns:
            dict with the encoded items listed in the class docstring.
        """
        keypoints = np.asarray(keypoints, dtype=np.float64)[..., :2]
        num = keypoints.shape[0]
        center, unit = self.frame(num, input_bboxes)
        labelled = labelled_mask(keypoints, keypoints_visible)
        encoded = dict(
            keypoint_labels=to_frame(keypoints, center, unit).astype(
                np.float32),
            keypoint_weights=labelled.astype(np.float32),
            keypoint_visibility=(labelled & inside_input(
                keypoints, self.input_size)).astype(np.float32))
        if input_bboxes is not None:
            encoded['input_bboxes'] = input_bboxes.astype(np.float32)
        areas = areas_in_input(num, area, bbox, input_scale, self.input_size)
        if areas is not None:
            encoded['areas'] = (areas / unit**2).astype(np.float32)
        return encoded

    def decode_tensors(self, coords: Tensor,
                       visibility_logits: Optional[Tensor] = None,
                       input_bboxes: Optional[Tensor] = None
                       ) -> Tuple[Tensor, Tensor]:
        """The decode in torch (batched, traceable: the ONNX export runs it
        inside the graph, ``predict`` through :meth:`batch_decode`)::

            keypoint = coords * unit + centre       (model-input pixels)
            score = sigmoid(visibility_logit)

        Args:
            coords: (B, K, 2) frame coordinates.
            visibility_logits: (B, K) visibility logits; ``None`` scores
                every keypoint 1.
            input_bboxes: (B, 4) xyxy boxes in model-input pixels, for a
                frame built from the box (:class:`KPBBoxLabel`).

        Returns:
            keypoints (B, K, 2) in model-input pixels and keypoint scores
            (B, K).
        """
        center, unit = self.frame_tensors(coords, input_bboxes)
        keypoints = coords * unit[:, None, None] + center[:, None, :]
        if visibility_logits is None:
            return keypoints, torch.ones_like(coords[..., 0])
        return keypoints, visibility_logits.sigmoid()

    def decode(self, coords: np.ndarray,
               visibility_logits: Optional[np.ndarray] = None,
               input_bboxes: Optional[np.ndarray] = None
               ) -> Tuple[np.ndarray, np.ndarray]:
        """:meth:`decode_tensors` on numpy arrays (computed in float64).

        Args:
            coords: (N, K, 2) frame coordinates.
            visibility_logits: (N, K) visibility logits, optional.
            input_bboxes: (N, 4) xyxy boxes in model-input pixels, for a
                frame built from the box.

        Returns:
            keypoints (N, K, 2) float32 in model-input pixels and keypoint
            scores (N, K) float32 (sigmoid of the logits; ones without them).
        """
        def as_tensor(array: Optional[np.ndarray]) -> Optional[Tensor]:
            return None if array is None else torch.as_tensor(
                np.asarray(array, dtype=np.float64))

        boxes = as_tensor(input_bboxes)
        keypoints, scores = self.decode_tensors(
            as_tensor(coords), as_tensor(visibility_logits),
            None if boxes is None else boxes.reshape(-1, 4))
        return keypoints.float().numpy(), scores.float().numpy()

    def batch_decode(self, coords: Tensor, visibility_logits: Tensor,
                     input_bboxes: Optional[Tensor] = None
                     ) -> Tuple[List[np.ndarray], List[np.ndarray]]:
        """Decode a batch at once with :meth:`decode_tensors` (in the
        tensors' dtype, as the exported graph does): what the heads'
        ``predict`` runs.

        Args:
            coords: (B, K, 2) frame coordinates.
            visibility_logits: (B, K).
            input_bboxes: (B, 4) xyxy in model-input pixels, for a frame
                built from the box.

        Returns:
            per-sample lists of keypoints (1, K, 2) and scores (1, K).
        """
        keypoints, scores = self.decode_tensors(
            coords.detach(), visibility_logits.detach(),
            None if input_bboxes is None else input_bboxes.detach())
        keypoints = keypoints.float().cpu().numpy()
        scores = scores.float().cpu().numpy()
        return list(keypoints[:, None]), list(scores[:, None])
