"""tools/train.py, --resume, tools/test.py and tools/dist_train.sh on the real
COCO subset (../shared/data/coco_trainval), with configs/heatmap_r50.py made
small through a derived config (ResNet-18, 128x96) so it runs on 2 CPU cores."""
import glob
import json
import os
import os.path as osp
import re
import subprocess

import pytest

from conftest import REPO_ROOT
from helpers import dist_train_env, run_tool, shared_coco_options, tool, xtcocotools_ap

SMALL_HEATMAP = '''
_base_ = ['{base}']
codec = dict(type='MSRAHeatmap', input_size=(96, 128), heatmap_size=(24, 32), sigma=1)
model = dict(backbone=dict(depth=18), head=dict(in_channels=512, decoder=codec))
train_pipeline = [
    *_base_.train_pipeline_head,
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs'),
]
val_pipeline = [
    *_base_.val_pipeline_head,
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='PackPoseInputs'),
]
train_dataloader = dict(batch_size=8, dataset=dict(pipeline=train_pipeline, indices=16))
val_dataloader = dict(batch_size=16, dataset=dict(pipeline=val_pipeline))
test_dataloader = val_dataloader
train_cfg = dict(max_epochs={epochs}, val_interval=100)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1, save_best=None))
param_scheduler = []
'''


def write_small_config(tmp_path, epochs: int) -> str:
    path = tmp_path / f'heatmap_r18_small_e{epochs}.py'
    path.write_text(SMALL_HEATMAP.format(
        base=osp.join(REPO_ROOT, 'configs', 'heatmap_r50.py'), epochs=epochs))
    return str(path)


@pytest.fixture(scope='module')
def trained(tmp_path_factory, coco_trainval):
    """Train 1 epoch (2 iterations), then resume to epoch 2."""
    tmp = tmp_path_factory.mktemp('heatmap_run')
    work = tmp / 'work'
    opts = shared_coco_options(coco_trainval)
    cfg1 = write_small_config(tmp, epochs=1)
    first = run_tool([tool('train.py'), cfg1, '--work-dir', str(work),
                      '--no-validate', '--cfg-options', *opts])
    assert first.returncode == 0, first.stdout[-4000:]
    cfg2 = write_small_config(tmp, epochs=2)
    second = run_tool([tool('train.py'), cfg2, '--work-dir', str(work),
                       '--no-validate', '--resume', '--cfg-options', *opts])
    return dict(work=work, tmp=tmp, first=first, second=second, opts=opts, cfg=cfg2)


@pytest.mark.slow
def test_train_writes_checkpoint(trained):
    assert osp.isfile(trained['work'] / 'epoch_1.pth'), trained['first'].stdout[-3000:]
    assert 'Epoch(train) [1][2/2]' in trained['first'].stdout


@pytest.mark.slow
def test_resume_auto_continues(trained):
    out = trained['second'].stdout
    assert trained['second'].returncode == 0, out[-4000:]
    assert ('resumed epoch: 1' in out.lower()
            or 'Auto resumed from the latest checkpoint' in out), out[-4000:]
    assert 'Epoch(train) [2][2/2]' in out
    assert 'Epoch(train) [1]' not in out  # epoch 1 was not trained again
    assert osp.isfile(trained['work'] / 'epoch_2.pth')


@pytest.mark.slow
def test_resume_from_path(trained, tmp_path):
    out_dir = tmp_path / 'from_path'
    res = run_tool([tool('train.py'), trained['cfg'], '--work-dir', str(out_dir),
                    '--no-validate', '--resume', str(trained['work'] / 'epoch_1.pth'),
                    '--cfg-options', *trained['opts']])
    assert res.returncode == 0, res.stdout[-4000:]
    assert 'Epoch(train) [2][2/2]' in res.stdout
    assert 'Epoch(train) [1]' not in res.stdout


@pytest.mark.slow
def test_test_tool_prints_coco_ap(trained, tmp_path, coco_trainval):
    metrics = tmp_path / 'metrics.json'
    dump = tmp_path / 'preds.pkl'
    prefix = tmp_path / 'coco'
    res = run_tool([tool('test.py'), trained['cfg'], str(trained['work'] / 'epoch_2.pth'),
                    '--work-dir', str(tmp_path / 'test'), '--out', str(metrics),
                    '--dump', str(dump), '--cfg-options', *trained['opts'],
                    f'test_evaluator.outfile_prefix={prefix}'])
    assert res.returncode == 0, res.stdout[-4000:]
    m = re.search(r'coco/AP: (-?[0-9.]+)', res.stdout)
    assert m, res.stdout[-3000:]
    saved = json.loads(metrics.read_text())
    assert saved['coco/AP'] == pytest.approx(float(m.group(1)), abs=1e-3)
    # the AP printed and saved is xtcocotools' on the predictions CocoMetric wrote
    ann = osp.join(coco_trainval, 'annotations_val.json')
    assert xtcocotools_ap(ann, f'{prefix}.keypoints.json') == pytest.approx(
        saved['coco/AP'], abs=1e-9)
    assert dump.stat().st_size > 0


@pytest.mark.parametrize('config', ['heatmap_r50', 'grid_r50'])
def test_missing_coco_stops_with_clear_message(tmp_path, config):
    res = run_tool([tool('train.py'), osp.join(REPO_ROOT, 'configs', f'{config}.py'),
                    '--work-dir', str(tmp_path / 'w')], cwd=str(tmp_path), timeout=300)
    assert res.returncode != 0
    out = res.stdout
    assert 'data/coco/' in out
    assert 'annotations/person_keypoints_train2017.json' in out
    assert '--cfg-options' in out and 'train_dataloader.dataset.data_root' in out
    assert 'configs/quickstart.py' in out  # points to the zero-download quick start
    assert 'Traceback' not in out
    assert not osp.exists(tmp_path / 'w' / 'epoch_1.pth')


@pytest.mark.slow
def test_dist_train_two_ranks_on_cpu(tmp_path, coco_trainval):
    cfg = write_small_config(tmp_path, epochs=1)
    work = tmp_path / 'dist'
    env = dict(os.environ, **dist_train_env(OMP_NUM_THREADS='1', PORT='29517'))
    res = subprocess.run(
        ['bash', tool('dist_train.sh'), cfg, '2', '--work-dir', str(work), '--no-validate',
         '--cfg-options', *shared_coco_options(coco_trainval)],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        timeout=900, env=env)
    assert res.returncode == 0, res.stdout[-5000:]
    # 16 samples, batch 8 per rank, 2 ranks -> 1 iteration per epoch.
    assert 'Epoch(train) [1][1/1]' in res.stdout
    assert 'Distributed training: True' in res.stdout  # torchrun exits 0 only if both ranks did
    assert osp.isfile(work / 'epoch_1.pth')
    logs = glob.glob(str(work / '*' / '*.log'))
    assert logs
