"""Top-down evaluation on detector boxes with tools/test.py: the real
detection file ../shared/data/coco_trainval/mmpose_test_coco_det_AP_H_56.json
(person boxes for 4 val2017 images) as test_dataloader.dataset.bbox_file,
CocoDataset's filter_cfg.bbox_score_thr, and CocoMetric's OKS-NMS and
bbox_keypoint rescoring; without a bbox_file the ground-truth boxes are used.
Configs made small (ResNet-18) through derived configs; random weights."""
import json
import os.path as osp
import pickle
import re

import numpy as np
import pytest

from conftest import REPO_ROOT
from helpers import run_tool, tool, xtcocotools_ap

DET_FILE = 'mmpose_test_coco_det_AP_H_56.json'
DET_IMAGE_IDS = (785, 40083, 196141, 197388)
SCORE_THR = 0.3
CONFIGS = ['heatmap_r50', 'bbox_r50']


def small_config(name: str, tmp_path) -> str:
    path = tmp_path / f'{name}_r18.py'
    path.write_text(f"_base_ = ['{osp.join(REPO_ROOT, 'configs', name + '.py')}']\n"
                    "model = dict(backbone=dict(depth=18), head=dict(in_channels=512))\n"
                    "test_dataloader = dict(batch_size=16)\n")
    return str(path)


def random_checkpoint(config: str, out: str) -> None:
    """Checkpoint of the freshly built model (state_dict + dataset_meta)."""
    import torch
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpose.apis.inference import dataset_meta_from_config
    from mmpose.registry import MODELS

    import kp_plugins  # noqa: F401
    cfg = Config.fromfile(config)
    init_default_scope('mmpose')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(dataset_meta=dataset_meta_from_config(cfg, 'train'))), out)


def test_val_annotations_cover_the_detection_file(coco_trainval):
    val = json.load(open(osp.join(coco_trainval, 'annotations_val.json')))
    dets = json.load(open(osp.join(coco_trainval, DET_FILE)))
    assert set(DET_IMAGE_IDS) <= {img['id'] for img in val['images']}
    assert {d['image_id'] for d in dets} == set(DET_IMAGE_IDS)


@pytest.fixture(scope='module')
def val4(tmp_path_factory, coco_trainval):
    """annotations_val.json restricted to the 4 images of the detection file:
    COCOeval scores every image of its ground truth, so the evaluator must
    see only the images the boxes cover."""
    from kp_plugins.apis import subset_coco_annotations
    out = str(tmp_path_factory.mktemp('val4') / 'annotations_val_det4.json')
    assert subset_coco_annotations(osp.join(coco_trainval, 'annotations_val.json'),
                                   DET_IMAGE_IDS, out) == 4
    return out


def eval_options(coco_trainval: str, val4: str, work) -> list:
    """--cfg-options: test split = annotations_val.json (the dataset keeps only the
    bbox file's images when one is given), evaluator = the 4-image subset."""
    root = coco_trainval + '/'
    return ['test_dataloader.dataset.data_root=' + root,
            'test_dataloader.dataset.ann_file=annotations_val.json',
            'test_dataloader.dataset.data_prefix.img=images/',
            'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False',
            f'test_evaluator.ann_file={val4}',
            f'test_evaluator.outfile_prefix={work}/results']



def assert_same_rows(got, want, atol: float = 0.01) -> None:
    """The same rows in any order (float32 box coordinates)."""
    got, want = np.array(got, np.float64), np.array(want, np.float64)
    assert got.shape == want.shape
    got, want = got[np.lexsort(got.T[::-1])], want[np.lexsort(want.T[::-1])]
    np.testing.assert_allclose(got, want, rtol=0, atol=atol)


def run_test_tool(config, ckpt, opts, work):
    dump = work / 'preds.pkl'
    metrics = work / 'metrics.json'
    res = run_tool([tool('test.py'), config, ckpt, '--work-dir', str(work), '--dump', str(dump),
                    '--out', str(metrics), '--cfg-options', *opts])
    assert res.returncode == 0, res.stdout[-5000:]
    m = re.search(r'coco/AP: (-?[0-9.]+)', res.stdout)
    assert m, res.stdout[-3000:]
    saved = json.loads(metrics.read_text())
    # the AP is xtcocotools' on the persons CocoMetric wrote (eval_options'
    # outfile_prefix), against the evaluator's annotations
    ann = next(o.split('=', 1)[1] for o in opts if o.startswith('test_evaluator.ann_file='))
    assert xtcocotools_ap(ann, str(work / 'results.keypoints.json')) == pytest.approx(
        saved['coco/AP'], abs=1e-9)
    assert saved['coco/AP'] == pytest.approx(float(m.group(1)), abs=1e-4)
    with open(dump, 'rb') as f:
        preds = pickle.load(f)
    return res, preds, saved


