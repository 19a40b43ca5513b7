"""Bottom-up (YOLOXPoseHead) export and runtime: the exported graph run by
onnxruntime with the numpy threshold / NMS / mapping gives the persons of
MMPose's ``inference_bottomup`` on the same images (batch 1 and 4), the
pre-processing is MMPose's ``BottomupResize`` bit for bit, the NMS is
``nms_torch``'s, unsupported heads are refused, and the runtime needs no
torch."""
import subprocess
import sys

import numpy as np
import pytest
import torch
from bottomup_testing import build_yolo, make_images, match_persons

from conftest import REPO_ROOT

pytest.importorskip('onnxruntime', reason='deploy extra (onnxruntime) not installed')

from kp_plugins.deploy.bottomup_runtime import (  # noqa: E402
    OnnxBottomupPoseModel,
    nms_boxes,
    select_persons,
)
from kp_plugins.deploy.runtime import OnnxModelError, OnnxPoseModel, load_onnx_model  # noqa: E402
from kp_plugins.utils.crop import bottomup_resize  # noqa: E402

#: parity tolerances: pixels (boxes, keypoints) and scores
PX, SCORE = 1e-2, 1e-4


@pytest.fixture(scope='module')
def yolo(tmp_path_factory):
    return build_yolo(tmp_path_factory.mktemp('yolo'))


@pytest.fixture(scope='module')
def yolo_onnx(yolo, tmp_path_factory):
    from kp_plugins.deploy.bottomup_export import export_bottomup_onnx
    path = str(tmp_path_factory.mktemp('onnx') / 'yolo.onnx')
    result = export_bottomup_onnx(yolo, yolo.cfg, path, 'yolo_small.py')
    return path, result


@pytest.fixture(scope='module')
def images():
    return make_images()


def torch_persons(model, image):
    """``inference_bottomup`` on one image: boxes, scores, keypoints,
    keypoint scores in image pixels."""
    from mmpose.apis import inference_bottomup
    pred = inference_bottomup(model, image)[0].pred_instances
    return (np.asarray(pred.bboxes), np.asarray(pred.bbox_scores),
            np.asarray(pred.keypoints), np.asarray(pred.keypoint_scores))


def assert_same_persons(want, got, px=PX, score=SCORE) -> int:
    """``want`` (torch) and ``got`` (runtime) hold the same persons within
    the tolerances; returns their number."""
    boxes, scores, kpts, kpt_scores = want
    match = match_persons(boxes, got.bboxes)
    np.testing.assert_allclose(got.bboxes[match], boxes, atol=px, rtol=0)
    np.testing.assert_allclose(got.keypoints[match], kpts, atol=px, rtol=0)
    np.testing.assert_allclose(got.bbox_scores[match], scores, atol=score, rtol=0)
    np.testing.assert_allclose(got.keypoint_scores[match], kpt_scores, atol=score, rtol=0)
    return len(boxes)


def test_bottomup_resize_is_mmpose_pipeline(yolo, images):
    """The runtime's input, centre and scale equal the config's own val
    pipeline output (LoadImage + BottomupResize + PackPoseInputs) exactly."""
    from mmcv.transforms import Compose
    from mmengine.registry import init_default_scope
    init_default_scope('mmpose')
    pipeline = Compose(yolo.cfg.test_dataloader.dataset.pipeline)
    for image in images:
        res = pipeline(dict(img=image.copy()))
        meta = res['data_samples'].metainfo
        got, center, scale = bottomup_resize(image, (256, 256), (114, 114, 114))
        assert np.array_equal(got, res['inputs'].numpy().astype(np.float32))
        assert np.array_equal(center, meta['input_center'])
        assert np.array_equal(scale, meta['input_scale'])
    # a scalar pad value fills the first channel only, as cv2 (and MMPose) do
    got, _, _ = bottomup_resize(images[0], (256, 256), 114)
    assert got[:, 0, 0].tolist() == [114.0, 0.0, 0.0]


