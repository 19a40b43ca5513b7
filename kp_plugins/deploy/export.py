"""Export a top-down pose model to one self-contained ONNX file:
normalization, backbone, neck, head and the head's decode in one graph.

Input ``input``: person crops (N, 3, H, W) float32 in 0-255, in the channel
order the config's pipeline gives the model after ``TopdownAffine`` (BGR for
MMPose's ``LoadImage``); the graph swaps channels and normalizes as the
config's ``PoseDataPreprocessor`` does. ``KPBBoxHead`` takes a second input
``bbox``: (N, 4) ``xyxy`` person boxes in model-input pixels (what its
``predict`` computes from the data sample's box).

Outputs ``keypoints`` (N, K, 2) in model-input pixels (the codec's decode,
before the estimator maps it back to the image) and ``scores`` (N, K); with
``raw=True`` the head's raw outputs instead (see
:func:`kp_plugins.deploy.decode.head_spec`). Flip test is not in the graph.

The model's metadata goes into the file's ``metadata_props``
(:func:`model_metadata`); :mod:`kp_plugins.deploy.runtime` reads it.
"""
import json
import os
import os.path as osp
import warnings
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor, nn

from kp_plugins.utils.crop import DEFAULT_BBOX_PADDING
from kp_plugins.version import __version__

from .decode import as_tuple, estimator_outputs, head_spec, output_names

#: ONNX input names.
INPUT_NAME = 'input'
BBOX_INPUT_NAME = 'bbox'
#: ``metadata_props`` keys every kp_plugins ONNX file carries.
METADATA_KEYS = ('kp_plugins_version', 'config', 'head', 'codec', 'input_size',
                 'input_format', 'channel_order', 'bbox_padding', 'batch',
                 'decode', 'flip_test', 'keypoint_names', 'flip_indices',
                 'dataset_meta', 'inputs', 'outputs')


class ExportError(ValueError):
    """A model or config that cannot be exported as asked."""


def preprocessor_normalization(model: nn.Module) -> Tuple[bool, Tensor, Tensor]:
    """What the model's ``PoseDataPreprocessor`` does to an input: whether
    it swaps the channels (``bgr_to_rgb``), and the mean and std
    (1, 3, 1, 1) it normalizes with (0 and 1 when it does not)."""
    pre = model.data_preprocessor
    swap_channels = bool(getattr(pre, '_channel_conversion', False))
    normalize = bool(getattr(pre, '_enable_normalize', False))
    mean = pre.mean.reshape(1, -1, 1, 1) if normalize else torch.zeros(
        1, 3, 1, 1)
    std = pre.std.reshape(1, -1, 1, 1) if normalize else torch.ones(
        1, 3, 1, 1)
    return swap_channels, mean.float().clone(), std.float().clone()


class ExportablePoseModel(nn.Module):
    """Crops -> keypoints and scores (or raw head outputs), the module
    ``torch.onnx.export`` traces.

    Args:
        model: a ``TopdownPoseEstimator`` in eval mode.
        raw: return the head's raw outputs instead of decoding.
    """

    def __init__(self, model: nn.Module, raw: bool = False) -> None:
        super().__init__()
        self.model = model
        self.raw = raw
        self.spec = head_spec(model.head)
        self.swap_channels, mean, std = preprocessor_normalization(model)
        self.register_buffer('mean', mean, persistent=False)
        self.register_buffer('std', std, persistent=False)

    def forward(self, input: Tensor,
                bbox: Optional[Tensor] = None) -> Sequence[Tensor]:
        """
        Args:
            input: (N, 3, H, W) float crops, 0-255, pipeline channel order.
            bbox: (N, 4) ``xyxy`` boxes in model-input pixels, for heads
                that need them.

        Returns:
            ``(keypoints (N, K, 2), scores (N, K))`` or the raw outputs.
        """
        x = input
        if self.swap_channels:
            x = x[:, [2, 1, 0]]
        x = (x - self.mean) / self.std
        return estimator_outputs(self.model, x, bbox, self.raw)


