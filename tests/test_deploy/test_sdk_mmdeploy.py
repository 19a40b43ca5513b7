"""mmdeploy's own route to an SDK model directory: tools/mmdeploy/deploy.py
--dump-info with a kp deploy config writes the SDK files for our heads, the
SDK runs them like the directory of tools/export_onnx.py --sdk, and
mmdeploy's tools/test.py (SDKEnd2EndModel) scores the directory as
tools/test_onnx.py does. On generated synthetic people: no ../shared."""
import glob
import json
import os.path as osp
import re

import numpy as np
import pytest

pytest.importorskip(
    'mmdeploy', reason='mmdeploy is not installed (pip install --no-deps mmdeploy==1.3.1)')
mmdeploy_runtime = pytest.importorskip(
    'mmdeploy_runtime', reason='deploy extra (mmdeploy-runtime, CPython 3.11 only) not installed')

from test_sdk import people_image  # noqa: E402

from conftest import REPO_ROOT  # noqa: E402
from helpers import run_tool, tool  # noqa: E402
from mmdeploy_testing import (  # noqa: E402
    KP_BBOX_DEPLOY,
    KP_DEPLOY,
    deploy_config_path,
    model_config,
    save_random_checkpoint,
)

pytestmark = pytest.mark.slow

QUICKSTART = osp.join(REPO_ROOT, 'configs', 'quickstart.py')
SDK_DEPLOY = osp.join(REPO_ROOT, 'configs', 'deploy', 'pose-detection_kp_sdk.py')
ENV = {'PYTHONPATH': REPO_ROOT, 'OMP_NUM_THREADS': '2'}


@pytest.fixture(scope='module')
def image_file(tmp_path_factory):
    import cv2
    path = str(tmp_path_factory.mktemp('img') / 'people.jpg')
    cv2.imwrite(path, people_image(0)[0])
    return path


@pytest.fixture(scope='module')
def dumped(tmp_path_factory, image_file):
    """deploy.py --dump-info on a random-init quick-start grid model, and
    export_onnx.py --sdk on the same checkpoint."""
    root = tmp_path_factory.mktemp('mmdeploy_sdk')
    checkpoint = str(root / 'grid.pth')
    save_random_checkpoint(model_config('KPGridHead'), checkpoint)
    config = model_config('KPGridHead').filename
    deploy = run_tool([tool('mmdeploy/deploy.py'), deploy_config_path(KP_DEPLOY, 'dynamic'),
                       config, checkpoint, image_file, '--work-dir', str(root / 'mmdeploy'),
                       '--device', 'cpu', '--dump-info'], env=ENV)
    assert deploy.returncode == 0 and 'All process success.' in deploy.stdout, \
        deploy.stdout[-4000:]
    ours = run_tool([tool('export_onnx.py'), config, checkpoint, '--sdk', str(root / 'ours'),
                     '--no-check'], env=ENV)
    assert ours.returncode == 0, ours.stderr[-4000:]
    return root, config, checkpoint


def test_dump_info_writes_the_sdk_files_of_an_in_graph_decode(dumped):
    root, _, _ = dumped
    for name in ('deploy.json', 'pipeline.json', 'detail.json', 'end2end.onnx'):
        assert (root / 'mmdeploy' / name).is_file(), name
    tasks = json.load(open(root / 'mmdeploy' / 'pipeline.json'))['pipeline']['tasks']
    ours = json.load(open(root / 'ours' / 'pipeline.json'))['pipeline']['tasks']
    assert tasks[1]['output_map'] == ours[1]['output_map'] == {
        'simcc_x': 'keypoints', 'simcc_y': 'scores'}
    assert tasks[2]['component'] == ours[2]['component'] == 'SimCCLabelDecode'
    assert tasks[2]['params']['export_postprocess'] is True
    crop = {t['type']: t for t in tasks[0]['transforms']}
    assert crop['TopDownGetBboxCenterScale']['padding'] == 1.25
    # mmdeploy's graph takes normalized crops: the SDK normalizes first.
    assert crop['Normalize']['mean'] != [0.0, 0.0, 0.0]


