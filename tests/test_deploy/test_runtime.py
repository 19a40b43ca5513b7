"""The onnxruntime runtime: MMPose-identical crops, image-pixel keypoints
equal to ``inference_topdown``'s, clear errors for wrong inputs, and no torch
on its import path."""
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import REPO_ROOT
from deploy_testing import TOPDOWN_CONFIGS, build_model, export

pytest.importorskip('onnxruntime', reason='deploy extra (onnxruntime) not installed')

from kp_plugins.deploy.runtime import OnnxModelError, OnnxPoseModel  # noqa: E402
from kp_plugins.utils.crop import crop_persons  # noqa: E402

#: (x1, y1, x2, y2) boxes on a 320x240 image: small, large, wide, tall, and
#: partly outside the image.
BOXES = np.array([[50, 40, 90, 150], [10, 10, 300, 230], [100, 100, 250, 140],
                  [200, 5, 215, 200], [-40, 150, 60, 300], [280, 200, 400, 260]],
                 dtype=np.float32)


@pytest.fixture(scope='module')
def image():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
    return cv2_blur(img)


def cv2_blur(img):
    import cv2
    return cv2.GaussianBlur(img, (5, 5), 2)  # smooth, so bilinear sampling matters


@pytest.fixture(scope='module')
def grid_model():
    return build_model(TOPDOWN_CONFIGS['KPGridHead'])


@pytest.fixture(scope='module')
def bbox_model():
    return build_model(TOPDOWN_CONFIGS['KPBBoxHead'])


def mmpose_crops(model, image, boxes):
    """Crops, centres and scales from MMPose's own test pipeline."""
    from mmcv.transforms import Compose
    from mmengine.registry import init_default_scope
    init_default_scope('mmpose')
    pipeline = Compose(model.cfg.test_dataloader.dataset.pipeline)
    out = []
    for box in boxes:
        res = pipeline(dict(img=image.copy(), bbox=box[None].copy(),
                            bbox_score=np.ones(1, np.float32)))
        out.append((res['inputs'].numpy().astype(np.float32),
                    res['data_samples'].metainfo['input_center'],
                    res['data_samples'].metainfo['input_scale'],
                    res['data_samples'].gt_instances.bboxes))
    return out


def test_crops_are_mmposes(bbox_model, image):
    crops, centers, scales, input_boxes = crop_persons(image, BOXES, (96, 128))
    want = mmpose_crops(bbox_model, image, BOXES)
    for i, (crop, center, scale, box) in enumerate(want):
        assert np.array_equal(crops[i], crop), f'box {i}: crop differs from TopdownAffine'
        assert np.array_equal(centers[i], center) and np.array_equal(scales[i], scale)
        want_box = bbox_model.head.decoder.bbox_to_input(box, center, scale)
        np.testing.assert_allclose(input_boxes[i], want_box[0], atol=1e-6)


@pytest.mark.parametrize('model_name', ['grid_model', 'bbox_model'])
def test_predict_matches_inference_topdown(model_name, image, tmp_path, request):
    from mmpose.apis import inference_topdown
    model = request.getfixturevalue(model_name)
    path = str(tmp_path / 'm.onnx')
    export(model, path)
    runtime = OnnxPoseModel(path)
    keypoints, scores = runtime.predict(image, BOXES)
    model.test_cfg = dict(flip_test=False)
    samples = inference_topdown(model, image, BOXES, bbox_format='xyxy')
    want_kpts = np.concatenate([s.pred_instances.keypoints for s in samples])
    want_scores = np.concatenate([s.pred_instances.keypoint_scores for s in samples])
    # 1e-3 model-input pixels, in image pixels for the largest crop
    _, _, scales, _ = crop_persons(image, BOXES, runtime.input_size)
    tol = 1e-3 * float((scales / np.array(runtime.input_size)).max())
    assert np.abs(keypoints - want_kpts).max() <= tol
    assert np.abs(scores - want_scores).max() <= 1e-4
    assert keypoints.shape == (len(BOXES), 17, 2) and keypoints.dtype == np.float32