def pipeline_settings(cfg) -> Dict[str, Union[float, List[int]]]:
    """``input_size`` and ``bbox_padding`` of the config's test pipeline
    (what crops the person for the model)."""
    pipeline = cfg.test_dataloader.dataset.get('pipeline', [])
    affine = [t for t in pipeline if t.get('type') == 'TopdownAffine']
    if not affine:
        raise ExportError('the config\'s test pipeline has no TopdownAffine: '
                          'only top-down models can be exported')
    if affine[0].get('use_udp', False):
        raise ExportError('TopdownAffine(use_udp=True) is not supported: the '
                          'kp_plugins runtime crops like use_udp=False')
    centre_scale = [t for t in pipeline if t.get('type') == 'GetBBoxCenterScale']
    padding = centre_scale[0].get('padding', DEFAULT_BBOX_PADDING) \
        if centre_scale else DEFAULT_BBOX_PADDING
    return dict(input_size=[int(v) for v in affine[0]['input_size']],
                bbox_padding=float(padding))


def _jsonable(obj):
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (np.integer, np.floating)):
        return obj.item()
    if isinstance(obj, tuple):
        return list(obj)
    raise TypeError(f'{type(obj).__name__} is not JSON serializable')


def model_metadata(cfg, model: nn.Module, config_name: str, raw: bool,
                   batch: Union[str, int], inputs: Sequence[str],
                   outputs: Sequence[str]) -> Dict[str, str]:
    """The ``metadata_props`` of an exported file (all values strings)."""
    settings = pipeline_settings(cfg)
    meta = model.dataset_meta or {}
    num_keypoints = int(meta.get('num_keypoints', 0))
    id2name = meta.get('keypoint_id2name', {})
    names = [id2name.get(i, str(i)) for i in range(num_keypoints)]
    keep = ('dataset_name', 'num_keypoints', 'keypoint_id2name',
            'flip_indices', 'skeleton_links', 'keypoint_colors',
            'skeleton_link_colors', 'sigmas')
    dataset_meta = {k: meta[k] for k in keep if k in meta}
    codec = cfg.model.head.get('decoder', {})
    channel_order = 'bgr' if model.data_preprocessor._channel_conversion \
        else 'as loaded'
    values = dict(
        kp_plugins_version=__version__,
        config=config_name,
        head=type(model.head).__name__,
        codec=codec.to_dict() if hasattr(codec, 'to_dict') else dict(codec),
        input_size=settings['input_size'],
        input_format=('float32 N x 3 x H x W, 0-255, channels in the order '
                      'the pipeline loads them (BGR for LoadImage); the graph '
                      'normalizes'),
        channel_order=channel_order,
        bbox_padding=settings['bbox_padding'],
        batch=batch,
        decode='raw' if raw else 'graph',
        flip_test='off (not in the graph)',
        keypoint_names=names,
        flip_indices=list(meta.get('flip_indices', [])),
        dataset_meta=dataset_meta,
        inputs=list(inputs),
        outputs=list(outputs),
    )
    return {k: v if isinstance(v, str) else json.dumps(v, default=_jsonable)
            for k, v in values.items()}


def check_export_prerequisites(batch: Union[str, int]) -> None:
    """:class:`ExportError` unless ``onnx`` (the deploy extra) imports and
    ``batch`` is ``'dynamic'`` or a positive integer."""
    try:
        import onnx  # noqa: F401
    except ImportError as exc:
        raise ExportError('ONNX export needs the deploy extra: pip install '
                          '"kp_plugins[deploy]" (onnx, onnxruntime, onnxslim)'
                          ) from exc
    if batch != 'dynamic' and (not isinstance(batch, int) or batch < 1):
        raise ExportError(f'batch must be "dynamic" or a positive integer, '
                          f'got {batch!r}')


