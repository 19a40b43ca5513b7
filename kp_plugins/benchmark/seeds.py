"""Several trainings of one entry, one per seed, summarised as one accuracy
record (``tools/benchmark.py --seeds``): mean and sample standard deviation."""
import math
from typing import List, Optional, Sequence

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
    means (with the seeds' common iterations per epoch and epochs), peak RSS
    the largest; the curves are the first finished seed's.
    ``status`` is ``done`` only when every seed finished (else ``k/n seeds
    done``, ``failed``, or ``not trained`` where no seed has a record: a
    ``--speed-only`` run of an entry not trained yet), and ``per_seed`` keeps each seed's record.
    """
    done = [(s, r) for s, r in zip(seeds, per_seed) if r and r.get('status') == 'done']
    first = done[0][1] if done else next((r for r in per_seed if r), {}) or {}
    out = dict(entry=first.get('entry'), seeds=list(seeds),
               seeds_done=[s for s, _ in done], per_seed=list(per_seed),
               status='done' if len(done) == len(seeds) else
               (f'{len(done)}/{len(seeds)} seeds done' if done else
                'failed' if any(per_seed) else 'not trained'),
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
    for key in ('iters_per_epoch', 'epochs'):  # the protocol's: equal for every seed
        if len({r.get(key) for r in records}) == 1:
            out[key] = records[0].get(key)
    rss = [r['peak_rss_mb'] for r in records if r.get('peak_rss_mb')]
    out['peak_rss_mb'] = max(rss) if rss else None
    return out
