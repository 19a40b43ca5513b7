"""CPU speed and size of top-down pose models: backbone, head + decode, and
the whole ``predict`` path, measured on the model's own test pipeline.

Used by ``tools/benchmark_heads.py`` (head latency against MMPose's heads)
and by the approaches benchmark. Symbols: ``N`` batch size, ``H x W`` the
model input (``codec.input_size`` is ``(W, H)``).
"""
import copy
import logging
import statistics
import time
import warnings
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.config import Config


def load_pose_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """Load a config (ours or ``mmpose::``) for speed and size measurements:
    no pretrained weights are fetched or loaded (a ``Pretrained`` backbone
    ``init_cfg`` is dropped, ``backbone.pretrained`` set to False), so the
    model has random weights. Not for writing a training config: a model
    trained from it starts from scratch."""
    import kp_plugins  # noqa: F401  (registers our modules)
    from kp_plugins.engine.launch import resolve_config_path
    from kp_plugins.utils.config_check import merge_cfg_options
    cfg = Config.fromfile(resolve_config_path(path))
    if cfg_options:
        merge_cfg_options(cfg, cfg_options)
    backbone = cfg.model.get('backbone', {})
    init_cfg = backbone.get('init_cfg')
    if isinstance(init_cfg, dict) and init_cfg.get('type') == 'Pretrained':
        backbone['init_cfg'] = None
    if 'pretrained' in backbone:
        backbone['pretrained'] = False
    return cfg


def build_pose_model(cfg: Config, deploy: bool = False) -> torch.nn.Module:
    """Build ``cfg.model`` in MMPose's scope, on the CPU, in eval mode; with
    ``deploy``, in its inference form as mmdeploy builds it (MMPose's
    ``switch_to_deploy``: ``KPGridHead`` folds its BatchNorm into its
    convolutions; the model can no longer be trained)."""
    from mmengine.registry import init_default_scope
    from mmpose.registry import MODELS
    init_default_scope(cfg.get('default_scope', 'mmpose'))
    model = MODELS.build(cfg.model).eval()
    if deploy:
        model.switch_to_deploy()
    return model


def coco_metainfo() -> dict:
    """MMPose's parsed COCO-17 metainfo (flip indices, sigmas, ...)."""
    from kp_plugins.utils.metainfo import load_pose_metainfo
    return load_pose_metainfo()


def make_batch(model: torch.nn.Module, cfg: Config, batch_size: int,
               seed: int = 0) -> Tuple[torch.Tensor, list]:
    """Run the config's own val pipeline (minus image loading) on random
    person crops and the model's data preprocessor.

    Returns:
        tuple: ``inputs`` (N, 3, H, W) normalized float tensor and the
        ``data_samples`` list (N PoseDataSample with input_size/center/scale,
        flip indices and the person box).
    """
    packed = pipeline_batch(model, cfg, batch_size, seed)
    with torch.no_grad():
        data = model.data_preprocessor(packed, training=False)
    return data['inputs'], data['data_samples']


def val_transforms(cfg: Config):
    """The config's val pipeline without ``LoadImage`` (for images already
    in memory), built in the config's default scope."""
    from mmcv.transforms import Compose
    from mmengine.registry import init_default_scope
    init_default_scope(cfg.get('default_scope', 'mmpose'))
    return Compose([s for s in copy.deepcopy(cfg.val_dataloader.dataset.pipeline)
                    if s['type'] != 'LoadImage'])


def pipeline_batch(model: torch.nn.Module, cfg: Config, batch_size: int,
                   seed: int = 0) -> Dict[str, list]:
    """The config's val pipeline (minus image loading) on random 640x480
    images with one person box each, before the data preprocessor.

    Returns:
        dict: ``inputs`` (N uint8 (3, H, W) crops, the pipeline's channel
        order) and ``data_samples`` (N PoseDataSample).
    """
    pipeline = val_transforms(cfg)
    meta = getattr(model, 'dataset_meta', None) or coco_metainfo()
    flip_indices = list(meta['flip_indices'])
    num_keypoints = len(flip_indices)
    rng = np.random.default_rng(seed)
    packed: Dict[str, list] = dict(inputs=[], data_samples=[])
    for i in range(batch_size):
        img = rng.integers(0, 255, size=(480, 640, 3), dtype=np.uint8)
        x0, y0 = rng.uniform(100, 300), rng.uniform(50, 150)
        bbox = np.array([[x0, y0, x0 + 120, y0 + 240]], dtype=np.float32)
        kpts = np.stack([rng.uniform(x0, x0 + 120, num_keypoints),
                         rng.uniform(y0, y0 + 240, num_keypoints)], axis=-1)[None]
        info = dict(img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2],
                    bbox=bbox, bbox_score=np.ones(1, dtype=np.float32),
                    keypoints=kpts.astype(np.float32),
                    keypoints_visible=np.ones((1, num_keypoints), dtype=np.float32),
                    flip_indices=flip_indices, id=i, img_id=i, img_path='',
                    category_id=1)
        out = pipeline(info)
        packed['inputs'].append(out['inputs'])
        packed['data_samples'].append(out['data_samples'])
    return packed


