"""How the benchmark picks up an interrupted entry: the YOLO run folder's
state (fresh / resume / trained), its training time across resumed segments,
and the progress display's ETA for a task resumed part-way. Pure logic on
hand-written files and a fake clock; the real Ultralytics resume is in
tests/test_ultralytics/test_train_test_yolo.py."""
import io

import pytest
import yaml

from kp_plugins.benchmark import progress as progress_mod
from kp_plugins.benchmark import yolo
from kp_plugins.benchmark.progress import Progress
from kp_plugins.benchmark.protocol import Protocol

CSV_HEAD = 'epoch,time,train/pose_loss,metrics/mAP50-95(P)\n'


def write_run(run_dir, data_yaml, rows=(), last_pt=True, **override):
    run_dir.mkdir(parents=True, exist_ok=True)
    args = dict(model=yolo.MODEL_YAML, data=str(data_yaml), epochs=10, imgsz=320, batch=64,
                seed=0, task='pose')
    args.update(override)
    (run_dir / 'args.yaml').write_text(yaml.safe_dump(args))
    if rows:
        (run_dir / 'results.csv').write_text(
            CSV_HEAD + ''.join(f'{e},{t},1.0,0.0\n' for e, t in rows))
    if last_pt:
        (run_dir / 'weights').mkdir(exist_ok=True)
        (run_dir / 'weights' / 'last.pt').write_bytes(b'x')
    return run_dir


@pytest.fixture
def setup(tmp_path):
    data_yaml = tmp_path / 'data.yaml'
    data_yaml.write_text('path: x\n')
    return tmp_path / 'train', data_yaml, Protocol(epochs=10, batch_size=64, seed=0)


def test_run_state(setup):
    run_dir, data_yaml, p = setup
    assert yolo.run_state(str(run_dir), str(data_yaml), p, 320) == 'fresh'  # nothing there
    write_run(run_dir, data_yaml, rows=[(1, 300), (2, 600)])
    assert yolo.run_state(str(run_dir), str(data_yaml), p, 320) == 'resume'
    # another protocol's run is never resumed
    assert yolo.run_state(str(run_dir), str(data_yaml), p, 640) == 'fresh'
    assert yolo.run_state(str(run_dir), str(data_yaml),
                          Protocol(epochs=10, batch_size=64, seed=1), 320) == 'fresh'
    assert yolo.run_state(str(run_dir), str(data_yaml.parent / 'other.yaml'), p, 320) == 'fresh'
    write_run(run_dir, data_yaml, rows=[(e, 300 * e) for e in range(1, 11)])
    assert yolo.run_state(str(run_dir), str(data_yaml), p, 320) == 'trained'


def test_run_state_after_a_resume(setup):
    """A resumed Ultralytics run rewrites args.yaml with ``model`` = its own
    last.pt: still the same run (resumable, or trained), never replaced."""
    run_dir, data_yaml, p = setup
    last = str(run_dir / 'weights' / 'last.pt')
    write_run(run_dir, data_yaml, rows=[(1, 300), (2, 600), (3, 40)], model=last, resume=last)
    assert yolo.run_state(str(run_dir), str(data_yaml), p, 320) == 'resume'
    write_run(run_dir, data_yaml, rows=[(e, 300 * e) for e in range(1, 11)], model=last,
              resume=last)
    assert yolo.run_state(str(run_dir), str(data_yaml), p, 320) == 'trained'
    # another run's checkpoint as the model is another run
    write_run(run_dir, data_yaml, rows=[(1, 300)], model='/elsewhere/weights/last.pt')
    assert yolo.run_state(str(run_dir), str(data_yaml), p, 320) == 'fresh'


def test_run_state_needs_a_checkpoint_to_resume(setup):
    run_dir, data_yaml, p = setup
    write_run(run_dir, data_yaml, rows=[(1, 300)], last_pt=False)
    assert yolo.run_state(str(run_dir), str(data_yaml), p, 320) == 'fresh'
    (run_dir / 'results.csv').unlink()  # started, killed before the first epoch ended
    write_run(run_dir, data_yaml, rows=[])
    assert yolo.run_state(str(run_dir), str(data_yaml), p, 320) == 'fresh'


