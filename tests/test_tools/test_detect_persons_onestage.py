"""A one-stage (bottom-up) pose model as the person detector of top-down
evaluation, offline: tools/detect_persons.py writes its person boxes (checked
against MMPose's own inference_bottomup), tools/test.py scores a top-down
model on them (one prediction per box), a top-down pose model is refused as
a detector, and a bbox file of the ground-truth boxes with score 1 gives
exactly the ground-truth-box evaluation (no ../shared needed)."""
import json
import os.path as osp
import pickle

import numpy as np
import pytest

from helpers import run_tool, tool
from onestage_models import save_random_pose_checkpoint, write_onestage_config

NUM_IMAGES = 3
IMG_SIZE = (160, 128)


@pytest.fixture(scope='module')
def setup(tmp_path_factory, repo_root):
    """A small synthetic val split, a random one-stage and a random top-down
    checkpoint."""
    from kp_plugins.datasets.synthetic_people import SyntheticSplitSpec, ensure_split
    tmp = tmp_path_factory.mktemp('onestage_det')
    cache = str(tmp / 'cache')
    spec = SyntheticSplitSpec(split='val', num_images=NUM_IMAGES, img_size=IMG_SIZE, seed=0)
    folder = ensure_split(spec, cache)
    os_cfg = write_onestage_config(tmp)
    td_cfg = osp.join(repo_root, 'configs', 'quickstart.py')
    return dict(tmp=tmp, cache=cache, ann=osp.join(folder, 'annotations.json'),
                images=osp.join(folder, 'images'), os_cfg=os_cfg,
                os_ckpt=save_random_pose_checkpoint(os_cfg, str(tmp / 'onestage.pth')),
                td_cfg=td_cfg,
                td_ckpt=save_random_pose_checkpoint(td_cfg, str(tmp / 'topdown.pth')))


def quickstart_options(setup, bbox_file=None):
    """tools/test.py options: the quick-start config on the small split."""
    opts = [f'test_dataloader.dataset.num_images={NUM_IMAGES}',
            f'test_dataloader.dataset.img_size=({IMG_SIZE[0]},{IMG_SIZE[1]})',
            f'test_dataloader.dataset.cache_dir={setup["cache"]}',
            'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False']
    if bbox_file:
        opts.append(f'test_dataloader.dataset.bbox_file={bbox_file}')
    return opts


def run_test(setup, name, bbox_file=None):
    out, dump = setup['tmp'] / f'{name}.json', setup['tmp'] / f'{name}.pkl'
    res = run_tool([tool('test.py'), setup['td_cfg'], setup['td_ckpt'], '--work-dir',
                    str(setup['tmp'] / name), '--out', str(out), '--dump', str(dump),
                    '--cfg-options', *quickstart_options(setup, bbox_file)])
    assert res.returncode == 0, res.stdout[-4000:]
    return json.loads(out.read_text()), pickle.load(open(dump, 'rb'))


