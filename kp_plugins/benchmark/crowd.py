"""Crowd benchmark: a one-stage (bottom-up) pose model against a top-down
pipeline (person detector + top-down model on every person's crop) as the
number of persons per image grows (``tools/benchmark_crowd.py``).

Scenes: synthetic crowds of exactly ``N`` persons (``layout='grid'``,
:func:`~kp_plugins.datasets.synthetic_people.crowd_split_spec`), held out
from the training splits by their split name ``crowd<N>``.

Per crowd size ``N``:

* latency (ms, median of ``repeats`` runs after ``warmup``, one image, the
  threads torch is set to) of the one-stage model on the whole image
  (``predict_poses_bottomup``: resize, forward, decode, NMS), of the
  detector (``detector([image])``) and of the top-down model on the ``N``
  ground-truth person boxes (``predict_poses``: crops, one batched forward,
  decode); the top-down time is detector + crops, with each part's share;
  with onnxruntime also the crops through the exported top-down model
  (:class:`~kp_plugins.deploy.runtime.OnnxPoseModel`) and the exported
  one-stage model on the whole image
  (:meth:`~kp_plugins.deploy.bottomup_runtime.OnnxBottomupPoseModel.predict`:
  resize and pad, the graph, score threshold and NMS, mapping to the image),
  both exported on the fly unless ONNX files are given;
* COCO keypoint AP (MMPose's ``CocoMetric`` with each config's own test
  metric settings) on the ``scenes`` images: the one-stage model (torch,
  and onnxruntime when its column is measured); the
  top-down model on the detector's boxes (when the detector is a trained
  model: the one-stage model's person boxes); the top-down model on the
  ground-truth boxes (its upper bound).

Symbols: ``N`` persons, ``K`` keypoints.
"""
import json
import os
import os.path as osp
import platform
import tempfile
from dataclasses import asdict, dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import torch

from ..datasets.synthetic_people import CROWD_SIZES, crowd_split_spec, ensure_split
from .speed import median_ms

#: Detectors the top-down pipeline can use: the one-stage model's person
#: boxes (timed and scored), or RTMDet-tiny with random weights (timed only).
DETECTORS = ('onestage', 'random-rtmdet')
#: Files written by :func:`write_outputs`.
RECORD_NAME, TABLE_NAME, PLOT_NAME = 'crowd.json', 'crowd.md', 'crowd.png'
#: The fields of one row of the record (one crowd size).
ROW_FIELDS = (
    'people', 'scenes', 'detector_boxes', 'onestage_ms', 'onestage_ort_ms', 'detector_ms',
    'crops_ms', 'topdown_ms', 'detector_share', 'crops_share', 'crops_ort_ms',
    'topdown_ort_ms', 'onestage_ap', 'onestage_ar', 'onestage_ort_ap', 'onestage_ort_ar',
    'topdown_ap', 'topdown_ar', 'topdown_gt_ap', 'topdown_gt_ar')


@dataclass
class CrowdSettings:
    """What a crowd benchmark run measures.

    Args:
        people: crowd sizes (persons per image).
        scenes: held-out images per crowd size for AP.
        img_size: ``(w, h)`` of the scenes.
        seed: the scenes' seed.
        warmup, repeats: timing runs (median of ``repeats``).
        threads: torch (and onnxruntime) threads.
        detector: one of :data:`DETECTORS`.
        cache_dir: where the scenes are written (default: the synthetic
            sets' cache).
    """
    people: Tuple[int, ...] = CROWD_SIZES
    scenes: int = 20
    img_size: Tuple[int, int] = (640, 480)
    seed: int = 0
    warmup: int = 3
    repeats: int = 10
    threads: int = 2
    detector: str = 'onestage'
    cache_dir: Optional[str] = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.detector not in DETECTORS:
            raise ValueError(f'detector must be one of {DETECTORS}, got {self.detector!r}')
        if not self.people or any(not 1 <= n <= 64 for n in self.people):
            raise ValueError(f'crowd sizes must be in 1..64, got {self.people!r}')
        if self.scenes < 1 or self.repeats < 1 or self.warmup < 0 or self.threads < 1:
            raise ValueError('scenes, repeats and threads must be >= 1 and warmup >= 0')


