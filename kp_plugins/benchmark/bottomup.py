"""Bottom-up MMPose entries of the benchmark (``Approach.kind == 'bottomup'``,
e.g. ``configs/yolo_effl0_256.py``, YOLOX-Pose on EfficientNet-Lite0): the
same training images (coco_trainval train + lspet_subset), val images and
``CocoMetric`` as the top-down entries, but whole images in, no ground-truth
boxes, and the config's own schedule (epochs, batch, optimizer, learning-rate
schedule, augmentation); its latency is one whole image through
``model.predict`` (forward + decode + NMS).

:func:`apply_bottomup_protocol` writes the training config,
:func:`bottomup_schedule` reads its length, :func:`train_images` counts what
it trains on and :func:`speed_and_size` measures it.
"""
import copy
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.config import Config

from .protocol import Protocol, _dataset, apply_run_settings, evaluators, train_sizes

#: The hook that swaps the train pipeline for the last epochs (YOLOX-Pose).
MODE_SWITCH_HOOK = 'YOLOXPoseModeSwitchHook'


def bottomup_schedule(cfg: Config, protocol: Protocol) -> Dict[str, int]:
    """``epochs`` and ``batch_size`` a bottom-up entry trains with: its
    config's own, or the protocol's for a smoke run (``--quick`` /
    ``--estimate``, which set ``protocol.train_subset``)."""
    if protocol.train_subset:
        return dict(epochs=protocol.epochs, batch_size=protocol.batch_size)
    return dict(epochs=int(cfg.train_cfg.max_epochs),
                batch_size=int(cfg.train_dataloader.batch_size))


def _train_sets(base: dict, protocol: Protocol, pipeline: list) -> dict:
    """coco_trainval train + lspet_subset as one ``ConcatDataset`` of
    bottom-up ``CocoDataset`` parts, each with ``pipeline`` (a mixing
    transform such as ``Mosaic`` draws from its own part)."""
    coco_n, lspet_n = protocol.train_subset or (None, None)
    parts = [_dataset(base, protocol.coco_root, 'annotations_train.json', pipeline,
                      indices=coco_n),
             _dataset(base, protocol.lspet_root, 'annotations.json', pipeline,
                      indices=lspet_n)]
    for part in parts:
        part['data_mode'] = 'bottomup'
        if base.get('filter_cfg') is not None:
            part['filter_cfg'] = copy.deepcopy(base['filter_cfg'])
    return dict(type='ConcatDataset', datasets=parts)


def apply_bottomup_protocol(cfg: Config, protocol: Protocol) -> Config:
    """Point a bottom-up config at the protocol's data, metric, seed,
    checkpointing and logging; the model, pipelines and schedule stay the
    config's (a smoke run, ``protocol.train_subset`` set, trains
    ``protocol.epochs`` epochs of batch ``protocol.batch_size`` at a
    constant learning rate without the pipeline switch).

    Args:
        cfg: a bottom-up config (``data_mode='bottomup'``).
        protocol: the run's settings.

    Returns:
        a new Config, ready to dump and train with tools/train.py.

    Raises:
        ValueError: ``cfg`` is not a single-dataset bottom-up config.
    """
    cfg = copy.deepcopy(cfg)
    train_base = cfg.train_dataloader.dataset
    val_base = cfg.val_dataloader.dataset
    if cfg.get('data_mode') != 'bottomup' or 'pipeline' not in train_base:
        raise ValueError('a bottom-up benchmark entry needs a bottom-up config '
                         "(data_mode='bottomup') with one train dataset and its pipeline")
    schedule = bottomup_schedule(cfg, protocol)
    smoke = bool(protocol.train_subset)
    cfg.train_dataloader = dict(
        batch_size=schedule['batch_size'], num_workers=protocol.workers,
        persistent_workers=False, sampler=dict(type='DefaultSampler', shuffle=True),
        dataset=_train_sets(train_base, protocol, train_base.pipeline))
    hooks = []
    for hook in cfg.get('custom_hooks', []):
        if hook.get('type') == MODE_SWITCH_HOOK:
            if smoke:
                continue
            hook = copy.deepcopy(hook)
            if hook.get('new_train_pipeline'):
                # the hook sets ``dataset.pipeline``, which a ConcatDataset lacks:
                # hand it the whole dataset with the new pipeline instead
                hook['new_train_dataset'] = _train_sets(train_base, protocol,
                                                        hook.pop('new_train_pipeline'))
        hooks.append(hook)
    cfg.custom_hooks = hooks
    val_loader = dict(
        batch_size=cfg.val_dataloader.get('batch_size', 1), num_workers=protocol.workers,
        persistent_workers=protocol.workers > 0, drop_last=False,
        sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
        dataset=_dataset(val_base, protocol.coco_root, 'annotations_val.json',
                         val_base.pipeline, test_mode=True))
    val_loader['dataset']['data_mode'] = 'bottomup'
    cfg.val_dataloader = val_loader
    cfg.test_dataloader = copy.deepcopy(val_loader)
    # CocoMetric on the model's own detections (PCK / EPE need GT boxes)
    cfg.val_evaluator = evaluators(protocol)[:1]
    cfg.test_evaluator = evaluators(protocol)[:1]
    epochs = schedule['epochs']
    cfg.train_cfg = dict(by_epoch=True, max_epochs=epochs,
                         val_interval=1 if protocol.validate else epochs + 1)
    cfg.val_cfg = dict()
    cfg.test_cfg = dict()
    if smoke:
        cfg.param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=True)]
    cfg.auto_scale_lr = dict(enable=False, base_batch_size=schedule['batch_size'])
    apply_run_settings(cfg, protocol)
    cfg.kp_benchmark_protocol = dict(protocol.to_dict(), bottomup_schedule=schedule)
    return cfg


