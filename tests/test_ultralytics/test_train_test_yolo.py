"""tools/train_yolo.py and tools/test_yolo.py on the real COCO subset, with
every network attempt recorded and refused (a sitecustomize that wraps
socket), so "offline-safe" is checked, not assumed."""
import csv
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

from conftest import REPO_ROOT
from helpers import tool, wait_for_first_checkpoint, xtcocotools_ap

pytest.importorskip('ultralytics')

NETWORK_GUARD = r'''
"""Record and refuse every attempt to reach another host (test helper)."""
import os
import socket

_LOG = os.environ['KP_NET_LOG']
_LOCAL = {None, '', 'localhost', '127.0.0.1', '::1'}


def _record(what):
    with open(_LOG, 'a') as f:
        f.write(what + '\n')
    raise OSError(f'network disabled by the test: {what}')


_getaddrinfo = socket.getaddrinfo
_connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex


def getaddrinfo(host, *args, **kwargs):
    if host not in _LOCAL:
        _record(f'getaddrinfo {host}')
    return _getaddrinfo(host, *args, **kwargs)


def _guard(address):
    if isinstance(address, tuple) and address and address[0] not in _LOCAL:
        _record(f'connect {address}')


def connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _guard(address)
    return _connect(self, address)


def connect_ex(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _guard(address)
    return _connect_ex(self, address)


socket.getaddrinfo = getaddrinfo
socket.gethostbyname = lambda host: _record(f'gethostbyname {host}')
socket.socket.connect, socket.socket.connect_ex = connect, connect_ex
'''


def guarded_env(tmp) -> dict:
    """The network guard, a private Ultralytics config folder (no cached fonts
    or weights) and a private kp_plugins cache; without pytest's variables
    (Ultralytics turns some behaviour off under pytest)."""
    guard = tmp / 'guard'
    guard.mkdir(exist_ok=True)
    (guard / 'sitecustomize.py').write_text(NETWORK_GUARD)
    env = {k: v for k, v in os.environ.items()
           if k not in ('PYTEST_CURRENT_TEST', 'YOLO_OFFLINE', 'YOLO_AUTOINSTALL')}
    # the guard first, then the caller's PYTHONPATH (a checkout that is not
    # the installed one)
    python_path = os.pathsep.join(filter(None, [str(guard), os.environ.get('PYTHONPATH')]))
    env.update(PYTHONPATH=python_path, KP_NET_LOG=str(tmp / 'net.log'),
               YOLO_CONFIG_DIR=str(tmp / 'ultralytics_config'),
               KP_PLUGINS_CACHE=str(tmp / 'cache'), OMP_NUM_THREADS='2')
    return env


def guarded_run(args, tmp, timeout=900) -> subprocess.CompletedProcess:
    """Run ``python args`` in :func:`guarded_env`."""
    return subprocess.run([sys.executable] + args, cwd=REPO_ROOT, env=guarded_env(tmp),
                          text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=timeout)


def network_attempts(tmp) -> list:
    log = tmp / 'net.log'
    return log.read_text().splitlines() if log.exists() else []


@pytest.fixture(scope='module')
def trained(tmp_path_factory, coco_trainval):
    tmp = tmp_path_factory.mktemp('yolo_run')
    work = tmp / 'work'
    res = guarded_run([tool('train_yolo.py'), 'yolo11n-pose.yaml', '--data-root', coco_trainval,
                       '--train-ann', 'annotations_train.json', '--val-ann',
                       'annotations_val.json', '--img-dir', 'images/', '--work-dir', str(work),
                       '--epochs', '1', '--imgsz', '320', '--batch', '8', '--device', 'cpu',
                       '--workers', '0'], tmp)
    return dict(tmp=tmp, work=work, res=res, root=coco_trainval)


def test_the_guard_sees_what_ultralytics_does_unpatched(tmp_path):
    """Control: stock Ultralytics, same guard, probes the network (DNS at
    import, the Arial font download) - so an empty log below means something."""
    res = guarded_run(['-c', 'from ultralytics.utils.checks import check_font; '
                       'print(check_font("Arial.ttf"))'], tmp_path, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:]
    attempts = network_attempts(tmp_path)
    assert any('getaddrinfo' in a for a in attempts), attempts


@pytest.mark.slow
def test_train_yolo_trains_offline_without_network_attempts(trained):
    res = trained['res']
    assert res.returncode == 0, res.stdout[-6000:]
    assert network_attempts(trained['tmp']) == [], res.stdout[-3000:]
    for name in ('best.pt', 'last.pt'):
        assert osp.getsize(trained['work'] / 'weights' / name) > 1e6
    assert 'trained yolo11n-pose.yaml for 1 epoch(s)' in res.stdout
    assert 'train: 86 images, 280 persons (4 crowd regions dropped)' in res.stdout
    # the converted dataset went to the private cache, not beside the data
    assert (trained['tmp'] / 'cache' / 'yolo').is_dir()
    with open(trained['work'] / 'args.yaml') as f:
        args = f.read()
    assert 'amp: false' in args and 'epochs: 1' in args and 'imgsz: 320' in args