def test_metadata_marks_bottom_up(yolo_onnx):
    path, result = yolo_onnx
    model = OnnxBottomupPoseModel(path)
    meta = model.metadata
    assert meta['mode'] == 'bottomup' and meta['head'] == 'YOLOXPoseHead'
    assert meta['input_size'] == [256, 256] and meta['pad_val'] == [114.0] * 3
    assert meta['mean'] == [127.0] * 3 and meta['std'] == [128.0] * 3
    assert meta['channel_order'] == 'bgr'
    assert (meta['score_thr'], meta['nms_thr']) == (0.3, 0.65)
    # nms_pre defaults to 100000: every prior is a candidate
    assert meta['num_candidates'] == meta['num_priors'] == 32 * 32 + 16 * 16 + 8 * 8
    assert [o.name for o in model.session.get_outputs()] == [
        'bboxes', 'bbox_scores', 'keypoints', 'keypoint_scores']
    assert len(meta['keypoint_names']) == 17 and model.dataset_meta['num_keypoints'] == 17
    assert isinstance(load_onnx_model(path), OnnxBottomupPoseModel)
    with pytest.raises(OnnxModelError, match='OnnxBottomupPoseModel'):
        OnnxPoseModel(path)


def test_graph_equals_traced_module(yolo_onnx, images):
    """Raw graph outputs (all candidates, sorted) vs the traced torch module
    on the same padded images."""
    from kp_plugins.deploy.bottomup_export import bottomup_torch_reference
    path, result = yolo_onnx
    model = OnnxBottomupPoseModel(path)
    inputs = np.stack([model.preprocess(img)[0] for img in images[:4]])
    got = model.infer(inputs)
    want = bottomup_torch_reference(result['module'], inputs)
    assert [g.shape for g in got] == [w.shape for w in want]
    # the scores, sorted, do not depend on how near-ties are ordered
    np.testing.assert_allclose(got[1], want[1], atol=1e-5, rtol=0)
    assert np.all(np.diff(got[1], axis=1) <= 0)


@pytest.mark.parametrize('batch', [1, 4])
def test_runtime_gives_inference_bottomup_persons(yolo, yolo_onnx, images, batch):
    """onnxruntime + numpy NMS vs MMPose's inference_bottomup on 5 images
    of different sizes: the same persons (some suppressed by NMS), boxes
    and keypoints within 1e-2 px, scores within 1e-4."""
    path, _ = yolo_onnx
    model = OnnxBottomupPoseModel(path)
    if batch == 1:
        got = [model.predict(img) for img in images]
    else:
        got = model.predict_batch(images[:4]) + model.predict_batch(images[4:])
    counts = []
    for image, persons in zip(images, got):
        counts.append(assert_same_persons(torch_persons(yolo, image), persons))
        assert persons.keypoints.dtype == np.float32
    assert min(counts) >= 1 and sum(counts) >= 10, counts
    # NMS did suppress: more candidates pass the threshold than persons remain
    inputs = np.stack([model.preprocess(img)[0] for img in images])
    above = (model.infer(inputs)[1] > model.score_thr).sum(1)
    assert (above > np.array(counts)).all(), (above, counts)


def test_runtime_thresholds_follow_test_cfg(yolo, yolo_onnx, images, tmp_path):
    """Overridden thresholds give what predict gives with the same
    test_cfg (here: no NMS, a higher score threshold)."""
    path, _ = yolo_onnx
    model = OnnxBottomupPoseModel(path, score_thr=0.35, nms_thr=1.0)
    old = dict(yolo.test_cfg)
    yolo.test_cfg.update(score_thr=0.35, nms_thr=1.0)
    try:
        want = torch_persons(yolo, images[0])
    finally:
        yolo.test_cfg.clear()
        yolo.test_cfg.update(old)
    got = model.predict(images[0])
    assert assert_same_persons(want, got) > 0
    assert (got.bbox_scores > 0.35).all()


