"""Helpers for tests that run the tools on the real shared data."""
import os
import os.path as osp
import subprocess
import sys
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