def test_train_seconds_adds_the_time_before_each_resume(setup):
    """Ultralytics restarts results.csv's ``time`` at 0 in a resumed process
    and the first resumed epoch may well end later than the killed process's
    last one, so the benchmark records the time before each resume."""
    run_dir, data_yaml, _ = setup
    write_run(run_dir, data_yaml, rows=[(1, 2.9)])
    assert yolo.train_seconds(str(run_dir)) == pytest.approx(2.9)
    assert yolo.note_resume(str(run_dir)) == 1  # killed after epoch 1, resumed
    write_run(run_dir, data_yaml, rows=[(1, 2.9), (2, 3.0), (3, 6.3)])
    assert yolo.train_seconds(str(run_dir)) == pytest.approx(2.9 + 6.3)
    assert yolo.note_resume(str(run_dir)) == 3  # killed again after epoch 3
    write_run(run_dir, data_yaml, rows=[(1, 2.9), (2, 3.0), (3, 6.3), (4, 4.0)])
    assert yolo.train_seconds(str(run_dir)) == pytest.approx(2.9 + 6.3 + 4.0)
    (run_dir / 'results.csv').unlink()
    assert yolo.train_seconds(str(run_dir)) is None


def test_an_epoch_written_twice_keeps_its_last_row(setup):
    """Killed after epoch 4's csv row but before its checkpoint: the resumed
    run redoes epoch 4 and writes its row again."""
    run_dir, data_yaml, _ = setup
    write_run(run_dir, data_yaml, rows=[(3, 900), (4, 1200), (4, 290), (5, 600)])
    rows = yolo.read_results_csv(str(run_dir))
    assert [(r['epoch'], r['time']) for r in rows] == [(3, 900), (4, 290), (5, 600)]


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_eta_of_a_resumed_task_projects_from_this_session(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(progress_mod.time, 'time', clock)
    tasks = [('train:a', 'train', 'a')]

    resumed = Progress(tasks, stream=io.StringIO())
    resumed.begin('train:a', resumed=True)
    resumed.update(0.5)  # resumes half-way, at once
    clock.now += 100
    resumed.update(0.6)  # 10% of the task in 100 s
    assert resumed.remaining() == pytest.approx(400)  # 40% left at 100 s per 10%

    fresh = Progress(tasks, stream=io.StringIO())
    fresh.begin('train:a')
    clock.now += 100
    fresh.update(0.25)
    assert fresh.remaining() == pytest.approx(300)


def test_eta_after_cached_tasks(monkeypatch):
    """Cached tasks take no time and do not make the ETA of later tasks of
    their kind absurd."""
    clock = FakeClock()
    monkeypatch.setattr(progress_mod.time, 'time', clock)
    prog = Progress([('speed:a', 'speed', 'a'), ('speed:b', 'speed', 'b')],
                    stream=io.StringIO(), defaults={'speed': 60.0})
    clock.now += 500
    prog.finish('speed:a', cached=True)
    assert prog.remaining() == pytest.approx(60.0)


def test_explicit_rebase_mid_task(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(progress_mod.time, 'time', clock)
    prog = Progress([('yolo:Y', 'yolo', 'Y')], stream=io.StringIO(),
                    defaults={'yolo': 1000.0})
    prog.begin('yolo:Y', 'converting the data')
    clock.now += 10
    prog.update(0.4, 'resuming after epoch 4/10', rebase=True)
    # no progress yet in this session: the default duration for the 60% left
    assert prog.remaining() == pytest.approx(1000 * 0.6 - 10)
    clock.now += 50
    prog.update(0.5)
    assert prog.remaining() == pytest.approx(50 * 0.5 / 0.1)