def export_onnx(model: nn.Module, cfg, out_file: str, config_name: str,
                batch: Union[str, int] = 'dynamic', opset: int = 17,
                raw: bool = False, simplify: bool = False) -> Dict[str, object]:
    """Export ``model`` (a ``TopdownPoseEstimator`` built from ``cfg``) to
    ``out_file`` and check it with ``onnx.checker``.

    Args:
        model: the estimator, with ``dataset_meta``.
        cfg: its config (test pipeline, codec).
        out_file: the ``.onnx`` path.
        config_name: stored in the metadata.
        batch: ``'dynamic'`` or a fixed batch size.
        opset: ONNX opset.
        raw: export the head's raw outputs instead of decoding.
        simplify: simplify the graph with onnxslim.

    Returns:
        dict with ``inputs``, ``outputs`` (names) and ``metadata``.
    """
    check_export_prerequisites(batch)
    module = ExportablePoseModel(model, raw=raw).eval()
    settings = pipeline_settings(cfg)
    codec_size = getattr(model.head, 'decoder', None)
    codec_size = getattr(codec_size, 'input_size', None)
    if codec_size is not None and list(codec_size) != settings['input_size']:
        raise ExportError(
            f'the test pipeline crops to {settings["input_size"]} (W, H) but '
            f'the head\'s codec expects {list(codec_size)}')
    w, h = settings['input_size']
    n = 2 if batch == 'dynamic' else batch
    inputs = [INPUT_NAME]
    args = [torch.zeros(n, 3, h, w)]
    if module.spec.needs_bbox:
        inputs.append(BBOX_INPUT_NAME)
        args.append(torch.tensor([[w * 0.1, h * 0.1, w * 0.9, h * 0.9]]
                                 ).repeat(n, 1))
    outputs = list(output_names(model.head, raw))
    dynamic_axes = None
    if batch == 'dynamic':
        dynamic_axes = {name: {0: 'batch'} for name in inputs + outputs}
    os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings('ignore', category=torch.jit.TracerWarning)
        torch.onnx.export(module, tuple(args), out_file, input_names=inputs,
                          output_names=outputs, dynamic_axes=dynamic_axes,
                          opset_version=opset, do_constant_folding=True,
                          dynamo=False)
    metadata = model_metadata(cfg, model, config_name, raw, batch, inputs,
                              outputs)
    finish_onnx_file(out_file, metadata, simplify)
    return dict(inputs=inputs, outputs=outputs, metadata=metadata,
                module=module)


def finish_onnx_file(out_file: str, metadata: Dict[str, str], simplify: bool) -> None:
    """Rewrite a freshly exported ``out_file``: simplified (onnxslim) when
    asked, ``metadata`` as its ``metadata_props``, checked by
    ``onnx.checker`` (full check). Call after :func:`check_export_prerequisites`."""
    import onnx
    proto = onnx.load(out_file)
    if simplify:
        proto = _simplify(proto)
    del proto.metadata_props[:]
    for key, value in metadata.items():
        proto.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(proto, full_check=True)
    onnx.save(proto, out_file)


def _simplify(proto):
    """Fold constants and fuse operators with onnxslim (pure Python). The
    tests check that the simplified file gives the same outputs."""
    try:
        import onnxslim
    except ImportError as exc:
        raise ExportError('--simplify needs onnxslim (part of the deploy extra)'
                          ) from exc
    return onnxslim.slim(proto)


def torch_reference(module: ExportablePoseModel, crops: np.ndarray,
                    bboxes: Optional[np.ndarray] = None) -> List[np.ndarray]:
    """The traced module's own outputs for ``crops`` (and ``bboxes``), for a
    parity check of the exported file."""
    args = [torch.from_numpy(np.ascontiguousarray(crops, dtype=np.float32))]
    if module.spec.needs_bbox:
        args.append(torch.from_numpy(np.asarray(bboxes, dtype=np.float32)))
    with torch.no_grad():
        return [t.numpy() for t in as_tuple(module(*args))]
