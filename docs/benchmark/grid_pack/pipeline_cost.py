"""Where the grid's per-sample training-data cost goes, against SimCC's
(issue #26 item 3): KPGridLabel of configs/grid_effl0_128x96.py (grid 12x16
on the 96x128 input) vs MMPose's SimCCLabel of
configs/benchmark/simcc_effl0_128x96.py, on synthetic keypoints (no data
needed).

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python docs/benchmark/grid_pack/pipeline_cost.py

Per sample (microseconds, median over ``--repeat`` batches of ``--batch``):

- ``encode``: ``GenerateTarget`` (the codec's ``encode``), data worker;
- ``pack``: ``PackPoseInputs`` (every label array -> a tensor), data worker;
- ``collate``: MMEngine's ``pseudo_collate`` of the batch, data worker;
- ``send`` / ``receive``: the batch through the data loader's worker ->
  main-process pickling (``ForkingPickler``: every tensor is moved to shared
  memory and its file descriptor passed; here both ends run in one process);
- ``targets``: the head's label gathering in ``loss`` (``torch.cat`` over the
  batch, and for a packed codec its ``unpack``), main process;
- ``head loss``: the whole ``head.loss`` (forward, targets, losses,
  ``acc_pose``) on random features of the batch, main process;
- ``data (no head)``: the sum of the stages before it.

The heads are built from the two configs (no backbone). Absolute numbers
depend on the machine and its load; compare the ratios of one run.
"""
import argparse
import os.path as osp
import pickle
import statistics
import time
from multiprocessing.reduction import ForkingPickler

import numpy as np
import torch
import torch.multiprocessing  # noqa: F401  (registers the tensor reductions)
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmpose.registry import MODELS, TRANSFORMS

import kp_plugins  # noqa: F401  (registration)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
CONFIGS = dict(grid='configs/grid_effl0_128x96.py',
               simcc='configs/benchmark/simcc_effl0_128x96.py')
COCO_FLIP_INDICES = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
#: the clock: CPU time of this process (all its threads, user + system), so
#: that the other processes of a busy machine do not count; ``--clock wall``
#: for wall time.
CLOCK = time.process_time
STAGES = ('encode', 'pack', 'collate', 'send', 'receive', 'targets', 'head loss')


def synthetic_results(rng: np.random.RandomState, input_size) -> dict:
    """One person as ``TopdownAffine`` leaves it: a 128x96 crop, 17
    keypoints in input pixels (about 1 in 5 unlabelled, some outside the
    crop), box, area and the crop's centre/scale."""
    w, h = input_size
    keypoints = rng.uniform([-0.1 * w, -0.1 * h], [1.1 * w, 1.1 * h],
                            size=(1, 17, 2)).astype(np.float32)
    visible = (rng.rand(1, 17) > 0.2).astype(np.float32)
    center = rng.uniform(100, 300, size=2).astype(np.float32)
    scale = np.array([1.25 * w * 2, 1.25 * h * 2], dtype=np.float32)
    bbox = np.concatenate([center - scale / 2.5, center + scale / 2.5])[None]
    return dict(
        img=rng.randint(0, 255, (h, w, 3), dtype=np.uint8), img_shape=(h, w),
        ori_shape=(480, 640), img_id=1, id=1, img_path='synthetic.jpg',
        category_id=1, keypoints=keypoints, transformed_keypoints=keypoints,
        keypoints_visible=visible, bbox=bbox, bbox_score=np.ones(1, np.float32),
        bbox_center=center[None], bbox_scale=scale[None],
        area=np.array([0.53 * scale.prod() / 2.5 ** 2], np.float32),
        input_size=(w, h), input_center=center, input_scale=scale, flip=False,
        flip_direction=None, flip_indices=COCO_FLIP_INDICES)


#: What ``loss`` reads from a codec that does not pack its targets.
READ_BY_LOSS = dict(
    KPGridHead=('keypoint_weights', 'keypoint_labels', 'presence_target', 'offset_cells',
                'offset_targets', 'offset_weights', 'areas'),
    SimCCHead=('keypoint_x_labels', 'keypoint_y_labels', 'keypoint_weights'))


