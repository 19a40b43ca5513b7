"""Head outputs -> keypoints and scores in torch operations that export to
ONNX (the TorchScript exporter), for every head ``tools/export_onnx.py``
supports.

Each function reproduces what the head's ``predict`` + codec ``decode``
compute with flip test off, in model-input pixels; the tests compare the
exported graph with the real ``predict`` (tests/test_deploy/).

Symbols: ``B`` batch, ``K`` keypoints.
"""
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

Outputs = Union[Tensor, Tuple[Tensor, ...]]
Decoded = Tuple[Tensor, Tensor]


class UnsupportedHeadError(ValueError):
    """A head (or codec setting) without an in-graph decode."""


@dataclass(frozen=True)
class HeadExportSpec:
    """How one head type exports.

    Attributes:
        raw_names: ONNX output names of the head's raw ``forward`` outputs.
        decode: ``(head, outputs, input_bboxes) -> (keypoints (B, K, 2),
            scores (B, K))`` in model-input pixels.
        needs_bbox: the head takes the person box in model-input pixels
            (``bbox`` input, (B, 4) ``xyxy``).
    """
    raw_names: Tuple[str, ...]
    decode: Callable[[nn.Module, Outputs, Optional[Tensor]], Decoded]
    needs_bbox: bool = False


def _codec_name(head: nn.Module) -> str:
    return type(getattr(head, 'decoder', None)).__name__


def _require_codec(head: nn.Module, *names: str) -> None:
    if _codec_name(head) not in names:
        raise UnsupportedHeadError(
            f'{type(head).__name__} with codec {_codec_name(head)} has no '
            f'in-graph decode (supported codecs: {", ".join(names)}); export '
            'with --raw and decode outside the graph')


def decode_kp_regression(head: nn.Module, outputs: Outputs,
                         input_bboxes: Optional[Tensor] = None) -> Decoded:
    """``KPRegressionHead`` + ``KPRegressionLabel``: frame coordinates
    (B, K, 2) and visibility logits (B, K) -> input pixels, sigmoid."""
    _require_codec(head, 'KPRegressionLabel')
    coords, logits = outputs
    codec = head.decoder
    center = coords.new_tensor(codec.center)
    return coords * codec.unit + center, logits.sigmoid()


def decode_kp_bbox(head: nn.Module, outputs: Outputs,
                   input_bboxes: Optional[Tensor] = None) -> Decoded:
    """``KPBBoxHead`` + ``KPBBoxLabel``: box-frame coordinates (B, K, 2)
    -> input pixels given the boxes (B, 4) ``xyxy`` in input pixels."""
    _require_codec(head, 'KPBBoxLabel')
    from kp_plugins.codecs.bbox_label import MIN_BOX_SIDE
    if input_bboxes is None:
        raise UnsupportedHeadError('KPBBoxHead decodes relative to the '
                                   'person box: give input_bboxes')
    coords, logits = outputs
    sides = (input_bboxes[:, 2:] - input_bboxes[:, :2]).clamp(
        min=MIN_BOX_SIDE)
    unit = (sides[:, 0] * sides[:, 1]).sqrt()
    center = (input_bboxes[:, :2] + input_bboxes[:, 2:]) / 2
    keypoints = coords * unit[:, None, None] + center[:, None, :]
    return keypoints, logits.sigmoid()


def decode_kp_grid(head: nn.Module, outputs: Outputs,
                   input_bboxes: Optional[Tensor] = None) -> Decoded:
    """``KPGridHead`` + ``KPGridLabel``: presence logits (B, K, Gh, Gw) and
    offsets (B, K, 2, Gh, Gw) -> best cell + its offset, in input pixels,
    scored as the codec scores (``KPGridLabel.decode_tensors``, the same
    code the head's ``predict`` runs)."""
    _require_codec(head, 'KPGridLabel')
    return head.decoder.decode_tensors(*outputs)


def decode_heatmap(head: nn.Module, outputs: Outputs,
                   input_bboxes: Optional[Tensor] = None) -> Decoded:
    """MMPose ``HeatmapHead`` + ``MSRAHeatmap`` (``unbiased=False``):
    argmax of (B, K, h, w) heatmaps, the quarter-pixel shift towards the
    higher neighbour (``refine_keypoints``), scaled to input pixels;
    keypoints whose maximum is <= 0 decode to ``-1 * scale_factor`` as in
    ``get_heatmap_maximum``."""
    _require_codec(head, 'MSRAHeatmap')
    if head.decoder.unbiased:
        raise UnsupportedHeadError(
            'MSRAHeatmap(unbiased=True) (DARK refinement) has no in-graph '
            'decode; export with --raw')
    heatmaps = outputs[0] if isinstance(outputs, (tuple, list)) else outputs
    h, w = heatmaps.shape[-2:]
    flat = heatmaps.flatten(2)
    vals, best = flat.max(dim=-1)  # (B, K)
    x = best % w
    y = torch.div(best, w, rounding_mode='floor')
    valid = vals > 0

    def at(index: Tensor) -> Tensor:
        index = index.clamp(0, h * w - 1)
        return flat.gather(-1, index[..., None])[..., 0]

    dx = at(best + 1) - at(best - 1)
    dy = at(best + w) - at(best - w)
    # refine_keypoints: dx where 1 < x < w - 1 (and 0 < y < h), dy where
    # 1 < y < h - 1 (and 0 < x < w).
    use_dx = valid & (x > 1) & (x < w - 1) & (y > 0)
    use_dy = valid & (y > 1) & (y < h - 1) & (x > 0)
    shift = torch.stack([
        torch.where(use_dx, dx.sign(), torch.zeros_like(dx)),
        torch.where(use_dy, dy.sign(), torch.zeros_like(dy))
    ], dim=-1) * 0.25
    xy = torch.stack([x, y], dim=-1).to(heatmaps.dtype)
    xy = torch.where(valid[..., None], xy, torch.full_like(xy, -1.0))
    scale = heatmaps.new_tensor(head.decoder.scale_factor)
    return (xy + shift) * scale, vals


