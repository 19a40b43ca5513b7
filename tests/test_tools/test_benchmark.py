"""tools/benchmark.py --quick on the real data: two entries (kp_plugins'
KPGridHead and MMPose's RegressionHead) trained for a few iterations through
tools/train.py, their speed and size on EfficientNet-Lite0 128x96 and on
ResNet-50 256x192, and the Markdown table, CSV and plots it writes; a rerun
comes from the cache, and a changed protocol or an unknown entry is refused."""
import csv
import json
import os.path as osp
import re
import time

import pytest

from conftest import REPO_ROOT
from helpers import run_tool, tool

#: every test here reads a tools/benchmark.py run (a few minutes of training)
pytestmark = pytest.mark.slow

ENTRIES = ['KPGridHead', 'RegressionHead']
QUICK_ARGS = ['--quick', '--entries', *ENTRIES, '--batch-sizes', '1', '2', '--repeats', '2',
              '--warmup', '1', '--threads', '2']
PNG_MAGIC = b'\x89PNG\r\n\x1a\n'


def grid_head_params(config: str, channels: int, k=17) -> int:
    """KPGridHead: 1x1 reduction conv (no bias) + BN to ``feat_channels``;
    with ``fuse_in_channels`` a 1x1 lateral conv (no bias) + BN on the
    stride-16 map; then the prediction conv with bias to 3 * K * (cells per
    feature vector of the map it runs on): a depthwise 3x3 (with bias) + 1x1
    conv by default, else a ``kernel_size`` conv. Unset arguments are the
    head's defaults (128 channels, depthwise 3x3)."""
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', config))
    head = cfg.model.head
    feat = head.get('feat_channels', 128)
    ksize = head.get('kernel_size', 3)
    depthwise = head.get('depthwise', True) and ksize == 3
    fuse = head.get('fuse_in_channels')
    stride = 16 if fuse else 32
    (w, h), (gw, gh) = cfg.codec.input_size, cfg.codec.grid_size
    cells_per_vector = (gw // (w // stride)) * (gh // (h // stride))
    out = 3 * k * cells_per_vector
    lateral = fuse * feat + 2 * feat if fuse else 0
    predict = (feat * 9 + feat + feat * out + out) if depthwise else feat * out * ksize ** 2 + out
    return channels * feat + 2 * feat + lateral + predict


def deeppose_head_params(channels: int, k=17) -> int:
    return channels * 2 * k + 2 * k  # one linear layer to K x (x, y)


@pytest.fixture(scope='module')
def bench(tmp_path_factory, shared_data):
    work = tmp_path_factory.mktemp('bench') / 'work'
    start = time.time()
    res = run_tool([tool('benchmark.py'), *QUICK_ARGS, '--work-dir', str(work),
                    '--data-root', shared_data], timeout=900)
    return dict(work=work, res=res, seconds=time.time() - start, data=shared_data)


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def num(row, key):
    return float(row[key])


@pytest.mark.slow
def test_quick_run_writes_table_csv_and_plots(bench):
    res, work = bench['res'], bench['work']
    assert res.returncode == 0, res.stdout[-5000:]
    for name in ('results.md', 'results.csv', 'ap_vs_latency.png', 'loss_curves.png',
                 'val_per_epoch.png', 'results.json'):
        assert osp.isfile(work / name), name
    for name in ('ap_vs_latency.png', 'loss_curves.png', 'val_per_epoch.png'):
        data = (work / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 10_000, name
    # the progress display: a line per task with an ETA
    assert re.search(r'\(1/\d+\) train KPGridHead: .*ETA \d+:\d\d', res.stdout)
    table = (work / 'results.md').read_text()
    assert '| entry | approach | params (M) |' in table
    assert '## Head cost on ResNet-50 256x192' in table
    assert table.count('backbone only (floor)') == 2


def test_csv_numbers_are_sane(bench):
    assert bench['res'].returncode == 0, bench['res'].stdout[-3000:]
    rows = read_csv(bench['work'] / 'results.csv')
    protocol = {r['entry']: r for r in rows if r['section'] == 'protocol 128x96'}
    r50 = {r['entry']: r for r in rows if r['section'] == 'ResNet-50 256x192'}
    assert set(protocol) == set(ENTRIES) | {'backbone only (floor)'}
    assert set(r50) == set(ENTRIES) | {'backbone only (floor)'}
    for name in ENTRIES:
        row = protocol[name]
        assert row['status'] == 'done' and row['input'] == '128x96'
        assert 0.0 <= num(row, 'coco_ap') <= 1.0 and 0.0 <= num(row, 'coco_ar') <= 1.0
        assert 0.0 <= num(row, 'pck') <= 1.0 and num(row, 'epe') > 0
        assert num(row, 'train_samples_per_s') > 0 and num(row, 's_per_iter') > 0
        assert 0.2 < num(row, 'peak_rss_gb') < 16
        assert row['threads'] == '2' and row['latency_batch'] == '2'
        for key in ('latency_b1_ms', 'latency_bN_ms', 'backbone_b1_ms', 'head_decode_b1_ms',
                    'ort_b1_ms', 'ort_bN_ms'):
            assert 0 < num(row, key) < 60_000, key
    for name in ENTRIES:  # the exported graph also runs for the ResNet-50 configs
        assert 0 < num(r50[name], 'ort_b1_ms') < num(r50[name], 'ort_bN_ms')
    # parameter counts against the layer formulas
    assert round(num(protocol['KPGridHead'], 'head_params_m') * 1e6) == \
        grid_head_params('grid_effl0_128x96.py', 1280)
    assert round(num(protocol['RegressionHead'], 'head_params_m') * 1e6) == \
        deeppose_head_params(1280)
    assert round(num(r50['KPGridHead'], 'head_params_m') * 1e6) == \
        grid_head_params('grid_r50.py', 2048)
    assert round(num(r50['RegressionHead'], 'head_params_m') * 1e6) == deeppose_head_params(2048)
    # backbones: EfficientNet-Lite0 without classifier ~3.4 M params; ResNet-50
    # without fc 23.5 M params and ~4.1 GMAC at 224x224, scaled to 256x192
    floor, r50_floor = protocol['backbone only (floor)'], r50['backbone only (floor)']
    assert 3.2 < num(floor, 'params_m') < 3.6
    assert 23.3 < num(r50_floor, 'params_m') < 23.7
    assert 0.06 < num(floor, 'gflops') < 0.15
    assert abs(num(r50_floor, 'gflops') - 4.1 * (256 * 192) / (224 * 224)) < 0.3
    for name in ENTRIES:  # a head adds parameters and FLOPs to its backbone
        assert num(protocol[name], 'params_m') > num(floor, 'params_m')
        assert num(protocol[name], 'gflops') >= num(floor, 'gflops')
        assert num(r50[name], 'params_m') > num(r50_floor, 'params_m')


def test_accuracy_comes_from_the_runner_logs(bench):
    """The table's metrics are the last epoch's validation that MMEngine
    logged; the loss curve has one point per logged iteration."""
    assert bench['res'].returncode == 0, bench['res'].stdout[-3000:]
    work = bench['work']
    rows = {r['entry']: r for r in read_csv(work / 'results.csv')
            if r['section'] == 'protocol 128x96'}
    for name in ENTRIES:
        entry = work / 'entries' / name
        log = (entry / 'train.log').read_text()
        last_val = re.findall(r'Epoch\(val\) \[2\]\[\d+/\d+\]\s+coco/AP: ([\d.]+).*?'
                              r'PCK: ([\d.]+).*?EPE: ([\d.]+)', log)
        assert last_val, log[-2000:]
        ap, pck, epe = map(float, last_val[-1])
        assert num(rows[name], 'coco_ap') == pytest.approx(ap, abs=1e-6)
        assert num(rows[name], 'pck') == pytest.approx(pck, abs=1e-6)
        assert num(rows[name], 'epe') == pytest.approx(epe, rel=1e-5)
        acc = json.loads((entry / 'accuracy.json').read_text())
        assert acc['iters_per_epoch'] == 4 and acc['train_instances'] == [8, 24]
        assert len(acc['loss_curve']) == 8
        assert [v['epoch'] for v in acc['val_per_epoch']] == [1, 2]
        assert all(p['loss'] > 0 for p in acc['loss_curve'])


def test_entries_share_the_protocol(bench):
    """Every entry's generated config trains on COCO train + LSPET and is
    scored by CocoMetric, PCKAccuracy(0.2, bbox) and EPE, with one optimizer,
    schedule and seed."""
    from mmengine.config import Config
    assert bench['res'].returncode == 0, bench['res'].stdout[-3000:]
    seen = []
    for name in ENTRIES:
        cfg = Config.fromfile(str(bench['work'] / 'entries' / name / 'config.py'))
        parts = cfg.train_dataloader.dataset.datasets
        assert cfg.train_dataloader.dataset.type == 'ConcatDataset'
        assert [osp.basename(p.data_root.rstrip('/')) for p in parts] == \
            ['coco_trainval', 'lspet_subset']
        assert [p.ann_file for p in parts] == ['annotations_train.json', 'annotations.json']
        assert cfg.val_dataloader.dataset.ann_file == 'annotations_val.json'
        assert 'bbox_file' not in cfg.val_dataloader.dataset
        assert [e['type'] for e in cfg.val_evaluator] == ['CocoMetric', 'PCKAccuracy', 'EPE']
        assert cfg.val_evaluator[1].thr == 0.2 and cfg.val_evaluator[1].norm_item == 'bbox'
        assert cfg.model.backbone.type == 'KPEfficientNetLite' and cfg.model.backbone.pretrained
        seen.append((cfg.optim_wrapper.optimizer.to_dict(), cfg.param_scheduler,
                     cfg.randomness.seed, cfg.train_dataloader.batch_size,
                     cfg.train_cfg.max_epochs))
    assert seen[0] == seen[1]
    assert seen[0][0] == dict(type='Adam', lr=1e-3)


@pytest.mark.slow
def test_rerun_uses_the_cache_and_resumes(bench):
    """Same command again: nothing is trained or measured. An entry whose
    result file is gone (as after an interruption) resumes from its
    checkpoint through tools/train.py --resume."""
    assert bench['res'].returncode == 0, bench['res'].stdout[-3000:]
    work = bench['work']
    before = (work / 'results.csv').read_text()
    acc_file = work / 'entries' / 'RegressionHead' / 'accuracy.json'
    acc_file.unlink()
    res = run_tool([tool('benchmark.py'), *QUICK_ARGS, '--work-dir', str(work),
                    '--data-root', bench['data']], timeout=600)
    assert res.returncode == 0, res.stdout[-4000:]
    assert re.search(r'train KPGridHead: cached', res.stdout)
    assert re.search(r'speed KPGridHead: cached', res.stdout)
    assert re.search(r'train RegressionHead: resuming from the last checkpoint', res.stdout)
    log = (work / 'entries' / 'RegressionHead' / 'train.log').read_text()
    assert '--resume' in log.split('$ ')[-1].splitlines()[0]
    assert 'resumed' in log.split('$ ')[-1].lower()
    after = read_csv(work / 'results.csv')
    old = {r['entry'] + r['section']: r for r in csv.DictReader(before.splitlines())}
    for row in after:
        key = row['entry'] + row['section']
        for col in ('coco_ap', 'pck', 'epe', 'params_m', 'latency_b1_ms'):
            assert row[col] == old[key][col], (key, col)


@pytest.mark.slow
def test_speed_only_trains_nothing_and_keeps_the_accuracy(bench):
    """--speed-only on a trained work dir: no training task, speed from the
    cache, the accuracy columns as before."""
    assert bench['res'].returncode == 0, bench['res'].stdout[-3000:]
    work = bench['work']
    before = {r['entry'] + r['section']: r for r in read_csv(work / 'results.csv')}
    res = run_tool([tool('benchmark.py'), *QUICK_ARGS, '--speed-only', '--work-dir', str(work),
                    '--data-root', bench['data']], timeout=600)
    assert res.returncode == 0, res.stdout[-4000:]
    assert not re.search(r'\(\d+/\d+\) train ', res.stdout), res.stdout[-3000:]
    assert 'speed KPGridHead: cached' in res.stdout
    for row in read_csv(work / 'results.csv'):
        old = before[row['entry'] + row['section']]
        for col in ('coco_ap', 'pck', 'latency_b1_ms', 'ort_b1_ms'):
            assert row[col] == old[col], (row['entry'], col)


def test_changed_protocol_and_unknown_entry_are_refused(bench):
    assert bench['res'].returncode == 0, bench['res'].stdout[-3000:]
    res = run_tool([tool('benchmark.py'), *QUICK_ARGS, '--epochs', '3', '--work-dir',
                    str(bench['work']), '--data-root', bench['data']], timeout=300)
    assert res.returncode != 0 and 'another protocol' in res.stdout
    res = run_tool([tool('benchmark.py'), '--quick', '--entries', 'NoSuchHead',
                    '--work-dir', str(bench['work'])], timeout=300)
    assert res.returncode != 0
    assert 'NoSuchHead' in res.stdout and 'KPGridHead' in res.stdout


def kill_when(cmd, done, timeout=600) -> None:
    """Run ``cmd`` in its own process group; SIGKILL the whole group (the
    benchmark and its training process) as soon as ``done()`` is true."""
    import os
    import signal
    import subprocess
    import sys
    proc = subprocess.Popen([sys.executable] + cmd, cwd=REPO_ROOT,
                            env=dict(os.environ, OMP_NUM_THREADS='2'),
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                            start_new_session=True)
    deadline = time.time() + timeout
    try:
        while not done():
            if proc.poll() is not None:
                pytest.fail(f'the benchmark ended (exit {proc.returncode}) before the kill')
            if time.time() > deadline:
                pytest.fail('timed out waiting for the moment to kill')
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_entry_killed_mid_training_resumes_to_the_same_result(bench, tmp_path):
    """SIGKILL the benchmark while RegressionHead trains, right after its
    epoch-1 checkpoint; the same command resumes that training (not a new
    one), the entry logs each epoch once, and its metrics equal those of the
    uninterrupted run of the ``bench`` fixture (same protocol and seed)."""
    assert bench['res'].returncode == 0, bench['res'].stdout[-3000:]
    work = tmp_path / 'bench'
    entry = work / 'entries' / 'RegressionHead'
    args = [a for a in QUICK_ARGS if a != 'KPGridHead'] + ['--no-r50']
    cmd = [tool('benchmark.py'), *args, '--work-dir', str(work), '--data-root', bench['data']]

    def first_checkpoint():
        marker = entry / 'last_checkpoint'
        return marker.exists() and marker.read_text().strip().endswith('epoch_1.pth')

    kill_when(cmd, first_checkpoint)
    assert not (entry / 'accuracy.json').exists()
    log = (entry / 'train.log').read_text()
    assert 'Epoch(train) [1][4/4]' in log and 'Epoch(train) [2]' not in log

    res = run_tool(cmd, timeout=600)
    assert res.returncode == 0, res.stdout[-4000:]
    assert re.search(r'train RegressionHead: resuming from the last checkpoint', res.stdout)
    resumed = (entry / 'train.log').read_text().split('\n$ ')[-1]
    assert resumed.splitlines()[0].rstrip().endswith('--resume')
    assert 'resumed epoch: 1, iter: 4' in resumed
    assert 'Epoch(train) [1]' not in resumed and 'Epoch(train) [2][4/4]' in resumed

    acc = json.loads((entry / 'accuracy.json').read_text())
    straight = json.loads((bench['work'] / 'entries' / 'RegressionHead' /
                           'accuracy.json').read_text())
    assert acc['status'] == 'done' and '--resume' in acc['command']
    assert [v['epoch'] for v in acc['val_per_epoch']] == [1, 2]
    assert [round(p['epoch'], 3) for p in acc['loss_curve']] == \
        [round(p['epoch'], 3) for p in straight['loss_curve']]
    timing = ('time', 'data_time')
    assert {k: v for k, v in acc['metrics'].items() if k not in timing} == \
        {k: v for k, v in straight['metrics'].items() if k not in timing}
    assert acc['val_per_epoch'] == straight['val_per_epoch']


@pytest.mark.slow
def test_seeds_report_mean_and_std_of_the_per_seed_runs(tmp_path, shared_data):
    """--seeds trains once per seed (own folders), the table shows mean ± std
    of the per-seed accuracy.json values (recomputed here), and the CSV
    keeps one row per seed."""
    import numpy as np
    work = tmp_path / 'seeds'
    res = run_tool([tool('benchmark.py'), '--quick', '--entries', 'RegressionHead',
                    '--seeds', '0', '1', '--no-r50', '--batch-sizes', '1', '2', '--repeats', '1',
                    '--warmup', '1', '--threads', '2', '--work-dir', str(work),
                    '--data-root', shared_data], timeout=900)
    assert res.returncode == 0, res.stdout[-3000:]
    per_seed = [json.loads((work / 'entries' / 'RegressionHead' / f'seed{s}' /
                            'accuracy.json').read_text()) for s in (0, 1)]
    assert [r['seed'] for r in per_seed] == [0, 1]
    assert all(r['status'] == 'done' for r in per_seed)
    epe = [r['metrics']['EPE'] for r in per_seed]
    assert epe[0] != epe[1]  # the seeds did differ
    rows = read_csv(work / 'results.csv')
    mean_row = next(r for r in rows if r['section'] == 'protocol 128x96'
                    and r['entry'] == 'RegressionHead')
    assert mean_row['seeds'] == '0 1'
    assert num(mean_row, 'epe') == pytest.approx(np.mean(epe))
    assert num(mean_row, 'epe_std') == pytest.approx(np.std(epe, ddof=1))
    seed_rows = [r for r in rows if r['section'].endswith('one seed')]
    assert [(r['seeds'], float(r['epe'])) for r in seed_rows] == [('0', epe[0]), ('1', epe[1])]
    table = (work / 'results.md').read_text()
    assert f'{np.mean(epe):.1f} ± {np.std(epe, ddof=1):.1f}' in table
    assert 'seeds 0 1: accuracy' in table
    # a multi-seed work dir refuses a single-seed run, with the reason
    again = run_tool([tool('benchmark.py'), '--quick', '--entries', 'RegressionHead',
                      '--work-dir', str(work), '--data-root', shared_data], timeout=300)
    assert again.returncode != 0 and 'multi-seed' in again.stdout
