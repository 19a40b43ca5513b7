from typing import List, Optional, Tuple

import numpy as np
from torch import Tensor

from mmpose.codecs.base import BaseKeypointCodec
from mmpose.registry import KEYPOINT_CODECS
from kp_plugins.utils.scores import visibility_scores
from .utils import (areas_in_input, check_input_size, inside_input,
                    labelled_mask)


@KEYPOINT_CODECS.register_module()
class KPGridLabel(BaseKeypointCodec):
    r"""Grid targets: per keypoint, the cell that holds it and its offset
    inside that cell (approach 2, grid).

    The model input ``[W, H]`` is tiled by ``Gw x Gh`` cells of
    ``cw x ch = W / Gw x H / Gh`` pixels. Cell ``(gx, gy)`` covers
    ``[gx * cw, (gx + 1) * cw) x [gy * ch, (gy + 1) * ch)``; a keypoint at
    ``(x, y)`` lies in cell ``gx = floor(x / cw)`` at offset
    ``x / cw - gx`` in ``[0, 1)`` (same in y), and decodes back as
    ``(gx + offset) * cw``.

    Note:
        - instance number: N
        - keypoint number: K
        - model input size: [W, H]
        - grid size: [Gw, Gh], G = Gw * Gh cells, flat index gy * Gw + gx

    Encoded:
        - keypoint_labels (np.ndarray): (N, K, 2) keypoints in model-input
          pixels (for the OKS loss on decoded coordinates and accuracy).
        - keypoint_cells (np.ndarray): (N, K) int64 flat index of the cell
          holding each keypoint (0 where the weight is 0). The per-cell
          presence target of keypoint k is 1 at this cell, 0 elsewhere (all 0
          when the weight is 0).
        - keypoint_offsets (np.ndarray): (N, K, 2) offset inside that cell,
          in cell units.
        - keypoint_weights (np.ndarray): (N, K) 1 for labelled keypoints
          inside the input, 0 for unlabelled or out-of-input ones.
        - areas (np.ndarray): (N,) instance area in input pixels^2 (present
          when ``area`` or ``bbox`` is given).

    Decoded from the network outputs ``presence`` (N, K, Gh, Gw) logits and
    ``offsets`` (N, K, 2, Gh, Gw): the best cell plus its offset, scored by
    the sigmoid of that cell's logit.

    Args:
        input_size: model input size ``(W, H)``.
        grid_size: number of cells ``(Gw, Gh)``; must tile the input.
    """

    auxiliary_encode_keys = {'area', 'bbox', 'input_scale'}
    label_mapping_table = dict(
        keypoint_labels='keypoint_labels',
        keypoint_cells='keypoint_cells',
        keypoint_offsets='keypoint_offsets',
        keypoint_weights='keypoint_weights',
        areas='areas',
    )

    def __init__(self, input_size: Tuple[int, int],
                 grid_size: Tuple[int, int]) -> None:
        super().__init__()
        self.input_size = check_input_size(input_size, 'KPGridLabel')
        self.grid_size = check_input_size(grid_size, 'KPGridLabel grid_size')
        (w, h), (gw, gh) = self.input_size, self.grid_size
        if w % gw or h % gh:
            raise ValueError(
                f'KPGridLabel: grid_size {self.grid_size} does not tile '
                f'input_size {self.input_size}: the input width {w} and '
                f'height {h} must be multiples of the grid width {gw} and '
                f'height {gh} (e.g. grid_size=({w // 8}, {h // 8}) for '
                '8-pixel cells when both divide)')
        self.cell_size = (w // gw, h // gh)

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
        valid = labelled_mask(keypoints, keypoints_visible) & inside_input(
            keypoints, self.input_size)
        grid_xy = keypoints / np.array(self.cell_size, dtype=np.float64)
        cell_xy = np.floor(grid_xy)
        cell_xy = np.clip(cell_xy, 0, np.array(self.grid_size) - 1)
        offsets = np.where(valid[..., None], grid_xy - cell_xy, 0.0)
        cell_xy = np.where(valid[..., None], cell_xy, 0).astype(np.int64)
        encoded = dict(
            keypoint_labels=keypoints.astype(np.float32),
            keypoint_cells=cell_xy[..., 1] * self.grid_size[0] +
            cell_xy[..., 0],
            keypoint_offsets=offsets.astype(np.float32),
            keypoint_weights=valid.astype(np.float32))
        areas = areas_in_input(num, area, bbox, input_scale, self.input_size)
        if areas is not None:
            encoded['areas'] = areas.astype(np.float32)
        return encoded

    def decode(self, presence: np.ndarray,
               offsets: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Best cell + its offset -> keypoints in model-input pixels.

        Args:
            presence: (N, K, Gh, Gw) presence logits.
            offsets: (N, K, 2, Gh, Gw) in-cell offsets in cell units.

        Returns:
            keypoints (N, K, 2) in model-input pixels and scores (N, K), the
            sigmoid of the best cell's logit.
        """
        presence = np.asarray(presence)
        offsets = np.asarray(offsets)
        n, k, gh, gw = presence.shape
        if (gw, gh) != self.grid_size:
            raise ValueError(f'KPGridLabel expects a ({self.grid_size[1]}, '
                             f'{self.grid_size[0]}) grid, got ({gh}, {gw})')
        flat = presence.reshape(n, k, gh * gw)
        best = flat.argmax(axis=-1)
        best_logit = np.take_along_axis(flat, best[..., None], -1)[..., 0]
        best_offsets = np.take_along_axis(
            offsets.reshape(n, k, 2, gh * gw), best[:, :, None, None],
            -1)[..., 0]
        cell_xy = np.stack([best % gw, best // gw], axis=-1)
        keypoints = (cell_xy + best_offsets) * np.array(self.cell_size)
        return keypoints.astype(np.float32), visibility_scores(best_logit)

    def batch_decode(self, presence: Tensor, offsets: Tensor
                     ) -> Tuple[List[np.ndarray], List[np.ndarray]]:
        """Decode a batch at once.

        Args:
            presence: (B, K, Gh, Gw) logits.
            offsets: (B, K, 2, Gh, Gw).

        Returns:
            per-sample lists of keypoints (1, K, 2) and scores (1, K).
        """
        b, k, gh, gw = presence.shape
        if (gw, gh) != self.grid_size:
            raise ValueError(f'KPGridLabel expects a ({self.grid_size[1]}, '
                             f'{self.grid_size[0]}) grid, got ({gh}, {gw})')
        best_logit, best = presence.detach().flatten(2).max(dim=-1)
        best_offsets = offsets.detach().flatten(3).gather(
            -1, best[:, :, None, None].expand(-1, -1, 2, 1))[..., 0]
        best = best.cpu().numpy()
        cell_xy = np.stack([best % gw, best // gw], axis=-1)
        keypoints = ((cell_xy + best_offsets.cpu().numpy()) *
                     np.array(self.cell_size)).astype(np.float32)
        scores = visibility_scores(best_logit.cpu().numpy())
        return list(keypoints[:, None]), list(scores[:, None])
