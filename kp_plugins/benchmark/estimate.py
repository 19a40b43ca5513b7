"""``tools/benchmark.py --estimate N``: time a few training iterations of
every top-down entry under the protocol and project the full run's duration
(``estimate.md``, ``estimate.json`` in the work dir)."""
import copy
import math
import os
import os.path as osp
import time
from typing import List

from .progress import Progress, hms
from .protocol import Protocol, check_data, estimate_subset, train_sizes
from .records import save_json
from .settings import Settings
from .training import (
    TRAIN_LINE,
    VAL_LINE,
    child_env,
    generated_config,
    iteration_time,
    read_scalars,
    run_logged,
    train_command,
)


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
    entries = [e for e in settings.entries if e.kind == 'topdown']
    tasks = [(e.name, 'estimate', e.name) for e in entries]
    progress = Progress(tasks, **({'stream': stream} if stream else {}))
    rows = []
    for entry in entries:
        out = osp.join(settings.work_dir, 'estimate', entry.name)
        if osp.isdir(out):
            import shutil
            shutil.rmtree(out)
        progress.begin(entry.name, f'{iters} iterations of batch {p.batch_size}')
        config = generated_config(entry.configs[probe.name], probe, out)
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