@pytest.mark.slow
@pytest.mark.parametrize('name', CONFIGS)
@pytest.mark.slow
def test_evaluate_on_detector_boxes(name, tmp_path, coco_trainval, val4):
    cfg = small_config(name, tmp_path)
    ckpt = str(tmp_path / 'random.pth')
    random_checkpoint(cfg, ckpt)
    work = tmp_path / 'work'
    det_file = osp.join(coco_trainval, DET_FILE)
    opts = eval_options(coco_trainval, val4, work) + [
        f'test_dataloader.dataset.bbox_file={det_file}',
        f'test_dataloader.dataset.filter_cfg.bbox_score_thr={SCORE_THR}']
    res, preds, metrics = run_test_tool(cfg, ckpt, opts, work)

    # One evaluated person per detector box with score >= the threshold.
    dets = [d for d in json.load(open(det_file)) if d['score'] >= SCORE_THR]
    assert len(dets) == 33  # of 118 boxes
    assert len(preds) == len(dets)
    assert {p['img_id'] for p in preds} == set(DET_IMAGE_IDS)
    # ... each on its own detector box, with the detector's score.
    want = [(d['image_id'], d['score'], *d['bbox']) for d in dets]
    got = []
    for p in preds:
        x1, y1, x2, y2 = np.asarray(p['pred_instances']['bboxes'], np.float64).reshape(4)
        score = float(np.asarray(p['pred_instances']['bbox_scores']).reshape(-1)[0])
        got.append((p['img_id'], score, x1, y1, x2 - x1, y2 - y1))
    assert_same_rows(got, want)
    assert 'coco/AP' in metrics

    # CocoMetric (defaults: score_mode='bbox_keypoint', nms_mode='oks_nms',
    # nms_thr=0.9) writes the kept persons: at most one per box, only on the
    # 4 images, scored bbox_score x mean keypoint score above 0.2.
    results = json.loads((work / 'results.keypoints.json').read_text())
    assert 0 < len(results) <= len(dets)
    assert {r['image_id'] for r in results} <= set(DET_IMAGE_IDS)
    assert max(r['score'] for r in results) <= max(d['score'] for d in dets) + 1e-6


@pytest.mark.slow
def test_ground_truth_boxes_without_bbox_file(tmp_path, coco_trainval, val4):
    """Same images, no bbox_file: one person per ground-truth annotation
    (non-crowd, with keypoints), on its ground-truth box."""
    cfg = small_config('heatmap_r50', tmp_path)
    ckpt = str(tmp_path / 'random.pth')
    random_checkpoint(cfg, ckpt)
    work = tmp_path / 'work'
    opts = eval_options(coco_trainval, val4, work)
    opts[1] = f'test_dataloader.dataset.ann_file={val4}'
    _, preds, _ = run_test_tool(cfg, ckpt, opts, work)
    gt = json.load(open(val4))
    sizes = {img['id']: (img['width'], img['height']) for img in gt['images']}
    anns = [a for a in gt['annotations']
            if not a.get('iscrowd', 0) and a.get('num_keypoints', 0) > 0
            and a['bbox'][2] > 0 and a['bbox'][3] > 0]
    assert len(preds) == len(anns) != 33
    want = []
    for a in anns:  # CocoDataset clips boxes to [0, size - 1]
        x, y, w, h = a['bbox']
        img_w, img_h = sizes[a['image_id']]
        x1, y1 = np.clip([x, y], 0, [img_w - 1, img_h - 1])
        x2, y2 = np.clip([x + w, y + h], 0, [img_w - 1, img_h - 1])
        want.append((a['image_id'], x1, y1, x2 - x1, y2 - y1))
    got = []
    for p in preds:
        x1, y1, x2, y2 = np.asarray(p['pred_instances']['bboxes'], np.float64).reshape(4)
        got.append((p['img_id'], x1, y1, x2 - x1, y2 - y1))
    assert_same_rows(got, want)


@pytest.mark.slow
def test_poses_on_images_without_ground_truth(tmp_path, coco_trainval):
    """A bbox file over plain images (ids 1..N, as detect_persons.py writes
    for a folder) + its image-info file: tools/test.py with format_only
    writes one pose per box, no ground truth needed."""
    from PIL import Image

    from kp_plugins.apis import boxes_to_coco_results, write_image_info
    images = tmp_path / 'photos'
    images.mkdir()
    infos, dets = [], []
    for image_id, name in enumerate(('000000211325.jpg', '000000370162.jpg'), start=1):
        (images / name).symlink_to(osp.join(coco_trainval, 'images', name))
        with Image.open(images / name) as im:  # the data check compares the sizes
            width, height = im.size
        infos.append(dict(id=image_id, file_name=name, width=width, height=height))
        dets += boxes_to_coco_results(image_id, np.array(
            [[10, 10, 150, 300, 0.9], [400, 100, 600, 420, 0.8]]))
    info_file, det_file = tmp_path / 'dets_images.json', tmp_path / 'dets.json'
    write_image_info(infos, str(info_file))
    det_file.write_text(json.dumps(dets))
    cfg = small_config('bbox_r50', tmp_path)
    ckpt = str(tmp_path / 'random.pth')
    random_checkpoint(cfg, ckpt)
    work = tmp_path / 'work'
    res = run_tool([tool('test.py'), cfg, ckpt, '--work-dir', str(work), '--cfg-options',
                    f'test_dataloader.dataset.bbox_file={det_file}',
                    f'test_dataloader.dataset.data_root={images}/',
                    f'test_dataloader.dataset.ann_file={info_file}',
                    f'test_dataloader.dataset.data_prefix.img={images}/',
                    'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False',
                    f'test_evaluator.ann_file={info_file}', 'test_evaluator.format_only=True',
                    f'test_evaluator.outfile_prefix={work}/poses'])
    assert res.returncode == 0, res.stdout[-4000:]
    poses = json.loads((work / 'poses.keypoints.json').read_text())
    assert len(poses) == len(dets) == 4  # far-apart boxes: OKS-NMS keeps all
    assert sorted(p['image_id'] for p in poses) == [1, 1, 2, 2]
    assert all(len(p['keypoints']) == 17 * 3 for p in poses)
