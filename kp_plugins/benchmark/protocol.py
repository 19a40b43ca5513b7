"""The accuracy protocol every top-down entry is trained and evaluated under.

Data: ``coco_trainval/annotations_train.json`` + ``lspet_subset`` (one
``ConcatDataset``, each part with the entry's own train pipeline), evaluation
on ``coco_trainval/annotations_val.json`` with ground-truth boxes by MMPose's
``CocoMetric`` (AP/AR), ``PCKAccuracy`` (thr 0.2, bbox-normalized) and
``EPE``. Schedule: Adam 1e-3, one x0.1 step at 80% of the epochs (epoch 8 of
10), batch 64, a fixed seed, validation after every epoch. The entry's config
keeps its model, codec and pipeline (augmentation included); everything
listed here is overwritten the same way for every entry.
"""
import copy
import json
import os.path as osp
from dataclasses import asdict, dataclass, field
from typing import List, Optional

from mmengine.config import Config

#: Raised when a change outside the configs (a model class's default) alters
#: what an entry trains, so results cached before it are not reused (the
#: config digest cannot see such a change). 2: EfficientNet-Lite's BN
#: momentum 0.01 -> 0.1 (2026-12-06).
MODEL_REVISION = 2


@dataclass
class Protocol:
    """Settings shared by every entry of one benchmark run.

    Attributes:
        name: ``128x96`` or ``256x192`` (selects each entry's config).
        data_root: the shared data folder holding ``coco_trainval`` and
            ``lspet_subset``.
        epochs: training epochs.
        batch_size: training batch size.
        lr: Adam learning rate.
        step_at: epochs at which the learning rate is multiplied by 0.1
            (default: 80% of ``epochs``).
        warmup_iters: linear warm-up iterations (0 = none).
        seed: MMEngine ``randomness.seed``.
        workers: data loader workers per split.
        train_subset: ``(coco, lspet)`` numbers of training instances to use
            (``None`` = all); ``--quick`` and ``--estimate`` use it.
        log_interval: training log (and loss-curve) interval in iterations.
        validate: evaluate after every epoch (off for ``--estimate``).
    """
    name: str = '128x96'
    data_root: str = ''
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    step_at: Optional[List[int]] = None
    warmup_iters: int = 0
    seed: int = 0
    workers: int = 2
    train_subset: Optional[List[int]] = None
    log_interval: int = 10
    validate: bool = True
    val_batch_size: int = 32
    extra: dict = field(default_factory=dict)

    @property
    def milestones(self) -> List[int]:
        if self.step_at:
            return list(self.step_at)
        return [max(1, round(self.epochs * 0.8))]

    @property
    def coco_root(self) -> str:
        return osp.join(self.data_root, 'coco_trainval')

    @property
    def lspet_root(self) -> str:
        return osp.join(self.data_root, 'lspet_subset')

    @property
    def val_ann_file(self) -> str:
        return osp.join(self.coco_root, 'annotations_val.json')

    def to_dict(self) -> dict:
        out = asdict(self)
        out['milestones'] = self.milestones
        return out

    def fingerprint(self) -> str:
        """What makes cached results of two runs comparable (not the worker
        count or logging)."""
        d = self.to_dict()
        for key in ('workers', 'log_interval', 'extra'):
            d.pop(key)
        d['model_revision'] = MODEL_REVISION
        return json.dumps(d, sort_keys=True)


def check_data(protocol: Protocol) -> None:
    """Raise FileNotFoundError naming every missing protocol file."""
    needed = [osp.join(protocol.coco_root, 'annotations_train.json'),
              protocol.val_ann_file, osp.join(protocol.coco_root, 'images'),
              osp.join(protocol.lspet_root, 'annotations.json'),
              osp.join(protocol.lspet_root, 'images')]
    missing = [p for p in needed if not osp.exists(p)]
    if missing:
        raise FileNotFoundError(
            'the benchmark data is missing: ' + ', '.join(missing) +
            ' (expected ../shared/data/{coco_trainval,lspet_subset}; pass '
            '--data-root DIR)')


def _dataset(base: dict, data_root: str, ann_file: str, pipeline: list,
             test_mode: bool = False, indices: Optional[int] = None) -> dict:
    ds = dict(type=base.get('type', 'CocoDataset'),
              data_mode=base.get('data_mode', 'topdown'),
              data_root=data_root.rstrip('/') + '/', ann_file=ann_file,
              data_prefix=dict(img='images/'), pipeline=copy.deepcopy(pipeline))
    if test_mode:
        ds['test_mode'] = True
    if indices is not None:
        ds['indices'] = int(indices)
    return ds


def evaluators(protocol: Protocol) -> list:
    """MMPose's own metrics, as one list of evaluators."""
    return [dict(type='CocoMetric', ann_file=protocol.val_ann_file),
            dict(type='PCKAccuracy', thr=0.2, norm_item='bbox'),
            dict(type='EPE')]