def crowd_scenes(settings: CrowdSettings, num_people: int) -> Tuple[str, List[dict]]:
    """The held-out scenes of ``num_people`` persons (generated once).

    Returns:
        tuple: ``annotations.json`` path and its images (``id``,
        ``file_name``, ``path``, ``boxes`` (N, 4) xyxy ground truth,
        clipped to ``x <= w - 1``, ``y <= h - 1`` as MMPose's CocoDataset
        reads them, so the ground-truth-box AP is ``tools/test.py``'s).
    """
    spec = crowd_split_spec(num_people, settings.scenes, settings.img_size, settings.seed)
    folder = ensure_split(spec, settings.cache_dir)
    ann_file = osp.join(folder, 'annotations.json')
    with open(ann_file) as f:
        coco = json.load(f)
    boxes: Dict[int, list] = {}
    sizes = {img['id']: (img['width'], img['height']) for img in coco['images']}
    for ann in coco['annotations']:
        x, y, w, h = ann['bbox']
        img_w, img_h = sizes[ann['image_id']]
        boxes.setdefault(ann['image_id'], []).append(
            np.clip([x, y, x + w, y + h], 0, [img_w - 1, img_h - 1, img_w - 1, img_h - 1]))
    images = [dict(id=img['id'], file_name=img['file_name'],
                   path=osp.join(folder, 'images', img['file_name']),
                   boxes=np.asarray(boxes.get(img['id'], []), np.float32).reshape(-1, 4))
              for img in coco['images']]
    return ann_file, images


# ------------------------------------------------------------------ scoring


def metric_options(model) -> dict:
    """``CocoMetric`` arguments of the model config's test metric (score and
    NMS modes...), without its annotation file."""
    evaluator = model.cfg.get('test_evaluator', {})
    if isinstance(evaluator, (list, tuple)):
        evaluator = next((e for e in evaluator if e.get('type') == 'CocoMetric'), {})
    return {k: v for k, v in dict(evaluator).items()
            if k not in ('type', 'ann_file', 'outfile_prefix', 'format_only', 'prefix')}


def metric_samples(sample, img_id: int, first_id: int) -> List[dict]:
    """One ``CocoMetric`` data sample per person of ``sample`` (a
    ``PoseDataSample`` of one image), ids ``first_id, first_id + 1...``
    (the metric keeps one prediction per id). A top-down sample's
    ``bbox_scales`` (the crop sizes) go along: the metric's person areas,
    as in ``tools/test.py``."""
    pred = sample.pred_instances
    scales = None
    if 'gt_instances' in sample and 'bbox_scales' in sample.gt_instances:
        scales = np.asarray(sample.gt_instances.bbox_scales, np.float32).reshape(-1, 2)
    out = []
    for i in range(len(pred.keypoints)):
        item = dict(
            id=first_id + i, img_id=img_id, category_id=1,
            pred_instances=dict(
                keypoints=np.asarray(pred.keypoints[i:i + 1], np.float32),
                keypoint_scores=np.asarray(pred.keypoint_scores[i:i + 1], np.float32),
                bboxes=np.asarray(pred.bboxes[i:i + 1], np.float32).reshape(1, 4),
                bbox_scores=np.asarray(pred.bbox_scores[i:i + 1], np.float32).reshape(1)),
            gt_instances={})
        if scales is not None:
            item['gt_instances'] = dict(bbox_scales=scales[i:i + 1])
        out.append(item)
    return out


def coco_ap(samples: List[dict], ann_file: str, dataset_meta: dict,
            options: Optional[dict] = None) -> Dict[str, float]:
    """``CocoMetric``'s AP and AR of per-person ``samples``
    (:func:`metric_samples`) against ``ann_file``; no prediction at all
    scores 0 (every person missed)."""
    from mmpose.evaluation import CocoMetric
    if not samples:
        return dict(AP=0.0, AR=0.0)
    metric = CocoMetric(ann_file=ann_file, **(options or {}))
    metric.dataset_meta = dict(dataset_meta)
    metric.process([], samples)
    result = metric.evaluate(len(samples))
    return dict(AP=float(result['coco/AP']), AR=float(result['coco/AR']))


# ------------------------------------------------------------------ models


