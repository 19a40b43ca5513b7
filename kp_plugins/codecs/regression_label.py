from typing import Optional, Tuple

import numpy as np
from mmpose.registry import KEYPOINT_CODECS
from torch import Tensor

from .frame_label import KPFrameLabel


@KEYPOINT_CODECS.register_module()
class KPRegressionLabel(KPFrameLabel):
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

    Decode (:meth:`decode_tensors`, torch, batched and traceable: what
    ``KPRegressionHead.predict`` and the exported ONNX graph run;
    :meth:`~KPFrameLabel.decode` is the same on numpy arrays)::

        keypoints = coords * sqrt(W * H) + [W / 2, H / 2]
        scores = sigmoid(visibility_logits)

    with ``coords`` (N, K, 2) and ``visibility_logits`` (N, K) -> keypoints
    (N, K, 2) in model-input pixels and scores (N, K).

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
        super().__init__(input_size)
        w, h = self.input_size
        self.center = np.array([w / 2, h / 2], dtype=np.float64)
        self.unit = float(np.sqrt(w * h))

    def frame_tensors(self, coords: Tensor,
                      input_bboxes: Optional[Tensor] = None
                      ) -> Tuple[Tensor, Tensor]:
        """The input's frame (the same for every instance; the box plays no
        part): centre (1, 2) ``[W / 2, H / 2]`` and unit (1,)
        ``sqrt(W * H)``, in ``coords``' dtype and device."""
        return coords.new_tensor(self.center)[None], coords.new_tensor(
            [self.unit])

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
        return self.encode_in_frame(keypoints, keypoints_visible, area, bbox,
                                    input_scale)
