"""How much the pre-flight data check adds to the start-up of tools/test.py
(issue #24: less than 5 %), on ../shared/data/coco_trainval val (21 images,
79 persons) with configs/grid_effl0_128x96.py.

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python docs/benchmark/data_check_time.py [--repeat 20]

Start-up is what tools/test.py does before its first test batch: imports,
config, the data check, ``Runner.from_cfg``, the test loop (dataset,
evaluator) and the first batch -- without loading a checkpoint, so the
share printed is an upper bound. The check's time is the median of
``--repeat`` runs of ``preflight_check(cfg, ('test', ))`` (the annotation
files, ``bbox_file`` and every used image's first/last bytes and header size).
Run it on a quiet machine.
"""
import argparse
import os.path as osp
import statistics
import sys
import tempfile
import time

START = time.perf_counter()
REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--repeat', type=int, default=20, help='runs of the check timed')
    parser.add_argument('--data', default=osp.join(REPO, '..', 'shared', 'data',
                                                   'coco_trainval'))
    args = parser.parse_args()
    sys.path.insert(0, osp.join(REPO, 'tests'))
    from kp_plugins.engine.launch import (
        DictAction,
        check_data,
        ensure_kp_plugins_imported,
        load_config,
    )
    from kp_plugins.utils.data_check import preflight_check

    from helpers import shared_coco_options
    # the --cfg-options a user gives, parsed as tools/test.py's DictAction does
    cfg_options = dict(o.split('=', 1) for o in shared_coco_options(args.data, ('test', )))
    cfg = load_config(osp.join(REPO, 'configs', 'grid_effl0_128x96.py'),
                      {k: DictAction._parse_iterable(v) for k, v in cfg_options.items()})
    cfg.work_dir = tempfile.mkdtemp(prefix='data_check_time_')
    ensure_kp_plugins_imported(cfg)
    check_start = time.perf_counter()
    check_data(cfg, ('test', ), 'grid_effl0_128x96.py')
    check_in_startup = time.perf_counter() - check_start

    from mmengine.runner import Runner
    runner = Runner.from_cfg(cfg)
    loop = runner.test_loop  # builds the dataset, its loader and the evaluator
    next(iter(loop.dataloader))
    startup = time.perf_counter() - START

    times = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        preflight_check(cfg, ('test', ))
        times.append(time.perf_counter() - t)
    check = statistics.median(times)
    print(f'start-up of tools/test.py up to its first test batch: {startup:.3f} s '
          f'(the check inside it, first run: {check_in_startup * 1000:.1f} ms)')
    print(f'data check (median of {args.repeat}): {check * 1000:.1f} ms = '
          f'{100 * check / startup:.2f} % of start-up (target < 5 %)')


if __name__ == '__main__':
    main()