def decode_simcc(head: nn.Module, outputs: Outputs,
                 input_bboxes: Optional[Tensor] = None) -> Decoded:
    """MMPose ``SimCCHead`` + ``SimCCLabel`` (no DARK, no visibility):
    argmax of each 1-D distribution (B, K, Wx) / (B, K, Wy), score = the
    smaller maximum, divided by ``simcc_split_ratio``; non-positive scores
    give ``-1 / split_ratio`` as in ``get_simcc_maximum``."""
    _require_codec(head, 'SimCCLabel')
    codec = head.decoder
    if codec.use_dark or codec.decode_visibility:
        raise UnsupportedHeadError(
            'SimCCLabel with use_dark or decode_visibility has no in-graph '
            'decode; export with --raw')
    simcc_x, simcc_y = outputs
    max_x, x = simcc_x.max(dim=-1)
    max_y, y = simcc_y.max(dim=-1)
    vals = torch.minimum(max_x, max_y)
    xy = torch.stack([x, y], dim=-1).to(simcc_x.dtype)
    xy = torch.where((vals > 0)[..., None], xy, torch.full_like(xy, -1.0))
    return xy / codec.simcc_split_ratio, vals


def decode_regression(head: nn.Module, outputs: Outputs,
                      input_bboxes: Optional[Tensor] = None) -> Decoded:
    """MMPose ``RegressionHead`` / ``RLEHead`` + ``RegressionLabel``:
    (B, K, 2) normalized coordinates (score 1), or (B, K, 4) with sigma
    logits (RLE: score = mean of ``1 - sigmoid(sigma)``), times the input
    size."""
    _require_codec(head, 'RegressionLabel')
    coords = outputs[0] if isinstance(outputs, (tuple, list)) else outputs
    size = coords.new_tensor(head.decoder.input_size)
    keypoints = coords[..., :2] * size
    if coords.shape[-1] == 4:
        scores = (1 - coords[..., 2:4].sigmoid()).mean(dim=-1)
    else:
        scores = torch.ones_like(coords[..., 0])
    return keypoints, scores


#: Head class name -> how it exports. Subclasses use their parent's entry.
HEAD_SPECS: Dict[str, HeadExportSpec] = {
    'KPRegressionHead': HeadExportSpec(('coords', 'visibility_logits'),
                                       decode_kp_regression),
    'KPGridHead': HeadExportSpec(('presence', 'offsets'), decode_kp_grid),
    'KPBBoxHead': HeadExportSpec(('coords', 'visibility_logits'),
                                 decode_kp_bbox, needs_bbox=True),
    'HeatmapHead': HeadExportSpec(('heatmaps', ), decode_heatmap),
    'SimCCHead': HeadExportSpec(('simcc_x', 'simcc_y'), decode_simcc),
    'RegressionHead': HeadExportSpec(('coords', ), decode_regression),
    'RLEHead': HeadExportSpec(('coords_sigma', ), decode_regression),
}


def head_spec(head: nn.Module) -> HeadExportSpec:
    """The export spec of ``head`` (looked up along its class hierarchy).

    Raises:
        UnsupportedHeadError: no head of that family can be exported.
    """
    for cls in type(head).__mro__:
        if cls.__name__ in HEAD_SPECS:
            return HEAD_SPECS[cls.__name__]
    raise UnsupportedHeadError(
        f'{type(head).__name__} cannot be exported: supported heads are '
        f'{", ".join(HEAD_SPECS)}')


def decode_outputs(head: nn.Module, outputs: Outputs,
                   input_bboxes: Optional[Tensor] = None) -> Decoded:
    """Keypoints (B, K, 2) in model-input pixels and scores (B, K) from the
    head's raw ``forward`` outputs, in exportable torch operations.

    Args:
        head: the model's head (with its ``decoder``).
        outputs: what ``head.forward`` returned.
        input_bboxes: (B, 4) ``xyxy`` person boxes in model-input pixels,
            for heads that decode relative to the box (``KPBBoxHead``).
    """
    return head_spec(head).decode(head, outputs, input_bboxes)


def estimator_outputs(model: nn.Module, inputs: Tensor,
                      input_bboxes: Optional[Tensor] = None,
                      raw: bool = False) -> Tuple[Tensor, ...]:
    """What an exported graph computes after normalization: backbone, neck,
    head and (unless ``raw``) the in-graph decode.

    Args:
        model: a ``TopdownPoseEstimator``.
        inputs: (B, 3, H, W) normalized crops.
        input_bboxes: (B, 4) ``xyxy`` boxes in model-input pixels, for heads
            that take them.
        raw: return the head's raw outputs instead of decoding.

    Returns:
        ``(keypoints (B, K, 2), scores (B, K))`` or the raw outputs.
    """
    head = model.head
    feats = model.extract_feat(inputs)
    outputs = head(feats, input_bboxes) if head_spec(head).needs_bbox \
        else head(feats)
    if raw:
        return as_tuple(outputs)
    return decode_outputs(head, outputs, input_bboxes)


def as_tuple(outputs: Outputs) -> Tuple[Tensor, ...]:
    """A head's outputs as a tuple of tensors."""
    if isinstance(outputs, Tensor):
        return (outputs, )
    return tuple(outputs)


def output_names(head: nn.Module, raw: bool) -> Sequence[str]:
    """ONNX output names: ``keypoints, scores`` or the raw outputs'."""
    return head_spec(head).raw_names if raw else ('keypoints', 'scores')