def median_ms(fn: Callable[[], object], warmup: int = 3, repeats: int = 10) -> float:
    """Median wall time of ``fn()`` in milliseconds after ``warmup`` calls."""
    with torch.no_grad():
        for _ in range(warmup):
            fn()
        times: List[float] = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1000.0)
    return statistics.median(times)


def count_parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def measure_latency(model: torch.nn.Module, inputs: torch.Tensor, data_samples: list,
                    warmup: int = 3, repeats: int = 10,
                    flip_test: bool = False) -> Dict[str, float]:
    """Latency (ms, median) of the backbone alone, of everything after it
    (neck + head forward + decode, on precomputed backbone features) and of
    the whole ``model.predict``.

    A neck counts as head cost: MMPose's RegressionHead recipes pool in a
    ``GlobalAveragePooling`` neck, which other heads do inside the head.

    Args:
        inputs (Tensor): (N, 3, H, W) preprocessed batch.
        data_samples (list[PoseDataSample]): N samples from :func:`make_batch`.
        flip_test (bool): time with MMPose's flip test (off by default: one
            pass, which is what a deployment pays per crop).
    """
    test_cfg = dict(model.test_cfg or {})
    test_cfg['flip_test'] = flip_test
    saved_cfg = model.test_cfg
    model.test_cfg = test_cfg

    def neck(x):
        return model.neck(x) if getattr(model, 'with_neck', False) else x

    try:
        with torch.no_grad():
            feats = model.backbone(inputs)
            feats_flip = model.backbone(inputs.flip(-1)) if flip_test else None
        backbone_ms = median_ms(lambda: model.backbone(inputs), warmup, repeats)

        def head_and_decode():
            head_feats = neck(feats)
            if flip_test:
                head_feats = [head_feats, neck(feats_flip)]
            return model.head.predict(head_feats, data_samples, test_cfg=test_cfg)

        head_ms = median_ms(head_and_decode, warmup, repeats)
        # predict() only (re)sets pred_instances on the samples: reusable.
        full_ms = median_ms(lambda: model.predict(inputs, data_samples),
                            max(1, warmup // 2), max(3, repeats // 2))
    finally:
        model.test_cfg = saved_cfg
    return dict(backbone_ms=backbone_ms, head_decode_ms=head_ms, full_ms=full_ms)


class _TensorForward(torch.nn.Module):
    """``model._forward``: backbone (+neck) and head tensors, no decode (what
    a FLOP counter can trace)."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, inputs: torch.Tensor):
        return self.model._forward(inputs)


class _Backbone(_TensorForward):
    """``model.backbone`` alone."""

    def forward(self, inputs: torch.Tensor):
        return self.model.backbone(inputs)


def count_flops(model: torch.nn.Module, input_hw: Tuple[int, int],
                part: str = 'model') -> Optional[int]:
    """FLOPs of one forward pass at batch 1 (``mmengine.analysis``, which
    counts a multiply-add as one FLOP), of the whole model or of
    ``part='backbone'`` (the backbone alone, as in :func:`measure_latency`);
    ``None`` when tracing fails.

    Args:
        input_hw: ``(H, W)`` of the model input.
    """
    from mmengine.analysis import get_model_complexity_info
    from mmengine.logging import MMLogger
    if part == 'model':
        module = _TensorForward(model)
    elif part == 'backbone':
        module = _Backbone(model)
    else:
        raise ValueError(f"part must be 'model' or 'backbone', got {part!r}")
    inputs = torch.zeros(1, 3, *input_hw)
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.ERROR)  # per-operator "unsupported" notes
    try:
        with torch.no_grad():
            info = get_model_complexity_info(module.eval(), inputs=(inputs, ),
                                             show_table=False, show_arch=False)
    except Exception as exc:  # a head the tracer cannot follow
        warnings.warn(f'FLOP count failed for {type(model.head).__name__}: {exc}')
        return None
    finally:
        logger.setLevel(level)
    return int(info['flops'])


def input_hw(cfg: Config) -> Tuple[int, int]:
    """``(H, W)`` of a top-down config's model input (its ``TopdownAffine``)."""
    for step in cfg.val_dataloader.dataset.pipeline:
        if step['type'] == 'TopdownAffine':
            w, h = step['input_size']
            return int(h), int(w)
    raise ValueError('no TopdownAffine step in the val pipeline: not a top-down config')


def onnxruntime_latency(model: torch.nn.Module, cfg: Config, batch_sizes: Sequence[int],
                        warmup: int = 3, repeats: int = 10) -> Dict[int, float]:
    """Median ms of one onnxruntime call (CPU, as many intra-op threads as
    torch uses) of the model exported with its decode in the graph
    (:mod:`kp_plugins.deploy.export`, dynamic batch), per batch size, on
    the crops of the config's val pipeline.

    Raises:
        ImportError: onnx / onnxruntime are not installed.
    """
    import tempfile

    import onnxruntime as ort

    from kp_plugins.deploy.export import export_onnx
    with tempfile.TemporaryDirectory() as tmp:
        path = f'{tmp}/model.onnx'
        model.dataset_meta = getattr(model, 'dataset_meta', None) or coco_metainfo()
        export_onnx(model, cfg, path, 'benchmark')
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])
    out = {}
    for bs in batch_sizes:
        packed = pipeline_batch(model, cfg, bs)
        feed = {'input': torch.stack(packed['inputs']).float().numpy()}
        if 'bbox' in [i.name for i in session.get_inputs()]:
            with torch.no_grad():
                samples = model.data_preprocessor(packed, training=False)['data_samples']
            feed['bbox'] = model.head.sample_input_bboxes(samples).astype(np.float32)
        out[int(bs)] = median_ms(lambda: session.run(None, feed), warmup, repeats)
    return out


