"""mmdeploy's own scripts on the real COCO subset: tools/mmdeploy/deploy.py
converts a KPBBoxHead model (dynamic batch, the `bbox` graph input) and
tools/mmdeploy/test.py scores the onnxruntime model with the config's
CocoMetric; the numbers equal those of our tools/test.py on the torch
checkpoint (flip test off, as mmdeploy exports)."""
import os.path as osp
import re

import pytest

pytest.importorskip(
    'mmdeploy', reason='mmdeploy is not installed (pip install --no-deps '
    'mmdeploy==1.3.1; docs/mmdeploy.md)')
pytest.importorskip('onnxruntime', reason='onnxruntime is not installed '
                    '(the deploy extra)')

from conftest import REPO_ROOT  # noqa: E402
from helpers import run_tool, shared_coco_options, tool  # noqa: E402
from mmdeploy_testing import (  # noqa: E402
    deploy_config_path,
    kp_deploy_name,
    model_config,
    model_config_path,
    save_random_checkpoint,
)

METRICS = ('coco/AP', 'coco/AP .5', 'coco/AR', 'PCK', 'EPE')


def eval_config(name: str, coco_root: str, path: str) -> None:
    """The kp config scoring ``annotations_val.json`` with CocoMetric, plus
    PCK@0.2 and EPE (non-zero for any model, so they catch a pixel shift
    that an AP of 0 would hide)."""
    ann = osp.join(coco_root, 'annotations_val.json')
    with open(path, 'w') as f:
        f.write(f'_base_ = [{model_config_path(name)!r}]\n'
                'test_evaluator = [\n'
                f'    dict(type="CocoMetric", ann_file={ann!r}),\n'
                '    dict(type="PCKAccuracy", thr=0.2),\n'
                '    dict(type="EPE"),\n'
                ']\n')


def metrics(stdout: str) -> dict:
    line = [x for x in stdout.splitlines() if 'Epoch(test)' in x and 'EPE' in x]
    assert line, stdout[-4000:]
    return {key: float(re.search(re.escape(key) + r': (-?[0-9.]+)',
                                 line[-1]).group(1)) for key in METRICS}


@pytest.mark.slow
def test_mmdeploy_scripts_score_like_tools_test(coco_trainval, tmp_path):
    name = 'KPBBoxHead'
    checkpoint = str(tmp_path / 'model.pth')
    save_random_checkpoint(model_config(name), checkpoint)
    config = str(tmp_path / 'bbox_eval.py')
    eval_config(name, coco_trainval, config)
    options = shared_coco_options(coco_trainval, splits=('test', ),
                                  evaluator_ann=False)
    env = {'PYTHONPATH': REPO_ROOT, 'OMP_NUM_THREADS': '2'}
    deploy_cfg = deploy_config_path(kp_deploy_name(name), 'dynamic')
    image = osp.join(coco_trainval, 'images', '000000000785.jpg')

    deploy = run_tool([
        tool('mmdeploy/deploy.py'), deploy_cfg, config, checkpoint, image,
        '--work-dir', str(tmp_path / 'deploy'), '--device', 'cpu'
    ], env=env)
    assert deploy.returncode == 0, deploy.stdout[-4000:]
    assert 'All process success.' in deploy.stdout, deploy.stdout[-4000:]
    onnx_file = tmp_path / 'deploy' / 'end2end.onnx'
    assert onnx_file.is_file()

    mmdeploy_test = run_tool([
        tool('mmdeploy/test.py'), deploy_cfg, config, '--model',
        str(onnx_file), '--device', 'cpu', '--batch-size', '4',
        '--work-dir', str(tmp_path / 'mmdeploy_test'), '--cfg-options',
        *options
    ], env=env)
    assert mmdeploy_test.returncode == 0, mmdeploy_test.stdout[-4000:]

    torch_test = run_tool([
        tool('test.py'), config, checkpoint, '--work-dir',
        str(tmp_path / 'torch_test'), '--cfg-options', *options,
        'model.test_cfg.flip_test=False'
    ], env=env)
    assert torch_test.returncode == 0, torch_test.stdout[-4000:]

    ours, theirs = metrics(torch_test.stdout), metrics(mmdeploy_test.stdout)
    print('tools/test.py:', ours, '\ntools/mmdeploy/test.py:', theirs)
    for key in ('coco/AP', 'coco/AP .5', 'coco/AR'):
        assert round(theirs[key], 3) == round(ours[key], 3), key
    assert abs(theirs['PCK'] - ours['PCK']) <= 1e-4
    assert abs(theirs['EPE'] - ours['EPE']) <= 1e-3
    assert ours['EPE'] > 0