def test_nms_is_mmpose_nms_torch():
    """nms_boxes vs mmpose's nms_torch on random overlapping boxes (with
    tied scores): the same kept boxes in the same order."""
    from mmpose.evaluation.functional import nms_torch
    rng = np.random.default_rng(1)
    for trial in range(20):
        n = int(rng.integers(1, 60))
        xy = rng.uniform(0, 100, (n, 2))
        boxes = np.concatenate([xy, xy + rng.uniform(5, 60, (n, 2))], 1).astype(np.float32)
        scores = rng.choice(rng.uniform(0, 1, max(n // 2, 1)), n).astype(np.float32)
        thr = float(rng.choice([0.3, 0.5, 0.65]))
        # torch's sort leaves the order of equal scores unspecified; nms_boxes
        # visits them by index: break the ties by index for torch too
        untied = scores.astype(np.float64) - np.arange(n) * 1e-12
        want = nms_torch(torch.from_numpy(boxes), torch.from_numpy(untied), thr).numpy()
        got = nms_boxes(boxes, scores, thr)
        assert got.tolist() == want.tolist(), trial
    # a hand-made case: B overlaps A (IoU 0.81 > 0.65) and is dropped; C stays
    boxes = np.array([[0, 0, 10, 10], [0, 0, 9, 9], [20, 20, 30, 30]], np.float32)
    assert nms_boxes(boxes, np.array([0.9, 0.8, 0.7], np.float32), 0.65).tolist() == [0, 2]
    assert nms_boxes(boxes, np.array([0.9, 0.8, 0.7], np.float32), 0.85).tolist() == [0, 1, 2]


def test_select_persons_thresholds_and_clamps():
    bboxes = np.array([[-5, -5, 20, 300], [0, 0, 10, 10], [1, 1, 10, 10]], np.float32)
    scores = np.array([0.9, 0.5, 0.4], np.float32)
    kpts = np.zeros((3, 2, 2), np.float32)
    vis = np.ones((3, 2), np.float32)
    out = select_persons(bboxes, scores, kpts, vis, 0.45, 0.65, (256, 256))
    assert out.bbox_scores.tolist() == pytest.approx([0.9, 0.5])  # 0.4 under the threshold
    assert out.bboxes[0].tolist() == [0, 0, 20, 256]  # clamped to the input
    out = select_persons(bboxes, scores, kpts, vis, 0.0, 0.65, (256, 256))
    assert out.bbox_scores.tolist() == pytest.approx([0.9, 0.5])  # NMS drops the third


def test_unsupported_heads_are_refused(yolo):
    from kp_plugins.deploy.bottomup_export import check_bottomup_head
    from kp_plugins.deploy.export import ExportError

    class RTMOHead(torch.nn.Module):
        pass

    class Estimator(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.head = RTMOHead()

    with pytest.raises(ExportError, match='RTMOHead cannot be exported bottom-up'):
        check_bottomup_head(Estimator())
    check_bottomup_head(yolo)  # YOLOXPoseHead passes


def test_bottomup_runtime_runs_without_torch(yolo_onnx, images, tmp_path):
    path, _ = yolo_onnx
    want = OnnxBottomupPoseModel(path).predict(images[0])
    np.save(tmp_path / 'image.npy', images[0])
    script = f'''
import sys
sys.modules['torch'] = None  # any "import torch" now fails
import numpy as np
from kp_plugins.deploy.runtime import load_onnx_model
model = load_onnx_model({path!r})
persons = model.predict(np.load({str(tmp_path / 'image.npy')!r}))
np.save({str(tmp_path / 'kpts.npy')!r}, persons.keypoints)
heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('mmpose', 'mmcv', 'mmengine', 'torch')
               and sys.modules[m] is not None)
print('HEAVY', heavy)
'''
    out = subprocess.run([sys.executable, '-c', script], cwd=REPO_ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert 'HEAVY []' in out.stdout, out.stdout
    assert np.array_equal(np.load(tmp_path / 'kpts.npy'), want.keypoints)
