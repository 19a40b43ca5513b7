"""Head outputs -> keypoints and scores in torch operations that export to
ONNX (the TorchScript exporter), for every top-down head
``tools/export_onnx.py`` supports.

A kp_plugins head carries its export facts itself (``raw_output_names``,
``needs_bbox``: :class:`~kp_plugins.models.heads.base_head.KPBaseHead`) and
its codec decodes in torch (``decode_tensors``, the very code the head's
``predict`` runs; a head with ``predict_tensors`` decodes in one pass from
its features, :func:`estimator_outputs`), so nothing here repeats a
kp_plugins decode. MMPose's
heads carry neither: their raw output names are listed here
(:data:`MMPOSE_HEAD_OUTPUTS`) and their codecs' decodes are written here
once in torch (:data:`CODEC_DECODES`, keyed by codec), each reproducing
MMPose's ``predict`` + codec ``decode`` with flip test off in model-input
pixels; the tests compare the exported graph with the real ``predict``
(tests/test_deploy/).

Which heads must export comes from the one list of approaches,
:data:`kp_plugins.approaches.APPROACHES`: :func:`head_specs` gives the spec
of every top-down approach's head and fails for one without.

Symbols: ``B`` batch, ``K`` keypoints.
"""
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Sequence, Tuple, Union

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


def as_tuple(outputs: Outputs) -> Tuple[Tensor, ...]:
    """A head's outputs as a tuple of tensors."""
    if isinstance(outputs, Tensor):
        return (outputs, )
    return tuple(outputs)


def _check_outputs(outputs: Outputs, count: int, codec: str
                   ) -> Tuple[Tensor, ...]:
    """``outputs`` as a tuple of ``count`` tensors, or a clear error."""
    outputs = as_tuple(outputs)
    if len(outputs) != count:
        raise UnsupportedHeadError(
            f'the {codec} decode takes {count} head output(s), got '
            f'{len(outputs)}: is the head one that {codec} decodes?')
    return outputs


# ------------------------------------------------------- kp_plugins heads
def decode_with_codec(head: nn.Module, outputs: Outputs,
                      input_bboxes: Optional[Tensor] = None) -> Decoded:
    """A kp_plugins head: its codec's ``decode_tensors`` on the raw outputs
    (followed by the boxes (B, 4) ``xyxy`` in model-input pixels for a head
    with ``needs_bbox``), the same call its ``predict`` makes."""
    codec = getattr(head, 'decoder', None)
    if not callable(getattr(codec, 'decode_tensors', None)):
        raise UnsupportedHeadError(
            f'{type(head).__name__} with codec {_codec_name(head)} has no '
            'in-graph decode (the codec has no decode_tensors); export '
            'with --raw and decode outside the graph')
    args = as_tuple(outputs)
    if head.needs_bbox:
        if input_bboxes is None:
            raise UnsupportedHeadError(
                f'{type(head).__name__} decodes relative to the person box: '
                'give input_bboxes')
        args += (input_bboxes, )
    return codec.decode_tensors(*args)


# ------------------------------------------ MMPose's codecs, keyed by codec
def decode_heatmap(codec: Any, outputs: Outputs) -> Decoded:
    """MMPose ``HeatmapHead`` + ``MSRAHeatmap`` (``unbiased=False``):
    argmax of (B, K, h, w) heatmaps, the quarter-pixel shift towards the
    higher neighbour (``refine_keypoints``), scaled to input pixels;
    keypoints whose maximum is <= 0 decode to ``-1 * scale_factor`` as in
    ``get_heatmap_maximum``."""
    if codec.unbiased:
        raise UnsupportedHeadError(
            'MSRAHeatmap(unbiased=True) (DARK refinement) has no in-graph '
            'decode; export with --raw')
    heatmaps, = _check_outputs(outputs, 1, 'MSRAHeatmap')
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
    scale = heatmaps.new_tensor(codec.scale_factor)
    return (xy + shift) * scale, vals


def decode_simcc(codec: Any, outputs: Outputs) -> Decoded:
    """MMPose ``SimCCHead`` + ``SimCCLabel`` (no DARK, no visibility):
    argmax of each 1-D distribution (B, K, Wx) / (B, K, Wy), score = the
    smaller maximum, divided by ``simcc_split_ratio``; non-positive scores
    give ``-1 / split_ratio`` as in ``get_simcc_maximum``."""
    if codec.use_dark or codec.decode_visibility:
        raise UnsupportedHeadError(
            'SimCCLabel with use_dark or decode_visibility has no in-graph '
            'decode; export with --raw')
    simcc_x, simcc_y = _check_outputs(outputs, 2, 'SimCCLabel')
    max_x, x = simcc_x.max(dim=-1)
    max_y, y = simcc_y.max(dim=-1)
    vals = torch.minimum(max_x, max_y)
    xy = torch.stack([x, y], dim=-1).to(simcc_x.dtype)
    xy = torch.where((vals > 0)[..., None], xy, torch.full_like(xy, -1.0))
    return xy / codec.simcc_split_ratio, vals


def decode_regression(codec: Any, outputs: Outputs) -> Decoded:
    """MMPose ``RegressionHead`` / ``RLEHead`` + ``RegressionLabel``:
    (B, K, 2) normalized coordinates (score 1), or (B, K, 4) with sigma
    logits (RLE: score = mean of ``1 - sigmoid(sigma)``), times the input
    size."""
    coords, = _check_outputs(outputs, 1, 'RegressionLabel')
    size = coords.new_tensor(codec.input_size)
    keypoints = coords[..., :2] * size
    if coords.shape[-1] == 4:
        scores = (1 - coords[..., 2:4].sigmoid()).mean(dim=-1)
    else:
        scores = torch.ones_like(coords[..., 0])
    return keypoints, scores


