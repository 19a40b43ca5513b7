"""The YOLO entry (approach 5): Ultralytics yolo11n-pose trained by its own
trainer (tools/train_yolo.py) on the protocol's images (COCO train split +
LSPET), scored on the val split by MMPose's CocoMetric (tools/test_yolo.py).

It is optional: :func:`yolo_unavailable` says why it cannot run (tools or
Ultralytics missing) and the benchmark skips it with that message.
"""
import csv
import importlib.util
import json
import os
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence

import yaml

from .entries import REPO_ROOT
from .protocol import Protocol

TRAIN_TOOL = osp.join(REPO_ROOT, 'tools', 'train_yolo.py')
TEST_TOOL = osp.join(REPO_ROOT, 'tools', 'test_yolo.py')
MODEL_YAML = 'yolo11n-pose.yaml'


def yolo_unavailable() -> Optional[str]:
    """``None`` when the YOLO entry can run, else the reason it cannot."""
    missing = [p for p in (TRAIN_TOOL, TEST_TOOL) if not osp.isfile(p)]
    if missing:
        return f'{", ".join(osp.relpath(p, REPO_ROOT) for p in missing)} not found'
    if importlib.util.find_spec('ultralytics') is None:
        return 'the ultralytics package is not installed'
    try:
        from kp_plugins.ultralytics import convert  # noqa: F401
    except Exception as exc:  # a half-written module
        return f'kp_plugins.ultralytics does not import ({type(exc).__name__}: {exc})'
    return None


def _subset_json(src: str, dst: str, num_images: int) -> str:
    """The first ``num_images`` images of a COCO file (and their persons)."""
    with open(src) as f:
        coco = json.load(f)
    images = coco['images'][:num_images]
    ids = {img['id'] for img in images}
    coco['images'] = images
    coco['annotations'] = [a for a in coco['annotations'] if a['image_id'] in ids]
    os.makedirs(osp.dirname(dst), exist_ok=True)
    with open(dst, 'w') as f:
        json.dump(coco, f)
    return dst


def prepare_data(protocol: Protocol, out_dir: str,
                 subset_images: Optional[Sequence[int]] = None) -> Dict[str, object]:
    """Convert the protocol's COCO-format sets to YOLO-pose labels (symlinked
    images, under ``out_dir``) and write one dataset YAML whose ``train``
    lists both sources.

    Args:
        subset_images: ``(coco, lspet)`` numbers of images to keep (quick
            runs), ``None`` for all.

    Returns:
        dict: ``data_yaml`` and ``train_images`` (count).
    """
    from kp_plugins.ultralytics.convert import cached_coco_to_yolo

    coco_img = osp.join(protocol.coco_root, 'images')
    lspet_img = osp.join(protocol.lspet_root, 'images')
    coco_train = osp.join(protocol.coco_root, 'annotations_train.json')
    lspet_train = osp.join(protocol.lspet_root, 'annotations.json')
    if subset_images:
        coco_train = _subset_json(coco_train, osp.join(out_dir, 'subsets', 'coco_train.json'),
                                  subset_images[0])
        lspet_train = _subset_json(lspet_train, osp.join(out_dir, 'subsets', 'lspet.json'),
                                   subset_images[1])
    cache = osp.join(out_dir, 'converted')
    coco = cached_coco_to_yolo({'train': (coco_train, coco_img),
                                'val': (protocol.val_ann_file, coco_img)}, cache)
    lspet = cached_coco_to_yolo({'train': (lspet_train, lspet_img)}, cache)
    with open(coco['data_yaml']) as f:
        data = yaml.safe_load(f)
    lspet_root = osp.dirname(lspet['data_yaml'])
    data['train'] = [osp.join(data['path'], 'images', 'train'),
                     osp.join(lspet_root, 'images', 'train')]
    data['val'] = osp.join(data['path'], 'images', 'val')
    data_yaml = osp.join(out_dir, 'data.yaml')
    with open(data_yaml, 'w') as f:
        f.write('# coco_trainval train split + lspet_subset (kp_plugins benchmark)\n')
        yaml.safe_dump(data, f, sort_keys=False, default_flow_style=None)
    train_images = (coco['splits']['train']['images'] + lspet['splits']['train']['images'])
    return dict(data_yaml=data_yaml, train_images=train_images)


