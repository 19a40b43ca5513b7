"""CPU latency of keypoint heads on one backbone: forward + decode.

    python tools/benchmark_heads.py [--batch-sizes 1 32] [--threads 2] [--repeats 10]
        [--entries KPGridHead RegressionHead ...] [--out results.csv]

Every entry is the ResNet-50 256x192 config of a top-down approach of
kp_plugins.approaches (all of them by default), built with random weights
(speed does not depend on them) and timed in its inference form
(``switch_to_deploy``, as mmdeploy and tools/export_onnx.py run it). For each
batch size it reports the backbone time, the time of everything after the
backbone on precomputed features (neck + ``head.predict`` = forward + decode,
without flip test: what a deployment pays per crop), the whole
``model.predict`` (backbone + head + decode + mapping back to the image) and
the head's parameter count, with both times relative to MMPose's
RegressionHead (DeepPose: GlobalAveragePooling neck + linear layer).
"""
import argparse
import csv
import os
import sys


def head_configs() -> dict:
    """Head name -> ResNet-50 256x192 config of every top-down approach in
    kp_plugins.approaches.APPROACHES that has one."""
    from kp_plugins.approaches import APPROACHES
    return {a.name: a.r50_config for a in APPROACHES
            if a.kind == 'topdown' and a.r50_config}


REFERENCE = 'RegressionHead'


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    configs = head_configs()
    parser.add_argument('--entries', nargs='+', default=list(configs),
                        choices=list(configs), help='heads to measure (default all)')
    parser.add_argument('--batch-sizes', nargs='+', type=int, default=[1, 32])
    parser.add_argument('--threads', type=int, default=os.cpu_count(),
                        help='torch intra-op threads (pinned and reported)')
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--repeats', type=int, default=10)
    parser.add_argument('--flip-test', action='store_true',
                        help='time with flip test (two head passes + merge)')
    parser.add_argument('--out', help='also write the rows to this CSV file')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    import torch

    from kp_plugins.benchmark.speed import (
        build_pose_model,
        count_parameters,
        load_pose_config,
        make_batch,
        measure_latency,
    )
    torch.set_num_threads(args.threads)
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads, '
          f'flip_test={args.flip_test}, median of {args.repeats} after {args.warmup} warm-up')
    configs = head_configs()
    rows = []
    for name in args.entries:
        cfg = load_pose_config(configs[name])
        model = build_pose_model(cfg)
        head_params = count_parameters(model.head)  # as trained
        model.switch_to_deploy()  # timed in the inference form a deployment runs
        for bs in args.batch_sizes:
            inputs, samples = make_batch(model, cfg, bs)
            lat = measure_latency(model, inputs, samples, args.warmup, args.repeats,
                                  flip_test=args.flip_test)
            row = dict(head=name, batch=bs, input=f'{inputs.shape[-2]}x{inputs.shape[-1]}',
                       head_params=head_params, **{k: round(v, 3) for k, v in lat.items()})
            rows.append(row)
            print(f'{name:18s} b{bs:<3d} backbone {lat["backbone_ms"]:9.2f} ms  '
                  f'head+decode {lat["head_decode_ms"]:8.3f} ms  predict {lat["full_ms"]:9.2f} ms',
                  flush=True)
    ref_head = {r['batch']: r['head_decode_ms'] for r in rows if r['head'] == REFERENCE}
    ref_full = {r['batch']: r['full_ms'] for r in rows if r['head'] == REFERENCE}
    nan = float('nan')
    print(f'\n| head | batch | head params | backbone ms | head+decode ms | x {REFERENCE} '
          f'| whole predict ms | x {REFERENCE} |')
    print('|---|---|---|---|---|---|---|---|')
    for r in rows:
        r['head_ratio'] = round(r['head_decode_ms'] / ref_head.get(r['batch'], nan), 3)
        r['predict_ratio'] = round(r['full_ms'] / ref_full.get(r['batch'], nan), 3)
        print(f"| {r['head']} | {r['batch']} | {r['head_params'] / 1e6:.2f} M | "
              f"{r['backbone_ms']:.1f} | {r['head_decode_ms']:.2f} | {r['head_ratio']:.2f} | "
              f"{r['full_ms']:.1f} | {r['predict_ratio']:.2f} |")
    if args.out:
        with open(args.out, 'w', newline='') as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        print(f'wrote {args.out}')


if __name__ == '__main__':
    sys.exit(main())
