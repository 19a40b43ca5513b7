"""Bad input to the deployment tools (issue #24): tools/test_onnx.py runs the
same pre-flight data check as tools/test.py before the model runs, and
OnnxPoseModel.predict rejects person boxes that are not finite or empty,
naming the box (a random-weight grid model exported to ONNX)."""
import json
import os.path as osp
import runpy
import sys

import numpy as np
import pytest

from conftest import REPO_ROOT
from deploy_testing import TOPDOWN_CONFIGS, build_model, export
from helpers import write_tiny_coco

pytest.importorskip('onnxruntime', reason='deploy extra (onnxruntime) not installed')

from kp_plugins.deploy.runtime import OnnxPoseModel  # noqa: E402


@pytest.fixture(scope='module')
def grid_onnx(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('onnx') / 'grid.onnx')
    export(build_model(TOPDOWN_CONFIGS['KPGridHead']), path)
    return path


@pytest.mark.parametrize('box,why', [
    ([10, 20, np.nan, 80], r'person box 1 of 2 \[10, 20, nan, 80\] \(x1, y1, x2, y2, image '
     r'pixels\) is not finite; remove it or give a valid box'),
    ([10, 20, np.inf, 80], r'person box 1 of 2 \[10, 20, inf, 80\] .* is not finite'),
    ([50, 20, 50, 80], r'person box 1 of 2 \[50, 20, 50, 80\] \(x1, y1, x2, y2, image '
     r'pixels\) has width 0 and height 60 \(x2 must exceed x1 and y2 exceed y1\)'),
    ([50, 90, 60, 80], r'has width 10 and height -10'),
], ids=['nan', 'inf', 'zero-width', 'negative-height'])
def test_predict_rejects_a_box_that_is_not_a_box(grid_onnx, box, why):
    """Today: NaN keypoints with finite scores."""
    model = OnnxPoseModel(grid_onnx)
    image = np.zeros((120, 100, 3), np.uint8)
    boxes = np.array([[5, 5, 60, 100], box], np.float32)
    with pytest.raises(ValueError, match=why):
        model.predict(image, boxes)
    keypoints, scores = model.predict(image, boxes[:1])
    assert np.isfinite(keypoints).all() and np.isfinite(scores).all()


def run_test_onnx(args, monkeypatch):
    monkeypatch.setattr(sys, 'argv', ['test_onnx.py', *args])
    with pytest.raises(SystemExit) as info:
        runpy.run_path(osp.join(REPO_ROOT, 'tools', 'test_onnx.py'), run_name='__main__')
    return str(info.value.code)


def test_test_onnx_checks_the_data_before_the_model_runs(grid_onnx, tmp_path, monkeypatch,
                                                         capsys):
    """Today: NaN keypoints in the ground truth give ``coco/AP: 1.0000`` for
    random weights (tools/test.py stops on the same file)."""
    ann = write_tiny_coco(tmp_path, num_images=3)
    with open(ann) as f:
        coco = json.load(f)
    coco['annotations'][1]['keypoints'][3] = float('nan')
    with open(ann, 'w') as f:
        json.dump(coco, f)
    message = run_test_onnx([grid_onnx, '--ann-file', ann, '--img-dir',
                             str(tmp_path / 'images')], monkeypatch)
    assert message.startswith('error: the data check before training/testing found 1 '
                              'problem(s):\n  - annotations.json: the keypoints of 1 '
                              'annotations are not 51 finite numbers')
    assert 'annotation ids 2 (image 2: value 3 is nan)' in message
    assert 'coco/AP' not in capsys.readouterr().out
    # detections above every score: nothing to evaluate
    coco['annotations'][1]['keypoints'][3] = 10.0
    with open(ann, 'w') as f:
        json.dump(coco, f)
    dets = tmp_path / 'dets.json'
    dets.write_text(json.dumps([dict(image_id=1, category_id=1, bbox=[5, 5, 40, 60],
                                     score=0.4)]))
    message = run_test_onnx([grid_onnx, '--ann-file', ann, '--img-dir',
                             str(tmp_path / 'images'), '--bbox-file', str(dets),
                             '--bbox-score-thr', '0.5'], monkeypatch)
    assert 'bbox_file dets.json leaves no person box to evaluate: of 1 detections, 0 are ' \
        'not persons' in message
    assert 'coco/AP' not in capsys.readouterr().out