@pytest.mark.slow
def test_onestage_boxes_to_topdown_scores(setup):
    out = setup['tmp'] / 'dets.json'
    res = run_tool([tool('detect_persons.py'), setup['ann'], '--img-root', setup['images'],
                    '--out', str(out), '--det-config', setup['os_cfg'], '--det-checkpoint',
                    setup['os_ckpt'], '--device', 'cpu', '--no-progress'])
    assert res.returncode == 0, res.stdout[-4000:]
    assert 'bottom-up pose model (YOLOXPoseHead)' in res.stdout
    entries = json.loads(out.read_text())
    assert entries and {e['category_id'] for e in entries} == {1}

    # the model's own predictions, through MMPose's inference_bottomup
    from mmpose.apis import inference_bottomup

    from kp_plugins.apis import load_pose_model
    model = load_pose_model(setup['os_cfg'], setup['os_ckpt'], 'cpu', bottomup_ok=True)
    coco = json.load(open(setup['ann']))
    for img in coco['images']:
        pred = inference_bottomup(model, osp.join(setup['images'], img['file_name']))[0]
        ref = np.concatenate([pred.pred_instances.bboxes.reshape(-1, 4),
                              pred.pred_instances.bbox_scores.reshape(-1, 1)], 1)
        ref = ref[np.argsort(-ref[:, 4], kind='stable')]
        got = np.array([[x, y, x + w, y + h, e['score']] for e in entries
                        if e['image_id'] == img['id'] for x, y, w, h in [e['bbox']]])
        assert len(got) == len(ref) > 0, img['file_name']
        np.testing.assert_allclose(got[:, :4], ref[:, :4], atol=2e-3)
        np.testing.assert_allclose(got[:, 4], ref[:, 4], atol=1e-6)

    metrics, preds = run_test(setup, 'on_dets', str(out))
    assert 'coco/AP' in metrics
    assert len(preds) == len(entries)  # one top-down prediction per box of the file
    boxes = sorted(tuple(np.round(p['pred_instances']['bboxes'].reshape(4), 2)) for p in preds)
    want = sorted(tuple(np.round([x, y, x + w, y + h], 2)) for e in entries
                  for x, y, w, h in [e['bbox']])
    np.testing.assert_allclose(boxes, want, atol=1e-2)


@pytest.mark.slow
def test_gt_boxes_file_equals_gt_evaluation(setup):
    """Perfect boxes: a bbox file of the ground-truth boxes with score 1
    gives the same keypoints and the same metrics as evaluating on the
    ground-truth boxes. The boxes are written as MMPose's CocoDataset reads
    ground truth: clipped to x <= w - 1, y <= h - 1 (bbox-file boxes are not
    clipped, so a box reaching the image's right or bottom edge would be
    1 px wider there)."""
    coco = json.load(open(setup['ann']))
    w, h = IMG_SIZE

    def clipped(x, y, bw, bh):
        x1, y1 = min(max(x, 0), w - 1), min(max(y, 0), h - 1)
        x2, y2 = min(max(x + bw, 0), w - 1), min(max(y + bh, 0), h - 1)
        return [x1, y1, x2 - x1, y2 - y1]

    gt_file = setup['tmp'] / 'gt_dets.json'
    gt_file.write_text(json.dumps([dict(image_id=a['image_id'], category_id=1,
                                        bbox=clipped(*a['bbox']), score=1.0)
                                   for a in coco['annotations']]))
    on_file, file_preds = run_test(setup, 'gt_file', str(gt_file))
    on_gt, gt_preds = run_test(setup, 'gt_boxes')
    assert len(file_preds) == len(gt_preds) == len(coco['annotations'])

    def by_box(preds):
        return {tuple(np.round(p['pred_instances']['bboxes'].reshape(4), 2)):
                p['pred_instances']['keypoints'] for p in preds}
    a, b = by_box(file_preds), by_box(gt_preds)
    assert a.keys() == b.keys()
    for box in a:
        np.testing.assert_allclose(a[box], b[box], atol=1e-3)
    assert on_file.keys() == on_gt.keys()
    for key in on_gt:
        assert on_file[key] == pytest.approx(on_gt[key], abs=1e-9), key


def test_topdown_pose_model_refused(setup):
    out = setup['tmp'] / 'refused.json'
    res = run_tool([tool('detect_persons.py'), setup['ann'], '--img-root', setup['images'],
                    '--out', str(out), '--det-config', setup['td_cfg'], '--det-checkpoint',
                    setup['td_ckpt'], '--device', 'cpu'])
    assert res.returncode != 0 and 'Traceback' not in res.stdout, res.stdout[-3000:]
    assert 'is a top-down pose config (TopdownPoseEstimator)' in res.stdout
    assert 'cannot provide them' in res.stdout and not out.exists()
    res = run_tool([tool('detect_persons.py'), setup['ann'], '--img-root', setup['images'],
                    '--out', str(out), '--det-config', setup['os_cfg'], '--det-checkpoint',
                    setup['os_ckpt'], '--person-class', '3'])
    assert res.returncode != 0 and 'Traceback' not in res.stdout
    assert 'it has one class, the person' in res.stdout
