"""Perfect head outputs score COCO AP 1.0, end to end, for every kp head and
every config family, with and without flip test; no ../shared/data needed.

Generated COCO images and annotations (boxes of many sizes and aspect
ratios, anywhere in the image and partly outside it; single-person images
with keypoints on the first and last pixel rows and columns) go through each
config's own val pipeline (``CocoDataset`` / ``KPSinglePersonCocoDataset``,
``GetBBoxCenterScale``, ``TopdownAffine``, ...), its head's ``predict`` inside
``TopdownPoseEstimator.predict`` and its ``CocoMetric``. Only the network is
replaced: the head's ``forward`` returns the codec's encoding of the ground
truth that ``TopdownAffine`` put into the input, as the head's output
tensors; for the flipped input (flip test) the encoding of the ground truth
mirrored independently of kp_plugins (``x -> W - 1 - x``, keypoints swapped
by the dataset metainfo's ``flip_indices``). Any coordinate-mapping bug
between codec, head, flip merging, affine and metric moves a keypoint, and
the keypoints are compared with the annotations to 0.01 image pixels as
well as scored.

The configs are those of every kp_plugins top-down approach in
``kp_plugins.approaches.APPROACHES`` (plus the quick start); how to build a
head's perfect outputs is :data:`PERFECT_OUTPUTS`, by head name, and an
approach whose head has no entry there fails
``test_every_kp_head_has_a_perfect_output_builder``.
"""
import json
import os.path as osp
from typing import Callable, Dict, List

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.evaluator import Evaluator
from mmengine.registry import init_default_scope
from mmpose.registry import DATASETS, METRICS, MODELS
from torch import nn

import kp_plugins  # noqa: F401  (registration)
from kp_plugins.approaches import CONFIGS
from kp_plugins.codecs import KPBBoxLabel

from approach_cases import config_id, kp_heads, kp_topdown_approaches

K = 17
#: every config family of the kp_plugins top-down approaches: ResNet-50
#: 256x192 and its extra configs (whole-image single-person),
#: EfficientNet-Lite0 under every protocol; and the quick start
CONFIG_FILES = [config for a in kp_topdown_approaches()
                for config in (a.r50_config, *a.extra_configs, *a.configs.values())
                if config] + [osp.join(CONFIGS, 'quickstart.py')]
#: px in the image: float32 arithmetic from codec to image is ~1e-4 px off
TOLERANCE_PX = 0.01
LOGIT = 30.0  # a "certain" logit


# ----------------------------------------------------------------- the data
def _person(rng, img_w, img_h, x_lo, x_hi):
    """A box in the column [x_lo, x_hi) of the image (of any aspect ratio,
    sometimes partly outside the image) and keypoints inside the part of it
    that is in the image; some keypoints unlabelled."""
    aspect = float(np.exp(rng.uniform(np.log(0.2), np.log(5.0))))  # w / h
    bw = rng.uniform(0.4, 1.3) * (x_hi - x_lo)
    bh = min(bw / aspect, 1.3 * img_h)
    bw = max(bh * aspect, 4.0)
    bh = max(bh, 4.0)
    x0 = rng.uniform(x_lo - 0.2 * bw, x_hi - 0.8 * bw)
    y0 = rng.uniform(-0.3 * bh, img_h - 0.7 * bh)
    # the box's part inside the image (MMPose clips to [0, w - 1])
    cx0, cx1 = max(x0, 0.0), min(x0 + bw, img_w - 1.0)
    cy0, cy1 = max(y0, 0.0), min(y0 + bh, img_h - 1.0)
    xy = np.stack([rng.uniform(cx0, cx1, K), rng.uniform(cy0, cy1, K)], -1)
    v = rng.choice([0, 1, 2], size=K, p=[0.2, 0.2, 0.6])
    v[rng.randint(K)] = 2
    xy[v == 0] = 0
    return [x0, y0, bw, bh], xy, v