def onnx_model(model, onnx_file: Optional[str], tmp_dir: str, threads: int,
               name: str):
    """The onnxruntime model of ``model`` (top-down :class:`~kp_plugins.
    deploy.runtime.OnnxPoseModel` or bottom-up :class:`~kp_plugins.deploy.
    bottomup_runtime.OnnxBottomupPoseModel`, by the file): ``onnx_file``
    when given, else ``model`` exported into ``tmp_dir/<name>.onnx``
    (dynamic batch; bottom-up: all candidates). Returns ``(model, None)`` or
    ``(None, why)``, ``why`` naming the ``name`` column skipped."""
    try:
        from kp_plugins.apis import is_bottomup
        from kp_plugins.deploy.runtime import load_onnx_model
        if not onnx_file:
            onnx_file = osp.join(tmp_dir, f'{name}.onnx')
            if is_bottomup(model):
                from kp_plugins.deploy.bottomup_export import export_bottomup_onnx
                export_bottomup_onnx(model, model.cfg, onnx_file, 'crowd benchmark')
            else:
                from kp_plugins.deploy.export import export_onnx
                export_onnx(model, model.cfg, onnx_file, 'crowd benchmark')
        return load_onnx_model(onnx_file, num_threads=threads), None
    except Exception as exc:  # noqa: BLE001  (no deploy extra, a head that does not export)
        return None, f'{name} onnxruntime column skipped: {type(exc).__name__}: {exc}'


def persons_sample(persons):
    """A ``PoseDataSample`` holding the persons the onnxruntime one-stage
    model found in one image (:class:`~kp_plugins.deploy.bottomup_runtime.
    BottomupPersons`, image pixels), for :func:`metric_samples`."""
    from mmengine.structures import InstanceData
    from mmpose.structures import PoseDataSample
    sample = PoseDataSample()
    sample.pred_instances = InstanceData(
        keypoints=persons.keypoints, keypoint_scores=persons.keypoint_scores,
        bboxes=persons.bboxes, bbox_scores=persons.bbox_scores)
    return sample


# ------------------------------------------------------------------ the run


