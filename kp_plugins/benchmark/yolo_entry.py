"""The YOLO entry of a benchmark run (approach 5 through Ultralytics' own
trainer): convert the data, train or resume, score with MMPose's CocoMetric,
measure its speed; each step cached in the entry's folder like the top-down
entries (:mod:`kp_plugins.benchmark.yolo` holds the Ultralytics side)."""
import math
import os
import os.path as osp
import re
from typing import TYPE_CHECKING, Optional, Tuple

from . import yolo
from .records import load_json, log_tail, save_json, set_aside
from .training import child_env, run_logged

if TYPE_CHECKING:
    from .entries import Entry
    from .runner import Benchmark

ANSI = re.compile(r'\x1b\[[0-9;]*[A-Za-z]')


def run_yolo_entry(bench: 'Benchmark', entry: 'Entry') -> Tuple[dict, Optional[dict]]:
    """Train (cached / resumed) and measure the YOLO ``entry`` of ``bench``.

    Returns:
        its accuracy record and its speed record (``None`` when there is no
        trained model to measure).
    """
    settings, protocol, progress = bench.settings, bench.protocol, bench.progress
    key = f'train:{entry.name}'
    skip = yolo.yolo_unavailable()
    out = bench.entry_dir(entry)
    if skip:
        msg = f'YOLO entry skipped: {skip}'
        settings.notes.append(msg)
        progress.finish(key, msg, cached=True)
        progress.finish(f'speed:{entry.name}', 'skipped', cached=True)
        return dict(entry=entry.name, status='skipped', error=skip), None
    acc_path = osp.join(out, 'accuracy.json')
    cached = load_json(acc_path)
    fingerprint = protocol.fingerprint() + f'|imgsz={settings.yolo_imgsz}|{settings.yolo_subset}'
    run_dir = osp.join(out, 'train')
    weights = osp.join(run_dir, 'weights', 'last.pt')
    if cached and cached.get('status') == 'done' and cached.get('fingerprint') == fingerprint:
        progress.finish(key, cached=True)
        acc = cached
    else:
        progress.begin(key, 'converting the data')
        log = osp.join(out, 'train.log')
        try:
            data = yolo.prepare_data(protocol, osp.join(out, 'data'), settings.yolo_subset)
        except Exception as exc:  # noqa: BLE001
            acc = dict(entry=entry.name, status='failed', fingerprint=fingerprint,
                       error=f'data conversion: {type(exc).__name__}: {exc}')
            save_json(acc_path, acc)
            progress.finish(key, f'FAILED: {acc["error"]}')
            progress.finish(f'speed:{entry.name}', 'skipped', cached=True)
            return acc, None
        epochs = protocol.epochs
        state = yolo.run_state(run_dir, data['data_yaml'], protocol, settings.yolo_imgsz)
        if state == 'fresh' and osp.isdir(run_dir):
            # another protocol's run (or an unreadable one): its rows must not mix
            # into this one, but its weights are kept for the user to decide
            stale = set_aside(run_dir)
            print(f'{entry.name}: an earlier run with other arguments moved to {stale}',
                  flush=True)
            settings.notes.append(f'YOLO: an earlier run with other arguments was moved to '
                                  f'{stale}')
        cmd = yolo.train_command(data['data_yaml'], run_dir, protocol, settings.yolo_imgsz,
                                 resume=state == 'resume')

        def on_line(line: str) -> None:
            # Ultralytics prints "      3/10  ..." per batch in its progress bar
            head = ANSI.sub('', line).replace('\r', ' ').strip().split()
            if head and '/' in head[0]:
                done, _, total = head[0].partition('/')
                if done.isdigit() and total == str(epochs):
                    progress.update((int(done) - 1) / epochs, f'epoch {done}/{epochs}')

        if state == 'trained':  # only the scoring was missing
            proc = dict(returncode=0, peak_rss_mb=None, wall_s=None)
        else:
            if state == 'resume':
                done = yolo.note_resume(run_dir)
                progress.update(done / epochs, f'resuming after epoch {done}/{epochs}',
                                force=True, rebase=True)
            proc = run_logged(cmd, log, env=child_env(settings.threads), on_line=on_line)
        test_dir = osp.join(out, 'test')
        metrics = None
        if proc['returncode'] == 0 and osp.isfile(weights):
            progress.update(0.99, 'scoring with CocoMetric', force=True)
            tproc = run_logged(yolo.test_command(weights, protocol, settings.yolo_imgsz, test_dir),
                               log, env=child_env(settings.threads))
            if tproc['returncode'] == 0:
                metrics = load_json(osp.join(test_dir, 'metrics.json'))
        # an earlier attempt at this same run (its scoring failed, say)
        earlier_rss = ((cached or {}).get('peak_rss_mb') or 0
                       if (cached or {}).get('fingerprint') == fingerprint
                       and state != 'fresh' else 0)
        rows = yolo.read_results_csv(run_dir)
        curves = yolo.curves_from_results(rows)
        train_s = yolo.train_seconds(run_dir)
        images = data['train_images']
        status = 'done' if metrics else 'failed'
        acc = dict(entry=entry.name, status=status, fingerprint=fingerprint,
                   protocol=protocol.to_dict(), command=cmd, returncode=proc['returncode'],
                   error=None if metrics else log_tail(log),
                   metrics={k: v for k, v in (metrics or {}).items()
                            if isinstance(v, float)},
                   val_per_epoch=curves['val'], val_metric='Ultralytics mAP50-95(P)',
                   loss_curve=curves['loss'], train_instances=[images],
                   s_per_iter=(train_s / (epochs * math.ceil(images / protocol.batch_size))
                               if train_s else None),
                   samples_per_s=images * epochs / train_s if train_s else None,
                   peak_rss_mb=max(proc['peak_rss_mb'] or 0, earlier_rss) or None,
                   # a resumed run's processes before this one: its results.csv time
                   train_wall_s=proc['wall_s'] if state == 'fresh' else train_s,
                   imgsz=settings.yolo_imgsz)
        save_json(acc_path, acc)
        progress.finish(key, 'done' if metrics else f'FAILED (see {log})')
        if state != 'trained':  # new weights: their latency (NMS load) is measured anew
            stale = osp.join(out, 'speed.json')
            if osp.isfile(stale):
                os.remove(stale)
    skey = f'speed:{entry.name}'
    spath = osp.join(out, 'speed.json')
    speed = load_json(spath)
    if speed and speed.get('settings') == settings.speed_key():
        progress.finish(skey, cached=True)
    elif acc.get('status') == 'done' and osp.isfile(weights):
        progress.begin(skey, 'measuring')
        try:
            speed = yolo.speed_and_size(weights, settings.yolo_imgsz, settings.batch_sizes,
                                        settings.warmup, settings.repeats)
            speed['settings'] = settings.speed_key()
            save_json(spath, speed)
            progress.finish(skey)
        except Exception as exc:  # noqa: BLE001
            speed = None
            progress.finish(skey, f'FAILED: {type(exc).__name__}: {exc}')
    else:
        speed = None
        progress.finish(skey, 'skipped (no trained model)', cached=True)
    return acc, speed