def test_missing_checkpoint_fails_clearly_offline(tmp_path, coco_trainval):
    res = guarded_run([tool('train_yolo.py'), 'yolo11n-pose.pt', '--data-root', coco_trainval,
                       '--train-ann', 'annotations_train.json', '--val-ann',
                       'annotations_val.json'], tmp_path, timeout=300)
    assert res.returncode != 0
    assert 'yolo11n-pose.pt does not exist. Offline mode never downloads' in res.stdout
    assert network_attempts(tmp_path) == []


def kill_after_first_checkpoint(args, tmp, work) -> None:
    """Start ``python args`` and SIGKILL it once epoch 1's row and its
    ``last.pt`` are written (a hard interruption, mid-run)."""
    with open(tmp / 'first.log', 'w') as log:
        proc = subprocess.Popen([sys.executable] + args, cwd=REPO_ROOT, env=guarded_env(tmp),
                                stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for_first_checkpoint(proc, work)
        finally:
            proc.kill()
            proc.wait()


@pytest.mark.slow
def test_interrupted_training_resumes_from_its_last_checkpoint(tmp_path, coco_trainval):
    work = tmp_path / 'work'
    args = [tool('train_yolo.py'), 'yolo11n-pose.yaml', '--data-root', coco_trainval,
            '--train-ann', 'annotations_train.json', '--val-ann', 'annotations_val.json',
            '--img-dir', 'images/', '--work-dir', str(work), '--epochs', '3', '--imgsz', '160',
            '--batch', '8', '--device', 'cpu', '--workers', '0']
    res = guarded_run(args + ['--resume'], tmp_path, timeout=300)
    assert res.returncode != 0 and 'weights/last.pt does not exist' in res.stdout, \
        res.stdout[-2000:]

    kill_after_first_checkpoint(args, tmp_path, work)
    epochs = [int(r['epoch']) for r in csv.DictReader(open(work / 'results.csv'))]
    assert epochs == [1], 'killed after the first epoch'

    from kp_plugins.benchmark import yolo
    first_epoch_s = float(next(csv.DictReader(open(work / 'results.csv')))['time'])
    yolo.note_resume(str(work))  # as the benchmark does before resuming
    res = guarded_run(args + ['--resume'], tmp_path)
    assert res.returncode == 0, res.stdout[-6000:]
    assert 'Resuming training' in res.stdout and 'from epoch 2 to 3 total epochs' in res.stdout
    rows = list(csv.DictReader(open(work / 'results.csv')))
    assert [int(r['epoch']) for r in rows] == [1, 2, 3]  # epoch 1 not trained again
    # the benchmark sees the resumed run folder as this protocol's finished run
    # (Ultralytics rewrote args.yaml with model = weights/last.pt)
    import yaml

    from kp_plugins.benchmark.protocol import Protocol
    data_yaml = yaml.safe_load(open(work / 'args.yaml'))['data']
    assert yolo.run_state(str(work), data_yaml, Protocol(epochs=3, batch_size=8, seed=0),
                          160) == 'trained'
    # training time: the killed process's epoch + the resumed process's time
    assert yolo.train_seconds(str(work)) == pytest.approx(first_epoch_s
                                                          + float(rows[-1]['time']))
    assert network_attempts(tmp_path) == []
    # the finished run's checkpoints are stripped: resuming again is refused clearly
    res = guarded_run(args + ['--resume'], tmp_path, timeout=300)
    assert res.returncode != 0 and 'has finished' in res.stdout, res.stdout[-2000:]


def run_test_yolo(root, tmp, *extra):
    return guarded_run([tool('test_yolo.py'), *extra, '--data-root', root,
                        '--ann-file', 'annotations_val.json', '--img-dir', 'images/'],
                       tmp, timeout=600)


@pytest.mark.slow
def test_test_yolo_scores_trained_weights_with_coco_metric(trained):
    assert trained['res'].returncode == 0, 'training failed'
    out = trained['tmp'] / 'eval'
    res = run_test_yolo(trained['root'], trained['tmp'],
                        str(trained['work'] / 'weights' / 'last.pt'),
                        '--work-dir', str(out), '--device', 'cpu')
    assert res.returncode == 0, res.stdout[-6000:]
    assert 'coco/AP: ' in res.stdout
    assert network_attempts(trained['tmp']) == []
    metrics = json.load(open(out / 'metrics.json'))
    assert 0.0 <= metrics['coco/AP'] <= 1.0
    results = json.load(open(out / 'results.keypoints.json'))
    if results:  # the json holds exactly what was scored
        assert {r['category_id'] for r in results} == {1}
        assert len(results[0]['keypoints']) == 51
        ann = osp.join(trained['root'], 'annotations_val.json')
        assert xtcocotools_ap(ann, str(out / 'results.keypoints.json')) == pytest.approx(
            metrics['coco/AP'], abs=1e-9)
    print('1-epoch yolo11n-pose, val coco/AP =', metrics['coco/AP'])


def test_ground_truth_as_predictions_scores_ap_1(tmp_path, coco_trainval):
    out = tmp_path / 'gt'
    res = run_test_yolo(coco_trainval, tmp_path, '--gt-as-pred', '--work-dir', str(out))
    assert res.returncode == 0, res.stdout[-6000:]
    assert network_attempts(tmp_path) == []
    metrics = json.load(open(out / 'metrics.json'))
    assert metrics['coco/AP'] == pytest.approx(1.0, abs=1e-12)
    assert metrics['coco/AR'] == pytest.approx(1.0, abs=1e-12)
    with open(osp.join(coco_trainval, 'annotations_val.json')) as f:
        gt = json.load(f)
    scored = [a for a in gt['annotations'] if not a['iscrowd'] and a['num_keypoints'] > 0]
    results = json.load(open(out / 'results.keypoints.json'))
    assert len(results) == len(scored)


def synthetic_split_counts(cache, split: str, num_images: int) -> tuple:
    """``(annotations.json, images, persons with keypoints)`` of the quick
    start's split of ``num_images`` generated under ``cache`` (read from
    the folder its name says, not through the tools' helper)."""
    folders = [d for d in os.listdir(cache / 'synthetic')
               if d.startswith(f'{split}_{num_images}_256x256_seed0_') and not d.endswith('.lock')]
    assert len(folders) == 1, os.listdir(cache / 'synthetic')
    ann = cache / 'synthetic' / folders[0] / 'annotations.json'
    coco = json.load(open(ann))
    persons = [a for a in coco['annotations'] if not a['iscrowd'] and a['num_keypoints'] > 0]
    return str(ann), len(coco['images']), len(persons)


@pytest.mark.slow
def test_synthetic_option_trains_and_scores_the_quickstart_splits(tmp_path):
    """train_yolo.py --synthetic trains yolo11n-pose (from scratch, offline)
    on the quick start's synthetic train split, and test_yolo.py --synthetic
    scores it on exactly the synthetic val split (every image, every person);
    the ground truth through the same path scores AP 1."""
    work = tmp_path / 'work'
    res = guarded_run([tool('train_yolo.py'), 'yolo11n-pose.yaml', '--synthetic',
                       '--synthetic-images', '6', '3', '--work-dir', str(work), '--epochs', '1',
                       '--imgsz', '64', '--batch', '4', '--device', 'cpu', '--workers', '0'],
                      tmp_path)
    assert res.returncode == 0, res.stdout[-6000:]
    assert network_attempts(tmp_path) == []
    cache = tmp_path / 'cache'
    _, train_images, train_persons = synthetic_split_counts(cache, 'train', 6)
    val_ann, val_images, val_persons = synthetic_split_counts(cache, 'val', 3)
    assert (train_images, val_images) == (6, 3)
    assert f'train: 6 images, {train_persons} persons' in res.stdout
    assert f'val: 3 images, {val_persons} persons' in res.stdout
    weights = work / 'weights' / 'last.pt'
    assert f'score with: python tools/test_yolo.py {work}/weights/best.pt --synthetic ' \
           '--synthetic-images 3' in res.stdout, res.stdout[-2000:]

    for extra, out in (([str(weights), '--imgsz', '64', '--device', 'cpu'], tmp_path / 'eval'),
                       (['--gt-as-pred'], tmp_path / 'gt')):
        res = guarded_run([tool('test_yolo.py'), *extra, '--synthetic', '--synthetic-images',
                           '3', '--work-dir', str(out)], tmp_path, timeout=600)
        assert res.returncode == 0, res.stdout[-6000:]
        assert f'ground truth: {val_persons} persons with keypoints on 3 images ({val_ann})' \
            in res.stdout
        metrics = json.load(open(out / 'metrics.json'))
        assert metrics['ann_file'] == val_ann
    assert metrics['coco/AP'] == pytest.approx(1.0, abs=1e-12)  # the ground truth
    assert len(json.load(open(tmp_path / 'gt' / 'results.keypoints.json'))) == val_persons
    assert network_attempts(tmp_path) == []


def test_synthetic_option_errors(tmp_path):
    res = guarded_run([tool('test_yolo.py'), '--gt-as-pred', '--synthetic', '--ann-file',
                       'x.json'], tmp_path, timeout=300)
    assert res.returncode != 0 and '--synthetic replaces --ann-file' in res.stdout
    res = guarded_run([tool('test_yolo.py'), '--gt-as-pred', '--synthetic-images', '3'],
                      tmp_path, timeout=300)
    assert res.returncode != 0 and '--synthetic-images needs --synthetic' in res.stdout
    res = guarded_run([tool('train_yolo.py'), 'yolo11n-pose.yaml', '--synthetic', '--val-ann',
                       'x.json'], tmp_path, timeout=300)
    assert res.returncode != 0 and 'drop --val-ann' in res.stdout, res.stdout[-2000:]
    assert 'Traceback' not in res.stdout