def test_both_routes_predict_alike(dumped):
    """The SDK runs mmdeploy's directory like ours (normalization outside
    vs inside the graph: float rounding only)."""
    root, _, _ = dumped
    theirs = mmdeploy_runtime.PoseDetector(str(root / 'mmdeploy'), 'cpu', 0)
    ours = mmdeploy_runtime.PoseDetector(str(root / 'ours'), 'cpu', 0)
    image, boxes = people_image(1)
    a, b = theirs(image, boxes.tolist()), ours(image, boxes.tolist())
    np.testing.assert_allclose(a[..., :2], b[..., :2], atol=1e-2)
    np.testing.assert_allclose(a[..., 2], b[..., 2], atol=1e-4)


def test_dump_info_refuses_the_bbox_head(tmp_path, image_file):
    checkpoint = str(tmp_path / 'bbox.pth')
    save_random_checkpoint(model_config('KPBBoxHead'), checkpoint)
    result = run_tool([tool('mmdeploy/deploy.py'), deploy_config_path(KP_BBOX_DEPLOY, 'dynamic'),
                       model_config('KPBBoxHead').filename, checkpoint, image_file, '--work-dir',
                       str(tmp_path / 'out'), '--device', 'cpu', '--dump-info'], env=ENV)
    assert result.returncode != 0
    assert 'person box as a second graph input' in result.stdout  # run_tool merges stderr


def metrics(text: str) -> dict:
    found = dict(re.findall(r'(coco/A[PR]): (-?[0-9.]+)', text))
    assert found, text[-3000:]
    return {k: float(v) for k, v in found.items()}


def test_mmdeploy_test_scores_the_sdk_directory_as_test_onnx(tmp_path):
    """mmdeploy's tools/test.py with configs/deploy/pose-detection_kp_sdk.py
    (SDKEnd2EndModel -> PoseDetector) and tools/test_onnx.py on the same SDK
    directory print the same AP and AR (8 synthetic val images)."""
    from mmengine.config import Config
    checkpoint = str(tmp_path / 'quickstart.pth')
    cfg = Config.fromfile(QUICKSTART)
    cfg.model.backbone.pretrained = False
    save_random_checkpoint(cfg, checkpoint)
    cache = str(tmp_path / 'synthetic')
    options = ['test_dataloader.dataset.num_images=8', f'test_dataloader.dataset.cache_dir={cache}',
               'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False',
               'model.test_cfg.flip_test=False']
    sdk = str(tmp_path / 'sdk')
    export = run_tool([tool('export_onnx.py'), QUICKSTART, checkpoint, '--sdk', sdk,
                       '--no-check'], env=ENV)
    assert export.returncode == 0, export.stderr[-3000:]
    mmdeploy_test = run_tool([tool('mmdeploy/test.py'), SDK_DEPLOY, QUICKSTART, '--model', sdk,
                              '--device', 'cpu', '--work-dir', str(tmp_path / 'mmdeploy_test'),
                              '--cfg-options', *options], env=ENV)
    assert mmdeploy_test.returncode == 0, mmdeploy_test.stdout[-4000:]
    ann = glob.glob(osp.join(cache, '*', 'annotations.json'))
    assert len(ann) == 1, ann
    ours = run_tool([tool('test_onnx.py'), sdk, '--ann-file', ann[0], '--img-dir',
                     osp.join(osp.dirname(ann[0]), 'images')], env=ENV)
    assert ours.returncode == 0, ours.stdout[-3000:] + ours.stderr[-3000:]
    theirs, mine = metrics(mmdeploy_test.stdout), metrics(ours.stdout)
    for key in ('coco/AP', 'coco/AR'):
        assert abs(theirs[key] - mine[key]) <= 1e-4, (key, theirs, mine)
