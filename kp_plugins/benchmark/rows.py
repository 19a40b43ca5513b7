"""The rows of the benchmark's tables, from the per-entry results: one row
per entry under the protocol (EfficientNet-Lite0) and under ResNet-50
256x192, the backbone-only floor of each, and one row per (entry, seed) of a
multi-seed run. :mod:`kp_plugins.benchmark.report` writes them."""
from typing import Dict, List, Optional, Sequence, Tuple

from .records import train_seconds
from .settings import Settings


def minutes(seconds: Optional[float]) -> Optional[float]:
    return seconds / 60.0 if seconds else None


def speed_columns(speed: Optional[dict], big_batch: Optional[int]) -> dict:
    """Flatten a :func:`~kp_plugins.benchmark.speed.speed_and_size` result
    into row columns."""
    if not speed:
        return {}
    lat = {int(k): v for k, v in (speed.get('latency') or {}).items()}
    b1 = lat.get(1, {})
    bn = lat.get(big_batch, {}) if big_batch else {}

    def div(v, d):
        return None if v is None else v / d

    return dict(
        input=speed.get('input'), threads=speed.get('threads'),
        params_m=div(speed.get('params'), 1e6), head_params_m=div(speed.get('head_params'), 1e6),
        gflops=div(speed.get('flops'), 1e9),
        latency_b1_ms=b1.get('full_ms'), latency_bN_ms=bn.get('full_ms'),
        latency_batch=big_batch if bn else None,
        ort_b1_ms=b1.get('ort_ms'), ort_bN_ms=bn.get('ort_ms'),
        head_decode_b1_ms=b1.get('head_decode_ms'), head_decode_bN_ms=bn.get('head_decode_ms'),
        backbone_b1_ms=b1.get('backbone_ms'))


def floor_row(section: str, backbone: str, speeds: Sequence[dict],
              big_batch: Optional[int]) -> Optional[dict]:
    """The backbone-only row: its parameters and FLOPs, and the median of
    the entries' backbone latencies (one measurement per entry)."""
    speeds = [s for s in speeds if s and s.get('latency')]
    if not speeds:
        return None

    def median(values):
        values = sorted(v for v in values if v is not None)
        if not values:
            return None
        mid = len(values) // 2
        return values[mid] if len(values) % 2 else 0.5 * (values[mid - 1] + values[mid])

    def lat(s, bs):
        return ({int(k): v for k, v in s['latency'].items()}.get(bs) or {}).get('backbone_ms')

    first = speeds[0]
    b1 = median(lat(s, 1) for s in speeds)
    bn = median(lat(s, big_batch) for s in speeds) if big_batch else None
    return dict(section=section, entry='backbone only (floor)', approach='–', backbone=backbone,
                input=first.get('input'), threads=first.get('threads'),
                params_m=first['backbone_params'] / 1e6 if first.get('backbone_params') else None,
                head_params_m=0.0,
                gflops=first['backbone_flops'] / 1e9 if first.get('backbone_flops') else None,
                latency_b1_ms=b1, latency_bN_ms=bn, latency_batch=big_batch if bn else None,
                backbone_b1_ms=b1, head_decode_b1_ms=0.0, head_decode_bN_ms=0.0 if bn else None)


def table_rows(settings: Settings, results: Dict[str, dict], r50: Dict[str, dict]
               ) -> Tuple[List[dict], List[dict]]:
    """The rows of the protocol table (one per entry, then the backbone-only
    floor) and of the ResNet-50 256x192 speed table."""
    protocol = settings.protocol
    big = settings.big_batch
    protocol_rows, r50_rows = [], []
    for entry in settings.entries:
        res = results.get(entry.name) or {}
        acc, speed = res.get('accuracy') or {}, res.get('speed') or {}
        m = acc.get('metrics') or {}
        backbone = 'yolo11n-pose' if entry.kind == 'yolo' else 'EfficientNet-Lite0'
        row = dict(section=f'protocol {protocol.name}', entry=entry.name,
                   approach=entry.approach, backbone=backbone, input=protocol.name,
                   status=acc.get('status'),
                   s_per_iter=acc.get('s_per_iter'),
                   train_samples_per_s=acc.get('samples_per_s'),
                   peak_rss_gb=(acc['peak_rss_mb'] / 1024.0) if acc.get('peak_rss_mb')
                   else None,
                   train_min=minutes(train_seconds(acc)),
                   coco_ap=m.get('coco/AP'), coco_ap50=m.get('coco/AP .5'),
                   coco_ar=m.get('coco/AR'), pck=m.get('PCK'), epe=m.get('EPE'))
        row.update(speed_columns(speed, big))
        if entry.kind == 'yolo':
            row['input'] = f'{settings.yolo_imgsz}x{settings.yolo_imgsz} image'
            if settings.multi_seed:
                row['seeds'] = str(protocol.seed)
        elif entry.kind == 'bottomup':
            row['input'] = (speed or {}).get('input') or 'whole image'
        if entry.kind != 'yolo' and 'per_seed' in acc:
            row['seeds'] = ' '.join(str(x) for x in acc['seeds_done']) or '–'
            std = acc.get('metrics_std') or {}
            row.update(coco_ap_std=std.get('coco/AP'), coco_ap50_std=std.get('coco/AP .5'),
                       coco_ar_std=std.get('coco/AR'), pck_std=std.get('PCK'),
                       epe_std=std.get('EPE'))
        protocol_rows.append(row)
    floor = floor_row(f'protocol {protocol.name}', 'EfficientNet-Lite0',
                      [(results.get(e.name) or {}).get('speed') for e in settings.entries
                       if e.kind == 'topdown'], big)
    if floor:
        protocol_rows.append(floor)
    for entry in settings.entries:
        speed = r50.get(entry.name)
        if not entry.r50_config or not speed:
            continue
        row = dict(section='ResNet-50 256x192', entry=entry.name, approach=entry.approach,
                   backbone='ResNet-50')
        row.update(speed_columns(speed, big))
        r50_rows.append(row)
    floor = floor_row('ResNet-50 256x192', 'ResNet-50',
                      [r50.get(e.name) for e in settings.entries if r50.get(e.name)], big)
    if floor:
        r50_rows.append(floor)
    return protocol_rows, r50_rows


def seed_rows(settings: Settings, results: Dict[str, dict]) -> List[dict]:
    """One CSV row per (entry, seed) of a multi-seed run."""
    protocol = settings.protocol
    rows = []
    for entry in settings.entries:
        acc = (results.get(entry.name) or {}).get('accuracy') or {}
        for seed, rec in zip(acc.get('seeds', []), acc.get('per_seed', [])):
            rec = rec or {}
            m = rec.get('metrics') or {}
            rows.append(dict(
                section=f'protocol {protocol.name}, one seed', entry=entry.name,
                approach=entry.approach, backbone='EfficientNet-Lite0',
                input=protocol.name if entry.kind == 'topdown' else 'whole image',
                seeds=str(seed), status=rec.get('status', 'missing'),
                s_per_iter=rec.get('s_per_iter'),
                train_samples_per_s=rec.get('samples_per_s'),
                peak_rss_gb=rec['peak_rss_mb'] / 1024.0 if rec.get('peak_rss_mb') else None,
                train_min=minutes(train_seconds(rec)),
                coco_ap=m.get('coco/AP'), coco_ap50=m.get('coco/AP .5'),
                coco_ar=m.get('coco/AR'), pck=m.get('PCK'), epe=m.get('EPE')))
    return rows
