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

This module holds :class:`Benchmark` (tasks, training, speed); the other
jobs of a run live beside it: ``settings`` (:class:`Settings`, what one run
does), ``records`` (cached files,
config digest), ``seeds`` (``--seeds`` aggregation), ``yolo_entry`` (the YOLO
entry), ``bottomup`` (bottom-up MMPose entries: their config and speed),
``rows`` and ``report`` (the tables, CSV and plots), ``estimate``
(``--estimate``).
"""
import dataclasses
import os
import os.path as osp
import time
import traceback
from typing import Dict, List, Optional

from .entries import Entry
from .estimate import estimate
from .progress import Progress
from .protocol import Protocol, check_data
from .records import config_digest, load_json, save_json, set_aside, training_record
from .report import write_report
from .seeds import aggregate_seeds
from .settings import Settings
from .training import (
    TrainProgress,
    child_env,
    generated_config,
    has_checkpoint,
    last_checkpoint,
    read_scalars,
    run_logged,
    train_command,
)
from .yolo_entry import run_yolo_entry

__all__ = ['Benchmark', 'ProtocolMismatch', 'aggregate_seeds', 'config_digest', 'estimate']


class ProtocolMismatch(RuntimeError):
    """Cached results in the work dir were made under other settings."""


class Benchmark:
    """Runs :class:`Settings`; :meth:`run` returns the table rows."""

    def __init__(self, settings: Settings, stream=None) -> None:
        self.settings = settings
        self.protocol = settings.protocol
        self.stream = stream
        self.progress: Optional[Progress] = None

    def entries(self) -> List[Entry]:
        """The entries this run handles (no YOLO without training)."""
        return [e for e in self.settings.entries if self.settings.train or e.kind != 'yolo']

    def seed_protocol(self, seed: int) -> Protocol:
        """The protocol of one training seed."""
        return dataclasses.replace(self.protocol, seed=seed)

    # ------------------------------------------------------------ paths
    def entry_dir(self, entry: Entry) -> str:
        return osp.join(self.settings.work_dir, 'entries', entry.name)

    def train_dir(self, entry: Entry, seed: int) -> str:
        """Where ``entry`` trains with ``seed`` (the entry folder itself in a
        single-seed run)."""
        if not self.settings.multi_seed:
            return self.entry_dir(entry)
        return osp.join(self.entry_dir(entry), f'seed{seed}')

    def r50_dir(self, entry: Entry) -> str:
        return osp.join(self.settings.work_dir, 'r50', entry.name)

    # ------------------------------------------------------------ checks
    def check_work_dir(self) -> None:
        """Refuse to mix results of different protocols in one work dir."""
        path = osp.join(self.settings.work_dir, 'benchmark.json')
        previous = load_json(path)
        fingerprint = self.protocol.fingerprint()
        if self.settings.multi_seed:  # seeds may be added to a multi-seed work dir later
            fingerprint = self.seed_protocol(-1).fingerprint() + '|multi-seed'
        if previous and previous.get('fingerprint') != fingerprint:
            multi = [str(previous.get('fingerprint', '')).endswith('|multi-seed'),
                     self.settings.multi_seed]
            hint = (' (it holds a single-seed run; multi-seed runs need their own work dir)'
                    if multi == [False, True] else
                    ' (it holds a multi-seed run)' if multi == [True, False] else '')
            raise ProtocolMismatch(
                f'{self.settings.work_dir} holds results of another protocol '
                f'({previous.get("protocol")}){hint}; use another --work-dir or delete it')
        started = time.strftime('%Y-%m-%d %H:%M:%S')
        runs = list((previous or {}).get('runs') or [])  # every run that added records
        runs.append(dict(started=started, command=self.settings.command))
        save_json(path, dict(fingerprint=fingerprint, protocol=self.protocol.to_dict(),
                             command=self.settings.command, started=started, runs=runs))

    # ------------------------------------------------------------ tasks
    def tasks(self) -> List[tuple]:
        tasks = []
        for e in self.entries():
            if self.settings.train and e.kind == 'yolo':
                tasks.append((f'train:{e.name}', 'yolo', e.name))
            elif self.settings.train:
                tasks += [(self.train_key(e, seed), 'train',
                           e.name + (f' (seed {seed})' if self.settings.multi_seed else ''))
                          for seed in self.settings.seed_list]
            tasks.append((f'speed:{e.name}', 'speed', e.name))
        if self.settings.r50:
            tasks += [(f'r50:{e.name}', 'speed', f'{e.name} (ResNet-50 256x192)')
                      for e in self.settings.entries if e.r50_config]
        return tasks

    def run(self) -> List[dict]:
        check_data(self.protocol)
        os.makedirs(self.settings.work_dir, exist_ok=True)
        self.check_work_dir()
        import torch
        torch.set_num_threads(self.settings.threads)
        self.progress = Progress(self.tasks(), defaults=self.settings.eta_defaults,
                                 **({'stream': self.stream} if self.stream else {}))
        results: Dict[str, dict] = {}
        seeds = self.settings.seed_list
        for entry in self.entries():
            if entry.kind == 'yolo':
                acc, speed = run_yolo_entry(self, entry)
            else:
                per_seed = [self.train(entry, seed) if self.settings.train else load_json(
                    osp.join(self.train_dir(entry, seed), 'accuracy.json'))
                    for seed in seeds]
                acc = aggregate_seeds(per_seed, seeds) if self.settings.multi_seed else per_seed[0]
                speed = self.speed(f'speed:{entry.name}', entry.configs[self.protocol.name],
                                   osp.join(self.entry_dir(entry), 'speed.json'),
                                   entry.kind, self.trained_weights(entry, seeds[0]))
            results[entry.name] = dict(accuracy=acc, speed=speed)
        r50 = {}
        if self.settings.r50:
            for entry in self.settings.entries:
                if entry.r50_config:
                    r50[entry.name] = self.speed(f'r50:{entry.name}', entry.r50_config,
                                                 osp.join(self.r50_dir(entry), 'speed.json'))
        return write_report(self.settings, results, r50)

    # ------------------------------------------------------------ training
    def _follow(self, progress: TrainProgress, prefix: str = ''):
        def on_line(line: str) -> None:
            if progress.update(line):
                self.progress.update(progress.fraction, prefix + progress.describe(),
                                     force='coco/AP' in line)  # an epoch's val summary
        return on_line

    def train_key(self, entry: Entry, seed: int) -> str:
        return f'train:{entry.name}' + (f':seed{seed}' if self.settings.multi_seed else '')

    def train(self, entry: Entry, seed: Optional[int] = None) -> dict:
        """Train ``entry`` under the protocol with ``seed`` (default: the
        protocol's), cached / resumed."""
        seed = self.protocol.seed if seed is None else seed
        protocol = self.seed_protocol(seed)
        key = self.train_key(entry, seed)
        out = self.train_dir(entry, seed)
        acc_path = osp.join(out, 'accuracy.json')
        if protocol.name not in entry.configs:
            raise ValueError(f'{entry.name} has no config for protocol {protocol.name}')
        cached = load_json(acc_path)
        protocol_fingerprint = protocol.fingerprint()
        fingerprint = (protocol_fingerprint + '|config='
                       + config_digest(entry.configs[protocol.name]))
        if cached and cached.get('status') == 'done' and cached.get('fingerprint') == fingerprint:
            self.progress.finish(key, cached=True)
            return cached
        state = load_json(osp.join(out, 'protocol.json'))
        resume = has_checkpoint(out)
        if resume and (not state or state.get('fingerprint') != fingerprint):
            if state and not state.get('fingerprint', '').startswith(protocol_fingerprint + '|'):
                raise ProtocolMismatch(f'{out} holds checkpoints of another protocol; delete it')
            stale = set_aside(out)  # the entry's config was edited since
            print(f'{entry.name}: its config changed since the cached run; that run moved to '
                  f'{stale}, training again', flush=True)
            cached, resume = None, False
        elif not resume and read_scalars(out) != ([], []):
            stale = set_aside(out)  # an earlier run that left no checkpoint
            print(f'{entry.name}: an earlier unfinished run moved to {stale}', flush=True)
            cached = None
        self.progress.begin(key, 'resuming from the last checkpoint' if resume else 'starting',
                            resumed=resume)
        config = generated_config(entry.configs[protocol.name], protocol, out, entry.kind)
        save_json(osp.join(out, 'protocol.json'), dict(fingerprint=fingerprint))
        cmd = train_command(config, out, resume=resume)
        log = osp.join(out, 'train.log')
        own = {}  # a bottom-up entry's own schedule and image counts
        if entry.kind == 'bottomup':
            from mmengine.config import Config

            from .bottomup import bottomup_schedule, train_images
            own = dict(bottomup_schedule(Config.fromfile(config), protocol),
                       sizes=train_images(protocol))
        tracker = TrainProgress(own.get('epochs', protocol.epochs))
        proc = run_logged(cmd, log, env=child_env(self.settings.threads),
                          on_line=self._follow(tracker))
        result = training_record(entry.name, out, cmd, proc, log, protocol, fingerprint,
                                 **own)
        previous_rss = (cached or {}).get('peak_rss_mb') or 0
        if resume:
            result['peak_rss_mb'] = max(result['peak_rss_mb'] or 0, previous_rss)
            result['train_wall_s'] += (cached or {}).get('train_wall_s') or 0
        save_json(acc_path, result)
        self.progress.finish(key, 'done' if result['status'] == 'done'
                             else f'FAILED (see {log})')
        return result

    # ------------------------------------------------------------ speed
    def trained_weights(self, entry: Entry, seed: int) -> Optional[str]:
        """The last checkpoint of a bottom-up ``entry``'s training with
        ``seed`` (its latency includes an NMS whose load depends on the
        weights), ``None`` for top-down entries or when there is none."""
        if entry.kind != 'bottomup':
            return None
        return last_checkpoint(self.train_dir(entry, seed))

    def speed(self, key: str, config: str, path: str, kind: str = 'topdown',
              weights: Optional[str] = None) -> Optional[dict]:
        cached = load_json(path)
        measured_under = dict(self.settings.speed_key(), config=config_digest(config))
        if weights:  # measured again when the weights change
            measured_under['weights'] = f'{weights}@{os.path.getmtime(weights):.0f}'
        if cached and cached.get('settings') == measured_under:
            self.progress.finish(key, cached=True)
            return cached
        self.progress.begin(key, 'measuring')
        from .speed import load_pose_config, speed_and_size
        try:
            cfg = load_pose_config(config)
            if kind == 'bottomup':
                from .bottomup import speed_and_size as bottomup_speed
                result = bottomup_speed(cfg, self.settings.batch_sizes, self.settings.warmup,
                                        self.settings.repeats, checkpoint=weights)
            else:
                result = speed_and_size(cfg, self.settings.batch_sizes, self.settings.warmup,
                                        self.settings.repeats)
        except Exception as exc:  # noqa: BLE001  (one broken entry must not stop the run)
            self.progress.finish(key, f'FAILED: {type(exc).__name__}: {exc}')
            return dict(error=traceback.format_exc(), settings=None)
        result.update(settings=measured_under, config=config)
        save_json(path, result)
        lat = result['latency']
        self.progress.finish(key, 'predict b1 {:.1f} ms'.format(lat[1]['full_ms'])
                             if 1 in lat else 'done')
        return result

