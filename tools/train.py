"""Train a pose model with MMEngine's Runner (MMPose's tools/train.py contract).

    python tools/train.py configs/heatmap_r50.py [--work-dir DIR] [--resume [auto|PATH]]
        [--amp] [--no-validate] [--auto-scale-lr] [--cfg-options k=v ...]
        [--launcher {none,pytorch,slurm,mpi}]

Accepts kp_plugins configs and MMPose's own configs alike; runs on CPU when no
GPU exists (distributed runs then use the gloo backend).
"""
import argparse
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
    parser = argparse.ArgumentParser(description='Train a pose model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from the given checkpoint; without a path (or with '
        '"auto"), resume from the latest checkpoint in the work dir')
    parser.add_argument('--amp', action='store_true', default=False,
                        help='enable automatic mixed precision (needs a GPU)')
    parser.add_argument('--no-validate', action='store_true',
                        help='do not evaluate checkpoints during training')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the learning rate by the actual batch size')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings in the config, key=value (e.g. '
        'train_dataloader.dataset.data_root=/data/coco/)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument(
        '--check-images', action='store_true',
        help='before training, decode every image of the datasets (slow on large '
        'sets); without it they are checked for existence and a complete header/end')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    set_local_rank(args.local_rank)
    return args


def merge_args(cfg, args):
    """Apply the command line to the config, as MMPose's train.py does."""
    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None
        if cfg.get('default_hooks', {}).get('checkpoint', {}).get('save_best'):
            cfg.default_hooks.checkpoint.save_best = None
    cfg.launcher = args.launcher

    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = default_work_dir(args.config)

    if args.amp:
        import torch
        if not torch.cuda.is_available():
            sys.exit('error: --amp needs a CUDA GPU (MMEngine\'s AmpOptimWrapper); '
                     'none is available on this machine')
        optim_wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if optim_wrapper != 'AmpOptimWrapper':
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')

    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        if not osp.isfile(args.resume):
            sys.exit(f'error: --resume checkpoint {args.resume!r} not found')
        cfg.resume = True
        cfg.load_from = args.resume

    if args.auto_scale_lr:
        if not cfg.get('auto_scale_lr'):
            sys.exit('error: --auto-scale-lr needs `auto_scale_lr = dict(base_batch_size=N)` '
                     'in the config')
        cfg.auto_scale_lr.enable = True
    return cfg


def main() -> None:
    args = parse_args()
    cfg = load_config(args.config, args.cfg_options)
    cfg = merge_args(cfg, args)
    ensure_kp_plugins_imported(cfg)
    check_data(cfg, ('train', ) if args.no_validate else ('train', 'val'),
               args.config, check_images=args.check_images)
    if args.resume not in (None, 'auto'):
        check_checkpoint(args.resume, '--resume')
    elif cfg.get('load_from'):
        check_checkpoint(cfg.load_from, 'load_from')
    setup_device(cfg, args.launcher)

    from mmengine.runner import Runner
    if 'runner_type' not in cfg:
        runner = Runner.from_cfg(cfg)
    else:
        from mmengine.registry import RUNNERS
        runner = RUNNERS.build(cfg)
    if args.resume not in (None, 'auto'):
        check_runner_checkpoint(runner, args.resume, '--resume', args.config)
    elif cfg.get('load_from') and not cfg.get('resume'):  # fine-tuning: partial is allowed
        check_runner_checkpoint(runner, cfg.load_from, 'load_from', args.config, strict=False)
    from kp_plugins.engine.hooks import NonFiniteLossError
    try:
        runner.train()
    except NonFiniteLossError as exc:  # KPNonFiniteLossHook stopped the run
        sys.exit(f'error: {exc}')
    finish_distributed()


if __name__ == '__main__':
    main()
