"""tools/dist_train.sh with 2 gloo processes on a kp head (KPGridHead,
grid_effl0_128x96) against 1 process with the same global batch, on the real
COCO subset: both ranks hold bit-identical parameters after every epoch, the
validation PCK@0.2 agrees to PCK_TOLERANCE, and only rank 0 writes checkpoints
and logs."""
import glob
import os
import os.path as osp
import re
import subprocess

import pytest

from kp_plugins.benchmark.training import read_scalars

from conftest import REPO_ROOT
from helpers import dist_train_env, run_tool, shared_coco_options, tool

EPOCHS = 3
GLOBAL_BATCH = 16
#: 2 x 8 is not the computation of 1 x 16: BatchNorm normalises each rank's 8
#: samples (backbone and head; no SyncBN on CPU) and the losses normalise per
#: rank, so the PCKs differ by chance; that the ranks train as one is checked
#: exactly (RankParameterSyncHook). Measured on this config (2026-12-07, seeds
#: 0-1, with and without the backbone's BN frozen): |1-process PCK - 2-process
#: PCK| = 0.028, 0.008, 0.013, 0.033; three 1-process seeds spread 0.018
#: (0.696-0.714); rank 0's half of the data alone (108 persons, batch 8, no
#: gradient exchange) reaches 0.654, 0.060 below its 1-process seed.
PCK_TOLERANCE = 0.06
#: no random augmentation, Adam 1e-3 without warm-up (learns in 3 short
#: epochs), validation by COCO AP, PCK@0.2 and EPE after the last epoch
SMALL_GRID = '''
_base_ = [{base!r}]
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=_base_.codec['input_size']),
    dict(type='GenerateTarget', encoder=_base_.codec),
    dict(type='PackPoseInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_evaluator = [dict(type='CocoMetric', ann_file={val_ann!r}),
                 dict(type='PCKAccuracy', thr=0.2), dict(type='EPE')]
test_evaluator = val_evaluator
train_cfg = dict(max_epochs={epochs}, val_interval={epochs})
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-3))
param_scheduler = []
default_hooks = dict(logger=dict(interval=7), checkpoint=dict(interval=1, save_best=None))
randomness = dict(seed=0)
custom_imports = dict(imports=['rank_sync_hook'], allow_failed_imports=False)
custom_hooks = [*_base_.custom_hooks, dict(type='RankParameterSyncHook')]
'''


def train(cmd, env=None):
    return subprocess.run(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=900, env=dict(os.environ, **(env or {})))


@pytest.mark.slow
def test_two_gloo_processes_match_one_process(tmp_path, coco_trainval):
    config = tmp_path / 'grid_small.py'
    config.write_text(SMALL_GRID.format(
        base=osp.join(REPO_ROOT, 'configs', 'grid_effl0_128x96.py'), epochs=EPOCHS,
        val_ann=osp.join(coco_trainval, 'annotations_val.json')))
    opts = shared_coco_options(coco_trainval, evaluator_ann=False)
    single, dist = tmp_path / 'single', tmp_path / 'dist'
    # tests/ on the path: the config imports rank_sync_hook
    path = os.pathsep.join(p for p in (osp.join(REPO_ROOT, 'tests'),
                                       os.environ.get('PYTHONPATH')) if p)

    res = run_tool([tool('train.py'), str(config), '--work-dir', str(single), '--cfg-options',
                    *opts, f'train_dataloader.batch_size={GLOBAL_BATCH}'], timeout=900,
                   env=dict(OMP_NUM_THREADS='2', PYTHONPATH=path))
    assert res.returncode == 0, res.stdout[-4000:]
    res = train(['bash', tool('dist_train.sh'), str(config), '2', '--work-dir', str(dist),
                 '--cfg-options', *opts, f'train_dataloader.batch_size={GLOBAL_BATCH // 2}'],
                env=dist_train_env(OMP_NUM_THREADS='1', PORT='29531', PYTHONPATH=path))
    assert res.returncode == 0, res.stdout[-5000:]
    assert 'Distributed training: True' in res.stdout
    assert 'GPU number: 2' in res.stdout  # MMEngine's name for the world size
    # 215 persons: 14 global batches of 16 per epoch either way
    assert f'Epoch(train) [{EPOCHS}][14/14]' in res.stdout
    # data parallel: after every epoch the two ranks' parameters are bit-identical
    assert re.findall(r'rank parameters: epoch (\d+) (\w+) on 2 ranks', res.stdout) == \
        [(str(e), 'identical') for e in range(1, EPOCHS + 1)], res.stdout[-5000:]

    (single_val, ), (dist_val, ) = read_scalars(str(single))[1], read_scalars(str(dist))[1]
    print(f'\n1 process: {single_val}\n2 processes: {dist_val}')
    assert single_val['PCK'] > 0.3  # it learned something: the comparison means something
    assert abs(single_val['PCK'] - dist_val['PCK']) <= PCK_TOLERANCE

    # rank 0 alone writes: one run folder with one log, the checkpoints once
    runs = [d for d in glob.glob(str(dist / '*')) if osp.isdir(d)]
    assert len(runs) == 1, runs
    assert [osp.basename(p) for p in glob.glob(osp.join(runs[0], '*.log'))] == \
        [osp.basename(runs[0]) + '.log']
    assert not glob.glob(str(dist / '**' / '*rank1*'), recursive=True)
    assert sorted(osp.basename(p) for p in glob.glob(str(dist / '*.pth'))) == \
        [f'epoch_{e}.pth' for e in range(1, EPOCHS + 1)]
    # both ranks trained; the lines a rank other than 0 prints are errors only
    assert len(re.findall(r'Saving checkpoint at 1 epochs', res.stdout)) == 1
