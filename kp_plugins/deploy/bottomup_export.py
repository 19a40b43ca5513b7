"""Export a one-stage (bottom-up) pose model with MMPose's ``YOLOXPoseHead``
(configs/yolo_effl0_256.py, configs/yolo_s.py) to one ONNX file:
normalization, backbone, neck, head and the head's decode in one graph.

Input ``input``: whole images resized and padded as the config's
``BottomupResize`` makes them, float32 (N, 3, H, W) in 0-255, in the channel
order the pipeline gives them (BGR for ``LoadImage``); the graph swaps
channels and normalizes as the config's ``PoseDataPreprocessor`` does.

Outputs, ``M`` candidates per image sorted by score (the highest first;
equal scores by prior index, as ONNX ``TopK`` and a stable sort order them):

- ``bboxes`` (N, M, 4) ``xyxy`` in model-input pixels (not clamped);
- ``bbox_scores`` (N, M): classification x objectness (``sigmoid`` each);
- ``keypoints`` (N, M, K, 2) in model-input pixels;
- ``keypoint_scores`` (N, M, K): ``sigmoid`` of the visibility logits.

This is ``YOLOXPoseHead.predict`` up to its score threshold: the threshold
(``score_thr``), the box NMS (``nms_thr``, MMPose's ``nms_torch``) and the
clamp of the boxes to the input are done by the runtime in numpy
(:mod:`kp_plugins.deploy.bottomup_runtime`), which gives the same persons as
``predict``. ``M`` is ``min(test_cfg.nms_pre, number of priors)``
(``nms_pre`` defaults to 100000 in MMPose: all priors, 1344 at 256x256), so
the candidates are exactly those ``predict`` passes on to its NMS.

The thresholds and the pre-processing (input size, pad value, mean, std)
are stored in the file's ``metadata_props`` (:func:`bottomup_metadata`).
"""
import json
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor, nn

from kp_plugins.version import __version__

from .export import ExportError, _jsonable, preprocessor_normalization

#: Head class names (and their subclasses) with a bottom-up export.
BOTTOMUP_HEADS = ('YOLOXPoseHead', )
#: ONNX output names of a bottom-up file.
BOTTOMUP_OUTPUTS = ('bboxes', 'bbox_scores', 'keypoints', 'keypoint_scores')
#: ``YOLOXPoseHead.predict``'s defaults for what ``test_cfg`` leaves out.
DEFAULT_TEST_CFG = dict(score_thr=0.01, nms_thr=1.0, nms_pre=100000)


def check_bottomup_head(model: nn.Module) -> None:
    """Raise :class:`ExportError` unless ``model`` is a
    ``BottomupPoseEstimator`` whose head has a bottom-up export."""
    head = getattr(model, 'head', None)
    names = [cls.__name__ for cls in type(head).__mro__]
    if not any(name in names for name in BOTTOMUP_HEADS):
        raise ExportError(
            f'{type(head).__name__} cannot be exported bottom-up: the '
            f'bottom-up export supports {", ".join(BOTTOMUP_HEADS)} (and '
            'subclasses) only; RTMOHead, DEKRHead, CIDHead and '
            'AssociativeEmbeddingHead decode differently (not supported)')


def bottomup_settings(cfg) -> Dict[str, object]:
    """``input_size`` (W, H) and ``pad_val`` of the config's test pipeline
    ``BottomupResize``, after checking it is a setting the runtime
    reproduces (``resize_mode='fit'``, ``use_udp=False``, no
    ``aug_scales``)."""
    pipeline = cfg.test_dataloader.dataset.get('pipeline', [])
    resize = [t for t in pipeline if t.get('type') == 'BottomupResize']
    if not resize:
        raise ExportError('the config\'s test pipeline has no BottomupResize: '
                          'the bottom-up export needs it (the whole image '
                          'resized and padded to the model input)')
    resize = resize[0]
    if resize.get('resize_mode', 'fit') != 'fit':
        raise ExportError(
            f'BottomupResize(resize_mode={resize.get("resize_mode")!r}) is '
            'not supported: its input size depends on the image; only '
            "resize_mode='fit' (one input size) exports")
    if resize.get('use_udp', False):
        raise ExportError('BottomupResize(use_udp=True) is not supported: the '
                          'kp_plugins runtime resizes like use_udp=False')
    if resize.get('aug_scales'):
        raise ExportError('BottomupResize(aug_scales=...) (multi-scale test) '
                          'is not supported')
    w, h = (int(v) for v in resize['input_size'])
    factor = int(resize.get('size_factor', 32))
    if w % factor or h % factor:
        raise ExportError(f'BottomupResize input_size {(w, h)} is not a '
                          f'multiple of its size_factor {factor}')
    pad_val = resize.get('pad_val', (0, 0, 0))
    pad_val = [float(v) for v in pad_val] if isinstance(
        pad_val, (list, tuple)) else float(pad_val)
    return dict(input_size=[w, h], pad_val=pad_val)