def run_crowd_benchmark(settings: CrowdSettings, onestage: Tuple[str, str],
                        topdown: Tuple[str, str], onestage_onnx: Optional[str] = None,
                        topdown_onnx: Optional[str] = None, rtmdet_config: Optional[str] = None,
                        log: Callable[[str], None] = print) -> dict:
    """Measure both pipelines on every crowd size (see the module docstring).

    Args:
        settings: what to measure.
        onestage: ``(config, checkpoint)`` of a bottom-up pose model.
        topdown: ``(config, checkpoint)`` of a top-down pose model.
        onestage_onnx: ONNX file of the one-stage model (``None``:
            exported here when the deploy extra is installed).
        topdown_onnx: ONNX file of the top-down model (``None``: exported
            here when the deploy extra is installed).
        rtmdet_config: RTMDet config for ``detector='random-rtmdet'``
            (default MMDet's RTMDet-tiny at 640x640).

    Returns:
        dict: the record: ``settings``, ``models``, ``environment``,
        ``notes`` and one row per crowd size (:data:`ROW_FIELDS`; ``None``
        where a value is not measured, a note says why).
    """
    from kp_plugins.apis import (
        BottomupPersonDetector,
        load_pose_model,
        predict_poses,
        predict_poses_bottomup,
        read_image,
    )
    torch.set_num_threads(settings.threads)
    notes: List[str] = []
    onestage_det = BottomupPersonDetector(*onestage, device='cpu')
    onestage_model = onestage_det.model
    topdown_model = load_pose_model(*topdown, device='cpu')
    os_options, td_options = metric_options(onestage_model), metric_options(topdown_model)

    tmp = tempfile.TemporaryDirectory()
    ort_model, why = onnx_model(topdown_model, topdown_onnx, tmp.name, settings.threads,
                                'top-down')
    if why:
        notes.append(why)
    ort_onestage, why = onnx_model(onestage_model, onestage_onnx, tmp.name, settings.threads,
                                   'one-stage')
    if why:
        notes.append(why)
    rows = []
    rtmdet = None
    for n in settings.people:
        ann_file, images = crowd_scenes(settings, n)
        log(f'{n} persons per image: {len(images)} scenes ({ann_file})')
        # ---- accuracy
        os_samples, ort_samples, td_samples, gt_samples = [], [], [], []
        for img in images:
            image = read_image(img['path'])
            boxes = onestage_det([image])[0]
            poses = onestage_det.last_poses[0]
            os_samples += metric_samples(poses, img['id'], len(os_samples))
            if ort_onestage is not None:
                ort_samples += metric_samples(persons_sample(ort_onestage.predict(image)),
                                              img['id'], len(ort_samples))
            if settings.detector == 'onestage':
                td_samples += metric_samples(predict_poses(topdown_model, image, boxes),
                                             img['id'], len(td_samples))
            gt = np.concatenate([img['boxes'], np.ones((len(img['boxes']), 1), np.float32)], 1)
            gt_samples += metric_samples(predict_poses(topdown_model, image, gt), img['id'],
                                         len(gt_samples))
        meta = onestage_model.dataset_meta
        os_ap = coco_ap(os_samples, ann_file, meta, os_options)
        ort_ap = (coco_ap(ort_samples, ann_file, meta, os_options)
                  if ort_onestage is not None else dict(AP=None, AR=None))
        td_ap = (coco_ap(td_samples, ann_file, topdown_model.dataset_meta, td_options)
                 if settings.detector == 'onestage' else dict(AP=None, AR=None))
        gt_ap = coco_ap(gt_samples, ann_file, topdown_model.dataset_meta, td_options)

        # ---- latency, on the first scene
        image = read_image(images[0]['path'])
        gt_boxes = np.concatenate([images[0]['boxes'],
                                   np.ones((len(images[0]['boxes']), 1), np.float32)], 1)
        if settings.detector == 'onestage':
            detector = onestage_det
        else:
            if rtmdet is None:
                from .random_detector import random_rtmdet_detector
                rtmdet = random_rtmdet_detector(tmp.name, [image], rtmdet_config)
            rtmdet.model.bbox_head.test_cfg['max_per_img'] = n  # N boxes, for N crops
            rtmdet.model.bbox_head.test_cfg['nms_pre'] = 1000
            detector = rtmdet
        w, r = settings.warmup, settings.repeats
        onestage_ms = median_ms(lambda: predict_poses_bottomup(onestage_model, image), w, r)
        detector_boxes = len(detector([image])[0])
        detector_ms = median_ms(lambda: detector([image]), w, r)
        crops_ms = median_ms(lambda: predict_poses(topdown_model, image, gt_boxes), w, r)
        topdown_ms = detector_ms + crops_ms
        crops_ort_ms = None
        if ort_model is not None:
            crops_ort_ms = median_ms(lambda: ort_model.predict(image, gt_boxes), w, r)
        onestage_ort_ms = None
        if ort_onestage is not None:
            onestage_ort_ms = median_ms(lambda: ort_onestage.predict(image), w, r)
        # the top-down pipeline all in onnxruntime: the one-stage model as its
        # detector runs exported too; RTMDet stays in torch (not exported)
        detector_ort_ms = (onestage_ort_ms if settings.detector == 'onestage'
                           else detector_ms)
        rows.append(dict(
            people=n, scenes=len(images), detector_boxes=detector_boxes,
            onestage_ms=onestage_ms, onestage_ort_ms=onestage_ort_ms,
            detector_ms=detector_ms, crops_ms=crops_ms, topdown_ms=topdown_ms,
            detector_share=detector_ms / topdown_ms, crops_share=crops_ms / topdown_ms,
            crops_ort_ms=crops_ort_ms,
            topdown_ort_ms=(None if crops_ort_ms is None or detector_ort_ms is None
                            else detector_ort_ms + crops_ort_ms),
            onestage_ap=os_ap['AP'], onestage_ar=os_ap['AR'],
            onestage_ort_ap=ort_ap['AP'], onestage_ort_ar=ort_ap['AR'],
            topdown_ap=td_ap['AP'], topdown_ar=td_ap['AR'],
            topdown_gt_ap=gt_ap['AP'], topdown_gt_ar=gt_ap['AR']))
        log('  ' + ', '.join(f'{k} {_fmt(rows[-1][k])}' for k in ROW_FIELDS[3:]))
    tmp.cleanup()
    if settings.detector == 'random-rtmdet':
        notes.append('detector: RTMDet-tiny with random weights, timed only (its boxes are '
                     'not persons); top-down AP on detector boxes not measured')
    if ort_onestage is not None:
        notes.append('onestage_ort_ms: OnnxBottomupPoseModel.predict on the whole image '
                     '(resize and pad, graph, score threshold, NMS, mapping to the image), as '
                     'onestage_ms times predict_poses_bottomup')
    notes.append('topdown_ort_ms: the detector ('
                 + ('the exported one-stage model, as onestage_ort_ms'
                    if settings.detector == 'onestage' else 'in torch, as detector_ms')
                 + ') + the crops in onnxruntime (crops_ort_ms)')
    notes.append('crops_ms: the top-down model on the N ground-truth boxes of the timed '
                 'scene (crop + one batched forward + decode), whatever the detector found')
    return dict(
        settings={k: v for k, v in asdict(settings).items() if k != 'cache_dir'},
        models=dict(onestage=dict(config=onestage[0], checkpoint=onestage[1],
                                  head=type(onestage_model.head).__name__),
                    topdown=dict(config=topdown[0], checkpoint=topdown[1],
                                 head=type(topdown_model.head).__name__),
                    detector=settings.detector, onestage_onnx=onestage_onnx,
                    topdown_onnx=topdown_onnx),
        environment=dict(torch=torch.__version__, threads=torch.get_num_threads(),
                         machine=platform.machine(), processor=platform.processor(),
                         cpus=os.cpu_count()),
        notes=notes, rows=rows)


