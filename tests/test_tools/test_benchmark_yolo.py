"""The benchmark's YOLO entry across interruptions, on the real data
(``--quick``: 4 epochs on a few images): killed mid-training, the same
command resumes the Ultralytics run instead of starting over; a finished
entry is cached; a finished run whose scoring is missing is scored, not
retrained and never deleted; a run with other arguments is moved aside."""
import json
import os
import signal
import subprocess
import sys

import pytest

from conftest import REPO_ROOT
from helpers import run_tool, tool, wait_for_first_checkpoint

pytest.importorskip('ultralytics')

ARGS = ['--quick', '--entries', 'YOLO', '--epochs', '4', '--batch-sizes', '1', '2',
        '--repeats', '2', '--warmup', '1', '--threads', '2', '--no-r50']


def epochs_in(run_dir) -> list:
    path = run_dir / 'results.csv'
    if not path.exists():
        return []
    return [int(line.split(',')[0]) for line in path.read_text().splitlines()[1:] if line]


def kill_after_first_epoch(cmd, run_dir) -> None:
    """Start the benchmark in its own process group and SIGKILL the whole
    group (benchmark + trainer) once epoch 1's row and checkpoint exist."""
    proc = subprocess.Popen([sys.executable] + cmd, cwd=REPO_ROOT,
                            env=dict(os.environ, OMP_NUM_THREADS='2'),
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        wait_for_first_checkpoint(proc, run_dir)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.mark.slow
def test_yolo_entry_resumes_caches_and_keeps_its_run(tmp_path, shared_data):
    work = tmp_path / 'bench'
    entry = work / 'entries' / 'YOLO'
    run_dir = entry / 'train'
    cmd = [tool('benchmark.py'), *ARGS, '--work-dir', str(work), '--data-root', shared_data]

    kill_after_first_epoch(cmd, run_dir)
    killed_at = epochs_in(run_dir)
    assert 1 <= len(killed_at) < 4, killed_at

    res = run_tool(cmd, timeout=600)
    assert res.returncode == 0, res.stdout[-5000:]
    assert f'resuming after epoch {len(killed_at)}/4' in res.stdout
    assert epochs_in(run_dir) == [1, 2, 3, 4]
    log = (entry / 'train.log').read_text()
    assert log.count('Resuming training') == 1
    acc = json.loads((entry / 'accuracy.json').read_text())
    assert acc['status'] == 'done' and '--resume' in acc['command']
    # training time: the killed process's epochs + the resumed process's
    record = json.loads((run_dir / 'kp_resumed.json').read_text())
    assert [r['epochs_done'] for r in record] == [len(killed_at)]
    last_time = float((run_dir / 'results.csv').read_text().splitlines()[-1].split(',')[1])
    assert acc['train_wall_s'] == pytest.approx(record[0]['seconds'] + last_time)
    assert '| YOLO | yolo |' in (work / 'results.md').read_text()

    # finished: the same command takes it from the cache
    res = run_tool(cmd, timeout=600)
    assert res.returncode == 0 and 'yolo YOLO: cached' in res.stdout, res.stdout[-3000:]

    # trained but not scored (e.g. killed while scoring): scored, not retrained
    weights = run_dir / 'weights' / 'last.pt'
    mtime = weights.stat().st_mtime
    (entry / 'accuracy.json').unlink()
    res = run_tool(cmd, timeout=600)
    assert res.returncode == 0, res.stdout[-5000:]
    assert (entry / 'train.log').read_text().count('Starting training') == \
        log.count('Starting training')
    assert weights.stat().st_mtime == mtime and epochs_in(run_dir) == [1, 2, 3, 4]
    acc2 = json.loads((entry / 'accuracy.json').read_text())
    assert acc2['status'] == 'done'
    assert acc2['train_wall_s'] == pytest.approx(acc['train_wall_s'])
    assert acc2['peak_rss_mb'] is None or acc2['peak_rss_mb'] > 0

    # other arguments (image size): a new run; the old one is moved aside, not deleted
    res = run_tool(cmd + ['--yolo-imgsz', '96'], timeout=600)
    assert res.returncode == 0, res.stdout[-5000:]
    assert (entry / 'train.old1' / 'weights' / 'last.pt').exists()
    assert epochs_in(run_dir) == [1, 2, 3, 4]
    assert 'moved to' in (work / 'results.md').read_text()
    speed = json.loads((entry / 'speed.json').read_text())
    assert speed['input'] == '96x96'  # the new weights' latency, not the cached one
