import numbers
from typing import Dict, List, NamedTuple, Optional, Tuple, Union

import numpy as np
import torch
from mmpose.codecs.base import BaseKeypointCodec
from mmpose.registry import KEYPOINT_CODECS
from torch import Tensor

from .utils import areas_in_input, check_input_size, inside_input, labelled_mask

NORMALIZATIONS = ('softmax', 'sigmoid')

#: ``(Hf, Wf, ry, rx)``: how a tensor stores the ``Gh x Gw`` cells along one
#: flat dimension of ``G = ry * rx * Hf * Wf``: cell ``(gx, gy) = (wx * rx +
#: sx, hy * ry + sy)`` at ``((sy * rx + sx) * Hf + hy) * Wf + wx``. The grid
#: maps are ``(Gh, Gw, 1, 1)`` (row-major cells); the grid head's packed
#: prediction is ``(Hf, Wf, ry, rx)``.
CellLayout = Tuple[int, int, int, int]


class CellTables(NamedTuple):
    """Look-up tables of the decode for one :data:`CellLayout`, indexed by
    the flat (stored) cell index.

    Attributes:
        cells: (G, 2) ``(gx, gy)`` of each stored cell, float.
        near: (G, W) stored index of the ``W = (2s + 1)^2`` cells of its
            score window (row-major over ``dy, dx`` in ``[-s, s]``; a cell
            outside the grid repeats the centre), or ``None`` for ``s = 0``.
        inside: (G, W) 1.0 for window cells inside the grid, else 0.0, or
            ``None`` for ``s = 0``.
        cell_size: (2,) ``(cw, ch)`` in model-input pixels, float.
    """
    cells: Tensor
    near: Optional[Tensor]
    inside: Optional[Tensor]
    cell_size: Tensor


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
    ``KPBCELoss``), the sigmoid of the best cell's logit. Both are taken
    over the logits divided by ``score_temperature`` (the argmax, and so
    the keypoint, does not depend on it).

    The decode runs on the head's grid maps (:meth:`decode_tensors`) or
    straight on its prediction conv's output before the pixel shuffle
    (:meth:`decode_packed_tensors`, the head's ``predict`` without flip
    test and the ONNX graph): both pick the best cell, its offset and its
    score window by table look-ups in the order the cells are stored
    (:meth:`cell_tables`), so they give the same keypoints (scores up to
    float32 rounding of the softmax sums; of exactly tied best cells, the
    first in storage order wins).

    Note:
        - instance number: N
        - keypoint number: K
        - model input size: [W, H]
        - grid size: [Gw, Gh], G = Gw * Gh cells, flat index gy * Gw + gx
        - offset neighbourhood: M = (2 * offset_radius + 1)^2 cells

    Encoded (what ``PackPoseInputs`` moves; the data loader passes every
    array of every sample from its workers at a cost per array that
    outweighs the bytes, docs/benchmark/grid_pack, so the per-keypoint
    targets travel as one array):
        - grid_targets (np.ndarray): (N, K, D) float32, ``D = 3 + 4 M``, the
          per-keypoint targets packed along the last axis
          (:meth:`target_layout`)::

              [0:2]             keypoint_labels  x, y
              [2]               keypoint_weights
              [3:3+2M]          offset_targets   x0, y0, x1, y1, ... (M, 2)
              [3+2M:3+3M]       offset_weights   (M,)
              [3+3M:3+4M]       offset_cells     (M,) flat indices as
                                                 float32 (exact: G < 2^24)

        - areas (np.ndarray): (N,) instance area in input pixels^2 (present
          when ``area`` or ``bbox`` is given; kept apart, it is per instance
          and the batch checks read it).

    The presence target is not encoded: :meth:`unpack` builds it from the
    packed keypoint and cell in torch, where the loss needs it (the same
    values as a numpy encode, up to float32 rounding); so the ``codec`` of
    ``GenerateTarget`` and ``head.decoder`` must be the same (the configs
    pass one ``codec`` dict to both). ``GenerateTarget``'s
    ``use_dataset_keypoint_weights`` does not reach the packed weights.

    Unpacked (:meth:`unpack`, what ``KPGridHead.loss`` reads):
        - keypoint_labels: (N, K, 2) keypoints in model-input pixels (for the
          OKS loss on decoded coordinates and accuracy).
        - presence_target: (N, K, G) float32, see above.
        - keypoint_cells: (N, K) int64 flat index of the true cell (0 where
          the weight is 0).
        - keypoint_offsets: (N, K, 2) offset in the true cell, grid units.
        - offset_cells: (N, K, M) int64 flat index of the true cell and its
          neighbours (row-major over dy, dx in ``[-r, r]``; a neighbour
          outside the grid repeats the true cell).
        - offset_targets: (N, K, M, 2) the offset measured from each of
          those cells.
        - offset_weights: (N, K, M) the keypoint weight, 0 for neighbours
          outside the grid.
        - keypoint_weights: (N, K) 1 for labelled keypoints inside the input
          (``0 <= x <= W - 1``, ``0 <= y <= H - 1``), else 0.
        - areas: (N,) passed through when given.

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
        score_temperature: ``T > 0``: the score's softmax (or sigmoid) is
            taken over ``presence logits / T`` (1 = the logits as trained;
            > 1 flattens the distribution, e.g. to calibrate the scores).
    """

    auxiliary_encode_keys = {'area', 'bbox', 'input_scale'}
    label_mapping_table = dict(grid_targets='grid_targets', areas='areas')

    def __init__(self,
                 input_size: Tuple[int, int],
                 grid_size: Tuple[int, int],
                 presence_sigma: float = 1.0,
                 offset_radius: int = 1,
                 presence_normalization: str = 'softmax',
                 score_radius: int = 1,
                 score_temperature: float = 1.0) -> None:
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
        if gw * gh >= 2 ** 24:
            raise ValueError(
                f'KPGridLabel: grid_size {self.grid_size} has {gw * gh} cells;'
                ' the packed targets hold cell indices as float32, exact '
                'below 2^24 = 16777216 cells')
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
        if isinstance(score_temperature, bool) or not isinstance(
                score_temperature, numbers.Real) or not (
                    0 < score_temperature < float('inf')):
            raise ValueError('KPGridLabel: score_temperature must be a finite '
                             f'number > 0, got {score_temperature!r}')
        self.score_temperature = float(score_temperature)
        # look-up tables of the decode, by cell layout, device and dtype
        self._cell_tables: Dict[tuple, CellTables] = {}

    # ------------------------------------------------------------ geometry
    def to_grid(self, keypoints: np.ndarray) -> np.ndarray:
        """(..., 2) model-input pixels -> grid units (cell ``g`` spans
        ``[g, g + 1)``)."""
        return (np.asarray(keypoints, dtype=np.float64) + 0.5) / np.array(
            self.cell_size, dtype=np.float64)

    @staticmethod
    def window_shifts(radius: int) -> np.ndarray:
        """((2r + 1)^2, 2) ``(dx, dy)`` of the square window of radius
        ``r``, row-major over ``dy, dx`` in ``[-r, r]``."""
        steps = np.arange(-radius, radius + 1)
        dy, dx = np.meshgrid(steps, steps, indexing='ij')
        return np.stack([dx.ravel(), dy.ravel()], axis=-1)

    def neighbour_shifts(self) -> np.ndarray:
        """(M, 2) ``(dx, dy)`` of the offset neighbourhood, row-major."""
        return self.window_shifts(self.offset_radius)

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

        # offsets of the true cell and its neighbours, (N, K, M, ...)
        shifts = self.neighbour_shifts()  # (M, 2)
        near_xy = cell_xy[:, :, None] + shifts
        inside = ((near_xy >= 0) & (near_xy < np.array([gw, gh]))).all(-1)
        near_xy = np.where(inside[..., None], near_xy, cell_xy[:, :, None])
        parts = dict(
            keypoint_labels=keypoints,
            keypoint_weights=valid[..., None],
            offset_targets=(offsets[:, :, None] - shifts).reshape(num, k, -1),
            offset_weights=valid[..., None] & inside,
            offset_cells=near_xy[..., 1] * gw + near_xy[..., 0])
        encoded = dict(grid_targets=np.concatenate(
            [parts[name] for name in self.target_layout()],
            axis=-1).astype(np.float32))
        areas = areas_in_input(num, area, bbox, input_scale, self.input_size)
        if areas is not None:
            encoded['areas'] = areas.astype(np.float32)
        return encoded

    # ------------------------------------------------------------ packing
    @property
    def num_neighbours(self) -> int:
        """``M``, the cells of the offset neighbourhood."""
        return (2 * self.offset_radius + 1) ** 2

    def target_layout(self) -> Dict[str, slice]:
        """Where each target lies along the last axis of ``grid_targets``
        (in this order; see the class docstring)."""
        m = self.num_neighbours
        widths = dict(keypoint_labels=2, keypoint_weights=1,
                      offset_targets=2 * m, offset_weights=m, offset_cells=m)
        layout, start = {}, 0
        for name, width in widths.items():
            layout[name] = slice(start, start + width)
            start += width
        return layout

    def unpack(self, grid_targets: Union[np.ndarray, Tensor],
               areas: Union[np.ndarray, Tensor, None] = None
               ) -> Dict[str, Union[np.ndarray, Tensor]]:
        """The packed targets back as the named targets (the class
        docstring's "Unpacked"), the presence target built here.

        Args:
            grid_targets: (N, K, D) the encoded ``grid_targets`` (a batch of
                them concatenated along N), numpy or torch.
            areas: (N,) the encoded ``areas``, returned as given.

        Returns:
            dict of the targets, numpy arrays for a numpy input, else
            tensors on its device (views into ``grid_targets`` where they
            can be).
        """
        as_numpy = not isinstance(grid_targets, Tensor)
        packed = torch.as_tensor(grid_targets)
        layout = self.target_layout()
        depth = next(reversed(layout.values())).stop
        if packed.dim() < 1 or packed.shape[-1] != depth:
            raise ValueError(
                f'KPGridLabel.unpack: grid_targets of shape '
                f'{tuple(packed.shape)}; this codec (offset_radius='
                f'{self.offset_radius}, M={self.num_neighbours}) packs '
                f'{depth} values per keypoint: GenerateTarget\'s codec and '
                'head.decoder must be the same KPGridLabel')
        m = self.num_neighbours
        targets = {name: packed[..., where]
                   for name, where in layout.items()}
        targets['keypoint_weights'] = targets['keypoint_weights'][..., 0]
        targets['offset_targets'] = targets['offset_targets'].unflatten(
            -1, (m, 2))
        targets['offset_cells'] = targets['offset_cells'].long()
        # the true cell is the neighbour of shift (0, 0), the middle one
        targets['keypoint_cells'] = targets['offset_cells'][..., m // 2]
        targets['keypoint_offsets'] = targets['offset_targets'][..., m // 2, :]
        targets['presence_target'] = self.build_presence_target(
            targets['keypoint_labels'], targets['keypoint_cells'],
            targets['keypoint_weights'] > 0)
        if as_numpy:
            targets = {name: value.numpy() for name, value in targets.items()}
        if areas is not None:
            targets['areas'] = areas
        return targets

    def build_presence_target(self, keypoint_labels: Tensor,
                              keypoint_cells: Tensor,
                              valid: Tensor) -> Tensor:
        """The presence target (class docstring) in torch.

        Args:
            keypoint_labels: (N, K, 2) model-input pixels.
            keypoint_cells: (N, K) int64 flat index of the true cell.
            valid: (N, K) bool, the keypoints that have a target.

        Returns:
            (N, K, G) float32: the Gaussian is separable, ``exp(-(dx^2 -
            dx_true^2) / 2 sigma^2) * exp(-(dy^2 - dy_true^2) / 2 sigma^2)``
            with ``d`` measured from the keypoint in grid units, computed in
            float64 from the float32 keypoint as a numpy encode would.
        """
        gw, gh = self.grid_size
        mask = valid.to(torch.float32)
        if self.presence_sigma == 0:
            # one-hot * valid, without the int64 (N, K, G) of F.one_hot
            presence = mask.new_zeros(*keypoint_cells.shape, gw * gh)
            return presence.scatter_(-1, keypoint_cells[..., None],
                                     mask[..., None])
        f64 = dict(dtype=torch.float64, device=keypoint_labels.device)
        grid_xy = (keypoint_labels.to(torch.float64) + 0.5) / torch.tensor(
            self.cell_size, **f64)
        grid_xy = grid_xy.where(valid[..., None], grid_xy.new_tensor(0.5))
        true_centre = torch.stack(
            [keypoint_cells % gw,
             torch.div(keypoint_cells, gw, rounding_mode='floor')],
            dim=-1).to(torch.float64) + 0.5
        per_axis = []
        for axis, cells in ((0, gw), (1, gh)):
            u = grid_xy[..., axis, None]  # (N, K, 1)
            d2 = (torch.arange(cells, **f64) + 0.5 - u) ** 2
            d2_true = (true_centre[..., axis, None] - u) ** 2
            per_axis.append(torch.exp(-(d2 - d2_true) /
                                      (2 * self.presence_sigma ** 2)))
        gauss_x, gauss_y = per_axis  # (N, K, Gw), (N, K, Gh)
        # the keypoint mask on one factor (both are finite and >= 0: the
        # same zeros), the float64 product rounded once into float32
        gauss_x = gauss_x * mask.to(torch.float64)[..., None]
        presence = mask.new_empty(*mask.shape, gh, gw)
        torch.mul(gauss_y[..., :, None], gauss_x[..., None, :], out=presence)
        return presence.flatten(-2)

    # ------------------------------------------------------------ decode
    def check_grid(self, presence: Tensor) -> None:
        gh, gw = presence.shape[-2:]
        if (gw, gh) != self.grid_size:
            raise ValueError(f'KPGridLabel expects a ({self.grid_size[1]}, '
                             f'{self.grid_size[0]}) grid, got ({gh}, {gw})')

    def cell_tables(self, layout: CellLayout, device: torch.device,
                    dtype: torch.dtype) -> CellTables:
        """The decode's look-up tables for cells stored in ``layout``
        (:data:`CellLayout`), built once per layout, score radius, device and
        dtype (in an exported graph: constants)."""
        key = (tuple(layout), self.score_radius, str(device), dtype)
        tables = self._cell_tables.get(key)
        if tables is None:
            tables = self._build_cell_tables(layout, device, dtype)
            self._cell_tables[key] = tables
        return tables

    def _build_cell_tables(self, layout: CellLayout, device: torch.device,
                           dtype: torch.dtype) -> CellTables:
        hf, wf, ry, rx = layout
        index = np.arange(hf * wf * ry * rx)
        sub, rest = np.divmod(index, hf * wf)
        sy, sx = np.divmod(sub, rx)
        hy, wx = np.divmod(rest, wf)
        gx, gy = wx * rx + sx, hy * ry + sy  # (G,) each
        near = inside = None
        if self.score_radius:
            dx, dy = self.window_shifts(self.score_radius).T
            nx, ny = gx[:, None] + dx, gy[:, None] + dy  # (G, W)
            valid = (nx >= 0) & (nx < wf * rx) & (ny >= 0) & (ny < hf * ry)
            nx, ny = np.where(valid, nx, gx[:, None]), np.where(
                valid, ny, gy[:, None])
            stored = ((ny % ry * rx + nx % rx) * hf + ny // ry) * wf + nx // rx
            near = torch.as_tensor(stored, dtype=torch.int64, device=device)
            inside = torch.as_tensor(valid, dtype=dtype, device=device)
        return CellTables(
            cells=torch.as_tensor(np.stack([gx, gy], axis=-1), dtype=dtype,
                                  device=device),
            near=near, inside=inside,
            cell_size=torch.as_tensor(self.cell_size, dtype=dtype,
                                      device=device))

    def decode_cells(self, presence: Tensor, offsets: Tensor,
                     layout: CellLayout, with_scores: bool = True
                     ) -> Tuple[Tensor, Optional[Tensor]]:
        """The decode, on cells stored in ``layout`` (:data:`CellLayout`):
        the best cell (argmax of the logits), its offset, and its score.

        Args:
            presence: (B, K, G) presence logits.
            offsets: (B, K, 2, G) in-cell offsets, grid units.
            layout: how the ``G`` cells are stored.
            with_scores: ``False`` skips the scores (their softmax and
                window sums cost more than the rest) and returns ``None``.

        Returns:
            keypoints (B, K, 2) in model-input pixels and scores (B, K).
        """
        tables = self.cell_tables(layout, presence.device, offsets.dtype)
        temperature = self.score_temperature
        if not with_scores:
            best, scores = presence.argmax(dim=-1), None
        elif self.presence_normalization == 'softmax':
            best = presence.argmax(dim=-1)  # (B, K)
            probs = (presence if temperature == 1.0 else
                     presence / temperature).softmax(dim=-1)
            if tables.near is None:
                scores = probs.gather(-1, best[..., None])[..., 0]
            else:  # the softmax mass of the window, cells outside count 0
                window = probs.gather(-1, tables.near[best])  # (B, K, W)
                scores = (window * tables.inside[best]).sum(dim=-1)
        else:
            best_logit, best = presence.max(dim=-1)
            scores = (best_logit if temperature == 1.0 else
                      best_logit / temperature).sigmoid()
        best_offsets = offsets.gather(
            -1, best[:, :, None, None].expand(-1, -1, 2, 1))[..., 0]
        return (tables.cells[best] + best_offsets) * tables.cell_size - 0.5, \
            scores

    def decode_tensors(self, presence: Tensor,
                       offsets: Tensor) -> Tuple[Tensor, Tensor]:
        """The decode in torch on the grid maps (batched, traceable: the
        ONNX export of raw outputs and flip test run it).

        Args:
            presence: (B, K, Gh, Gw) presence logits.
            offsets: (B, K, 2, Gh, Gw) in-cell offsets, grid units.

        Returns:
            keypoints (B, K, 2) in model-input pixels and scores (B, K).
        """
        gh, gw = presence.shape[-2:]
        return self.decode_cells(presence.flatten(2), offsets.flatten(3),
                                 (gh, gw, 1, 1))

    def packed_layout(self, packed: Tensor) -> Tuple[int, CellLayout]:
        """``K`` and the :data:`CellLayout` of a packed prediction
        (:meth:`decode_packed_tensors`).

        Raises:
            ValueError: a tensor that is not ``(B, K * 3 * ry * rx, Hf, Wf)``
                for this grid.
        """
        if packed.dim() != 4:
            raise ValueError('KPGridLabel: a packed prediction is (B, K * 3 '
                             '* ry * rx, Hf, Wf), got shape '
                             f'{tuple(packed.shape)}')
        channels, hf, wf = (int(v) for v in packed.shape[1:])
        gw, gh = self.grid_size
        if not hf or not wf or gw % wf or gh % hf or \
                channels % (3 * (gw // wf) * (gh // hf)):
            raise ValueError(
                f'KPGridLabel: a packed prediction of shape '
                f'{tuple(packed.shape)} does not tile the {gh}x{gw} grid '
                '(H x W): it must be (B, K * 3 * ry * rx, Hf, Wf) with Gh = '
                'Hf * ry and Gw = Wf * rx')
        rx, ry = gw // wf, gh // hf
        return channels // (3 * rx * ry), (hf, wf, ry, rx)

    def decode_packed_tensors(self, packed: Tensor) -> Tuple[Tensor, Tensor]:
        """The decode straight from the grid head's prediction conv, before
        its pixel shuffle (batched, traceable; no reshuffling of the maps).

        Args:
            packed: (B, K * 3 * ry * rx, Hf, Wf) with ``Gh = Hf * ry``,
                ``Gw = Wf * rx``: channel ``((k * 3 + j) * ry + sy) * rx +
                sx`` at ``(hy, wx)`` is map ``j`` (0 presence logit, 1 and
                2 the x and y offsets) of keypoint ``k`` at cell ``(gx, gy)
                = (wx * rx + sx, hy * ry + sy)``.

        Returns:
            keypoints (B, K, 2) in model-input pixels and scores (B, K),
            those of :meth:`decode_tensors` on the shuffled maps.
        """
        k, layout = self.packed_layout(packed)
        maps = packed.reshape(packed.shape[0], k, 3, -1)  # (B, K, 3, G)
        return self.decode_cells(maps[:, :, 0], maps[:, :, 1:], layout)

    def decode_keypoints(self, presence: Tensor, offsets: Tensor) -> Tensor:
        """The keypoints of :meth:`decode_tensors` without its scores (whose
        softmax and window sums cost more than the rest): what the training
        accuracy needs.

        Args:
            presence: (B, K, Gh, Gw) presence logits.
            offsets: (B, K, 2, Gh, Gw) in-cell offsets, grid units.

        Returns:
            keypoints (B, K, 2) in model-input pixels, the best cell plus
            its offset.
        """
        gh, gw = presence.shape[-2:]
        return self.decode_cells(presence.flatten(2), offsets.flatten(3),
                                 (gh, gw, 1, 1), with_scores=False)[0]

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

    def batch_decode(self, presence: Tensor, offsets: Optional[Tensor] = None
                     ) -> Tuple[List[np.ndarray], List[np.ndarray]]:
        """Decode a batch at once (``BaseHead.decode``).

        Args:
            presence: (B, K, Gh, Gw) logits, or with ``offsets=None`` the
                head's packed prediction (B, K * 3 * ry * rx, Hf, Wf)
                (:meth:`decode_packed_tensors`).
            offsets: (B, K, 2, Gh, Gw).

        Returns:
            per-sample lists of keypoints (1, K, 2) and scores (1, K).
        """
        if offsets is None:
            keypoints, scores = self.decode_packed_tensors(presence.detach())
        else:
            self.check_grid(presence)
            keypoints, scores = self.decode_tensors(presence.detach(),
                                                    offsets.detach())
        keypoints = keypoints.float().cpu().numpy()
        scores = scores.float().cpu().numpy()
        return list(keypoints[:, None]), list(scores[:, None])