def train_command(data_yaml: str, run_dir: str, protocol: Protocol, imgsz: int,
                  python: str = sys.executable, resume: bool = False) -> List[str]:
    cmd = [python, TRAIN_TOOL, MODEL_YAML, '--data', data_yaml, '--work-dir', run_dir,
           '--epochs', str(protocol.epochs), '--imgsz', str(imgsz),
           '--batch', str(protocol.batch_size), '--workers', str(protocol.workers),
           '--seed', str(protocol.seed), '--device', 'cpu']
    return cmd + ['--resume'] if resume else cmd


def run_state(run_dir: str, data_yaml: str, protocol: Protocol, imgsz: int) -> str:
    """What an existing Ultralytics run folder holds for this protocol.

    Returns:
        str: ``'fresh'`` (no run, or one trained with other arguments, which
        the caller moves aside), ``'resume'`` (the same arguments, some epochs done
        and ``weights/last.pt`` saved) or ``'trained'`` (all epochs done).
    """
    args_path = osp.join(run_dir, 'args.yaml')
    if not osp.isfile(args_path):
        return 'fresh'
    with open(args_path) as f:
        args = yaml.safe_load(f) or {}
    expected = dict(epochs=protocol.epochs, imgsz=imgsz, batch=protocol.batch_size,
                    seed=protocol.seed)
    last = osp.abspath(osp.join(run_dir, 'weights', 'last.pt'))
    # a resumed run rewrites args.yaml with model = its own weights/last.pt
    if (any(args.get(k) != v for k, v in expected.items())
            or osp.abspath(str(args.get('data'))) != osp.abspath(data_yaml)
            or (args.get('model') != MODEL_YAML
                and osp.abspath(str(args.get('model'))) != last)):
        return 'fresh'
    done = len(read_results_csv(run_dir))
    if done >= protocol.epochs:
        return 'trained'
    if done > 0 and osp.isfile(last):
        return 'resume'
    return 'fresh'


RESUME_RECORD = 'kp_resumed.json'


def note_resume(run_dir: str) -> int:
    """Record, before a resume, the training time the run folder already
    holds (the ``time`` of its last ``results.csv`` row): Ultralytics
    restarts that column at 0 in the resumed process, and nothing in the
    csv marks where.

    Returns:
        int: the number of epochs done before the resume.
    """
    rows = read_results_csv(run_dir)
    path = osp.join(run_dir, RESUME_RECORD)
    done = []
    if osp.isfile(path):
        with open(path) as f:
            done = json.load(f)
    done.append(dict(epochs_done=len(rows), seconds=rows[-1].get('time', 0.0) if rows else 0.0))
    with open(path, 'w') as f:
        json.dump(done, f, indent=1)
    return len(rows)


def train_seconds(run_dir: str) -> Optional[float]:
    """Training time of a run: the ``time`` of the last ``results.csv`` row
    plus the time of every earlier process recorded by :func:`note_resume`."""
    rows = [r for r in read_results_csv(run_dir) if 'time' in r]
    if not rows:
        return None
    path = osp.join(run_dir, RESUME_RECORD)
    earlier = 0.0
    if osp.isfile(path):
        with open(path) as f:
            earlier = sum(float(r['seconds']) for r in json.load(f))
    return earlier + rows[-1]['time']


def test_command(weights: str, protocol: Protocol, imgsz: int, out_dir: str,
                 python: str = sys.executable) -> List[str]:
    return [python, TEST_TOOL, weights, '--data-root', protocol.coco_root,
            '--ann-file', 'annotations_val.json', '--img-dir', 'images/',
            '--work-dir', out_dir, '--imgsz', str(imgsz), '--device', 'cpu']


