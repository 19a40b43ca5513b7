"""mmdeploy 1.3.1 converts every kp head (and MMPose's HeatmapHead) with the
deploy configs in configs/deploy/, and its onnxruntime backend model predicts
what the torch model's ``predict`` does (flip test off).

Conversion uses ``mmdeploy.apis.torch2onnx`` and inference the task
processor's backend model, the very calls of mmdeploy's tools/deploy.py and
tools/test.py (the scripts themselves run in test_mmdeploy_coco.py).
"""
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config

pytest.importorskip(
    'mmdeploy', reason='mmdeploy is not installed (pip install --no-deps '
    'mmdeploy==1.3.1; README, "mmdeploy")')
pytest.importorskip('onnxruntime', reason='onnxruntime is not installed '
                    '(the deploy extra)')

from conftest import REPO_ROOT  # noqa: E402
from mmdeploy_testing import (CONFIGS, KEYPOINT_TOL_PX, SCORE_TOL,  # noqa: E402
                              deploy_config_path, model_config,
                              person_images, predictions,
                              save_random_checkpoint, topdown_batch)

import kp_plugins  # noqa: E402,F401  (registration)


@pytest.fixture(scope='module')
def pairs():
    return person_images()


def convert(name: str, deploy_cfg_path: str, work_dir: str, image):
    """Random-init checkpoint + mmdeploy conversion; returns (model config,
    checkpoint, onnx file)."""
    from mmdeploy.apis import torch2onnx
    cfg = model_config(name)
    checkpoint = osp.join(work_dir, 'model.pth')
    save_random_checkpoint(cfg, checkpoint)
    export = torch.onnx.export
    torch2onnx(image, work_dir, 'end2end.onnx', Config.fromfile(
        deploy_cfg_path), cfg.copy(), checkpoint, device='cpu')
    assert torch.onnx.export is export, \
        'the torch.onnx.export rewriter must be undone after the export'
    return cfg, checkpoint, osp.join(work_dir, 'end2end.onnx')


def graph_io(onnx_file: str):
    import onnx
    model = onnx.load(onnx_file)
    onnx.checker.check_model(model)

    def dims(value):
        return [d.dim_value or d.dim_param
                for d in value.type.tensor_type.shape.dim]

    return ({i.name: dims(i) for i in model.graph.input},
            {o.name: dims(o) for o in model.graph.output})


def assert_parity(torch_model, backend_model, cfg, pairs, batch_size: int):
    for start in range(0, len(pairs), batch_size):
        batch = topdown_batch(cfg, pairs[start:start + batch_size])
        keypoints, scores = predictions(torch_model, batch)
        backend_keypoints, backend_scores = predictions(backend_model, batch)
        assert backend_keypoints.shape == keypoints.shape == (
            len(pairs[start:start + batch_size]), 17, 2)
        assert np.abs(backend_keypoints - keypoints).max() <= KEYPOINT_TOL_PX
        assert np.abs(backend_scores - scores).max() <= SCORE_TOL


@pytest.mark.parametrize('kind', ['dynamic', 'static'])
@pytest.mark.parametrize('name', list(CONFIGS))
def test_convert_and_predict_like_torch(name, kind, pairs, tmp_path):
    """Every shipped deploy config converts its head; the onnxruntime backend
    model equals torch ``predict`` (<= 1e-3 px, scores <= 1e-4) at batch 1
    and, with a dynamic batch, at batch 5 of one file."""
    from mmdeploy.apis import build_task_processor
    from mmpose.apis import init_model
    deploy_path = deploy_config_path(name, kind)
    cfg, checkpoint, onnx_file = convert(name, deploy_path, str(tmp_path),
                                         pairs[0][0])

    deploy_cfg = Config.fromfile(deploy_path)
    inputs, outputs = graph_io(onnx_file)
    assert list(inputs) == deploy_cfg.onnx_config.input_names
    assert list(outputs) == deploy_cfg.onnx_config.output_names
    batch_dim = 'batch' if kind == 'dynamic' else 1
    assert inputs['input'] == [batch_dim, 3, 128, 96]
    if name == 'bbox':
        assert inputs['bbox'] == [batch_dim, 4]

    processor = build_task_processor(cfg.copy(), deploy_cfg, 'cpu')
    backend_model = processor.build_backend_model(
        [onnx_file],
        data_preprocessor_updater=processor.update_data_preprocessor)
    torch_model = init_model(cfg.copy(), checkpoint, device='cpu')
    assert not torch_model.cfg.model.test_cfg.flip_test
    batch_sizes = [len(pairs), 1] if kind == 'dynamic' else [1]
    for batch_size in batch_sizes:
        assert_parity(torch_model, backend_model, cfg, pairs, batch_size)


@pytest.mark.parametrize('name, deploy_name, expected', [
    ('regression', 'pose-detection_kp-grid_onnxruntime',
     'pose-detection_kp-regression_onnxruntime_'),
    ('grid', 'pose-detection_onnxruntime', 'pose-detection_kp-grid_'),
    ('bbox', 'pose-detection_kp-regression_onnxruntime',
     'pose-detection_kp-bbox_onnxruntime_'),
    ('heatmap', 'pose-detection_kp-bbox_onnxruntime',
     'configs/deploy/pose-detection_onnxruntime_'),
])
def test_wrong_deploy_config_names_the_right_one(name, deploy_name, expected,
                                                 pairs, tmp_path):
    """A deploy config whose inputs/outputs do not fit the head stops the
    export with the config to use (not a graph that drops an output)."""
    from mmdeploy.apis import torch2onnx
    cfg = model_config(name)
    checkpoint = str(tmp_path / 'model.pth')
    save_random_checkpoint(cfg, checkpoint)
    deploy_cfg = Config.fromfile(
        osp.join(REPO_ROOT, 'configs', 'deploy', f'{deploy_name}_static.py'))
    with pytest.raises(ValueError, match=expected):
        torch2onnx(pairs[0][0], str(tmp_path), 'end2end.onnx', deploy_cfg,
                   cfg, checkpoint, device='cpu')
    assert not (tmp_path / 'end2end.onnx').exists()


def test_kp_plugins_never_imports_mmdeploy():
    """``import kp_plugins`` (and ``kp_plugins.deploy``) leaves mmdeploy
    unimported and torch.onnx.export untouched; the support package registers
    the backend model and the export rewriter."""
    code = (
        'import sys, torch\n'
        'export = torch.onnx.export\n'
        'import kp_plugins, kp_plugins.deploy\n'
        'assert "mmdeploy" not in sys.modules, "mmdeploy imported"\n'
        'from kp_plugins.deploy.mmdeploy_support import pose_detection_model\n'
        'assert torch.onnx.export is export\n'
        'from mmdeploy.core import FUNCTION_REWRITER\n'
        'assert "torch.onnx.export" in FUNCTION_REWRITER._registry.'
        '_rewrite_records\n'
        'print(pose_detection_model.BACKEND_MODELS.get("kp_end2end")'
        '.__name__)\n')
    result = subprocess.run([sys.executable, '-c', code], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == 'KPEnd2EndModel'
