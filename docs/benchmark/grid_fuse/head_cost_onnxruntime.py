"""KPGridHead's head + decode against the ResNet-50 backbone in onnxruntime
(the deployment path), batch 1, on configs/grid_r50.py (256x192, random
weights: speed does not depend on them). The companion of head_cost.py,
which measures the same in torch (issue #26, item 3: head + decode <= 1.5%
of the backbone at batch 1).

    PYTHONPATH=$PWD python docs/benchmark/grid_fuse/head_cost_onnxruntime.py
        [--config configs/grid_r50.py] [--threads 2] [--repeats 300] [--rounds 3]
        [--profile]

The model is put in its inference form (``switch_to_deploy``: the head's
BatchNorm folded, as ``tools/export_onnx.py`` and mmdeploy export it) and
three graphs are exported with the TorchScript exporter (opset 17, batch 1):

* *backbone*: crops -> the two feature maps the head reads
  (``model.extract_feat``);
* *head + decode*: those feature maps -> keypoints and scores
  (``head.predict_tensors``, the in-graph decode of the exported model);
* *whole*: the graph ``tools/export_onnx.py`` writes
  (``kp_plugins.deploy.export.export_onnx``: normalization, backbone, head,
  decode).

Each runs in its own onnxruntime session (CPU, ``--threads`` intra-op
threads, one inter-op thread, as the benchmark's onnxruntime column; idle
threads do not spin, so one session's workers do not slow the next call).
The graphs and torch's backbone and head take turns in blocks of 20 calls,
``--repeats`` timed calls each per round, so a drift of the machine's
speed touches all alike; printed: medians in ms per round, the head's share
of the backbone, and whole - backbone as a cross-check of the head-only
graph. The torch figures of the same run (``head.predict_tensors`` and the
backbone under ``torch.no_grad``) are printed beside them.
"""
import argparse
import os.path as osp
import statistics
import tempfile
import time
from typing import Callable, Dict, List, Tuple

import torch
from torch import Tensor, nn

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


