"""Where one training step of the grid model goes, against SimCC's (issue #26
item 3): the models of configs/grid_effl0_128x96.py and
configs/benchmark/simcc_effl0_128x96.py (EfficientNet-Lite0, 128x96 input,
built with the configs' data preprocessor and optimizer), one synthetic batch
each (``pipeline_cost.synthetic_results`` through the configs'
``GenerateTarget`` and ``PackPoseInputs``; no data needed), one CPU thread.

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python docs/benchmark/grid_pack/train_step_cost.py

Per step (milliseconds, median over ``--repeat`` steps; the two models'
steps interleaved, so a change of load hits both):

- ``backbone``: ``model.extract_feat`` of the preprocessed batch;
- ``head.loss``: the whole ``head.loss`` (its forward included), split into
  ``head forward``, ``targets`` (the grid's label gathering and
  ``KPGridLabel.unpack``, which builds the presence target; SimCC gathers
  its labels inline, in ``rest``), ``presence loss``, ``offset loss``,
  ``soft decode + OKS`` (the grid's ``soft_decode`` and coordinate losses),
  ``loss`` (SimCC's ``KLDiscretLoss``), ``acc_pose`` (the grid: its argmax
  decode and PCK; SimCC: ``simcc_pck_accuracy``), and ``rest`` (what the
  parts leave: the offset gathering, glue);
- ``backward``: of the summed losses, through the whole model;
- ``optimizer``: the optimizer wrapper's ``step`` and ``zero_grad`` (Adam);
- ``loss backward``: on its own, not part of the step: the backward of
  ``head.loss``'s losses to the head's outputs (made leaves; no head layers,
  no backbone), the backward share of the loss computation.

Parts are timed by wrapping what ``head.loss`` calls (its decoder's methods,
its loss modules); a part a version does not call reads 0. The clock is the
process CPU time (``--clock wall`` for wall time): absolute numbers depend on
the machine and its load; compare the ratios of one run.
"""
import argparse
import functools
import logging
import os.path as osp
import statistics
import sys
import time
from collections import defaultdict

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.logging import MMLogger
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmpose.models.heads.coord_cls_heads import simcc_head
from mmpose.registry import MODELS, TRANSFORMS

import kp_plugins  # noqa: F401  (registration)

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from pipeline_cost import CONFIGS, REPO, synthetic_results  # noqa: E402

CLOCK = time.process_time
STEP = ('backbone', 'head.loss', 'backward', 'optimizer')
PARTS = ('head forward', 'targets', 'presence loss', 'offset loss',
         'soft decode + OKS', 'loss', 'acc_pose')


class Timer:
    """Accumulates the CPU time of the wrapped calls per part (a call inside
    another timed call counts for the outer one only)."""

    def __init__(self) -> None:
        self.seconds = defaultdict(float)
        self.depth = 0

    def wrap(self, owner, name: str, part: str) -> None:
        """Time ``owner.name(...)`` as ``part`` (skipped if absent)."""
        inner = getattr(owner, name, None)
        if inner is None:
            return

        @functools.wraps(inner)
        def timed(*args, **kwargs):
            if self.depth:
                return inner(*args, **kwargs)
            self.depth += 1
            t = CLOCK()
            try:
                return inner(*args, **kwargs)
            finally:
                self.seconds[part] += CLOCK() - t
                self.depth -= 1

        setattr(owner, name, timed)


def instrument(model, timer: Timer) -> None:
    """Wrap the parts of ``model.head.loss``."""
    head = model.head
    timer.wrap(head, 'forward', 'head forward')
    if type(head).__name__ == 'SimCCHead':
        timer.wrap(head.loss_module, 'forward', 'loss')
        timer.wrap(simcc_head, 'simcc_pck_accuracy', 'acc_pose')
        return
    decoder = head.decoder
    timer.wrap(head, 'gather_labels', 'targets')
    timer.wrap(decoder, 'unpack', 'targets')
    for loss in head.presence_losses:
        timer.wrap(loss, 'forward', 'presence loss')
    for loss in head.offset_losses:
        timer.wrap(loss, 'forward', 'offset loss')
    timer.wrap(decoder, 'soft_decode', 'soft decode + OKS')
    timer.wrap(head, 'coordinate_losses', 'soft decode + OKS')
    # acc_pose: before issue #26 item 3, the numpy decode with scores; after,
    # the argmax decode without them; MMPose's PCK both times
    timer.wrap(decoder, 'batch_decode', 'acc_pose')
    timer.wrap(head, 'pck_accuracy', 'acc_pose')
    timer.wrap(decoder, 'decode_keypoints', 'acc_pose')


