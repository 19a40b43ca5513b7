"""Head cost of KPGridHead before and after its inference form (issue #26,
item 3: head + decode <= 1.5% of the ResNet-50 backbone at batch 1), on
configs/grid_r50.py (256x192, random weights: speed does not depend on them).

    PYTHONPATH=$PWD python docs/benchmark/grid_fuse/head_cost.py
        [--config configs/grid_r50.py] [--batch-sizes 1 32] [--threads 2]
        [--repeats 200] [--large-repeats 10]

*before*: the head as built (BatchNorm in its 1x1 reduction and lateral
projection), its pixel shuffle into the grid maps and the decode as it was
before the table decode (``decode_before_tables``, kept here verbatim: max
over the flat grid, softmax, the 3x3 window mass by ``avg_pool2d``).
*after*: ``model.switch_to_deploy()`` (BatchNorm folded, as mmdeploy builds
the model) and ``predict`` without flip test: the codec decodes the
prediction conv's output straight from its packed layout
(``KPGridLabel.decode_packed_tensors``).

Per batch size and form: the benchmark's :func:`measure_latency` (median ms
of the backbone, of head + decode = ``head.predict`` on the backbone's
features, and of the whole ``predict``), the head's forward alone and the
decode alone (medians of ``--repeats`` calls at batch 1, ``--large-repeats``
above), head + decode as a share of the backbone, and the number of ATen
operations the head's forward and the decode dispatch (counted once,
``TorchDispatchMode``). Flip test off, as a deployment runs. Run it on a
quiet machine with the threads the benchmark uses (2).
"""
import argparse
import collections
import copy
import os.path as osp
import types
from typing import Callable, Dict, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils._python_dispatch import TorchDispatchMode

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def decode_before_tables(codec, presence: Tensor, offsets: Tensor) -> Tuple[Tensor, Tensor]:
    """``KPGridLabel.decode_tensors`` before the table decode (verbatim):
    presence (B, K, Gh, Gw), offsets (B, K, 2, Gh, Gw) -> keypoints
    (B, K, 2), scores (B, K)."""
    gw = presence.shape[-1]
    flat = presence.flatten(2)
    best_logit, best = flat.max(dim=-1)  # (B, K)
    if codec.presence_normalization == 'softmax':
        probs = flat.softmax(dim=-1).view_as(presence)
        if codec.score_radius:
            side = 2 * codec.score_radius + 1
            probs = F.avg_pool2d(probs, side, stride=1,
                                 padding=codec.score_radius,
                                 count_include_pad=True) * side ** 2
        scores = probs.flatten(2).gather(-1, best[..., None])[..., 0]
    else:
        scores = best_logit.sigmoid()
    index = best[:, :, None, None].expand(-1, -1, 2, 1)
    best_offsets = offsets.flatten(3).gather(-1, index)[..., 0]
    cell_xy = torch.stack(
        [best % gw, torch.div(best, gw, rounding_mode='floor')],
        dim=-1).to(offsets.dtype)
    cell_size = offsets.new_tensor(codec.cell_size)
    return (cell_xy + best_offsets) * cell_size - 0.5, scores


def as_before(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``model`` whose head predicts as before the table decode:
    ``forward`` (pixel shuffle) and ``decode_before_tables`` inside
    MMPose's ``BaseHead.decode`` (flip test off)."""
    model = copy.deepcopy(model)
    head = model.head
    head.decoder.decode_tensors = types.MethodType(decode_before_tables, head.decoder)

    def predict(self, feats, batch_data_samples=None, test_cfg={}):
        return self.decode(self.forward(feats))

    head.predict = types.MethodType(predict, head)
    return model


class CountOps(TorchDispatchMode):
    """Counts the ATen operations dispatched inside the ``with`` block."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: Dict[str, int] = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.counts[str(func.overloadpacket.__name__)] += 1
        return func(*args, **(kwargs or {}))


def count_ops(fn: Callable[[], object]) -> Tuple[int, Dict[str, int]]:
    with torch.no_grad(), CountOps() as counter:
        fn()
    return sum(counter.counts.values()), dict(counter.counts)


def measure(model, inputs, samples, repeats: int) -> Dict[str, float]:
    """The benchmark's latencies plus the head's forward and the decode
    alone (ms, medians), and their ATen operation counts."""
    from kp_plugins.benchmark.speed import measure_latency, median_ms
    head = model.head
    out = measure_latency(model, inputs, samples, warmup=3, repeats=repeats)
    with torch.no_grad():
        feats = model.backbone(inputs)
    if head.deployed:
        def forward():
            return head.forward_packed(feats)

        packed = forward()

        def decode():
            return head.decode(packed)
    else:
        def forward():
            return head.forward(feats)

        maps = forward()

        def decode():
            return head.decode(maps)
    out['forward_ms'] = median_ms(forward, 3, repeats)
    out['decode_ms'] = median_ms(decode, 3, repeats)
    out['forward_ops'], out['forward_op_kinds'] = count_ops(forward)
    out['decode_ops'], out['decode_op_kinds'] = count_ops(decode)
    out['share'] = out['head_decode_ms'] / out['backbone_ms']
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--config', default=osp.join(REPO, 'configs', 'grid_r50.py'))
    parser.add_argument('--batch-sizes', type=int, nargs='+', default=[1, 32])
    parser.add_argument('--threads', type=int, default=2, help='torch threads (2)')
    parser.add_argument('--repeats', type=int, default=200,
                        help='timed calls per median at batch 1 (default 200)')
    parser.add_argument('--large-repeats', type=int, default=10,
                        help='timed calls per median above batch 1 (default 10)')
    parser.add_argument('--ops', action='store_true',
                        help='also print the operations by kind')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from kp_plugins.benchmark.speed import build_pose_model, load_pose_config, make_batch
    cfg = load_pose_config(args.config)
    torch.manual_seed(0)
    after = build_pose_model(cfg)
    before = as_before(after)
    after.switch_to_deploy()
    print(f'{osp.basename(args.config)}, {torch.get_num_threads()} threads, '
          'flip test off; medians in ms')
    print('| batch | form | backbone | head forward | decode | head + decode | share '
          '| predict | forward ops | decode ops |')
    print('|---|---|---|---|---|---|---|---|---|---|')
    for bs in args.batch_sizes:
        inputs, samples = make_batch(after, cfg, bs)
        repeats = args.repeats if bs == 1 else args.large_repeats
        for name, model in (('before', before), ('after', after)):
            r = measure(model, inputs, samples, repeats)
            print(f'| {bs} | {name} | {r["backbone_ms"]:.2f} | {r["forward_ms"]:.3f} | '
                  f'{r["decode_ms"]:.3f} | {r["head_decode_ms"]:.3f} | {100 * r["share"]:.2f}% '
                  f'| {r["full_ms"]:.2f} | {r["forward_ops"]} | {r["decode_ops"]} |',
                  flush=True)
            if args.ops:
                print(f'    forward: {r["forward_op_kinds"]}\n    decode: {r["decode_op_kinds"]}')


if __name__ == '__main__':
    main()
