from typing import List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from mmpose.codecs.base import BaseKeypointCodec
from mmpose.registry import KEYPOINT_CODECS
from torch import Tensor

from .utils import areas_in_input, check_input_size, inside_input, labelled_mask

NORMALIZATIONS = ('softmax', 'sigmoid')


@KEYPOINT_CODECS.register_module()
class KPGridLabel(BaseKeypointCodec):
    r"""Grid targets (approach 2): per keypoint, a presence target over the
    cells, the in-cell offsets of the true cell and of its neighbours, and
    their weights; and the decode from the head's outputs back to pixels.

    **Cells.** The model input ``[W, H]`` is tiled by ``Gw x Gh`` cells of
    ``cw x ch = W / Gw x H / Gh`` pixels. As in MMPose's codecs, integer
    coordinates are pixel centres, so the input spans ``[-0.5, W - 0.5]``
    and a horizontal flip maps ``x`` to ``W - 1 - x``. Cell ``gx`` covers
    ``[gx * cw - 0.5, (gx + 1) * cw - 0.5)`` (same in y), its centre is at
    ``(gx + 0.5) * cw - 0.5``. In *grid units* ``u = (x + 0.5) / cw`` the
    cell is ``[gx, gx + 1)`` and a keypoint lies in ``gx = floor(u)`` at
    offset ``u - gx`` in ``[0, 1)``; it decodes back as
    ``x = (gx + offset) * cw - 0.5``. Mirroring is exact: ``W - 1 - x`` has
    ``u' = Gw - u``, so it lies in cell ``Gw - 1 - gx`` at offset
    ``1 - offset``, and every target below of a mirrored point is the
    mirrored target.

    **Presence target** (``presence_target``): with ``presence_sigma = 0``,
    1 at the true cell and 0 elsewhere; otherwise the Gaussian
    ``exp(-|c - u|^2 / (2 sigma^2))`` of the distance (grid units) from
    every cell centre ``c = g + 0.5`` to the keypoint, scaled to 1 at the
    true cell. All zero for a keypoint of weight 0. ``KPSoftmaxCELoss``
    normalizes it to a distribution over the cells, ``KPBCELoss`` uses it
    per cell.

    **Offset targets**: for the true cell and its ``(2r + 1)^2`` neighbours
    (``r = offset_radius``) the keypoint's offset measured from that cell
    (``offset - shift``, so a neighbouring argmax still decodes to the
    keypoint), weight 0 for neighbours outside the grid.

    **Decode.** The best cell (argmax of the presence logits) plus its
    offset. The score, with ``presence_normalization='softmax'``, is the
    softmax mass of the ``(2s + 1)^2`` cells around the best one
    (``s = score_radius``): the probability, under the model's own
    distribution, that the keypoint lies within ``s`` cells of where it is
    predicted (near 0 for a keypoint the model cannot place, such as an
    occluded one). With ``'sigmoid'`` (a head trained per cell with
    ``KPBCELoss``), the sigmoid of the best cell's logit.

    Note:
        - instance number: N
        - keypoint number: K
        - model input size: [W, H]
        - grid size: [Gw, Gh], G = Gw * Gh cells, flat index gy * Gw + gx
        - offset neighbourhood: M = (2 * offset_radius + 1)^2 cells

    Encoded:
        - keypoint_labels (np.ndarray): (N, K, 2) keypoints in model-input
          pixels (for the OKS loss on decoded coordinates and accuracy).
        - presence_target (np.ndarray): (N, K, G) float32, see above.
        - keypoint_cells (np.ndarray): (N, K) int64 flat index of the true
          cell (0 where the weight is 0).
        - keypoint_offsets (np.ndarray): (N, K, 2) offset in the true cell,
          grid units.
        - offset_cells (np.ndarray): (N, K, M) int64 flat index of the true
          cell and its neighbours (row-major over dy, dx in ``[-r, r]``; a
          neighbour outside the grid repeats the true cell).
        - offset_targets (np.ndarray): (N, K, M, 2) the offset measured from
          each of those cells.
        - offset_weights (np.ndarray): (N, K, M) the keypoint weight, 0 for
          neighbours outside the grid.
        - keypoint_weights (np.ndarray): (N, K) 1 for labelled keypoints
          inside the input (``0 <= x <= W - 1``, ``0 <= y <= H - 1``), else 0.
        - areas (np.ndarray): (N,) instance area in input pixels^2 (present
          when ``area`` or ``bbox`` is given).

    Args:
        input_size: model input size ``(W, H)``.
        grid_size: number of cells ``(Gw, Gh)``; must tile the input.
        presence_sigma: standard deviation of the Gaussian presence target in
            cells (0 = one-hot true cell).
        offset_radius: neighbourhood radius ``r`` of the offset targets
            (0 = the true cell only).
        presence_normalization: how the head normalizes its presence logits,
            ``'softmax'`` over the cells (``KPSoftmaxCELoss``) or ``'sigmoid'``
            per cell (``KPBCELoss``); selects the decode's score.
        score_radius: ``s`` of the softmax score window (0 = the best cell's
            probability alone).
    """

    auxiliary_encode_keys = {'area', 'bbox', 'input_scale'}
    label_mapping_table = dict(
        keypoint_labels='keypoint_labels',
        presence_target='presence_target',
        keypoint_cells='keypoint_cells',
        keypoint_offsets='keypoint_offsets',
        offset_cells='offset_cells',
        offset_targets='offset_targets',
        offset_weights='offset_weights',
        keypoint_weights='keypoint_weights',
        areas='areas',
    )

    def __init__(self,
                 input_size: Tuple[int, int],
                 grid_size: Tuple[int, int],
                 presence_sigma: float = 1.0,
                 offset_radius: int = 1,
                 presence_normalization: str = 'softmax',
                 score_radius: int = 1) -> None:
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
        if not presence_sigma >= 0:
            raise ValueError('KPGridLabel: presence_sigma must be >= 0 '
                             f'(cells), got {presence_sigma}')
        for name, value in (('offset_radius', offset_radius),
                            ('score_radius', score_radius)):
            if int(value) != value or value < 0:
                raise ValueError(f'KPGridLabel: {name} must be an integer '
                                 f'>= 0 (cells), got {value}')
        if presence_normalization not in NORMALIZATIONS:
            raise ValueError(
                'KPGridLabel: presence_normalization must be one of '
                f'{NORMALIZATIONS}, got {presence_normalization!r}')
        self.cell_size = (w // gw, h // gh)
        self.presence_sigma = float(presence_sigma)
        self.offset_radius = int(offset_radius)
        self.presence_normalization = presence_normalization
        self.score_radius = int(score_radius)

    # ------------------------------------------------------------ geometry
    def to_grid(self, keypoints: np.ndarray) -> np.ndarray:
        """(..., 2) model-input pixels -> grid units (cell ``g`` spans
        ``[g, g + 1)``)."""
        return (np.asarray(keypoints, dtype=np.float64) + 0.5) / np.array(
            self.cell_size, dtype=np.float64)

    def neighbour_shifts(self) -> np.ndarray:
        """(M, 2) ``(dx, dy)`` of the offset neighbourhood, row-major."""
        steps = np.arange(-self.offset_radius, self.offset_radius + 1)
        dy, dx = np.meshgrid(steps, steps, indexing='ij')
        return np.stack([dx.ravel(), dy.ravel()], axis=-1)

    # ------------------------------------------------------------ encode
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
        num, k = keypoints.shape[:2]
        gw, gh = self.grid_size
        valid = labelled_mask(keypoints, keypoints_visible) & inside_input(
            keypoints, self.input_size)
        grid_xy = np.where(valid[..., None], self.to_grid(keypoints), 0.5)
        cell_xy = np.clip(np.floor(grid_xy), 0, np.array([gw, gh]) - 1)
        offsets = np.where(valid[..., None], grid_xy - cell_xy, 0.0)
        cell_xy = cell_xy.astype(np.int64)
        weights = valid.astype(np.float32)

        # presence over the cells, (N, K, G)
        ys, xs = np.meshgrid(np.arange(gh), np.arange(gw), indexing='ij')
        centres = np.stack([xs.ravel(), ys.ravel()], axis=-1) + 0.5  # (G, 2)
        flat_cell = cell_xy[..., 1] * gw + cell_xy[..., 0]
        if self.presence_sigma == 0:
            presence = (np.arange(gw * gh) == flat_cell[..., None]).astype(
                np.float64)
        else:
            d2 = ((centres - grid_xy[:, :, None]) ** 2).sum(-1)
            d2_true = ((cell_xy + 0.5 - grid_xy) ** 2).sum(-1)
            presence = np.exp(-(d2 - d2_true[..., None]) /
                              (2 * self.presence_sigma ** 2))
        presence *= valid[..., None]

        # offsets of the true cell and its neighbours, (N, K, M, ...)
        shifts = self.neighbour_shifts()  # (M, 2)
        near_xy = cell_xy[:, :, None] + shifts
        inside = ((near_xy >= 0) & (near_xy < np.array([gw, gh]))).all(-1)
        near_xy = np.where(inside[..., None], near_xy, cell_xy[:, :, None])
        offset_targets = offsets[:, :, None] - shifts
        offset_weights = weights[..., None] * inside

        encoded = dict(
            keypoint_labels=keypoints.astype(np.float32),
            presence_target=presence.astype(np.float32),
            keypoint_cells=np.where(valid, flat_cell, 0).astype(np.int64),
            keypoint_offsets=offsets.astype(np.float32),
            offset_cells=(near_xy[..., 1] * gw + near_xy[..., 0]).astype(
                np.int64).reshape(num, k, -1),
            offset_targets=offset_targets.astype(np.float32),
            offset_weights=offset_weights.astype(np.float32),
            keypoint_weights=weights)
        areas = areas_in_input(num, area, bbox, input_scale, self.input_size)
        if areas is not None:
            encoded['areas'] = areas.astype(np.float32)
        return encoded

    # ------------------------------------------------------------ decode
    def check_grid(self, presence: Tensor) -> None:
        gh, gw = presence.shape[-2:]
        if (gw, gh) != self.grid_size:
            raise ValueError(f'KPGridLabel expects a ({self.grid_size[1]}, '
                             f'{self.grid_size[0]}) grid, got ({gh}, {gw})')

    def decode_tensors(self, presence: Tensor,
                       offsets: Tensor) -> Tuple[Tensor, Tensor]:
        """The decode in torch (batched, traceable: the ONNX export runs it
        inside the graph).

        Args:
            presence: (B, K, Gh, Gw) presence logits.
            offsets: (B, K, 2, Gh, Gw) in-cell offsets, grid units.

        Returns:
            keypoints (B, K, 2) in model-input pixels and scores (B, K).
        """
        gw = presence.shape[-1]
        flat = presence.flatten(2)
        best_logit, best = flat.max(dim=-1)  # (B, K)
        if self.presence_normalization == 'softmax':
            probs = flat.softmax(dim=-1).view_as(presence)
            if self.score_radius:
                side = 2 * self.score_radius + 1
                probs = F.avg_pool2d(probs, side, stride=1,
                                     padding=self.score_radius,
                                     count_include_pad=True) * side ** 2
            scores = probs.flatten(2).gather(-1, best[..., None])[..., 0]
        else:
            scores = best_logit.sigmoid()
        index = best[:, :, None, None].expand(-1, -1, 2, 1)
        best_offsets = offsets.flatten(3).gather(-1, index)[..., 0]
        cell_xy = torch.stack(
            [best % gw, torch.div(best, gw, rounding_mode='floor')],
            dim=-1).to(offsets.dtype)
        cell_size = offsets.new_tensor(self.cell_size)
        return (cell_xy + best_offsets) * cell_size - 0.5, scores

    def soft_decode(self, presence: Tensor, offsets: Tensor) -> Tensor:
        """Differentiable keypoints (B, K, 2) in model-input pixels: the
        expectation of the decoded position ``(cell + offset) * cell_size -
        0.5`` under the softmax of the presence logits over the cells."""
        _, _, gh, gw = presence.shape
        probs = presence.flatten(2).softmax(dim=-1)  # (B, K, G)
        ys, xs = torch.meshgrid(
            torch.arange(gh, device=presence.device, dtype=offsets.dtype),
            torch.arange(gw, device=presence.device, dtype=offsets.dtype),
            indexing='ij')
        cells = torch.stack([xs.flatten(), ys.flatten()])  # (2, G)
        points = (cells + offsets.flatten(3)) * offsets.new_tensor(
            self.cell_size)[:, None] - 0.5  # (B, K, 2, G)
        return (points * probs[:, :, None]).sum(dim=-1)

    def decode(self, presence: np.ndarray,
               offsets: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Best cell + its offset -> keypoints in model-input pixels.

        Args:
            presence: (N, K, Gh, Gw) presence logits.
            offsets: (N, K, 2, Gh, Gw) in-cell offsets, grid units.

        Returns:
            keypoints (N, K, 2) float32 in model-input pixels and scores
            (N, K) float32 (see the class docstring).
        """
        presence = torch.as_tensor(np.asarray(presence, dtype=np.float32))
        self.check_grid(presence)
        keypoints, scores = self.decode_tensors(
            presence, torch.as_tensor(np.asarray(offsets, dtype=np.float32)))
        return keypoints.numpy(), scores.numpy()

    def batch_decode(self, presence: Tensor, offsets: Tensor
                     ) -> Tuple[List[np.ndarray], List[np.ndarray]]:
        """Decode a batch at once.

        Args:
            presence: (B, K, Gh, Gw) logits.
            offsets: (B, K, 2, Gh, Gw).

        Returns:
            per-sample lists of keypoints (1, K, 2) and scores (1, K).
        """
        self.check_grid(presence)
        keypoints, scores = self.decode_tensors(presence.detach(),
                                                offsets.detach())
        keypoints = keypoints.float().cpu().numpy()
        scores = scores.float().cpu().numpy()
        return list(keypoints[:, None]), list(scores[:, None])