def build(approach: str, batch: int, rng: np.random.RandomState):
    """The model (train mode), its optimizer wrapper and one preprocessed
    synthetic batch."""
    cfg = Config.fromfile(osp.join(REPO, CONFIGS[approach]))
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    generate = TRANSFORMS.build(
        next(t for t in cfg.train_pipeline if t['type'] == 'GenerateTarget'))
    pack = TRANSFORMS.build(dict(type='PackPoseInputs'))
    samples = [pack(generate(synthetic_results(rng, generate.encoder.input_size)))
               for _ in range(batch)]
    data = model.data_preprocessor(pseudo_collate(samples), training=True)
    return model, optim, data['inputs'], data['data_samples']


def train_step(model, optim, inputs, samples, timer: Timer) -> dict:
    """One training step; seconds per stage and part."""
    seconds = {}
    timer.seconds.clear()
    t = CLOCK()
    feats = model.extract_feat(inputs)
    seconds['backbone'] = CLOCK() - t
    t = CLOCK()
    losses = model.head.loss(feats, samples)
    seconds['head.loss'] = CLOCK() - t
    parts = dict(timer.seconds)
    total = sum(v for k, v in losses.items() if k.startswith('loss'))
    t = CLOCK()
    total.backward()
    seconds['backward'] = CLOCK() - t
    t = CLOCK()
    optim.step()
    optim.zero_grad()
    seconds['optimizer'] = CLOCK() - t
    for part in PARTS:
        seconds[part] = parts.get(part, 0.0)
    seconds['rest'] = seconds['head.loss'] - sum(parts.values())
    # the loss computation and its backward alone, from the head's outputs
    feats = tuple(f.detach() for f in feats)
    head = model.head
    forward = head.forward
    with torch.no_grad():
        outputs = forward(feats)
    leaves = tuple(o.detach().requires_grad_() for o in outputs)
    head.forward = lambda _: leaves
    try:
        losses = head.loss(feats, samples)
        total = sum(v for k, v in losses.items() if k.startswith('loss'))
        t = CLOCK()
        total.backward()
        seconds['loss backward'] = CLOCK() - t
    finally:
        head.forward = forward
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--batch', type=int, default=64)
    parser.add_argument('--repeat', type=int, default=10,
                        help='steps timed per model (after two warm-ups)')
    parser.add_argument('--clock', choices=('cpu', 'wall'), default='cpu',
                        help='process CPU time (default) or wall time')
    parser.add_argument('--threads', type=int, default=1,
                        help='torch threads (default 1: the comparison; the '
                        'CPU time of several threads adds up)')
    args = parser.parse_args()
    global CLOCK
    CLOCK = time.process_time if args.clock == 'cpu' else time.perf_counter
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    init_default_scope('mmpose')
    MMLogger.get_current_instance().setLevel(logging.WARNING)  # init_weights' log
    built, timers = {}, {}
    for approach in CONFIGS:
        built[approach] = build(approach, args.batch, np.random.RandomState(0))
        timers[approach] = Timer()
        instrument(built[approach][0], timers[approach])
    runs = defaultdict(list)
    for i in range(args.repeat + 2):  # the first two warm up
        for approach in CONFIGS:  # interleaved
            seconds = train_step(*built[approach], timers[approach])
            if i >= 2:
                runs[approach].append(seconds)
    rows = (('step',) + STEP + tuple('  ' + p for p in PARTS + ('rest',))
            + ('loss backward',))
    print(f'per step of {args.batch} samples, milliseconds of {args.clock} time '
          f'(median of {args.repeat} steps), torch threads '
          f'{torch.get_num_threads()}')
    print(f'{"stage":<24}{"grid":>10}{"simcc":>10}{"grid/simcc":>12}')
    for row in rows:
        name = row.strip()
        values = []
        for approach in ('grid', 'simcc'):
            keys = STEP if name == 'step' else (name,)
            values.append(statistics.median(
                sum(r[k] for k in keys) for r in runs[approach]) * 1e3)
        grid, simcc = values
        ratio = f'{grid / simcc:>12.2f}' if simcc > 0 else f'{"-":>12}'
        print(f'{row:<24}{grid:>10.2f}{simcc:>10.2f}{ratio}')


if __name__ == '__main__':
    main()