class Backbone(nn.Module):
    """(1, 3, H, W) crops -> the feature maps the head reads."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        return tuple(self.model.extract_feat(x))


class HeadDecode(nn.Module):
    """The feature maps -> keypoints (1, K, 2) and scores (1, K)."""

    def __init__(self, head: nn.Module) -> None:
        super().__init__()
        self.head = head

    def forward(self, *feats: Tensor) -> Tuple[Tensor, Tensor]:
        return self.head.predict_tensors(tuple(feats))


def export(module: nn.Module, args: Tuple[Tensor, ...], path: str,
           names: List[str]) -> None:
    with torch.no_grad():
        torch.onnx.export(module, args, path, input_names=names,
                          opset_version=17, do_constant_folding=True,
                          dynamo=False)


def session(path: str, threads: int, profile: bool = False, profile_dir: str = '.'):
    import onnxruntime as ort
    options = ort.SessionOptions()
    if profile:  # the trace goes to profile_dir, not the working directory
        options.enable_profiling = True
        options.profile_file_prefix = osp.join(profile_dir, 'head_profile')
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # idle worker threads must not spin into the next graph's (or torch's) call
    options.add_session_config_entry('session.intra_op.allow_spinning', '0')
    return ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])


def block_medians(calls: Dict[str, Callable[[], object]], repeats: int,
                  block: int = 20, warmup: int = 10) -> Dict[str, float]:
    """Median ms of each call; the calls take turns in blocks of ``block``
    calls (each block after one untimed call), ``repeats`` timed calls each."""
    times: Dict[str, List[float]] = {name: [] for name in calls}
    with torch.no_grad():
        for fn in calls.values():
            for _ in range(warmup):
                fn()
        for _ in range(max(1, repeats // block)):
            for name, fn in calls.items():
                fn()
                for _ in range(block):
                    t0 = time.perf_counter()
                    fn()
                    times[name].append((time.perf_counter() - t0) * 1000.0)
    return {name: statistics.median(t) for name, t in times.items()}


def feed_of(feats: Tuple[Tensor, ...]) -> Dict[str, object]:
    return {f'feat{i}': f.numpy() for i, f in enumerate(feats)}


def profile_head(path: str, feed: Dict[str, object], args) -> None:
    """Print onnxruntime's kernel time per operator type of the head +
    decode graph (µs per call, under the profiler's own overhead)."""
    import collections
    import json
    import os
    profiled = session(path, args.threads, profile=True, profile_dir=osp.dirname(path))
    for _ in range(args.repeats):
        profiled.run(None, feed)
    trace = profiled.end_profiling()
    with open(trace) as f:
        events = json.load(f)
    os.remove(trace)
    per_op: Dict[str, float] = collections.defaultdict(float)
    for e in events:
        if e.get('cat') == 'Node' and e['name'].endswith('_kernel_time'):
            per_op[e['args']['op_name']] += e['dur'] / args.repeats
    runs = [e['dur'] for e in events if e.get('name') == 'model_run']
    print(f'head + decode graph under the profiler: {statistics.median(runs):.0f} µs '
          'per call (median); kernel µs per call by operator: ' + ', '.join(
              f'{op} {us:.0f}' for op, us in sorted(per_op.items(), key=lambda kv: -kv[1])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--config', default=osp.join(REPO, 'configs', 'grid_r50.py'))
    parser.add_argument('--threads', type=int, default=2,
                        help='torch and onnxruntime intra-op threads (2)')
    parser.add_argument('--repeats', type=int, default=300,
                        help='timed calls of each graph per round (300)')
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--profile', action='store_true',
                        help="also print onnxruntime's per-operator time of the "
                        'head + decode graph (its profiler, --repeats calls)')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from kp_plugins.benchmark.speed import (
        build_pose_model,
        coco_metainfo,
        input_hw,
        load_pose_config,
    )
    from kp_plugins.deploy.export import export_onnx
    cfg = load_pose_config(args.config)
    torch.manual_seed(0)
    model = build_pose_model(cfg)
    model.switch_to_deploy()
    model.eval()
    h, w = input_hw(cfg)
    crop = torch.rand(1, 3, h, w) * 255
    x = torch.randn(1, 3, h, w)
    with torch.no_grad():
        feats = tuple(model.extract_feat(x))
    feed = feed_of(feats)  # the head graph's inputs, by name
    with tempfile.TemporaryDirectory() as tmp:
        export(Backbone(model).eval(), (x,), f'{tmp}/backbone.onnx', ['input'])
        export(HeadDecode(model.head).eval(), feats, f'{tmp}/head.onnx', list(feed))
        model.dataset_meta = getattr(model, 'dataset_meta', None) or coco_metainfo()
        export_onnx(model, cfg, f'{tmp}/whole.onnx', 'head_cost', batch=1)
        backbone = session(f'{tmp}/backbone.onnx', args.threads)
        head = session(f'{tmp}/head.onnx', args.threads)
        if args.profile:
            profile_head(f'{tmp}/head.onnx', feed, args)
        whole = session(f'{tmp}/whole.onnx', args.threads)
    x_np = x.numpy()
    whole_feed = {'input': crop.numpy()}
    calls = {
        'ort backbone': lambda: backbone.run(None, {'input': x_np}),
        'ort head + decode': lambda: head.run(None, feed),
        'ort whole': lambda: whole.run(None, whole_feed),
        'torch backbone': lambda: model.extract_feat(x),
        'torch head + decode': lambda: model.head.predict_tensors(feats),
    }
    print(f'{osp.basename(args.config)}, {h}x{w}, batch 1, {args.threads} threads, '
          f'medians of {args.repeats} calls (blocks of 20, in turn), ms')
    print('| round | ort backbone | ort head + decode | share | ort whole - backbone '
          '| torch backbone | torch head + decode | share |')
    print('|---|---|---|---|---|---|---|---|')
    for r in range(args.rounds):
        m = block_medians(calls, args.repeats)
        print(f'| {r + 1} | {m["ort backbone"]:.2f} | {m["ort head + decode"]:.3f} | '
              f'{100 * m["ort head + decode"] / m["ort backbone"]:.2f}% | '
              f'{m["ort whole"] - m["ort backbone"]:.2f} | {m["torch backbone"]:.2f} | '
              f'{m["torch head + decode"]:.3f} | '
              f'{100 * m["torch head + decode"] / m["torch backbone"]:.2f}% |', flush=True)


if __name__ == '__main__':
    main()
