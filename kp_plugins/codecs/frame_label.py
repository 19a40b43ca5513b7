"""Base of the codecs that regress keypoints in an isotropic frame (not
registered: :class:`KPRegressionLabel` and :class:`KPBBoxLabel` are)."""
from typing import List, Optional, Tuple

import numpy as np
from mmpose.codecs.base import BaseKeypointCodec
from torch import Tensor

from kp_plugins.utils.scores import logits_to_probs

from .utils import (
    areas_in_input,
    check_input_size,
    from_frame,
    inside_input,
    labelled_mask,
    to_frame,
)


class KPFrameLabel(BaseKeypointCodec):
    r"""Keypoint coordinates in an isotropic frame, with visibility targets
    and OKS areas in the same frame::

        label = (keypoint - centre) / unit
        area_label = area_input / unit^2

    One unit for both axes keeps distances isotropic, so OKS is exact in
    the frame. Subclasses say where the frame is (:meth:`frame`): the model
    input (:class:`KPRegressionLabel`) or the person box
    (:class:`KPBBoxLabel`).

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

    def frame(self, num_instances: int,
              input_bboxes: Optional[np.ndarray] = None
              ) -> Tuple[np.ndarray, np.ndarray]:
        """The frame of each instance.

        Args:
            num_instances: ``N``.
            input_bboxes: (N, 4) xyxy person boxes in model-input pixels, for
                a frame built from the box.

        Returns:
            centre (N, 2) and unit (N,), in model-input pixels.
        """
        raise NotImplementedError

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

    def decode(self, coords: np.ndarray,
               visibility_logits: Optional[np.ndarray] = None,
               input_bboxes: Optional[np.ndarray] = None
               ) -> Tuple[np.ndarray, np.ndarray]:
        """Frame coordinates -> model-input pixels.

        Args:
            coords: (N, K, 2) frame coordinates.
            visibility_logits: (N, K) visibility logits, optional.
            input_bboxes: (N, 4) xyxy boxes in model-input pixels, for a
                frame built from the box.

        Returns:
            keypoints (N, K, 2) in model-input pixels and keypoint scores
            (N, K) (sigmoid of the logits; ones without them).
        """
        coords = np.asarray(coords, dtype=np.float64)
        center, unit = self.frame(coords.shape[0], input_bboxes)
        keypoints = from_frame(coords, center, unit).astype(np.float32)
        if visibility_logits is None:
            scores = np.ones(coords.shape[:2], dtype=np.float32)
        else:
            scores = logits_to_probs(visibility_logits)
        return keypoints, scores

    def batch_decode(self, coords: Tensor, visibility_logits: Tensor,
                     input_bboxes: Optional[Tensor] = None
                     ) -> Tuple[List[np.ndarray], List[np.ndarray]]:
        """Decode a batch at once.

        Args:
            coords: (B, K, 2) frame coordinates.
            visibility_logits: (B, K).
            input_bboxes: (B, 4) xyxy in model-input pixels, for a frame
                built from the box.

        Returns:
            per-sample lists of keypoints (1, K, 2) and scores (1, K).
        """
        boxes = None if input_bboxes is None else \
            input_bboxes.detach().cpu().numpy()
        keypoints, scores = self.decode(coords.detach().cpu().numpy(),
                                        visibility_logits.detach().cpu().numpy(),
                                        boxes)
        return list(keypoints[:, None]), list(scores[:, None])