#: In-graph decodes of MMPose's codecs, by codec name: ``(codec, outputs)
#: -> (keypoints (B, K, 2), scores (B, K))``.
CODEC_DECODES: Dict[str, Callable[[Any, Outputs], Decoded]] = {
    'MSRAHeatmap': decode_heatmap,
    'SimCCLabel': decode_simcc,
    'RegressionLabel': decode_regression,
}

#: Raw output names of MMPose's heads (kp_plugins heads state theirs as
#: ``raw_output_names``). Subclasses use their parent's entry.
MMPOSE_HEAD_OUTPUTS: Dict[str, Tuple[str, ...]] = {
    'HeatmapHead': ('heatmaps', ),
    'SimCCHead': ('simcc_x', 'simcc_y'),
    'RegressionHead': ('coords', ),
    'RLEHead': ('coords_sigma', ),
}


def decode_with_mmpose_codec(head: nn.Module, outputs: Outputs,
                             input_bboxes: Optional[Tensor] = None
                             ) -> Decoded:
    """One of MMPose's heads: the :data:`CODEC_DECODES` entry of its
    codec."""
    decode = CODEC_DECODES.get(_codec_name(head))
    if decode is None:
        raise UnsupportedHeadError(
            f'{type(head).__name__} with codec {_codec_name(head)} has no '
            f'in-graph decode (supported codecs: {", ".join(CODEC_DECODES)});'
            ' export with --raw and decode outside the graph')
    return decode(head.decoder, outputs)


# ------------------------------------------------------------------ specs
def head_class_spec(head_type: type) -> HeadExportSpec:
    """The export spec of a head class: its own facts for a head that
    states them (``raw_output_names``, ``needs_bbox``: the kp_plugins
    heads, decoded by their codec's ``decode_tensors``), else
    :data:`MMPOSE_HEAD_OUTPUTS` looked up along its class hierarchy.

    Raises:
        UnsupportedHeadError: no head of that family can be exported.
    """
    names = getattr(head_type, 'raw_output_names', None)
    if names is not None:
        return HeadExportSpec(tuple(names), decode_with_codec,
                              bool(getattr(head_type, 'needs_bbox', False)))
    for cls in head_type.__mro__:
        if cls.__name__ in MMPOSE_HEAD_OUTPUTS:
            return HeadExportSpec(MMPOSE_HEAD_OUTPUTS[cls.__name__],
                                  decode_with_mmpose_codec)
    raise UnsupportedHeadError(
        f'{head_type.__name__} cannot be exported: supported heads are '
        f'those of kp_plugins (they state raw_output_names and their codec '
        f'has decode_tensors) and MMPose\'s {", ".join(MMPOSE_HEAD_OUTPUTS)}')


def head_spec(head: nn.Module) -> HeadExportSpec:
    """The export spec of ``head`` (:func:`head_class_spec` of its class).

    Raises:
        UnsupportedHeadError: no head of that family can be exported.
    """
    return head_class_spec(type(head))


def approach_spec(approach) -> HeadExportSpec:
    """The export spec of a top-down approach's head
    (:class:`kp_plugins.approaches.Approach`), checking that its codec
    decodes in the graph (``decode_tensors``, or a :data:`CODEC_DECODES`
    entry for MMPose's heads).

    Raises:
        UnsupportedHeadError: the approach's head or codec cannot be
            exported.
    """
    from mmpose.registry import KEYPOINT_CODECS, MODELS
    head_type = MODELS.get(approach.head) if approach.head else None
    codec_type = KEYPOINT_CODECS.get(approach.codec) if approach.codec \
        else None
    if head_type is None or codec_type is None:
        raise UnsupportedHeadError(
            f'approach {approach.name!r}: head {approach.head!r} or codec '
            f'{approach.codec!r} is not registered in MMPose\'s registries')
    spec = head_class_spec(head_type)
    decodes = callable(getattr(codec_type, 'decode_tensors', None)) \
        if spec.decode is decode_with_codec else approach.codec in CODEC_DECODES
    if not decodes:
        raise UnsupportedHeadError(
            f'approach {approach.name!r}: {approach.head} with codec '
            f'{approach.codec} has no in-graph decode (a kp_plugins codec '
            'needs decode_tensors; MMPose\'s codecs an entry in '
            'kp_plugins.deploy.decode.CODEC_DECODES)')
    return spec


def head_specs() -> Dict[str, HeadExportSpec]:
    """The export spec of every top-down approach's head in
    :data:`kp_plugins.approaches.APPROACHES`, by head name.

    Raises:
        UnsupportedHeadError: an approach whose head cannot be exported.
    """
    from kp_plugins.approaches import APPROACHES
    return {a.head: approach_spec(a) for a in APPROACHES
            if a.kind == 'topdown'}


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
    head and (unless ``raw``) the in-graph decode: the head's
    ``predict_tensors(feats)`` where it has one (``KPGridHead``: the decode
    of its packed prediction, no pixel shuffle), else
    :func:`decode_outputs` on its raw outputs.

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
    needs_bbox = head_spec(head).needs_bbox
    fused = getattr(head, 'predict_tensors', None)
    if not raw and callable(fused):  # the head's own one-pass decode
        return fused(feats, input_bboxes) if needs_bbox else fused(feats)
    outputs = head(feats, input_bboxes) if needs_bbox else head(feats)
    if raw:
        return as_tuple(outputs)
    return decode_outputs(head, outputs, input_bboxes)


def output_names(head: nn.Module, raw: bool) -> Sequence[str]:
    """ONNX output names: ``keypoints, scores`` or the raw outputs'."""
    return head_spec(head).raw_names if raw else ('keypoints', 'scores')