def _whole_image_person(rng, img_w, img_h):
    """One person whose keypoints include the image's corners and its first
    and last pixel rows and columns."""
    xy = np.stack([rng.uniform(0, img_w - 1, K), rng.uniform(0, img_h - 1, K)], -1)
    xy[0] = [img_w - 1, img_h - 1]
    xy[1] = [0, 0]
    xy[2] = [img_w - 1, rng.uniform(0, img_h - 1)]
    xy[3] = [rng.uniform(0, img_w - 1), img_h - 1]
    xy[4] = [0, img_h - 1]
    v = np.full(K, 2)
    v[rng.choice(np.arange(5, K), 3, replace=False)] = 0
    xy[v == 0] = 0
    box = [xy[v > 0, 0].min(), xy[v > 0, 1].min()]
    box += [xy[v > 0, 0].max() - box[0], xy[v > 0, 1].max() - box[1]]
    return box, xy, v


IMAGE_SIZES = [(640, 480), (480, 640), (96, 128), (1000, 180), (150, 900),
               (333, 333), (57, 203), (800, 600), (211, 77), (1280, 720)]
WHOLE_IMAGE_SIZES = [(640, 480), (97, 311), (500, 120), (192, 256), (48, 64),
                     (1023, 767)]


def write_coco(root: str) -> str:
    """Images (flat grey, written with cv2) and their annotation file."""
    rng = np.random.RandomState(0)
    images, annotations = [], []
    sizes = [(s, False) for s in IMAGE_SIZES] + [(s, True) for s in WHOLE_IMAGE_SIZES]
    for img_id, ((w, h), whole) in enumerate(sizes, start=1):
        name = f'{img_id:04d}.jpg'
        cv2.imwrite(osp.join(root, name), np.full((h, w, 3), 127, np.uint8))
        images.append(dict(id=img_id, file_name=name, width=w, height=h))
        if whole:
            persons = [_whole_image_person(rng, w, h)]
        else:
            n = rng.randint(1, 4)
            cols = np.linspace(0, w, n + 1)
            persons = [_person(rng, w, h, cols[i], cols[i + 1]) for i in range(n)]
        for box, xy, v in persons:
            annotations.append(dict(
                id=len(annotations) + 1, image_id=img_id, category_id=1,
                iscrowd=0, bbox=[float(b) for b in box],
                area=float(0.6 * box[2] * box[3]), num_keypoints=int((v > 0).sum()),
                keypoints=np.concatenate([xy, v[:, None]], -1).ravel().tolist()))
    ann_file = osp.join(root, 'annotations.json')
    with open(ann_file, 'w') as f:
        json.dump(dict(images=images, annotations=annotations, categories=[
            dict(id=1, name='person', supercategory='person')]), f)
    return ann_file


@pytest.fixture(scope='module')
def coco_set(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('perfect_outputs'))
    return root, write_coco(root)


# ---------------------------------------------------------- ideal outputs
class PassThrough(nn.Module):
    """Stands in for the backbone: the "features" are the input itself, so
    the patched head can tell the input from its flipped copy."""

    def forward(self, x):
        return (x, )


def mirror(keypoints: np.ndarray, width: int, flip_indices) -> np.ndarray:
    """(N, K, 2) keypoints of the horizontally mirrored input, computed here,
    independently of kp_plugins: pixel ``j`` of a mirrored row is pixel
    ``W - 1 - j`` of the original, and left/right keypoints swap."""
    out = keypoints[:, list(flip_indices)].copy()
    out[..., 0] = width - 1 - out[..., 0]
    return out


def mirror_values(values: np.ndarray, flip_indices) -> np.ndarray:
    return values[:, list(flip_indices)].copy()


def _visibility_logits(enc: dict) -> torch.Tensor:
    return torch.tensor(np.where(enc['keypoint_visibility'] > 0, LOGIT, -LOGIT),
                        dtype=torch.float32)


def regression_outputs(codec, keypoints, visible, views: Dict) -> tuple:
    """KPRegressionHead: the codec's frame coordinates, certain visibility."""
    enc = codec.encode(keypoints, visible)
    return torch.tensor(enc['keypoint_labels']), _visibility_logits(enc)