def speed_and_size(cfg: Config, batch_sizes: Sequence[int] = (1, 32), warmup: int = 3,
                   repeats: int = 10, flops: bool = True, onnxruntime: bool = True) -> dict:
    """Size and CPU latency of one top-down config (random weights: speed
    does not depend on them), on the threads torch is set to.

    Returns:
        dict: ``params``, ``backbone_params`` and ``head_params`` (counts),
        ``flops`` and ``backbone_flops`` (batch 1), ``input`` ("HxW"), ``threads``, and per
        batch size ``latency[N]`` = ``{backbone_ms, head_decode_ms, full_ms}``
        (medians; ``full_ms`` is the whole ``predict``: forward + decode,
        no flip test), with ``onnxruntime``, also ``ort_ms`` (the exported
        graph, decode included, :func:`onnxruntime_latency`) or
        ``ort_error`` when it could not be measured. Sizes are those of
        the model as trained; the latencies those of its inference form
        (``switch_to_deploy``, what mmdeploy and ``tools/export_onnx.py``
        run: ``KPGridHead``'s BatchNorm folded).
    """
    model = build_pose_model(cfg)
    hw = input_hw(cfg)
    out = dict(input=f'{hw[0]}x{hw[1]}', threads=torch.get_num_threads(),
               params=count_parameters(model),
               backbone_params=count_parameters(model.backbone),
               head_params=count_parameters(model.head) if model.with_head else 0,
               flops=count_flops(model, hw) if flops else None,
               backbone_flops=count_flops(model, hw, 'backbone') if flops else None,
               latency={})
    model.switch_to_deploy()
    for bs in batch_sizes:
        inputs, samples = make_batch(model, cfg, bs)
        out['latency'][int(bs)] = measure_latency(model, inputs, samples, warmup, repeats)
    if onnxruntime:
        try:
            for bs, ms in onnxruntime_latency(model, cfg, batch_sizes, warmup, repeats).items():
                out['latency'][bs]['ort_ms'] = ms
        except Exception as exc:  # noqa: BLE001  (no deploy extra, a head that does not export)
            out['ort_error'] = f'{type(exc).__name__}: {exc}'
    return out
