"""Helpers for tests that run the tools on the real shared data."""
import os
import os.path as osp
import subprocess
import sys
import time
from typing import List, Optional

import numpy as np

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


def dist_train_env(**env: str) -> dict:
    """``env`` for ``tools/dist_train.sh``: it takes the repo's .venv; a
    checkout without one (a git worktree) runs it with this interpreter."""
    if not osp.exists(osp.join(REPO_ROOT, '.venv')):
        env['PYTHON'] = sys.executable
    return env


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


def write_tiny_coco(root, num_images: int = 6, size=(96, 128), persons: int = 1,
                    seed: int = 0, name: str = 'annotations.json',
                    img_dir: str = 'images') -> str:
    """A tiny COCO keypoint set for tests that need files: ``num_images``
    noise images of ``size`` (w, h) written with cv2 as JPEGs under
    ``root/img_dir`` and ``root/name`` with ``persons`` persons per image
    (17 labelled keypoints inside each box, image ids 1..N, annotation ids
    1..). Returns the annotation file's path."""
    import json

    import cv2
    import numpy as np
    rng = np.random.RandomState(seed)
    w, h = size
    os.makedirs(osp.join(str(root), img_dir), exist_ok=True)
    images, annotations = [], []
    for img_id in range(1, num_images + 1):
        file_name = f'{img_id:06d}.jpg'
        cv2.imwrite(osp.join(str(root), img_dir, file_name),
                    rng.randint(0, 255, (h, w, 3)).astype(np.uint8))
        images.append(dict(id=img_id, file_name=file_name, width=w, height=h))
        for _ in range(persons):
            bw, bh = rng.uniform(0.3, 0.6) * w, rng.uniform(0.4, 0.8) * h
            x0, y0 = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
            xy = rng.uniform([x0, y0], [x0 + bw, y0 + bh], (17, 2))
            kpts = np.concatenate([xy, np.full((17, 1), 2.0)], -1)
            annotations.append(dict(
                id=len(annotations) + 1, image_id=img_id, category_id=1, iscrowd=0,
                bbox=[round(float(v), 2) for v in (x0, y0, bw, bh)],
                area=round(float(0.6 * bw * bh), 2), num_keypoints=17,
                keypoints=[round(float(v), 2) for v in kpts.ravel()]))
    path = osp.join(str(root), name)
    with open(path, 'w') as f:
        json.dump(dict(images=images, annotations=annotations,
                       categories=[dict(id=1, name='person', supercategory='person')]), f)
    return path


def tiny_run_options(root: str, ann: str = 'annotations.json', img_dir: str = 'images/',
                     batch_size: int = 2, evaluator_ann: bool = True) -> List[str]:
    """--cfg-options that point every split of a COCO top-down config at
    a :func:`write_tiny_coco` set, with single-process loading and batches
    of ``batch_size``; ``evaluator_ann=False`` leaves the evaluators alone."""
    root = str(root).rstrip('/') + '/'
    opts = []
    for split in ('train', 'val', 'test'):
        key = f'{split}_dataloader'
        opts += [f'{key}.dataset.data_root={root}', f'{key}.dataset.ann_file={ann}',
                 f'{key}.dataset.data_prefix.img={img_dir}', f'{key}.num_workers=0',
                 f'{key}.persistent_workers=False', f'{key}.batch_size={batch_size}']
        if split != 'train' and evaluator_ann:
            opts.append(f'{split}_evaluator.ann_file={root}{ann}')
    return opts


def xtcocotools_ap(ann_file: str, results_file: str) -> float:
    """coco/AP recomputed by xtcocotools' COCOeval straight from a results json
    (``CocoMetric``'s ``<outfile_prefix>.keypoints.json``, Ultralytics'
    converted predictions) against ``ann_file``, with COCO's 17 sigmas and
    the area as CocoMetric scores them: the oracle a printed AP must equal."""
    from xtcocotools.coco import COCO
    from xtcocotools.cocoeval import COCOeval
    gt = COCO(ann_file)
    dt = gt.loadRes(results_file)
    sigmas = np.array([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07,
                       .87, .87, .89, .89]) / 10.0
    ev = COCOeval(gt, dt, 'keypoints', sigmas, True)
    ev.params.useSegm = None
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    return float(ev.stats[0])
