"""Run one training as a subprocess (the same tools/train.py a user runs) and
read what MMEngine logged: per-iteration losses and time
(``vis_data/scalars.json``) and the per-epoch validation metrics."""
import glob
import json
import os
import os.path as osp
import re
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Sequence, Tuple

if TYPE_CHECKING:
    from .protocol import Protocol

TRAIN_LINE = re.compile(r'Epoch\(train\)\s*\[(\d+)\]\[\s*(\d+)/(\d+)\]')
VAL_LINE = re.compile(r'Epoch\(val\)\s*\[(\d+)\]\[\s*(\d+)/(\d+)\]')


def run_logged(cmd: Sequence[str], log_file: str, env: Optional[dict] = None,
               cwd: Optional[str] = None,
               on_line: Optional[Callable[[str], None]] = None) -> Dict[str, float]:
    """Run ``cmd``, appending its stdout+stderr to ``log_file`` and handing
    every line to ``on_line``.

    Returns:
        dict: ``returncode``, ``wall_s`` and ``peak_rss_mb`` (the largest
        resident set of the process or of any descendant it waited for, from
        ``wait4``; Linux reports it in KiB).
    """
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    os.makedirs(osp.dirname(osp.abspath(log_file)), exist_ok=True)
    start = time.time()
    with open(log_file, 'a') as log:
        log.write(f'\n$ {" ".join(cmd)}\n')
        log.flush()
        proc = subprocess.Popen(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, bufsize=1, env=full_env, cwd=cwd)
        try:
            for line in proc.stdout:
                log.write(line)
                log.flush()  # the log is readable while the run goes on
                if on_line is not None:
                    on_line(line.rstrip('\n'))
        except KeyboardInterrupt:
            proc.terminate()
            proc.wait()
            raise
        proc.stdout.close()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    return dict(returncode=proc.returncode, wall_s=time.time() - start,
                peak_rss_mb=usage.ru_maxrss / 1024.0)


def child_env(threads: int) -> dict:
    """Environment additions of a training subprocess: ``threads`` threads,
    unbuffered output (its log is followed line by line)."""
    return dict(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
                PYTHONUNBUFFERED='1')


def generated_config(config: str, protocol: 'Protocol', out_dir: str,
                     kind: str = 'topdown') -> str:
    """Write ``config`` with the benchmark protocol applied
    (:func:`~kp_plugins.benchmark.protocol.apply_protocol`, or for
    ``kind='bottomup'``
    :func:`~kp_plugins.benchmark.bottomup.apply_bottomup_protocol`) to
    ``out_dir/config.py`` and return that path."""
    from mmengine.config import Config

    from kp_plugins.engine.launch import resolve_config_path

    from .bottomup import apply_bottomup_protocol
    from .protocol import apply_protocol
    apply = apply_bottomup_protocol if kind == 'bottomup' else apply_protocol
    cfg = apply(Config.fromfile(resolve_config_path(config)), protocol)
    path = osp.join(out_dir, 'config.py')
    os.makedirs(out_dir, exist_ok=True)
    cfg.dump(path)
    return path


def train_command(config: str, work_dir: str, resume: bool, no_validate: bool = False,
                  python: str = sys.executable, train_py: Optional[str] = None) -> List[str]:
    """``python tools/train.py CONFIG --work-dir DIR [--resume] [--no-validate]``."""
    from .entries import REPO_ROOT
    train_py = train_py or osp.join(REPO_ROOT, 'tools', 'train.py')
    cmd = [python, train_py, config, '--work-dir', work_dir]
    if resume:
        cmd.append('--resume')
    if no_validate:
        cmd.append('--no-validate')
    return cmd


def last_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint MMEngine's ``last_checkpoint`` marker in ``work_dir``
    points at, ``None`` without a marker or when that file is gone."""
    marker = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(marker):
        return None
    with open(marker) as f:
        path = f.read().strip()
    return path if path and osp.isfile(path) else None


def has_checkpoint(work_dir: str) -> bool:
    """MMEngine's ``last_checkpoint`` marker points at an existing file."""
    return last_checkpoint(work_dir) is not None


def read_scalars(work_dir: str) -> Tuple[List[dict], List[dict]]:
    """Training and validation records of every run in ``work_dir``
    (``<timestamp>/vis_data/scalars.json``; a resumed run's records replace
    the interrupted run's for the same step).

    Returns:
        tuple: training records (``step`` = iteration; ``loss*``, ``time``,
        ``data_time``, ``lr``, ``epoch``) sorted by step, and validation
        records (``step`` = epoch; the metrics) sorted by epoch.
    """
    train: Dict[int, dict] = {}
    val: Dict[int, dict] = {}
    for path in sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut by an interruption
                if 'loss' in rec or any(k.startswith('loss') for k in rec):
                    train[int(rec.get('step', len(train)))] = rec
                elif any('/' in k or k in ('PCK', 'EPE') for k in rec):
                    val[int(rec.get('step', len(val) + 1))] = rec
    return ([train[k] for k in sorted(train)], [val[k] for k in sorted(val)])


def iteration_time(train_records: List[dict], skip: int = 1) -> Optional[float]:
    """Median seconds per training iteration over the logged windows,
    skipping the first ``skip`` (worker start-up, first-call overheads)."""
    times = [r['time'] for r in train_records if 'time' in r]
    if len(times) > skip:
        times = times[skip:]
    if not times:
        return None
    times = sorted(times)
    mid = len(times) // 2
    return times[mid] if len(times) % 2 else 0.5 * (times[mid - 1] + times[mid])


class TrainProgress:
    """Follows MMEngine's log lines: ``fraction`` of the run done."""

    def __init__(self, epochs: int) -> None:
        self.epochs = epochs
        self.epoch = 0
        self.iter = 0
        self.iters_per_epoch = 0
        self.phase = 'starting'

    def update(self, line: str) -> bool:
        """Parse one line; True when it moved the progress."""
        m = TRAIN_LINE.search(line)
        if m:
            self.epoch, self.iter, self.iters_per_epoch = map(int, m.groups())
            self.phase = 'train'
            return True
        m = VAL_LINE.search(line)
        if m:
            self.phase = 'val'
            return True
        if 'Saving checkpoint at' in line:
            self.phase = 'checkpoint'
        return False

    @property
    def fraction(self) -> float:
        if not self.iters_per_epoch:
            return 0.0
        done = (self.epoch - 1) * self.iters_per_epoch + self.iter
        return min(1.0, done / float(self.epochs * self.iters_per_epoch))

    def describe(self) -> str:
        if not self.iters_per_epoch:
            return self.phase
        return (f'epoch {self.epoch}/{self.epochs} iter {self.iter}/'
                f'{self.iters_per_epoch}' + (' (val)' if self.phase == 'val' else ''))