# ------------------------------------------------------------------ outputs


def _fmt(value, digits: int = 1) -> str:
    if value is None:
        return '–'
    if isinstance(value, float):
        return f'{value:.{digits}f}'
    return str(value)


def markdown_table(record: dict) -> str:
    """The record as a markdown table, one line per crowd size."""
    lines = [
        '| persons | one-stage ms | top-down ms | detector | crops | one-stage ORT ms '
        '| top-down ORT ms | one-stage AP | one-stage ORT AP | top-down AP '
        '| top-down AP (GT boxes) |',
        '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|']
    def share(value: Optional[float]) -> str:
        return '–' if value is None else f'{100 * value:.0f}%'

    for row in record['rows']:
        lines.append(
            f"| {row['people']} | {_fmt(row['onestage_ms'])} | {_fmt(row['topdown_ms'])} "
            f"| {_fmt(row['detector_ms'])} ({share(row['detector_share'])}) "
            f"| {_fmt(row['crops_ms'])} ({share(row['crops_share'])}) "
            f"| {_fmt(row['onestage_ort_ms'])} | {_fmt(row['topdown_ort_ms'])} "
            f"| {_fmt(row['onestage_ap'], 3)} | {_fmt(row['onestage_ort_ap'], 3)} "
            f"| {_fmt(row['topdown_ap'], 3)} "
            f"| {_fmt(row['topdown_gt_ap'], 3)} |")
    s = record['settings']
    lines += ['', f"Latency: median of {s['repeats']} runs after {s['warmup']} "
              f"({s['threads']} threads, one {s['img_size'][0]}x{s['img_size'][1]} image); "
              f"top-down = detector ({record['models']['detector']}) + crops. AP: "
              f"{s['scenes']} held-out scenes per crowd size (CocoMetric)."]
    lines += [f'- {note}' for note in record.get('notes', [])]
    return '\n'.join(lines) + '\n'


def plot(record: dict, out_file: str) -> None:
    """Latency and AP against persons per image, one PNG."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    rows = record['rows']
    people = [r['people'] for r in rows]
    fig, (ax_ms, ax_ap) = plt.subplots(1, 2, figsize=(11, 4.2))
    for key, label, style in (('onestage_ms', 'one-stage (torch)', 'o-'),
                              ('topdown_ms', 'top-down: detector + crops (torch)', 's-'),
                              ('detector_ms', 'top-down: detector only', 's:'),
                              ('onestage_ort_ms', 'one-stage (onnxruntime)', 'o--'),
                              ('topdown_ort_ms', 'top-down (onnxruntime)', 's--')):
        points = [(p, r[key]) for p, r in zip(people, rows) if r[key] is not None]
        if points:
            ax_ms.plot(*zip(*points), style, label=label)
    ax_ms.set(xscale='log', yscale='log', xlabel='persons per image', ylabel='ms per image',
              title='latency')
    for key, label, style in (('onestage_ap', 'one-stage', 'o-'),
                              ('topdown_ap', 'top-down (detector boxes)', 's-'),
                              ('topdown_gt_ap', 'top-down (ground-truth boxes)', 's:')):
        points = [(p, r[key]) for p, r in zip(people, rows) if r[key] is not None]
        if points:
            ax_ap.plot(*zip(*points), style, label=label)
    ax_ap.set(xscale='log', xlabel='persons per image', ylabel='COCO AP', title='accuracy')
    for ax in (ax_ms, ax_ap):
        ax.set_xticks(people)
        ax.set_xticklabels([str(p) for p in people])
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_file, dpi=110)
    plt.close(fig)


def write_outputs(record: dict, out_dir: str) -> Dict[str, str]:
    """The record (JSON), its table (markdown) and plot (PNG) in
    ``out_dir``; returns their paths."""
    os.makedirs(out_dir, exist_ok=True)
    paths = dict(record=osp.join(out_dir, RECORD_NAME), table=osp.join(out_dir, TABLE_NAME),
                 plot=osp.join(out_dir, PLOT_NAME))
    with open(paths['record'], 'w') as f:
        json.dump(record, f, indent=1)
    with open(paths['table'], 'w') as f:
        f.write(markdown_table(record))
    plot(record, paths['plot'])
    return paths

