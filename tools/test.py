"""Evaluate a checkpoint with MMEngine's Runner (MMPose's tools/test.py contract).

    python tools/test.py configs/heatmap_r50.py work_dirs/heatmap_r50/epoch_210.pth
        [--work-dir DIR] [--out metrics.json] [--dump preds.pkl] [--show-dir DIR]
        [--score-calibration [calibration.json]]
        [--cfg-options k=v ...] [--launcher {none,pytorch,slurm,mpi}]

Person boxes: ground-truth boxes unless the test dataset names a detector's
``bbox_file`` (``--cfg-options test_dataloader.dataset.bbox_file=dets.json``);
the two give different numbers.
"""
import argparse
import os
import os.path as osp
import sys

from kp_plugins.engine.launch import (
    DictAction,
    check_checkpoint,
    check_data,
    check_runner_checkpoint,
    default_work_dir,
    ensure_kp_plugins_imported,
    finish_distributed,
    load_config,
    set_local_rank,
    setup_device,
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Evaluate a pose model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the directory to save evaluation results')
    parser.add_argument('--out', help='the file to save the metrics (json/yaml/pkl)')
    parser.add_argument('--dump', type=str,
                        help='dump predictions to a pickle file for offline evaluation')
    parser.add_argument(
        '--score-calibration', nargs='?', const='', metavar='JSON',
        help='also report how well the keypoint scores predict a hit (labelled and within '
        'the OKS tolerance): ECE and a reliability table in the log '
        '(KPScoreCalibration); with a path, write them there as JSON too')
    parser.add_argument('--show-dir', help='directory where painted images are saved '
                        '(inside the work dir\'s timestamped folder, as in MMPose)')
    parser.add_argument('--show', action='store_true', help='display prediction results')
    parser.add_argument('--interval', type=int, default=1,
                        help='visualize every N-th sample')
    parser.add_argument('--wait-time', type=float, default=1,
                        help='seconds each shown image stays up')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings in the config, key=value (e.g. '
        'test_dataloader.dataset.bbox_file=dets.json)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument(
        '--check-images', action='store_true',
        help='before testing, decode every image of the test set (slow on large '
        'sets); without it they are checked for existence and a complete header/end')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    set_local_rank(args.local_rank)
    return args


def merge_args(cfg, args):
    """Apply the command line to the config, as MMPose's test.py does."""
    cfg.launcher = args.launcher
    cfg.load_from = args.checkpoint
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = default_work_dir(args.config)

    if args.show or args.show_dir:
        hooks = cfg.setdefault('default_hooks', {})
        vis = hooks.get('visualization')
        if vis is None:
            vis = hooks['visualization'] = dict(type='PoseVisualizationHook')
        vis['enable'] = True
        vis['show'] = args.show
        vis['wait_time'] = args.wait_time
        vis['interval'] = args.interval
        if args.show_dir:
            vis['out_dir'] = args.show_dir

    extra = []
    if args.score_calibration is not None:
        extra.append(dict(type='KPScoreCalibration', out_file=args.score_calibration or None))
    if args.dump:
        if not args.dump.endswith(('.pkl', '.pickle')):
            sys.exit('error: --dump must name a .pkl or .pickle file')
        extra.append(dict(type='DumpResults', out_file_path=args.dump))
    if extra:
        evaluators = cfg.test_evaluator
        if not isinstance(evaluators, (list, tuple)):
            evaluators = [evaluators]
        cfg.test_evaluator = [*evaluators, *extra]
    return cfg


def main() -> None:
    args = parse_args()
    if not osp.isfile(args.checkpoint) and '://' not in args.checkpoint:
        sys.exit(f'error: checkpoint {args.checkpoint!r} not found')
    check_checkpoint(args.checkpoint, 'checkpoint')
    cfg = load_config(args.config, args.cfg_options)
    cfg = merge_args(cfg, args)
    ensure_kp_plugins_imported(cfg)
    check_data(cfg, ('test', ), args.config, check_images=args.check_images)
    setup_device(cfg, args.launcher)

    from mmengine.runner import Runner
    if 'runner_type' not in cfg:
        runner = Runner.from_cfg(cfg)
    else:
        from mmengine.registry import RUNNERS
        runner = RUNNERS.build(cfg)
    check_runner_checkpoint(runner, args.checkpoint, 'checkpoint', args.config)

    if args.out:
        from mmengine.hooks import Hook

        out_file = args.out

        class SaveMetricHook(Hook):
            """Writes the test metrics to ``--out`` when the test ends."""

            def after_test_epoch(self, _, metrics=None):
                if metrics is not None:
                    import mmengine
                    os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
                    mmengine.dump(metrics, out_file)

        runner.register_hook(SaveMetricHook(), 'LOWEST')
    runner.test()
    finish_distributed()


if __name__ == '__main__':
    main()
