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
    'mmdeploy==1.3.1; docs/mmdeploy.md)')
pytest.importorskip('onnxruntime', reason='onnxruntime is not installed '
                    '(the deploy extra)')

import kp_plugins  # noqa: E402,F401  (registration)

from conftest import REPO_ROOT  # noqa: E402
from mmdeploy_testing import (  # noqa: E402
    KEYPOINT_TOL_PX,
    KP_BBOX_DEPLOY,
    KP_DEPLOY,
    NAMES,
    SCORE_TOL,
    STOCK_DEPLOY,
    deploy_config_path,
    export_spec,
    kp_deploy_name,
    model_config,
    person_images,
    predictions,
    save_random_checkpoint,
    topdown_batch,
)


@pytest.fixture(scope='module')
def pairs():
    return person_images()


def convert(name: str, deploy_cfg: Config, work_dir: str, image):
    """Random-init checkpoint + mmdeploy conversion; returns (model config,
    checkpoint, onnx file)."""
    from mmdeploy.apis import torch2onnx
    cfg = model_config(name)
    checkpoint = osp.join(work_dir, 'model.pth')
    save_random_checkpoint(cfg, checkpoint)
    export = torch.onnx.export
    torch2onnx(image, work_dir, 'end2end.onnx', deploy_cfg, cfg.copy(),
               checkpoint, device='cpu')
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


def check_conversion(name: str, deploy_cfg: Config, pairs, tmp_path,
                     dynamic: bool) -> None:
    """Convert ``name`` with ``deploy_cfg``; the graph has the deploy
    config's inputs and outputs, and the onnxruntime backend model equals
    torch ``predict`` at batch 1 and, with a dynamic batch, at batch 5 of
    the same file."""
    from mmdeploy.apis import build_task_processor
    from mmpose.apis import init_model
    cfg, checkpoint, onnx_file = convert(name, deploy_cfg, str(tmp_path),
                                         pairs[0][0])
    inputs, outputs = graph_io(onnx_file)
    assert list(inputs) == deploy_cfg.onnx_config.input_names
    assert list(outputs) == deploy_cfg.onnx_config.output_names
    batch_dim = 'batch' if dynamic else 1
    assert inputs['input'] == [batch_dim, 3, 128, 96]
    if export_spec(name).needs_bbox:
        assert inputs['bbox'] == [batch_dim, 4]

    processor = build_task_processor(cfg.copy(), deploy_cfg, 'cpu')
    backend_model = processor.build_backend_model(
        [onnx_file],
        data_preprocessor_updater=processor.update_data_preprocessor)
    torch_model = init_model(cfg.copy(), checkpoint, device='cpu')
    assert not torch_model.cfg.model.test_cfg.flip_test
    for batch_size in ([len(pairs), 1] if dynamic else [1]):
        assert_parity(torch_model, backend_model, cfg, pairs, batch_size)


def first_head_of(deploy_name: str) -> str:
    """The first top-down approach that ``deploy_name`` converts."""
    return next(name for name in NAMES
                if export_spec(name) and kp_deploy_name(name) == deploy_name)


#: Static batch: one head per kp deploy config, to keep the test short.
STATIC_CASES = [(first_head_of(d), 'static') for d in (KP_DEPLOY, KP_BBOX_DEPLOY)]


@pytest.mark.parametrize('name, kind', [(name, 'dynamic') for name in NAMES]
                         + STATIC_CASES)
def test_kp_deploy_config_decodes_in_graph_like_torch(name, kind, pairs,
                                                      tmp_path):
    """The kp deploy configs convert the head of every top-down approach
    with the decode in the graph (outputs keypoints, scores; a box-relative
    head with the bbox input)."""
    deploy_cfg = Config.fromfile(deploy_config_path(kp_deploy_name(name), kind))
    assert deploy_cfg.onnx_config.output_names == ['keypoints', 'scores']
    check_conversion(name, deploy_cfg, pairs, tmp_path, kind == 'dynamic')


#: The heads with more than one raw output (mmdeploy's End2EndModel decodes
#: only the first).
MULTI_OUTPUT = [name for name in NAMES
                if export_spec(name) and len(export_spec(name).raw_names) > 1]


@pytest.mark.parametrize('name', MULTI_OUTPUT)
def test_raw_outputs_decoded_by_the_backend_model(name, pairs, tmp_path):
    """decode_in_graph=False: the graph returns ALL the head's raw outputs
    and the backend model decodes them (mmdeploy's End2EndModel decoded the
    first one only)."""
    deploy_cfg = Config.fromfile(deploy_config_path(kp_deploy_name(name), 'dynamic'))
    raw_names = list(export_spec(name).raw_names)
    deploy_cfg.codebase_config.decode_in_graph = False
    deploy_cfg.onnx_config.output_names = raw_names
    deploy_cfg.onnx_config.dynamic_axes = {
        n: {0: 'batch'}
        for n in deploy_cfg.onnx_config.input_names + raw_names}
    check_conversion(name, deploy_cfg, pairs, tmp_path, dynamic=True)


