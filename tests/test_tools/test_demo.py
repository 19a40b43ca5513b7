"""tools/demo.py on real photos of ../shared/data/coco_trainval: persons from
the real detection file, from an MMDet detector (RTMDet-tiny, random
weights), or the whole image; a kp_plugins config and an MMPose config
(random weights); a video; clear errors. Keypoints in the JSON are checked
against mmpose.apis.inference_topdown on the same boxes, and the PNG against
the input at the keypoints drawn."""
import json
import os.path as osp

import cv2
import numpy as np
import pytest
import torch

from conftest import REPO_ROOT
from helpers import run_tool, tool
from random_detectors import save_random_rtmdet, write_small_rtmdet_config

PHOTO = '000000000785.jpg'  # image_id 785 in the detection file
DET_FILE = 'mmpose_test_coco_det_AP_H_56.json'
MMPOSE_CONFIG = ('mmpose::body_2d_keypoint/topdown_heatmap/coco/'
                 'td-hm_mobilenetv2_8xb64-210e_coco-256x192.py')


def build_and_save(config: str, out: str, with_init: bool = True) -> None:
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpose.apis.inference import dataset_meta_from_config
    from mmpose.registry import MODELS

    from kp_plugins.apis import resolve_config_path
    cfg = Config.fromfile(resolve_config_path(config))
    cfg.model.backbone.init_cfg = None
    init_default_scope('mmpose')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    if with_init:
        model.init_weights()
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(dataset_meta=dataset_meta_from_config(cfg, 'train'))), out)


@pytest.fixture(scope='module')
def pose(tmp_path_factory):
    """configs/bbox_r50.py with ResNet-18, random weights."""
    tmp = tmp_path_factory.mktemp('pose')
    cfg = tmp / 'bbox_r18.py'
    cfg.write_text(f"_base_ = ['{osp.join(REPO_ROOT, 'configs', 'bbox_r50.py')}']\n"
                   "model = dict(backbone=dict(depth=18), head=dict(in_channels=512))\n")
    ckpt = str(tmp / 'random.pth')
    build_and_save(str(cfg), ckpt)
    return dict(config=str(cfg), checkpoint=ckpt)


def reference_poses(pose, image_path: str, boxes: np.ndarray):
    from mmpose.apis import inference_topdown, init_model

    from kp_plugins.apis import resolve_config_path
    model = init_model(resolve_config_path(pose['config']), pose['checkpoint'], device='cpu')
    return [r.pred_instances for r in inference_topdown(model, image_path, boxes)]


def assert_drawn_at_keypoints(out_png: str, image_path: str, persons, kpt_thr: float) -> int:
    """Every keypoint drawn (score >= kpt_thr, inside the image) changed the
    pixels around it; returns how many were checked."""
    import mmcv
    src = mmcv.imread(image_path)
    out = cv2.imread(out_png)
    assert out is not None and out.shape == src.shape
    h, w = src.shape[:2]
    checked = 0
    for person in persons:
        for (x, y), score in zip(person['keypoints'], person['keypoint_scores']):
            if score < kpt_thr or not (1 <= x < w - 1 and 1 <= y < h - 1):
                continue
            xi, yi = int(x), int(y)
            window = (slice(max(yi - 2, 0), yi + 3), slice(max(xi - 2, 0), xi + 3))
            assert np.any(out[window] != src[window]), f'nothing drawn at ({x}, {y})'
            checked += 1
    return checked


def test_demo_with_bbox_file(pose, coco_trainval, tmp_path):
    """Acceptance: a real photo, persons from the real detection file; the PNG
    differs from the input at every drawn keypoint, the JSON has K keypoints
    per person, equal to inference_topdown's on the same boxes."""
    image = osp.join(coco_trainval, 'images', PHOTO)
    det_file = osp.join(coco_trainval, DET_FILE)
    out_dir = tmp_path / 'out'
    res = run_tool([tool('demo.py'), pose['config'], pose['checkpoint'], image, '--out-dir',
                    str(out_dir), '--bbox-file', det_file, '--bbox-thr', '0.5',
                    '--nms-iou', '1.0', '--kpt-thr', '0', '--no-bbox', '--device', 'cpu'])
    assert res.returncode == 0, res.stdout[-4000:]
    result = json.loads((out_dir / '000000000785.json').read_text())
    dets = [d for d in json.load(open(det_file)) if d['image_id'] == 785 and d['score'] >= 0.5]
    persons = result['persons']
    assert len(persons) == len(dets) > 0
    assert result['boxes_from'] == 'bbox-file' and len(result['keypoint_names']) == 17
    for p in persons:
        assert len(p['keypoints']) == 17 and len(p['keypoint_scores']) == 17
        assert all(len(k) == 2 for k in p['keypoints'])

    boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in (d['bbox'] for d in dets)])
    by_box = {tuple(np.round(p['bbox'], 0)): p for p in persons}
    for ref, box in zip(reference_poses(pose, image, boxes), boxes):
        p = by_box[tuple(np.round(box, 0))]
        np.testing.assert_allclose(p['keypoints'], ref.keypoints[0], atol=0.02)
        np.testing.assert_allclose(p['keypoint_scores'], ref.keypoint_scores[0], atol=1e-4)

    checked = assert_drawn_at_keypoints(str(out_dir / '000000000785.png'), image, persons, 0)
    assert checked >= 17


