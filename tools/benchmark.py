"""Compare the five approaches with MMPose's built-in heads: accuracy, speed
and size, with plots.

    python tools/benchmark.py [--protocol {128x96,256x192}] [--epochs 10]
        [--entries KPGridHead HeatmapHead ...] [--work-dir DIR] [--quick]
        [--estimate N] [--no-r50] [--batch-sizes 1 32] [--threads 2]
        [--seed S | --seeds 0 1 2]
    python tools/benchmark.py --readme-table [--check] [--work-dir RECORDS]

Every top-down entry (kp_plugins' regression, grid and bbox heads, MMPose's
HeatmapHead, RegressionHead, RLEHead and SimCCHead) is trained by
tools/train.py on the same protocol: ImageNet-pretrained EfficientNet-Lite0,
top-down 128x96 (or 256x192), coco_trainval train + lspet_subset, Adam 1e-3
with a x0.1 step at 80% of the epochs, batch 64, one seed; validation after
every epoch on coco_trainval val with ground-truth boxes by CocoMetric (AP/AR),
PCKAccuracy (0.2, bbox) and EPE. The bottom-up YOLOXPoseHead entry
(configs/yolo_effl0_256.py: YOLOX-Pose on the same pretrained backbone) trains
on the same images as whole images with its config's own schedule and is scored
by the same CocoMetric without ground-truth boxes. The YOLO entry
(yolo11n-pose, Ultralytics' own trainer, tools/train_yolo.py +
tools/test_yolo.py) joins when those tools and Ultralytics are present. Then
every entry's size, FLOPs and CPU latency (forward + decode at batch 1 and 32)
is measured, also on ResNet-50 256x192.

Writes to the work dir (default work_dirs/benchmark_<protocol>[_quick]):
results.md, results.csv, ap_vs_latency.png, loss_curves.png,
val_per_epoch.png, results.json and one folder per entry. Finished entries
are cached and an interrupted training resumes, so rerunning the same
command continues where it stopped.

--quick: a smoke run (2 epochs of 4 iterations on 32 persons, small latency
batches); minutes, not hours; numbers mean nothing.
--seeds 0 1 2: train every top-down entry once per seed; the table shows the
mean ± sample standard deviation over the seeds, results.csv also each seed.
--estimate N: time N iterations of each top-down entry at the real protocol
and print the projected duration of the full run (estimate.md; bottom-up and
YOLO entries are left out).
--readme-table: print README.md's results table generated from the committed
records of a multi-seed run (default docs/benchmark/seeds_128x96; --work-dir
names another run's folder), write it into README.md between its
results:start/results:end markers and draw the plot beside it
(ap_vs_onnxruntime_latency.png in the records); trains and measures nothing.
With --check only compare: exit 1 if README.md's table differs.
"""
import argparse
import os
import os.path as osp
import sys

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEFAULT_DATA = osp.join(REPO, '..', 'shared', 'data')

QUICK = dict(epochs=2, batch_size=8, train_subset=[8, 24], log_interval=1, workers=0,
             batch_sizes=[1, 4], warmup=1, repeats=3, yolo_imgsz=160, yolo_subset=[8, 24],
             eta_defaults=dict(train=60.0, speed=20.0, yolo=60.0))