def bbox_outputs(codec, keypoints, visible, views: Dict) -> tuple:
    """KPBBoxHead: the coordinates in the box frame of the box this view's
    crop holds (``views['input_bboxes']``, input pixels)."""
    enc = codec.encode(keypoints, visible, bbox=views['input_bboxes'])
    return torch.tensor(enc['keypoint_labels']), _visibility_logits(enc)


def grid_outputs(codec, keypoints, visible, views: Dict) -> tuple:
    """KPGridHead: a certain presence logit at the true cell, offsets to the
    point from every cell."""
    enc = codec.unpack(**codec.encode(keypoints, visible))
    gw, gh = codec.grid_size
    b = keypoints.shape[0]
    valid = enc['keypoint_weights'] > 0  # (B, K)
    presence = np.zeros((b, K, gh * gw), np.float32)
    cells = enc['keypoint_cells']
    bi, ki = np.nonzero(valid)
    presence[bi, ki, cells[bi, ki]] = LOGIT
    # offsets: the point seen from every cell (the head's offset targets
    # extend the true cell's to its neighbours the same way); at the true
    # cell exactly the codec's offset
    ys, xs = np.meshgrid(np.arange(gh), np.arange(gw), indexing='ij')
    point = codec.to_grid(keypoints)  # grid units (pixel-centre cells)
    offsets = np.stack([point[..., 0, None, None] - xs, point[..., 1, None, None] - ys],
                       axis=2)  # (B, K, 2, Gh, Gw)
    offsets = offsets.reshape(b, K, 2, gh * gw)
    offsets[bi, ki, :, cells[bi, ki]] = enc['keypoint_offsets'][bi, ki]
    offsets = np.where(valid[..., None, None], offsets, 0.0)
    return (torch.tensor(presence.reshape(b, K, gh, gw)),
            torch.tensor(offsets.reshape(b, K, 2, gh, gw), dtype=torch.float32))


#: head name -> ``(codec, keypoints (B, K, 2) in input pixels, labelled
#: (B, K), views) -> the head's output tensors``; one entry for the head of
#: every kp_plugins top-down approach.
PERFECT_OUTPUTS: Dict[str, Callable[..., tuple]] = {
    'KPRegressionHead': regression_outputs,
    'KPBBoxHead': bbox_outputs,
    'KPGridHead': grid_outputs,
}


def ideal_outputs(head, codec, keypoints, visible, views: Dict) -> tuple:
    """The head's output tensors for a batch of ground truth in input pixels.

    Args:
        keypoints: (B, K, 2) in model-input pixels.
        visible: (B, K) labelled flags.
        views: per-head extras (``input_bboxes`` for the bbox head).
    """
    kind = type(head).__name__
    assert kind in PERFECT_OUTPUTS, \
        f'no perfect outputs for {kind}: add a builder to PERFECT_OUTPUTS'
    return PERFECT_OUTPUTS[kind](codec, keypoints, visible, views)


class IdealHead:
    """Replaces ``head.forward`` for one batch: returns the ideal outputs of
    the view (input or flipped input) it is called on."""

    def __init__(self, head, codec, inputs, samples, flip_indices):
        self.head, self.codec, self.inputs = head, codec, inputs
        self.calls: List[str] = []
        w = codec.input_size[0]
        keypoints = np.stack([np.asarray(s.gt_instances.transformed_keypoints[0], np.float64)
                              for s in samples])
        visible = np.stack([np.asarray(s.gt_instances.keypoints_visible[0]) for s in samples])
        views = {}
        if isinstance(codec, KPBBoxLabel):
            boxes = np.concatenate([codec.bbox_to_input(
                np.asarray(s.gt_instances.bboxes)[:1], s.metainfo['input_center'],
                s.metainfo['input_scale']) for s in samples])
            flipped_boxes = np.stack([w - 1 - boxes[:, 2], boxes[:, 1],
                                      w - 1 - boxes[:, 0], boxes[:, 3]], -1)
            views = dict(input=dict(input_bboxes=boxes), flipped=dict(input_bboxes=flipped_boxes))
        self.outputs = dict(
            input=ideal_outputs(head, codec, keypoints, visible, views.get('input', {})),
            flipped=ideal_outputs(head, codec, mirror(keypoints, w, flip_indices),
                                  mirror_values(visible, flip_indices),
                                  views.get('flipped', {})))

    def __call__(self, feats, *args, **kwargs):
        x = feats[-1]
        if torch.equal(x, self.inputs):
            view = 'input'
        elif torch.equal(x, self.inputs.flip(-1)):
            view = 'flipped'
        else:
            raise AssertionError('the head got features of neither the input nor its mirror')
        self.calls.append(view)
        return self.outputs[view]