def test_wrong_inputs_name_the_expected_ones(bbox_model, grid_model, tmp_path, image):
    path = str(tmp_path / 'bbox.onnx')
    export(bbox_model, path)
    runtime = OnnxPoseModel(path)
    crops = np.zeros((2, 3, 128, 96), np.float32)
    boxes = np.zeros((2, 4), np.float32)
    with pytest.raises(OnnxModelError, match=r'float32 \(N, 3, 128, 96\).*dtype float64'):
        runtime.infer(crops.astype(np.float64), boxes)
    with pytest.raises(OnnxModelError, match=r'float32 \(N, 3, 128, 96\).*shape \(2, 3, 96, 128\)'):
        runtime.infer(np.zeros((2, 3, 96, 128), np.float32), boxes)
    with pytest.raises(OnnxModelError, match=r'person boxes in model-input pixels'):
        runtime.infer(crops)
    with pytest.raises(OnnxModelError, match=r'float32 \(2, 4\) xyxy boxes, got float32 \(1, 4\)'):
        runtime.infer(crops, boxes[:1])
    with pytest.raises(OnnxModelError, match=r'uint8 BGR image, got float32'):
        runtime.predict(image.astype(np.float32), BOXES)
    with pytest.raises(OnnxModelError, match=r'\(N, 4\) xyxy person boxes, got shape \(6, 2\)'):
        runtime.predict(image, BOXES[:, :2])
    # no box: no person, right shapes
    kpts, scores = runtime.predict(image, np.zeros((0, 4)))
    assert kpts.shape == (0, 17, 2) and scores.shape == (0, 17)

    raw = str(tmp_path / 'raw.onnx')
    export(grid_model, raw, raw=True)
    with pytest.raises(OnnxModelError, match='exported with --raw'):
        OnnxPoseModel(raw)
    foreign = str(tmp_path / 'foreign.onnx')
    torch.onnx.export(torch.nn.Linear(3, 2), (torch.zeros(1, 3), ), foreign, dynamo=False)
    with pytest.raises(OnnxModelError, match='not written by kp_plugins'):
        OnnxPoseModel(foreign)
    with pytest.raises(OnnxModelError, match='not found'):
        OnnxPoseModel(str(tmp_path / 'missing.onnx'))
    text = tmp_path / 'text.onnx'
    text.write_text('not a model')
    with pytest.raises(OnnxModelError, match='onnxruntime cannot load'):
        OnnxPoseModel(str(text))


def test_runtime_runs_without_torch(grid_model, image, tmp_path):
    path = str(tmp_path / 'grid.onnx')
    export(grid_model, path)
    want_kpts, want_scores = OnnxPoseModel(path).predict(image, BOXES)
    np.save(tmp_path / 'image.npy', image)
    np.save(tmp_path / 'boxes.npy', BOXES)
    script = f'''
import sys
sys.modules['torch'] = None  # any "import torch" now fails
import numpy as np
from kp_plugins.deploy.runtime import OnnxPoseModel
model = OnnxPoseModel({path!r})
kpts, scores = model.predict(np.load({str(tmp_path / 'image.npy')!r}),
                             np.load({str(tmp_path / 'boxes.npy')!r}))
np.save({str(tmp_path / 'kpts.npy')!r}, kpts)
np.save({str(tmp_path / 'scores.npy')!r}, scores)
heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('mmpose', 'mmcv', 'mmengine', 'torch')
               and sys.modules[m] is not None)
print('HEAVY', heavy)
'''
    out = subprocess.run([sys.executable, '-c', script], cwd=REPO_ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert 'HEAVY []' in out.stdout, out.stdout
    assert np.array_equal(np.load(tmp_path / 'kpts.npy'), want_kpts)
    assert np.array_equal(np.load(tmp_path / 'scores.npy'), want_scores)
    assert osp.isfile(path)
