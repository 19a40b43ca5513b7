"""What a benchmark run keeps on disk for each entry: json files (written
atomically), the config digest that keys a cached result, a stale run set
aside, and the accuracy record of one training read from its logs."""
import json
import math
import os
import os.path as osp
from typing import List, Optional

from .protocol import Protocol, train_sizes
from .training import iteration_time, read_scalars


def load_json(path: str) -> Optional[dict]:
    """The file's content, or ``None`` if it is missing or unreadable."""
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


def set_aside(path: str) -> str:
    """Move the folder ``path`` to ``path.old<N>`` (the first free N), make
    ``path`` anew and return where the old one went."""
    n = 1
    while osp.exists(f'{path}.old{n}'):
        n += 1
    os.replace(path, f'{path}.old{n}')
    os.makedirs(path)
    return f'{path}.old{n}'


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


def train_seconds(record: dict) -> Optional[float]:
    """Training seconds of an ``accuracy.json`` record (one seed's or the
    seeds' summary of :func:`~kp_plugins.benchmark.seeds.aggregate_seeds`):
    its median logged s/iter times its iterations, so that a CPU paused or
    shared for a while does not inflate it (validation excluded); the
    process wall time where the record lacks them (YOLO's records: the
    time Ultralytics logged)."""
    if record.get('s_per_iter') and record.get('iters_per_epoch') and record.get('epochs'):
        return record['s_per_iter'] * record['iters_per_epoch'] * record['epochs']
    return record.get('train_wall_s') or None


def training_record(entry_name: str, out: str, cmd: List[str], proc: dict, log: str,
                    protocol: Protocol, fingerprint: str, epochs: Optional[int] = None,
                    batch_size: Optional[int] = None,
                    sizes: Optional[List[int]] = None) -> dict:
    """The ``accuracy.json`` record of one training: its status, final
    metrics, curves and throughput, read from the MMEngine work dir
    ``out`` and the process result ``proc`` of
    :func:`~kp_plugins.benchmark.training.run_logged`.

    ``epochs``, ``batch_size`` and ``sizes`` (training instances per source)
    default to the protocol's; a bottom-up entry passes its own schedule and
    image counts."""
    epochs = epochs or protocol.epochs
    batch_size = batch_size or protocol.batch_size
    train_records, val_records = read_scalars(out)
    metrics = final_metrics(val_records, epochs)
    s_iter = iteration_time(train_records)
    sizes = sizes or train_sizes(protocol)
    iters_per_epoch = int(math.ceil(sum(sizes) / float(batch_size)))
    status = 'done' if proc['returncode'] == 0 and metrics else 'failed'
    return dict(
        entry=entry_name, status=status, fingerprint=fingerprint, seed=protocol.seed,
        protocol=protocol.to_dict(), config=osp.join(out, 'config.py'), command=cmd,
        returncode=proc['returncode'],
        error=None if status == 'done' else log_tail(log),
        metrics={k: v for k, v in (metrics or {}).items() if k not in ('step', )},
        val_per_epoch=val_curve(val_records),
        loss_curve=loss_curve(train_records, iters_per_epoch),
        train_instances=sizes, iters_per_epoch=iters_per_epoch,
        s_per_iter=s_iter,
        samples_per_s=batch_size / s_iter if s_iter else None, epochs=epochs,
        batch_size=batch_size,
        peak_rss_mb=proc['peak_rss_mb'], train_wall_s=proc['wall_s'])