def pack_grid_maps(head, outputs: tuple) -> torch.Tensor:
    """KPGridHead's presence (B, K, Gh, Gw) and offsets (B, K, 2, Gh, Gw) as
    its prediction conv lays them out before the pixel shuffle (what
    ``forward_packed`` returns; the inverse of ``head.unpack``, written out
    here from the layout in ``KPGridLabel.decode_packed_tensors``' docstring:
    channel ``((k * 3 + j) * ry + sy) * rx + sx`` at ``(hy, wx)`` holds map
    ``j`` of keypoint ``k`` at cell ``(wx * rx + sx, hy * ry + sy)``)."""
    presence, offsets = outputs
    maps = torch.cat([presence[:, :, None], offsets], dim=2)  # (B, K, 3, Gh, Gw)
    b, k, _, gh, gw = maps.shape
    rx, ry = head.upscale
    hf, wf = gh // ry, gw // rx
    packed = maps.view(b, k, 3, hf, ry, wf, rx).permute(0, 1, 2, 4, 6, 3, 5)
    return packed.reshape(b, k * 3 * ry * rx, hf, wf)


class IdealPackedHead(IdealHead):
    """Replaces ``forward_packed`` of a head that predicts through it (the
    grid head: ``forward`` unpacks it, ``predict`` without flip test decodes
    it directly)."""

    def __call__(self, feats, *args, **kwargs):
        return pack_grid_maps(self.head, super().__call__(feats, *args, **kwargs))


# ------------------------------------------------------------------ the test
def build(config: str, ann_file: str, root: str, flip_test: bool):
    cfg = Config.fromfile(config)
    init_default_scope(cfg.get('default_scope', 'mmpose'))
    ds_cfg = cfg.val_dataloader.dataset.copy()
    pipeline = [dict(step) for step in ds_cfg.pipeline]
    assert pipeline[-1]['type'] == 'PackPoseInputs'
    pipeline[-1]['pack_transformed'] = True  # the ground truth TopdownAffine made
    dataset_type = ds_cfg.type if ds_cfg.type != 'KPSyntheticPoseDataset' else 'CocoDataset'
    dataset = DATASETS.build(dict(
        type=dataset_type, data_root=root, ann_file=ann_file, data_prefix=dict(img=''),
        data_mode='topdown', test_mode=True, pipeline=pipeline))
    model_cfg = cfg.model.copy()
    model_cfg.backbone = dict(type='ResNet', depth=18, base_channels=2, stem_channels=2)
    model_cfg.test_cfg = dict(model_cfg.get('test_cfg') or {}, flip_test=flip_test)
    model = MODELS.build(model_cfg)
    model.backbone = PassThrough()
    model.neck = None
    model.eval()
    metric_cfg = dict(cfg.val_evaluator)
    if metric_cfg.get('ann_file') is not None or dataset_type != 'KPSinglePersonCocoDataset':
        metric_cfg['ann_file'] = ann_file
    metric_cfg['outfile_prefix'] = osp.join(
        root, f'{osp.splitext(osp.basename(config))[0]}_{flip_test}')
    evaluator = Evaluator(METRICS.build(metric_cfg))
    evaluator.dataset_meta = dataset.metainfo
    return dataset, model, evaluator