def parse_args(argv=None) -> argparse.Namespace:
    from kp_plugins.approaches import PROTOCOLS, approach_names
    parser = argparse.ArgumentParser(
        description='Benchmark the keypoint approaches: accuracy, speed, size',
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument('--entries', nargs='+', metavar='NAME',
                        help=f'entries to run (default all): {" ".join(approach_names())}')
    parser.add_argument('--protocol', default='128x96', choices=PROTOCOLS,
                        help='top-down input of the accuracy protocol (default 128x96)')
    parser.add_argument('--work-dir', help='output folder (default work_dirs/benchmark_<protocol>)')
    parser.add_argument('--data-root', default=os.environ.get('KP_SHARED_DATA', DEFAULT_DATA),
                        help='folder holding coco_trainval/ and lspet_subset/ '
                        '(default ../shared/data)')
    parser.add_argument('--epochs', type=int, help='training epochs (default 10)')
    parser.add_argument('--batch-size', type=int, help='training batch size (default 64)')
    parser.add_argument('--lr', type=float, default=1e-3, help='Adam learning rate (1e-3)')
    parser.add_argument('--step-at', type=int, nargs='+',
                        help='epochs of the x0.1 steps (default 80%% of --epochs)')
    parser.add_argument('--warmup-iters', type=int, default=0,
                        help='linear learning-rate warm-up iterations (default 0)')
    parser.add_argument('--seed', type=int, default=0, help='training seed (default 0)')
    parser.add_argument('--seeds', type=int, nargs='+', metavar='S',
                        help='train every top-down entry once per seed and report mean ± std '
                        '(per-seed values in results.csv); default work dir '
                        'work_dirs/benchmark_<protocol>_seeds; YOLO trains once, with the '
                        'first seed')
    parser.add_argument('--workers', type=int, help='data loader workers (default 2)')
    parser.add_argument('--threads', type=int, default=os.cpu_count(),
                        help='torch threads for latency and training (pinned, reported)')
    parser.add_argument('--batch-sizes', type=int, nargs='+',
                        help='latency batch sizes, 1 first (default 1 32)')
    parser.add_argument('--warmup', type=int, help='latency warm-up calls (default 3)')
    parser.add_argument('--repeats', type=int, help='timed latency calls, median (default 10)')
    parser.add_argument('--no-r50', action='store_true',
                        help='skip the ResNet-50 256x192 speed table')
    parser.add_argument('--yolo-imgsz', type=int, help='YOLO image size (default 320)')
    parser.add_argument('--quick', action='store_true',
                        help='smoke run: few iterations per entry on tiny subsets')
    parser.add_argument('--speed-only', action='store_true',
                        help='measure speed and size only (torch and onnxruntime); train '
                        'nothing, show the accuracy of entries already trained in the work dir')
    parser.add_argument('--estimate', type=int, metavar='N',
                        help='only time N training iterations per entry and project the '
                        'full run')
    parser.add_argument('--readme-table', action='store_true',
                        help='print and write README.md\'s results table (and its plot) from '
                        'the records in --work-dir (default docs/benchmark/seeds_128x96); '
                        'nothing is trained')
    parser.add_argument('--check', action='store_true',
                        help='with --readme-table: only compare, exit 1 if README.md differs')
    args = parser.parse_args(argv)
    if args.check and not args.readme_table:
        parser.error('--check goes with --readme-table')
    if args.seeds is not None and len(set(args.seeds)) != len(args.seeds):
        parser.error(f'--seeds has a repeated seed: {args.seeds}')
    if args.seeds is not None and args.seed != 0:
        parser.error('give either --seed or --seeds')
    if args.batch_sizes and args.batch_sizes[0] != 1:
        parser.error('--batch-sizes must start with 1')
    for name in ('epochs', 'batch_size', 'threads', 'repeats', 'estimate'):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1, got {value}')
    return args


def pick(value, quick: bool, key: str, default):
    if value is not None:
        return value
    return QUICK[key] if quick and key in QUICK else default


def build_settings(args):
    from kp_plugins.benchmark.entries import select_entries
    from kp_plugins.benchmark.protocol import Protocol
    from kp_plugins.benchmark.settings import Settings, recorded_command
    q = args.quick
    protocol = Protocol(
        name=args.protocol, data_root=osp.abspath(args.data_root),
        epochs=pick(args.epochs, q, 'epochs', 10),
        batch_size=pick(args.batch_size, q, 'batch_size', 64), lr=args.lr,
        step_at=args.step_at, warmup_iters=args.warmup_iters,
        seed=args.seeds[0] if args.seeds else args.seed,
        workers=pick(args.workers, q, 'workers', 2),
        train_subset=QUICK['train_subset'] if q else None,
        log_interval=QUICK['log_interval'] if q else 10)
    if protocol.step_at and max(protocol.step_at) >= protocol.epochs:
        sys.exit(f'error: --step-at {protocol.step_at} must be below --epochs {protocol.epochs}')
    suffix = ('_quick' if q else '') + ('_seeds' if args.seeds and len(args.seeds) > 1 else '')
    work_dir = args.work_dir or osp.join('work_dirs', f'benchmark_{args.protocol}{suffix}')
    return Settings(
        work_dir=osp.abspath(work_dir), protocol=protocol,
        entries=select_entries(args.entries),
        batch_sizes=pick(args.batch_sizes, q, 'batch_sizes', [1, 32]),
        warmup=pick(args.warmup, q, 'warmup', 3), repeats=pick(args.repeats, q, 'repeats', 10),
        threads=args.threads, r50=not args.no_r50, train=not args.speed_only,
        yolo_imgsz=pick(args.yolo_imgsz, q, 'yolo_imgsz', 320),
        yolo_subset=QUICK['yolo_subset'] if q else None,
        eta_defaults=QUICK['eta_defaults'] if q else {}, seeds=args.seeds,
        title=f'kp_plugins approaches benchmark, protocol {args.protocol}' +
        (' (--quick smoke run: the numbers mean nothing)' if q else ''),
        command=recorded_command(sys.argv[1:]))


def readme_table(args) -> None:
    """``--readme-table``: print, check or write README.md's results block."""
    from kp_plugins.benchmark.readme_table import (
        README,
        RECORDS,
        readme_block,
        update_readme,
        write_plot,
    )
    records = osp.abspath(args.work_dir) if args.work_dir else RECORDS
    try:
        print(readme_block(records))
        stale = update_readme(README, records, check=args.check)
    except (FileNotFoundError, ValueError) as exc:
        sys.exit(f'error: {exc}')
    if args.check:
        if stale is not None:
            sys.exit(f'error: the results table in {README} is not the one the records in '
                     f'{records} generate (above); run python tools/benchmark.py '
                     '--readme-table to write it')
        print(f'{README}: the results table matches the records')
        return
    print(f'{README}: ' + ('results table written' if stale else 'already up to date'))
    print(f'wrote {write_plot(records)}')


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.readme_table:
        readme_table(args)
        return
    from kp_plugins.benchmark.report import RESULT_FILES
    from kp_plugins.benchmark.runner import Benchmark, ProtocolMismatch, estimate
    try:
        settings = build_settings(args)
    except ValueError as exc:  # unknown entries
        sys.exit(f'error: {exc}')
    print(f'benchmark: {len(settings.entries)} entries '
          f'({", ".join(e.name for e in settings.entries)}), protocol '
          f'{settings.protocol.name}, {settings.protocol.epochs} epochs, '
          f'{settings.threads} threads -> {settings.work_dir}', flush=True)
    try:
        if args.estimate:
            estimate(settings, args.estimate)
            return
        rows = Benchmark(settings).run()
    except (FileNotFoundError, ProtocolMismatch) as exc:
        sys.exit(f'error: {exc}')
    except KeyboardInterrupt:
        sys.exit('\ninterrupted: run the same command again to resume (finished entries are '
                 'cached, an interrupted training resumes from its last checkpoint)')
    failed = [r['entry'] for r in rows if r.get('status') == 'failed']
    with open(osp.join(settings.work_dir, 'results.md')) as f:
        print('\n' + f.read())
    print('wrote ' + ', '.join(osp.join(settings.work_dir, n) for n in RESULT_FILES))
    if failed:
        sys.exit(f'error: entries failed: {", ".join(failed)} (see their train.log)')


if __name__ == '__main__':
    main()
