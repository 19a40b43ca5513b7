from typing import Optional, Tuple

import numpy as np
from mmpose.registry import KEYPOINT_CODECS
from mmpose.structures.bbox import get_warp_matrix
from torch import Tensor

from kp_plugins.utils.crop import boxes_in_input

from .frame_label import KPFrameLabel

#: Smallest box side, in model-input pixels, used to build the box frame.
MIN_BOX_SIDE = 1.0


@KEYPOINT_CODECS.register_module()
class KPBBoxLabel(KPFrameLabel):
    r"""Keypoints relative to the person's box, not to the padded crop
    (approach 3, bbox).

    ``GetBBoxCenterScale`` pads the person box (``bbox``, image xyxy) by
    1.25 and ``TopdownAffine`` widens it to the input's aspect ratio, so in
    the crop the box is centred with its limiting side at 1 / 1.25 of the
    input but its other side depends on the box's aspect ratio (and, with
    ``RandomBBoxTransform``/``RandomHalfBody``, it also moves and scales).
    The box in model-input pixels is therefore not a fixed fraction of the
    input: the codec computes it with the very warp ``TopdownAffine`` used
    (:meth:`bbox_to_input`), and the head computes it the same way at test
    time from the (detector or ground-truth) box in the data sample.

    Targets live in the box frame, isotropic so that OKS is exact in it::

        c = box centre, s = sqrt(box_w * box_h)      (model-input pixels)
        label = (keypoint - c) / s
        area_label = area_input / s^2                (COCO area over box area)

    Note:
        - instance number: N
        - keypoint number: K
        - model input size: [W, H]

    Encoded:
        - keypoint_labels (np.ndarray): (N, K, 2) box-frame coordinates of
          every keypoint.
        - keypoint_weights (np.ndarray): (N, K) 1 for labelled keypoints
          (inside the input or not), 0 otherwise.
        - keypoint_visibility (np.ndarray): (N, K) visibility target, 1 for
          labelled keypoints inside the input.
        - input_bboxes (np.ndarray): (N, 4) the person box in model-input
          pixels, xyxy (axis-aligned: centre warped, sides scaled).
        - areas (np.ndarray): (N,) area in squared box-frame units (present
          when ``area`` or ``bbox`` is given).

    Decode (:meth:`decode_tensors`, torch, batched and traceable: what
    ``KPBBoxHead.predict`` and the exported ONNX graph run;
    :meth:`~KPFrameLabel.decode` is the same on numpy arrays)::

        keypoints = coords * s + c                   (c, s of input_bboxes)
        scores = sigmoid(visibility_logits)

    with ``coords`` (N, K, 2), ``visibility_logits`` (N, K) and the
    ``input_bboxes`` (N, 4, required) -> keypoints (N, K, 2) in model-input
    pixels and scores (N, K). Box sides are clamped to at least
    ``MIN_BOX_SIDE`` pixels.

    Assumes ``TopdownAffine(use_udp=False)``, like MMPose's estimator when
    it maps predictions back to the image.

    Args:
        input_size: model input size ``(W, H)``.
    """

    auxiliary_encode_keys = {
        'bbox', 'area', 'input_center', 'input_scale', 'bbox_rotation'
    }
    label_mapping_table = dict(
        keypoint_labels='keypoint_labels',
        keypoint_weights='keypoint_weights',
        keypoint_visibility='keypoint_visibility',
        input_bboxes='input_bboxes',
        areas='areas',
    )

    def bbox_to_input(self, bboxes: np.ndarray,
                      input_center: Optional[np.ndarray] = None,
                      input_scale: Optional[np.ndarray] = None,
                      rotation: float = 0.0) -> np.ndarray:
        """Image boxes -> boxes in model-input pixels, with the warp of
        ``TopdownAffine`` (centre warped, sides scaled; axis-aligned).

        Args:
            bboxes: (N, 4) xyxy in image pixels.
            input_center: (2,) ``TopdownAffine``'s ``input_center``;
                ``None`` (with ``input_scale``) if the image is the input.
            input_scale: (2,) ``TopdownAffine``'s ``input_scale``.
            rotation: the crop's rotation in degrees (``bbox_rotation``).

        Returns:
            (N, 4) xyxy in model-input pixels.
        """
        bboxes = np.asarray(bboxes, dtype=np.float64).reshape(-1, 4)
        if input_center is None or input_scale is None:
            return bboxes.copy()
        warp = get_warp_matrix(
            np.asarray(input_center, dtype=np.float64).reshape(2),
            np.asarray(input_scale, dtype=np.float64).reshape(2),
            float(rotation), output_size=self.input_size)
        return boxes_in_input(bboxes, warp)

    @staticmethod
    def box_frame(input_bboxes: Tensor) -> Tuple[Tensor, Tensor]:
        """Box frame of boxes in model-input pixels (torch, traceable).

        Args:
            input_bboxes: (N, 4) xyxy in model-input pixels.

        Returns:
            centre (N, 2) and unit ``sqrt(w * h)`` (N,), in input pixels,
            with the sides clamped to at least ``MIN_BOX_SIDE``.
        """
        sides = (input_bboxes[:, 2:] - input_bboxes[:, :2]).clamp(
            min=MIN_BOX_SIDE)
        return ((input_bboxes[:, :2] + input_bboxes[:, 2:]) / 2,
                (sides[:, 0] * sides[:, 1]).sqrt())

    def frame_tensors(self, coords: Tensor,
                      input_bboxes: Optional[Tensor] = None
                      ) -> Tuple[Tensor, Tensor]:
        """The box frame (:meth:`box_frame`) of each instance's box, in
        ``coords``' dtype.

        Raises:
            ValueError: without ``input_bboxes``.
        """
        if input_bboxes is None:
            raise ValueError('KPBBoxLabel decodes relative to the person box: '
                             'give the boxes in model-input pixels '
                             '(input_bboxes)')
        return self.box_frame(input_bboxes.to(coords.dtype))

    def encode(self,
               keypoints: np.ndarray,
               keypoints_visible: Optional[np.ndarray] = None,
               bbox: Optional[np.ndarray] = None,
               area: Optional[np.ndarray] = None,
               input_center: Optional[np.ndarray] = None,
               input_scale: Optional[np.ndarray] = None,
               bbox_rotation: Optional[np.ndarray] = None) -> dict:
        """Encode keypoints given in model-input pixels.

        Args:
            keypoints: (N, K, 2) in model-input pixels.
            keypoints_visible: (N, K) labelled flag (> 0.5), optional.
            bbox: (N, 4) xyxy person box in image pixels (required).
            area: () or (N,) COCO area in image pixels^2, optional (falls
                back to 0.53 x box area, like MMPose).
            input_center, input_scale: ``TopdownAffine``'s crop, (2,) each;
                ``None`` if the image is the input.
            bbox_rotation: (N,) ``RandomBBoxTransform``'s rotation (degrees).

        Returns:
            dict with the encoded items listed in the class docstring.
        """
        if bbox is None:
            raise ValueError(
                'KPBBoxLabel needs the person box: results["bbox"] is missing '
                '(CocoDataset provides it; keep it in the pipeline before '
                'GenerateTarget)')
        num = np.shape(keypoints)[0]
        bbox = np.asarray(bbox, dtype=np.float64).reshape(-1, 4)
        if bbox.shape[0] != num:
            raise ValueError(f'KPBBoxLabel got {bbox.shape[0]} boxes for '
                             f'{num} instances')
        rotation = 0.0 if bbox_rotation is None else float(
            np.asarray(bbox_rotation).reshape(-1)[0])
        input_bboxes = self.bbox_to_input(bbox, input_center, input_scale,
                                          rotation)
        return self.encode_in_frame(keypoints, keypoints_visible, area, bbox,
                                    input_scale, input_bboxes)