def predict_all(dataset, model, batch_size: int = 8):
    head, codec = model.head, model.head.decoder
    flip_indices = dataset.metainfo['flip_indices']
    w, h = codec.input_size
    results, calls = [], []
    for start in range(0, len(dataset), batch_size):
        data = pseudo_collate([dataset[i] for i in
                               range(start, min(start + batch_size, len(dataset)))])
        samples = data['data_samples']
        b = len(samples)
        # an input that differs from its mirror (the head tells them apart)
        inputs = (torch.arange(w, dtype=torch.float32) + 1000 * torch.arange(b)[:, None]
                  ).view(b, 1, 1, w).expand(b, 3, h, w).contiguous()
        packed = hasattr(head, 'forward_packed')
        ideal = (IdealPackedHead if packed else IdealHead)(head, codec, inputs, samples,
                                                           flip_indices)
        name = 'forward_packed' if packed else 'forward'
        setattr(head, name, ideal)
        try:
            with torch.no_grad():
                results += model.predict(inputs, samples)
        finally:
            delattr(head, name)
        calls += ideal.calls
    return results, calls


def test_every_kp_head_has_a_perfect_output_builder():
    """One perfect-output builder per kp_plugins top-down approach's head:
    an approach added to APPROACHES without one fails here."""
    assert set(PERFECT_OUTPUTS) == set(kp_heads())


@pytest.mark.parametrize('flip_test', [False, True], ids=['no_flip', 'flip'])
@pytest.mark.parametrize('config', CONFIG_FILES, ids=[config_id(c) for c in CONFIG_FILES])
def test_perfect_outputs_score_ap_1(coco_set, config, flip_test):
    root, ann_file = coco_set
    dataset, model, evaluator = build(config, ann_file, root, flip_test)
    assert len(dataset) >= 6
    results, calls = predict_all(dataset, model)
    # flip test ran the head once on each view of every batch
    batches = -(-len(dataset) // 8)
    assert calls == (['input', 'flipped'] if flip_test else ['input']) * batches

    worst = 0.0
    for result in results:
        gt = np.asarray(result.gt_instances.keypoints[0])
        labelled = np.asarray(result.gt_instances.keypoints_visible[0]) > 0
        pred = np.asarray(result.pred_instances.keypoints[0])
        worst = max(worst, float(np.abs(pred - gt)[labelled].max()))
    assert worst < TOLERANCE_PX, f'a labelled keypoint is {worst:.4f} px off'

    evaluator.process(results, dict(data_samples=results))
    metrics = evaluator.evaluate(len(dataset))
    assert metrics['coco/AP'] == pytest.approx(1.0, abs=1e-6), metrics
    assert metrics['coco/AR'] == pytest.approx(1.0, abs=1e-6), metrics


def test_the_generated_set_covers_the_cases(coco_set):
    """Boxes partly outside the image, extreme aspect ratios, tiny and large
    persons, and whole-image keypoints on the last pixel row and column."""
    _, ann_file = coco_set
    with open(ann_file) as f:
        coco = json.load(f)
    sizes = {img['id']: (img['width'], img['height']) for img in coco['images']}
    boxes = np.array([a['bbox'] for a in coco['annotations']])
    outside = [(x < 0 or y < 0 or x + w > sizes[a['image_id']][0] or
                y + h > sizes[a['image_id']][1])
               for a, (x, y, w, h) in zip(coco['annotations'], boxes)]
    assert sum(outside) >= 5
    aspect = boxes[:, 2] / boxes[:, 3]
    assert aspect.min() < 0.4 and aspect.max() > 2.5
    assert boxes[:, 3].min() < 40 and boxes[:, 3].max() > 400
    on_last = 0
    for ann in coco['annotations']:
        kpts = np.array(ann['keypoints']).reshape(K, 3)
        w, h = sizes[ann['image_id']]
        on_last += int(np.any((kpts[:, 2] > 0) & ((kpts[:, 0] == w - 1) | (kpts[:, 1] == h - 1))))
    assert on_last == len(WHOLE_IMAGE_SIZES)