def test_heatmap_with_mmdeploys_own_backend_model(pairs, tmp_path):
    """MMPose's HeatmapHead keeps converting with mmdeploy's own pipeline
    (End2EndModel, decode outside the graph) on torch 2.14."""
    deploy_cfg = Config.fromfile(deploy_config_path(STOCK_DEPLOY, 'dynamic'))
    assert deploy_cfg.codebase_config.get('model_type', 'end2end') == \
        'end2end'
    check_conversion('HeatmapHead', deploy_cfg, pairs, tmp_path, dynamic=True)


@pytest.mark.parametrize('name, deploy_name, expected', [
    ('KPGridHead', STOCK_DEPLOY, 'End2EndModel, which decodes only the first '
     'output of KPGridHead; use configs/deploy/pose-detection_kp_onnx'),
    ('KPRegressionHead', KP_BBOX_DEPLOY,
     "KPRegressionHead exports inputs \\['input'\\].*use configs/deploy/"
     'pose-detection_kp_onnx'),
    ('KPBBoxHead', KP_DEPLOY,
     "KPBBoxHead exports inputs \\['input', 'bbox'\\].*use configs/deploy/"
     'pose-detection_kp-bbox_onnx'),
])
def test_wrong_deploy_config_names_the_right_one(name, deploy_name, expected,
                                                 pairs, tmp_path):
    """A deploy config that does not fit the head stops the export with the
    config to use (not a graph that drops an output or the box)."""
    from mmdeploy.apis import torch2onnx
    cfg = model_config(name)
    checkpoint = str(tmp_path / 'model.pth')
    save_random_checkpoint(cfg, checkpoint)
    deploy_cfg = Config.fromfile(deploy_config_path(deploy_name, 'static'))
    with pytest.raises(ValueError, match=expected):
        torch2onnx(pairs[0][0], str(tmp_path), 'end2end.onnx', deploy_cfg,
                   cfg, checkpoint, device='cpu')
    assert not (tmp_path / 'end2end.onnx').exists()


def test_kp_plugins_never_imports_mmdeploy():
    """``import kp_plugins`` (and ``kp_plugins.deploy``) leaves mmdeploy
    unimported and torch.onnx.export untouched; without mmdeploy the support
    package says how to install it; with it, it registers the backend model
    and the export rewriter."""
    code = (
        'import sys, torch\n'
        'export = torch.onnx.export\n'
        'import kp_plugins, kp_plugins.deploy\n'
        'assert "mmdeploy" not in sys.modules, "mmdeploy imported"\n'
        'sys.modules["mmdeploy"] = None  # as if not installed\n'
        'try:\n'
        '    import kp_plugins.deploy.mmdeploy_support\n'
        'except ImportError as e:\n'
        '    print(e)\n'
        'del sys.modules["mmdeploy"]\n'
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
    lines = result.stdout.strip().splitlines()
    assert lines[-2] == ('kp_plugins.deploy.mmdeploy_support needs mmdeploy '
                         '1.3.1: `pip install --no-deps mmdeploy==1.3.1 aenum`'
                         ' (docs/mmdeploy.md)')
    assert lines[-1] == 'KPEnd2EndModel'


def test_mmdeploy_builds_the_grid_head_in_its_inference_form(tmp_path):
    """mmdeploy's task processor builds the torch model it converts with
    MMPose's switch_to_deploy: KPGridHead's BatchNorm is folded (what
    torch2onnx traces), and the folded model predicts what init_model's
    does."""
    from mmdeploy.apis import build_task_processor
    from mmpose.apis import init_model
    cfg = model_config('KPGridHead')
    checkpoint = str(tmp_path / 'model.pth')
    save_random_checkpoint(cfg, checkpoint)
    deploy_cfg = Config.fromfile(deploy_config_path(KP_DEPLOY, 'dynamic'))
    processor = build_task_processor(cfg.copy(), deploy_cfg, 'cpu')
    deployed = processor.build_pytorch_model(checkpoint)
    assert deployed.head.deployed and not deployed.training
    assert not [m for m in deployed.head.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    torch_model = init_model(cfg.copy(), checkpoint, device='cpu')
    assert not torch_model.head.deployed
    batch = topdown_batch(cfg, person_images())
    for got, want in zip(predictions(deployed, batch), predictions(torch_model, batch)):
        assert np.abs(got - want).max() <= 1e-4
