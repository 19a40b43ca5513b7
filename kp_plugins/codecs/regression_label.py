from typing import List, Optional, Tuple

import numpy as np
from mmpose.codecs.base import BaseKeypointCodec
from mmpose.registry import KEYPOINT_CODECS
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


@KEYPOINT_CODECS.register_module()
class KPRegressionLabel(BaseKeypointCodec):
    r"""Keypoint coordinates in an isotropic frame of the model input, with
    visibility targets and OKS areas (approach 1, regression).

    MMPose's ``RegressionLabel`` divides x by ``W`` and y by ``H``; distances
    in that frame are not isotropic, so no single area makes OKS right in
    it. This codec uses one unit for both axes instead::

        label = (keypoint - [W / 2, H / 2]) / sqrt(W * H)
        area_label = area_input / (W * H)

    Note:
        - instance number: N
        - keypoint number: K
        - model input size: [W, H]

    Encoded:
        - keypoint_labels (np.ndarray): (N, K, 2) frame coordinates of every
          keypoint (labelled ones outside the input included: COCO's OKS
          counts them and the frame represents them).
        - keypoint_weights (np.ndarray): (N, K) 1 for labelled keypoints,
          0 otherwise.
        - keypoint_visibility (np.ndarray): (N, K) visibility target, 1 for
          labelled keypoints inside the input, 0 otherwise.
        - areas (np.ndarray): (N,) instance area in squared frame units
          (present when ``area`` or ``bbox`` is given).

    Args:
        input_size: model input size ``(W, H)``.
    """

    auxiliary_encode_keys = {'area', 'bbox', 'input_scale'}
    label_mapping_table = dict(
        keypoint_labels='keypoint_labels',
        keypoint_weights='keypoint_weights',
        keypoint_visibility='keypoint_visibility',
        areas='areas',
    )

    def __init__(self, input_size: Tuple[int, int]) -> None:
        super().__init__()
        self.input_size = check_input_size(input_size, 'KPRegressionLabel')
        w, h = self.input_size
        self.center = np.array([w / 2, h / 2], dtype=np.float64)
        self.unit = float(np.sqrt(w * h))

    def _frame(self, num_instances: int):
        return (np.tile(self.center, (num_instances, 1)),
                np.full(num_instances, self.unit))

    def encode(self,
               keypoints: np.ndarray,
               keypoints_visible: Optional[np.ndarray] = None,
               area: Optional[np.ndarray] = None,
               bbox: Optional[np.ndarray] = None,
               input_scale: Optional[np.ndarray] = None) -> dict:
        """Encode keypoints given in model-input pixels.

        Args:
            keypoints: (N, K, 2) in model-input pixels.
            keypoints_visible: (N, K) labelled flag (> 0.5), optional.
            area: () or (N,) COCO area in image pixels^2, optional.
            bbox: (N, 4) xyxy image box, the area fallback, optional.
            input_scale: (2,) ``TopdownAffine``'s crop size in image pixels;
                ``None`` if the image is the input.

        Returns:
            dict with the encoded items listed in the class docstring.
        """
        keypoints = np.asarray(keypoints, dtype=np.float64)[..., :2]
        num = keypoints.shape[0]
        labelled = labelled_mask(keypoints, keypoints_visible)
        center, unit = self._frame(num)
        encoded = dict(
            keypoint_labels=to_frame(keypoints, center, unit).astype(
                np.float32),
            keypoint_weights=labelled.astype(np.float32),
            keypoint_visibility=(labelled & inside_input(
                keypoints, self.input_size)).astype(np.float32))
        areas = areas_in_input(num, area, bbox, input_scale, self.input_size)
        if areas is not None:
            encoded['areas'] = (areas / self.unit**2).astype(np.float32)
        return encoded

    def decode(self, coords: np.ndarray,
               visibility_logits: Optional[np.ndarray] = None
               ) -> Tuple[np.ndarray, np.ndarray]:
        """Frame coordinates -> model-input pixels.

        Args:
            coords: (N, K, 2) frame coordinates.
            visibility_logits: (N, K) visibility logits, optional.

        Returns:
            keypoints (N, K, 2) in model-input pixels and keypoint scores
            (N, K) (sigmoid of the logits; ones without them).
        """
        coords = np.asarray(coords, dtype=np.float64)
        center, unit = self._frame(coords.shape[0])
        keypoints = from_frame(coords, center, unit).astype(np.float32)
        if visibility_logits is None:
            scores = np.ones(coords.shape[:2], dtype=np.float32)
        else:
            scores = logits_to_probs(visibility_logits)
        return keypoints, scores

    def batch_decode(self, coords: Tensor, visibility_logits: Tensor
                     ) -> Tuple[List[np.ndarray], List[np.ndarray]]:
        """Decode a batch at once.

        Args:
            coords: (B, K, 2) frame coordinates.
            visibility_logits: (B, K).

        Returns:
            per-sample lists of keypoints (1, K, 2) and scores (1, K).
        """
        keypoints, scores = self.decode(coords.detach().cpu().numpy(),
                                        visibility_logits.detach().cpu().numpy())
        return list(keypoints[:, None]), list(scores[:, None])