def gather_targets(head, samples) -> dict:
    """The label gathering of ``head.loss``: what it reads from the samples
    (a packed codec's ``unpack`` included)."""
    decoder = head.decoder
    if hasattr(decoder, 'unpack'):  # packed grid targets
        return decoder.unpack(head.gather_labels(samples, 'grid_targets'),
                              head.gather_labels(samples, 'areas'))
    return {name: torch.cat([d.gt_instance_labels.get(name) for d in samples])
            for name in READ_BY_LOSS[type(head).__name__]}


def time_batch(approach: str, head, generate, pack, batch: int,
               rng: np.random.RandomState) -> dict:
    """Run the batch once through every stage; seconds per stage."""
    seconds = {}
    results = [synthetic_results(rng, generate.encoder.input_size)
               for _ in range(batch)]
    t = CLOCK()
    results = [generate(r) for r in results]
    seconds['encode'] = CLOCK() - t
    t = CLOCK()
    packed = [pack(r) for r in results]
    seconds['pack'] = CLOCK() - t
    t = CLOCK()
    collated = pseudo_collate(packed)
    seconds['collate'] = CLOCK() - t
    t = CLOCK()
    message = ForkingPickler.dumps(collated)
    seconds['send'] = CLOCK() - t
    t = CLOCK()
    received = pickle.loads(message)
    seconds['receive'] = CLOCK() - t
    samples = received['data_samples']
    t = CLOCK()
    gather_targets(head, samples)
    seconds['targets'] = CLOCK() - t
    if approach == 'grid':
        feats = (torch.randn(batch, 112, 8, 6), torch.randn(batch, 1280, 4, 3))
    else:
        feats = (torch.randn(batch, 1280, 4, 3),)
    with torch.no_grad():
        t = CLOCK()
        head.loss(feats, samples)
        seconds['head loss'] = CLOCK() - t
    return seconds


def build(approach: str):
    cfg = Config.fromfile(osp.join(REPO, CONFIGS[approach]))
    head = MODELS.build(cfg.model.head)
    head.train()
    generate = TRANSFORMS.build(
        next(t for t in cfg.train_pipeline if t['type'] == 'GenerateTarget'))
    pack = TRANSFORMS.build(dict(type='PackPoseInputs'))
    return head, generate, pack


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--batch', type=int, default=64)
    parser.add_argument('--repeat', type=int, default=15,
                        help='batches timed per approach (after one warm-up)')
    parser.add_argument('--clock', choices=('cpu', 'wall'), default='cpu',
                        help='process CPU time (default) or wall time')
    args = parser.parse_args()
    global CLOCK
    CLOCK = time.process_time if args.clock == 'cpu' else time.perf_counter
    torch.manual_seed(0)
    init_default_scope('mmpose')
    built = {approach: build(approach) for approach in CONFIGS}
    rngs = {approach: np.random.RandomState(0) for approach in CONFIGS}
    runs = {approach: [] for approach in CONFIGS}
    for i in range(args.repeat + 1):  # the first one warms up
        for approach in CONFIGS:  # interleaved: a change of load hits both
            seconds = time_batch(approach, *built[approach], args.batch, rngs[approach])
            if i:
                runs[approach].append(seconds)
    table = {}
    for approach, (_, generate, _) in built.items():
        table[approach] = {s: statistics.median(r[s] for r in runs[approach])
                           / args.batch * 1e6 for s in STAGES}
        encoded = generate(synthetic_results(rngs[approach], generate.encoder.input_size))
        names = [n for n in generate.encoder.label_mapping_table if n in encoded]
        print(f'{approach}: {len(names)} label arrays per sample '
              f'({sum(np.asarray(encoded[n]).nbytes for n in names)} bytes): '
              + ', '.join(f'{n} {tuple(np.shape(encoded[n]))}' for n in names))
    print(f'\nper sample, microseconds of {args.clock} time (median of {args.repeat} '
          f'batches of {args.batch})')
    print(f'{"stage":<16}{"grid":>10}{"simcc":>10}{"grid/simcc":>12}')
    sums = {'data (no head)': STAGES[:-1], 'total': STAGES}
    for stage in STAGES + tuple(sums):
        grid, simcc = (sum(table[a][s] for s in sums.get(stage, (stage, )))
                       for a in ('grid', 'simcc'))
        print(f'{stage:<16}{grid:>10.1f}{simcc:>10.1f}{grid / simcc:>12.2f}')


if __name__ == '__main__':
    main()