def test_demo_with_mmdet_detector(pose, coco_trainval, tmp_path):
    """Persons from RTMDet-tiny (random weights): one per person box that
    mmdet.apis.inference_detector returns with score >= --bbox-thr."""
    from mmdet.apis import inference_detector, init_detector

    from kp_plugins.apis import read_image
    name = '000000211325.jpg'
    image = osp.join(coco_trainval, 'images', name)
    det_cfg = write_small_rtmdet_config(tmp_path, max_per_img=10)
    det_ckpt = str(tmp_path / 'rtmdet.pth')
    save_random_rtmdet(det_cfg, det_ckpt, [read_image(image)])
    out_dir = tmp_path / 'out'
    res = run_tool([tool('demo.py'), pose['config'], pose['checkpoint'], image, '--out-dir',
                    str(out_dir), '--det-config', det_cfg, '--det-checkpoint', det_ckpt,
                    '--bbox-thr', '0.1', '--nms-iou', '1.0', '--device', 'cpu'])
    assert res.returncode == 0, res.stdout[-4000:]
    result = json.loads((out_dir / '000000211325.json').read_text())
    assert result['boxes_from'] == 'mmdet'
    pred = inference_detector(init_detector(det_cfg, det_ckpt, device='cpu'),
                              image).pred_instances
    keep = ((pred.labels == 0) & (pred.scores >= 0.1)).numpy()
    assert len(result['persons']) == int(keep.sum()) > 0
    np.testing.assert_allclose(sorted(p['bbox_score'] for p in result['persons']),
                               sorted(pred.scores.numpy()[keep]), atol=1e-4)
    assert osp.isfile(out_dir / '000000211325.png')


def test_demo_mmpose_config_whole_image(coco_trainval, tmp_path):
    """An MMPose config (by its mmpose:: name) with the whole image as box."""
    ckpt = str(tmp_path / 'mobilenet.pth')
    build_and_save(MMPOSE_CONFIG, ckpt, with_init=False)
    image = osp.join(coco_trainval, 'images', PHOTO)
    out_dir = tmp_path / 'out'
    res = run_tool([tool('demo.py'), MMPOSE_CONFIG, ckpt, image, '--out-dir', str(out_dir),
                    '--det', 'whole-image', '--kpt-thr', '0', '--device', 'cpu'])
    assert res.returncode == 0, res.stdout[-4000:]
    result = json.loads((out_dir / '000000000785.json').read_text())
    assert len(result['persons']) == 1
    person = result['persons'][0]
    assert person['bbox'] == [0, 0, 640, 425] and len(person['keypoints']) == 17
    ref = reference_poses(dict(config=MMPOSE_CONFIG, checkpoint=ckpt), image,
                          np.array([[0, 0, 640, 425]]))[0]
    np.testing.assert_allclose(person['keypoints'], ref.keypoints[0], atol=0.02)
    assert osp.isfile(out_dir / '000000000785.png')


def test_demo_video(pose, coco_trainval, tmp_path):
    src = cv2.imread(osp.join(coco_trainval, 'images', PHOTO))
    src = cv2.resize(src, (320, 212))
    video = str(tmp_path / 'clip.mp4')
    writer = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*'mp4v'), 5, (320, 212))
    assert writer.isOpened()
    for shift in range(3):
        writer.write(np.roll(src, 10 * shift, axis=1))
    writer.release()
    out_dir = tmp_path / 'out'
    res = run_tool([tool('demo.py'), pose['config'], pose['checkpoint'], video, '--out-dir',
                    str(out_dir), '--det', 'whole-image', '--device', 'cpu'])
    assert res.returncode == 0, res.stdout[-4000:]
    result = json.loads((out_dir / 'clip.json').read_text())
    assert [f['frame_id'] for f in result['frames']] == [0, 1, 2]
    assert all(len(f['persons']) == 1 and len(f['persons'][0]['keypoints']) == 17
               for f in result['frames'])
    cap = cv2.VideoCapture(str(out_dir / 'clip.mp4'))
    frames = 0
    while cap.read()[0]:
        frames += 1
    cap.release()
    assert frames == 3


def test_demo_clear_errors(pose, tmp_path, coco_trainval):
    base = [tool('demo.py'), pose['config'], pose['checkpoint']]
    missing = run_tool(base + [str(tmp_path / 'nope.jpg'), '--out-dir', str(tmp_path / 'o')])
    assert missing.returncode != 0
    assert 'nope.jpg' in missing.stdout and 'not found' in missing.stdout
    assert 'Traceback' not in missing.stdout

    broken = tmp_path / 'broken.jpg'
    broken.write_bytes(b'\xff\xd8 not a jpeg')
    good = osp.join(coco_trainval, 'images', PHOTO)
    mixed = run_tool(base + [str(broken), good, '--out-dir', str(tmp_path / 'o'),
                             '--det', 'whole-image'])
    assert mixed.returncode == 0, mixed.stdout[-3000:]
    assert 'skipped unreadable image' in mixed.stdout and 'broken.jpg' in mixed.stdout
    assert '1 input(s)' in mixed.stdout and '1 skipped' in mixed.stdout
    assert osp.isfile(tmp_path / 'o' / '000000000785.png')
    assert not osp.exists(tmp_path / 'o' / 'broken.png')

    bad_ckpt = run_tool([tool('demo.py'), pose['config'], str(tmp_path / 'x.pth'), good,
                         '--out-dir', str(tmp_path / 'o')])
    assert bad_ckpt.returncode != 0 and 'not found' in bad_ckpt.stdout
    assert 'Traceback' not in bad_ckpt.stdout
    no_ckpt_for_det = run_tool(base + [good, '--out-dir', str(tmp_path / 'o'), '--det', 'mmdet'])
    assert no_ckpt_for_det.returncode != 0 and '--det-config' in no_ckpt_for_det.stdout