def read_results_csv(run_dir: str) -> List[dict]:
    """Ultralytics' per-epoch ``results.csv`` as dicts of floats (an epoch
    written twice, killed between its row and its checkpoint and then
    resumed, keeps its last row)."""
    path = osp.join(run_dir, 'results.csv')
    if not osp.isfile(path):
        return []
    rows = []
    with open(path) as f:
        for row in csv.DictReader(f):
            out = {}
            for k, v in row.items():
                try:
                    out[k.strip()] = float(v)
                except (TypeError, ValueError):
                    pass
            if rows and out.get('epoch') is not None and out.get('epoch') == rows[-1].get('epoch'):
                rows[-1] = out
            else:
                rows.append(out)
    return rows


def curves_from_results(rows: List[dict]) -> Dict[str, List[dict]]:
    """Loss terms per epoch (``train/*_loss`` -> ``loss_*``) and the
    trainer's own pose mAP50-95 per epoch (Ultralytics' metric, not
    CocoMetric; kept under ``coco/AP`` for the per-epoch plot)."""
    loss, val = [], []
    for r in rows:
        epoch = r.get('epoch')
        terms = {'loss_' + k[len('train/'):-len('_loss')]: v for k, v in r.items()
                 if k.startswith('train/') and k.endswith('_loss')}
        if terms:
            loss.append(dict(epoch=epoch, loss=sum(terms.values()), **terms))
        ap = r.get('metrics/mAP50-95(P)')
        if ap is not None:
            val.append({'epoch': epoch, 'coco/AP': ap})
    return dict(loss=loss, val=val)


def whole_image_ms(net, imgsz: int, batch_size: int, warmup: int, repeats: int) -> float:
    """Median ms of an Ultralytics pose network + its NMS (``conf=0.25``,
    Ultralytics' predict default) on ``batch_size`` random
    ``imgsz x imgsz`` images."""
    import torch

    from .speed import median_ms
    try:
        from ultralytics.utils.nms import non_max_suppression
    except ImportError:  # older Ultralytics
        from ultralytics.utils.ops import non_max_suppression
    x = torch.rand(batch_size, 3, imgsz, imgsz)

    def full():
        preds = net(x)
        preds = preds[0] if isinstance(preds, (list, tuple)) else preds
        return non_max_suppression(preds, conf_thres=0.25, iou_thres=0.7, nc=1)

    with torch.no_grad():
        return median_ms(full, warmup, repeats)


def speed_and_size(weights: str, imgsz: int, batch_sizes: Sequence[int], warmup: int,
                   repeats: int) -> dict:
    """Parameters, FLOPs (batch 1) and latency of a whole image through the
    network + NMS (``conf=0.25``, Ultralytics' predict default) at
    ``imgsz x imgsz``: what the one bottom-up pass costs for all persons of
    an image (top-down entries pay per person crop)."""
    import torch

    from kp_plugins.ultralytics.offline import import_ultralytics

    ultralytics = import_ultralytics(online=False)
    net = ultralytics.YOLO(weights).model.float().eval()
    nkpt = int(net.yaml.get('kpt_shape', [17, 3])[0] * net.yaml.get('kpt_shape', [17, 3])[1])
    out = dict(input=f'{imgsz}x{imgsz}', threads=torch.get_num_threads(),
               params=sum(p.numel() for p in net.parameters()), head_params=None,
               backbone_params=None, flops=None, backbone_flops=None, latency={})
    try:
        import logging

        from mmengine.analysis import get_model_complexity_info
        from mmengine.logging import MMLogger
        logger = MMLogger.get_current_instance()
        level = logger.level
        logger.setLevel(logging.ERROR)
        try:
            with torch.no_grad():
                info = get_model_complexity_info(
                    net, inputs=(torch.zeros(1, 3, imgsz, imgsz), ), show_table=False,
                    show_arch=False)
            out['flops'] = int(info['flops'])
        finally:
            logger.setLevel(level)
    except Exception:  # noqa: BLE001  (FLOPs are optional)
        pass
    head = net.model[-1]
    out['head_params'] = sum(p.numel() for p in head.parameters())
    for bs in batch_sizes:
        full_ms = whole_image_ms(net, imgsz, bs, warmup, repeats)
        out['latency'][int(bs)] = dict(backbone_ms=None, head_decode_ms=None, full_ms=full_ms)
    out['nkpt'] = nkpt
    return out
