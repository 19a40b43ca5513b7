"""Helpers for tests that run the tools on the real shared data."""
import os
import os.path as osp
import subprocess
import sys
import time
from typing import List, Optional

from conftest import REPO_ROOT


def shared_coco_options(coco_root: str, splits=('train', 'val', 'test'),
                        evaluator_ann: bool = True) -> List[str]:
    """--cfg-options that point a config built on configs/_base_/datasets/
    coco_topdown.py at ../shared/data/coco_trainval (train on the train split,
    evaluate on the val split) with single-process loading. ``evaluator_ann=False``
    leaves the evaluators' ``ann_file`` alone (configs that score the
    dataset's own, filtered ground truth)."""
    root = coco_root.rstrip('/') + '/'
    opts = []
    for split in splits:
        ann = 'annotations_train.json' if split == 'train' else 'annotations_val.json'
        key = f'{split}_dataloader'
        opts += [f'{key}.dataset.data_root={root}', f'{key}.dataset.ann_file={ann}',
                 f'{key}.dataset.data_prefix.img=images/', f'{key}.num_workers=0',
                 f'{key}.persistent_workers=False']
        if split != 'train' and evaluator_ann:
            opts.append(f'{split}_evaluator.ann_file={root}{ann}')
    return opts


def run_tool(args: List[str], cwd: Optional[str] = None, timeout: int = 900,
             env: Optional[dict] = None) -> subprocess.CompletedProcess:
    """Run ``python <args>`` from the repo (or ``cwd``) and return the result
    with stdout+stderr in ``.stdout``; never raises on a non-zero exit."""
    full_env = dict(os.environ)
    full_env.setdefault('OMP_NUM_THREADS', '2')
    if env:
        full_env.update(env)
    return subprocess.run([sys.executable] + args, cwd=cwd or REPO_ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=timeout, env=full_env)


def tool(name: str) -> str:
    return osp.join(REPO_ROOT, 'tools', name)


def wait_for_first_checkpoint(proc: subprocess.Popen, run_dir, timeout: float = 600) -> None:
    """Return once an Ultralytics run folder holds epoch 1's ``results.csv``
    row and a completely written ``weights/last.pt`` saved after it; fail
    if ``proc`` ends first or nothing comes within ``timeout`` seconds."""
    import pytest
    csv_path, last = run_dir / 'results.csv', run_dir / 'weights' / 'last.pt'
    deadline, size = time.time() + timeout, -1
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(f'the run ended (exit {proc.returncode}) before its first checkpoint')
        if (csv_path.exists() and len(csv_path.read_text().splitlines()) > 1 and last.exists()
                and last.stat().st_mtime >= csv_path.stat().st_mtime):
            if last.stat().st_size == size:  # written completely
                return
            size = last.stat().st_size
        time.sleep(0.2)
    pytest.fail(f'no checkpoint after the first epoch in {run_dir} within {timeout} s')