def bottomup_test_cfg(model: nn.Module) -> Dict[str, float]:
    """``score_thr``, ``nms_thr`` and ``nms_pre`` of the model's test_cfg,
    with ``YOLOXPoseHead.predict``'s defaults."""
    test_cfg = dict(getattr(model, 'test_cfg', None) or {})
    return {k: type(v)(test_cfg.get(k, v)) for k, v in DEFAULT_TEST_CFG.items()}


class ExportableBottomupModel(nn.Module):
    """Padded whole images -> the ``M`` best-scoring person candidates, the
    module ``torch.onnx.export`` traces.

    Args:
        model: a ``BottomupPoseEstimator`` with a ``YOLOXPoseHead``, in eval
            mode.
        input_size: the model input ``(W, H)`` (the priors are constants of
            that size).
        num_candidates: ``M``; ``None``: ``min(nms_pre, number of priors)``.
    """

    def __init__(self, model: nn.Module, input_size: Sequence[int],
                 num_candidates: Optional[int] = None) -> None:
        super().__init__()
        check_bottomup_head(model)
        self.model = model
        self.swap_channels, mean, std = preprocessor_normalization(model)
        self.register_buffer('mean', mean, persistent=False)
        self.register_buffer('std', std, persistent=False)
        head = model.head
        w, h = (int(v) for v in input_size)
        with torch.no_grad():
            feats = model.extract_feat(torch.zeros(1, 3, h, w))
            cls_scores = head.forward(feats)[0]
        sizes = [s.shape[2:] for s in cls_scores]
        priors = torch.cat(head.prior_generator.grid_priors(
            sizes, dtype=torch.float32, device='cpu'))
        strides = torch.cat([
            priors.new_full((size.numel(), ), stride)
            for size, stride in zip(sizes, head.featmap_strides)])
        self.register_buffer('priors', priors, persistent=False)
        self.register_buffer('strides', strides, persistent=False)
        num_priors = len(priors)
        nms_pre = bottomup_test_cfg(model)['nms_pre']
        if num_candidates is None:
            num_candidates = min(int(nms_pre), num_priors)
        if not 1 <= num_candidates <= num_priors:
            raise ExportError(f'num_candidates must be 1..{num_priors} (the '
                              f'priors at {w}x{h}), got {num_candidates}')
        self.num_candidates = int(num_candidates)
        self.num_priors = num_priors

    def forward(self, input: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """
        Args:
            input: (N, 3, H, W) float padded images, 0-255, pipeline
                channel order.

        Returns:
            ``bboxes`` (N, M, 4), ``bbox_scores`` (N, M), ``keypoints``
            (N, M, K, 2), ``keypoint_scores`` (N, M, K), model-input pixels,
            sorted by score.
        """
        x = input
        if self.swap_channels:
            x = x[:, [2, 1, 0]]
        x = (x - self.mean) / self.std
        head = self.model.head
        cls_scores, objectnesses, bbox_preds, kpt_offsets, kpt_vis = \
            head.forward(self.model.extract_feat(x))
        flat = head._flatten_predictions
        # YOLOXPoseHead.predict: sigmoid(cls) * sigmoid(obj), best class
        scores = flat(cls_scores).sigmoid() * flat(objectnesses).sigmoid()
        scores = scores.max(dim=-1)[0]  # (N, P)
        bboxes = head.decode_bbox(flat(bbox_preds), self.priors, self.strides)
        keypoints = head.decode_kpt_reg(flat(kpt_offsets), self.priors,
                                        self.strides)
        visibility = flat(kpt_vis).sigmoid()
        scores, index = scores.topk(self.num_candidates, dim=1, largest=True,
                                    sorted=True)
        k = keypoints.shape[2]
        bboxes = bboxes.gather(1, index[..., None].expand(-1, -1, 4))
        keypoints = keypoints.gather(
            1, index[..., None, None].expand(-1, -1, k, 2))
        visibility = visibility.gather(1, index[..., None].expand(-1, -1, k))
        return bboxes, scores, keypoints, visibility


def bottomup_metadata(cfg, model: nn.Module, module: ExportableBottomupModel,
                      config_name: str, batch: Union[str, int],
                      outputs: Sequence[str]) -> Dict[str, str]:
    """The ``metadata_props`` of a bottom-up file (all values strings);
    ``mode`` is ``'bottomup'`` (top-down files have no ``mode``)."""
    settings = bottomup_settings(cfg)
    meta = model.dataset_meta or {}
    num_keypoints = int(meta.get('num_keypoints', model.head.num_keypoints))
    id2name = meta.get('keypoint_id2name', {})
    keep = ('dataset_name', 'num_keypoints', 'keypoint_id2name',
            'flip_indices', 'skeleton_links', 'keypoint_colors',
            'skeleton_link_colors', 'sigmas')
    pre = model.data_preprocessor
    test_cfg = bottomup_test_cfg(model)
    values = dict(
        kp_plugins_version=__version__,
        config=config_name,
        mode='bottomup',
        head=type(model.head).__name__,
        input_size=settings['input_size'],
        pad_val=settings['pad_val'],
        resize='BottomupResize(resize_mode=fit, use_udp=False): the image '
               'resized by its long side, centred, padded with pad_val',
        mean=module.mean.flatten().tolist(),
        std=module.std.flatten().tolist(),
        input_format=('float32 N x 3 x H x W, 0-255, channels in the order '
                      'the pipeline loads them (BGR for LoadImage); the graph '
                      'normalizes'),
        channel_order='bgr' if pre._channel_conversion else 'as loaded',
        batch=batch,
        decode='graph',
        num_candidates=module.num_candidates,
        num_priors=module.num_priors,
        score_thr=test_cfg['score_thr'],
        nms_thr=test_cfg['nms_thr'],
        nms_pre=test_cfg['nms_pre'],
        nms='runtime: score > score_thr, then greedy box NMS (IoU > nms_thr '
            'suppresses, MMPose nms_torch) unless nms_thr >= 1, then boxes '
            'clamped to the input',
        flip_test='off (not in the graph)',
        keypoint_names=[id2name.get(i, str(i)) for i in range(num_keypoints)],
        flip_indices=list(meta.get('flip_indices', [])),
        dataset_meta={k: meta[k] for k in keep if k in meta},
        inputs=['input'],
        outputs=list(outputs),
    )
    return {k: v if isinstance(v, str) else json.dumps(v, default=_jsonable)
            for k, v in values.items()}


def export_bottomup_onnx(model: nn.Module, cfg, out_file: str,
                         config_name: str, batch: Union[str, int] = 'dynamic',
                         opset: int = 17, simplify: bool = False,
                         num_candidates: Optional[int] = None
                         ) -> Dict[str, object]:
    """Export ``model`` (a ``BottomupPoseEstimator`` with a
    ``YOLOXPoseHead``, built from ``cfg``) to ``out_file`` and check it with
    ``onnx.checker``.

    Args:
        model: the estimator, with ``dataset_meta``.
        cfg: its config (test pipeline, ``model.test_cfg``).
        out_file: the ``.onnx`` path.
        config_name: stored in the metadata.
        batch: ``'dynamic'`` or a fixed batch size.
        opset: ONNX opset.
        simplify: simplify the graph with onnxslim.
        num_candidates: ``M`` (see :class:`ExportableBottomupModel`).

    Returns:
        dict with ``inputs``, ``outputs`` (names), ``metadata`` and the
        traced ``module``.
    """
    import os
    import os.path as osp
    import warnings

    from .export import check_export_prerequisites, finish_onnx_file
    check_export_prerequisites(batch)
    check_bottomup_head(model)
    if (getattr(model, 'test_cfg', None) or {}).get('flip_test', False):
        warnings.warn('test_cfg.flip_test is on: the exported graph has no '
                      'flip test')
    settings = bottomup_settings(cfg)
    w, h = settings['input_size']
    module = ExportableBottomupModel(model, (w, h), num_candidates).eval()
    n = 2 if batch == 'dynamic' else batch
    inputs, outputs = ['input'], list(BOTTOMUP_OUTPUTS)
    dynamic_axes = None
    if batch == 'dynamic':
        dynamic_axes = {name: {0: 'batch'} for name in inputs + outputs}
    os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings('ignore', category=torch.jit.TracerWarning)
        torch.onnx.export(module, (torch.zeros(n, 3, h, w), ), out_file,
                          input_names=inputs, output_names=outputs,
                          dynamic_axes=dynamic_axes, opset_version=opset,
                          do_constant_folding=True, dynamo=False)
    metadata = bottomup_metadata(cfg, model, module, config_name, batch,
                                 outputs)
    finish_onnx_file(out_file, metadata, simplify)
    return dict(inputs=inputs, outputs=outputs, metadata=metadata,
                module=module)


def bottomup_torch_reference(module: ExportableBottomupModel,
                             inputs: np.ndarray) -> List[np.ndarray]:
    """The traced module's own outputs for padded images ``inputs``
    (N, 3, H, W), for a parity check of the exported file."""
    x = torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32))
    with torch.no_grad():
        return [t.numpy() for t in module(x)]