def train_images(protocol: Protocol) -> List[int]:
    """``(coco, lspet)`` training images of a bottom-up entry."""
    return train_sizes(protocol, images=True)


def bottomup_input_hw(cfg: Config) -> tuple:
    """``(H, W)`` of a bottom-up config's model input (its ``BottomupResize``)."""
    for step in cfg.val_dataloader.dataset.pipeline:
        if step['type'] == 'BottomupResize':
            w, h = step['input_size']
            return int(h), int(w)
    raise ValueError('no BottomupResize step in the val pipeline: not a bottom-up config')


def whole_image_batch(model, cfg: Config, batch_size: int, seed: int = 0):
    """The config's val pipeline (minus image loading) on random 480x640
    images, through the model's data preprocessor.

    Returns:
        tuple: ``inputs`` (N, 3, H, W) and ``data_samples`` (N).
    """
    import torch

    from .speed import val_transforms
    pipeline = val_transforms(cfg)
    rng = np.random.default_rng(seed)
    packed = dict(inputs=[], data_samples=[])
    for i in range(batch_size):
        img = rng.integers(0, 255, size=(480, 640, 3), dtype=np.uint8)
        out = pipeline(dict(img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2],
                            id=i, img_id=i, img_path=''))
        packed['inputs'].append(out['inputs'])
        packed['data_samples'].append(out['data_samples'])
    with torch.no_grad():
        data = model.data_preprocessor(packed, training=False)
    return data['inputs'], data['data_samples']


def used_parameters(model, input_hw: tuple) -> Dict[str, int]:
    """Parameters of the modules one forward pass at ``input_hw`` runs,
    per top-level part (``backbone``, ``neck``, ``head``): a backbone
    truncated by its ``out_indices`` keeps layers that cost nothing."""
    import torch
    ran = set()
    handles = [m.register_forward_hook(lambda mod, *_: ran.add(mod))
               for m in model.modules() if not list(m.children())]
    try:
        with torch.no_grad():
            model._forward(torch.zeros(1, 3, *input_hw))
    finally:
        for h in handles:
            h.remove()
    out: Dict[str, int] = {}
    for name, child in model.named_children():
        n = sum(p.numel() for m in child.modules() if m in ran
                for p in m.parameters(recurse=False))
        if n:
            out[name] = n
    return out


def speed_and_size(cfg: Config, batch_sizes: Sequence[int] = (1, 32), warmup: int = 3,
                   repeats: int = 10, checkpoint: Optional[str] = None,
                   flops: bool = True) -> dict:
    """Size and CPU latency of a bottom-up config on whole images (all the
    persons of an image in one pass; the top-down entries pay per person).

    Args:
        checkpoint: trained weights to measure with (the decode's NMS load
            depends on how many candidates pass the score threshold, so a
            trained model is measured when there is one); ``None``: random.

    Returns:
        dict: as :func:`kp_plugins.benchmark.speed.speed_and_size` (no
        ``ort_ms``: bottom-up export is not supported), ``input`` ``HxW
        image``, ``weights`` (``trained`` / ``random``); ``params`` counts
        the parameters in use (:func:`used_parameters`; ``params_all``
        every one), ``head_params`` neck + head; ``backbone_ms``,
        ``head_decode_ms`` (neck + head + decode + NMS) and ``full_ms`` per
        batch size.
    """
    import torch

    from ..engine.checkpoint import load_model_checkpoint
    from .speed import build_pose_model, count_flops, count_parameters, measure_latency
    model = build_pose_model(cfg)
    if checkpoint:  # refuses a checkpoint whose weights do not fit the model
        load_model_checkpoint(model, checkpoint)
    model.eval()
    hw = bottomup_input_hw(cfg)
    used = used_parameters(model, hw)
    out = dict(input=f'{hw[0]}x{hw[1]} image', threads=torch.get_num_threads(),
               params=sum(used.values()), params_all=count_parameters(model),
               backbone_params=used.get('backbone', 0),
               head_params=used.get('head', 0) + used.get('neck', 0),
               flops=count_flops(model, hw) if flops else None,
               backbone_flops=count_flops(model, hw, 'backbone') if flops else None,
               weights='trained' if checkpoint else 'random',
               ort_error='bottom-up models are not exported (tools/export_onnx.py is '
                         'top-down)', latency={})
    for bs in batch_sizes:
        inputs, samples = whole_image_batch(model, cfg, bs)
        out['latency'][int(bs)] = measure_latency(model, inputs, samples, warmup, repeats)
    return out