def apply_protocol(cfg: Config, protocol: Protocol) -> Config:
    """Overwrite data, evaluation, schedule, seed, checkpointing and logging
    of a top-down config with the protocol's (the model, codec and
    pipelines stay the entry's own).

    Args:
        cfg: an entry's config (e.g. configs/grid_effl0_128x96.py).
        protocol: the run's settings.

    Returns:
        a new Config, ready to dump and train with tools/train.py.
    """
    cfg = copy.deepcopy(cfg)
    train_base = cfg.train_dataloader.dataset
    val_base = cfg.val_dataloader.dataset
    if 'datasets' in train_base or 'pipeline' not in train_base:
        raise ValueError('the benchmark expects a single-dataset top-down config '
                         '(train_dataloader.dataset with its own pipeline)')
    coco_n, lspet_n = protocol.train_subset or (None, None)
    train_sets = [
        _dataset(train_base, protocol.coco_root, 'annotations_train.json',
                 train_base.pipeline, indices=coco_n),
        _dataset(train_base, protocol.lspet_root, 'annotations.json',
                 train_base.pipeline, indices=lspet_n),
    ]
    workers = protocol.workers
    cfg.train_dataloader = dict(
        batch_size=protocol.batch_size, num_workers=workers,
        persistent_workers=False,  # a resumed entry draws what a straight run draws
        sampler=dict(type='DefaultSampler', shuffle=True),
        dataset=dict(type='ConcatDataset', datasets=train_sets))
    val_loader = dict(
        batch_size=protocol.val_batch_size, num_workers=workers,
        persistent_workers=workers > 0, drop_last=False,
        sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
        dataset=_dataset(val_base, protocol.coco_root, 'annotations_val.json',
                         val_base.pipeline, test_mode=True))
    cfg.val_dataloader = val_loader
    cfg.test_dataloader = copy.deepcopy(val_loader)
    cfg.val_evaluator = evaluators(protocol)
    cfg.test_evaluator = evaluators(protocol)

    epochs = protocol.epochs
    cfg.train_cfg = dict(by_epoch=True, max_epochs=epochs,
                         val_interval=1 if protocol.validate else epochs + 1)
    cfg.val_cfg = dict()
    cfg.test_cfg = dict()
    cfg.optim_wrapper = dict(type='OptimWrapper',
                             optimizer=dict(type='Adam', lr=protocol.lr))
    schedulers = []
    if protocol.warmup_iters > 0:
        schedulers.append(dict(type='LinearLR', begin=0, end=protocol.warmup_iters,
                               start_factor=0.001, by_epoch=False))
    schedulers.append(dict(type='MultiStepLR', begin=0, end=epochs,
                           milestones=protocol.milestones, gamma=0.1, by_epoch=True))
    cfg.param_scheduler = schedulers
    cfg.auto_scale_lr = dict(enable=False, base_batch_size=protocol.batch_size)
    apply_run_settings(cfg, protocol)
    cfg.kp_benchmark_protocol = protocol.to_dict()
    return cfg


def apply_run_settings(cfg: Config, protocol: Protocol) -> None:
    """What every benchmark training shares, set in place: the seed, one
    checkpoint per epoch (the last kept, for resuming), the log interval,
    local visualization, no ``load_from`` / ``resume`` of the config's own."""
    cfg.randomness = dict(seed=protocol.seed, deterministic=False)
    hooks = cfg.default_hooks
    hooks.checkpoint = dict(type='CheckpointHook', interval=1, by_epoch=True,
                            max_keep_ckpts=1, save_best=None)
    hooks.logger = dict(type='LoggerHook', interval=protocol.log_interval)
    cfg.log_processor = dict(type='LogProcessor', window_size=protocol.log_interval,
                             by_epoch=True, num_digits=6)
    cfg.vis_backends = [dict(type='LocalVisBackend')]
    cfg.visualizer = dict(type='PoseLocalVisualizer', vis_backends=cfg.vis_backends,
                          name='visualizer')
    cfg.load_from = None
    cfg.resume = False


def count_persons(ann_file: str, images: bool = False) -> int:
    """Non-crowd persons with at least one labelled keypoint: the instances
    MMPose's top-down ``CocoDataset`` trains on; with ``images``, the images
    holding one or more of them (what a bottom-up epoch goes over:
    ``FilterAnnotations(keep_empty=False)`` refetches the others)."""
    with open(ann_file) as f:
        anns = json.load(f)['annotations']
    persons = [a for a in anns if not a.get('iscrowd') and a.get('num_keypoints', 0) > 0]
    return len({a['image_id'] for a in persons}) if images else len(persons)


def train_sizes(protocol: Protocol, images: bool = False) -> List[int]:
    """``(coco, lspet)`` training instances the protocol uses (with
    ``images``: training images, :func:`count_persons`)."""
    sizes = [count_persons(osp.join(protocol.coco_root, 'annotations_train.json'), images),
             count_persons(osp.join(protocol.lspet_root, 'annotations.json'), images)]
    if protocol.train_subset:
        sizes = [min(n, s) for n, s in zip(sizes, protocol.train_subset)]
    return sizes


def estimate_subset(protocol: Protocol, iters: int) -> List[int]:
    """``(coco, lspet)`` instance counts for ``iters`` full batches with the
    full protocol's COCO / LSPET mix (for ``--estimate``)."""
    coco_all, lspet_all = train_sizes(Protocol(data_root=protocol.data_root))
    total = min(iters * protocol.batch_size, coco_all + lspet_all)
    coco = min(coco_all, max(1, round(total * coco_all / (coco_all + lspet_all))))
    return [coco, min(lspet_all, total - coco)]
