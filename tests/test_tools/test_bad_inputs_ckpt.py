"""Bad inputs of issue #24 that are not data: the checkpoint of another
model, a detector "checkpoint" that is not one, --cfg-options keys that
nothing reads, configs whose input sizes disagree, and a demo output folder
that would overwrite the inputs. Each case builds its bad input (random
weights, a tiny COCO set in a temp dir) and checks the message and that
nothing wrong was written."""
import os
import os.path as osp
import runpy
import sys

import pytest
import torch

from conftest import REPO_ROOT
from helpers import tiny_run_options, write_tiny_coco

GRID = osp.join(REPO_ROOT, 'configs', 'grid_effl0_128x96.py')
REGRESSION = osp.join(REPO_ROOT, 'configs', 'regression_effl0_128x96.py')
SAVED_WITH = ("config 'regression_effl0_128x96' (TopdownPoseEstimator, backbone "
              'KPEfficientNetLite, head KPRegressionHead)')


def run_tool(name, args, monkeypatch) -> str:
    """Run tools/<name> in this process; return the message it exits with."""
    monkeypatch.setattr(sys, 'argv', [name, *args])
    with pytest.raises(SystemExit) as info:
        runpy.run_path(osp.join(REPO_ROOT, 'tools', name), run_name='__main__')
    return str(info.value.code)


def build_model(config: str, seed: int = 0):
    from kp_plugins.benchmark.speed import build_pose_model, load_pose_config
    cfg = load_pose_config(config)
    torch.manual_seed(seed)
    return cfg, build_pose_model(cfg)


def save_runner_like(config: str, path, **extra) -> dict:
    """A random-weight checkpoint of ``config`` with the ``meta`` MMEngine's
    Runner saves (``cfg`` as config text, ``experiment_name``)."""
    cfg, model = build_model(config)
    state = model.state_dict()
    name = osp.splitext(osp.basename(config))[0]
    torch.save(dict(state_dict=state, meta=dict(
        cfg=cfg.pretty_text, experiment_name=f'{name}_20250101_120000', epoch=1), **extra),
        path)
    return state


@pytest.fixture(scope='module')
def regression_ckpt(tmp_path_factory):
    path = tmp_path_factory.mktemp('ckpt') / 'regression_epoch_1.pth'
    save_runner_like(REGRESSION, path)
    return str(path)


@pytest.fixture
def data(tmp_path):
    root = tmp_path / 'data'
    write_tiny_coco(root, num_images=4)
    return root


# -------------------------------------------------- 1: another model's checkpoint

def mismatch_message(ckpt: str) -> str:
    return (f'checkpoint {ckpt} does not fit the model of {GRID}: ')


def test_checkpoint_of_another_model_refused_by_test(data, tmp_path, monkeypatch,
                                                      regression_ckpt):
    """Today: an AP of a randomly initialised grid head, exit 0."""
    out = tmp_path / 'metrics.json'
    message = run_tool('test.py', [GRID, regression_ckpt, '--work-dir', str(tmp_path / 'w'),
                                   '--out', str(out), '--cfg-options',
                                   *tiny_run_options(data)], monkeypatch)
    assert message.startswith(f'error: {mismatch_message(regression_ckpt)}')
    assert 'of the model\'s' in message and 'weights are not in it (head.' in message
    assert 'of its weights are not in the model (head.' in message
    assert f'It was saved with {SAVED_WITH}.' in message
    assert not out.exists()


def test_runner_checkpoint_of_another_model(data, tmp_path, monkeypatch):
    """A checkpoint MMEngine's Runner saved (2 iterations of the regression
    config) is refused by the grid config, naming the config from its meta;
    resuming from it is refused too."""
    work = tmp_path / 'reg'
    monkeypatch.setattr(sys, 'argv', [
        'train.py', REGRESSION, '--work-dir', str(work), '--no-validate', '--cfg-options',
        *tiny_run_options(data), 'train_cfg.max_epochs=1'])
    runpy.run_path(osp.join(REPO_ROOT, 'tools', 'train.py'), run_name='__main__')
    ckpt = str(work / 'epoch_1.pth')
    message = run_tool('test.py', [GRID, ckpt, '--work-dir', str(tmp_path / 'w'),
                                   '--cfg-options', *tiny_run_options(data)], monkeypatch)
    assert message.startswith(f'error: {mismatch_message(ckpt)}')
    assert f'It was saved with {SAVED_WITH}.' in message
    message = run_tool('train.py', [GRID, '--work-dir', str(tmp_path / 'g'), '--resume', ckpt,
                                    '--cfg-options', *tiny_run_options(data)], monkeypatch)
    assert message.startswith(f'error: --resume: {mismatch_message(ckpt)}')
    assert not list((tmp_path / 'g').glob('*.pth'))


def test_checkpoint_of_another_model_refused_by_demo_and_export(data, tmp_path, monkeypatch,
                                                                 regression_ckpt):
    image = data / 'images' / '000001.jpg'
    out_dir = tmp_path / 'demo'
    message = run_tool('demo.py', [GRID, regression_ckpt, str(image), '--out-dir',
                                   str(out_dir), '--device', 'cpu'], monkeypatch)
    assert message.startswith(f'error: {mismatch_message(regression_ckpt)}')
    assert f'It was saved with {SAVED_WITH}.' in message
    assert not out_dir.exists() or not os.listdir(out_dir)
    onnx = tmp_path / 'grid.onnx'
    message = run_tool('export_onnx.py', [GRID, regression_ckpt, '--out', str(onnx)],
                       monkeypatch)
    assert message.startswith(f'error: {mismatch_message(regression_ckpt)}')
    assert not onnx.exists()


def test_matching_checkpoint_loads(tmp_path):
    """The check lets the right checkpoint through, ``module.`` (DDP) and
    EMA keys included, and the weights are those saved."""
    from kp_plugins.apis import load_pose_model
    from kp_plugins.engine.checkpoint import check_model_checkpoint
    path = tmp_path / 'grid.pth'
    state = save_runner_like(GRID, path)
    model = load_pose_model(GRID, str(path), 'cpu')
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key
    _, fresh = build_model(GRID, seed=1)
    ema = dict(state_dict={f'module.{k}': v for k, v in state.items()})
    ema['state_dict']['ema_backbone_stem_conv_weight'] = torch.zeros(1)  # MMCV 1.x EMA buffer
    ema['ema_state_dict'] = {**{f'module.{k}': v for k, v in state.items()},
                             'steps': torch.tensor(3)}
    assert not check_model_checkpoint(fresh, ema)


def test_shape_mismatch_refused(tmp_path):
    from kp_plugins.engine.checkpoint import CheckpointMismatchError, check_model_checkpoint
    _, model = build_model(GRID)
    state = model.state_dict()
    key = next(k for k in state if k.startswith('head.') and k.endswith('.weight'))
    state[key] = torch.zeros(3, 3)
    with pytest.raises(CheckpointMismatchError) as info:
        check_model_checkpoint(model, dict(state_dict=state), name='x.pth')
    shape = tuple(model.state_dict()[key].shape)
    assert (f'checkpoint x.pth does not fit the model built from the config: 1 differ in '
            f'shape (checkpoint vs model: {key} (3, 3) vs {shape})') in str(info.value)


def test_fine_tuning_from_another_model_warns_with_counts(data, tmp_path, monkeypatch,
                                                          regression_ckpt, capfd):
    from kp_plugins.engine.checkpoint import (
        check_model_checkpoint,
        describe_partial_load,
        key_prefixes,
    )
    _, model = build_model(GRID)
    mismatch = check_model_checkpoint(model, regression_ckpt, strict=False)
    own = set(model.state_dict())
    saved = set(torch.load(regression_ckpt)['state_dict'])
    missing = sorted(own - saved)
    assert sorted(mismatch.missing) == missing and len(missing) > 0
    assert sorted(mismatch.unexpected) == sorted(saved - own)
    line = describe_partial_load(mismatch, regression_ckpt)
    assert line.startswith(
        f'load_from {regression_ckpt} fits the model only in part: '
        f'{len(own) - len(missing)} of its {len(own)} weights are loaded, the rest start '
        f'from their initialisation: {len(missing)} of the model\'s {len(own)} weights are '
        f'not in it ({key_prefixes(mismatch.missing)})')
    # tools/train.py logs it (0 epochs: nothing is trained)
    monkeypatch.setattr(sys, 'argv', [
        'train.py', GRID, '--work-dir', str(tmp_path / 'w'), '--no-validate',
        '--cfg-options', *tiny_run_options(data), f'load_from={regression_ckpt}',
        'train_cfg.max_epochs=0'])
    runpy.run_path(osp.join(REPO_ROOT, 'tools', 'train.py'), run_name='__main__')
    assert line in capfd.readouterr().out


# -------------------------------------------------- 11: not a detector checkpoint

def test_detector_checkpoint_that_is_not_one(tmp_path, monkeypatch, regression_ckpt):
    """Today: ``IndexError: pop from empty list`` (a text file) or MMDet's
    classes message dumping the pose metainfo (a pose checkpoint)."""
    from random_detectors import write_small_rtmdet_config
    det_config = write_small_rtmdet_config(tmp_path)
    images = tmp_path / 'images'
    write_tiny_coco(tmp_path, num_images=1)
    text = tmp_path / 'rtmdet.pth'
    text.write_text('not a checkpoint\n')
    out = tmp_path / 'dets.json'
    args = [str(images), '--out', str(out), '--det-config', det_config, '--device', 'cpu',
            '--det-checkpoint']
    message = run_tool('detect_persons.py', [*args, str(text)], monkeypatch)
    assert message == (f'error: detector checkpoint: {text} is not a PyTorch checkpoint: it is '
                       "a text file (it starts with b'not a checkpoint'); torch.save writes a "
                       'zip archive. Pass the .pth file training saved, e.g. '
                       'work_dirs/<config>/epoch_N.pth or best_*.pth')
    message = run_tool('detect_persons.py', [*args, regression_ckpt], monkeypatch)
    assert message == (f'error: {regression_ckpt} is a pose-model checkpoint (saved with '
                       f'{SAVED_WITH}), not a detector: pass an MMDet detector checkpoint as '
                       '--det-checkpoint (the pose checkpoint goes to the pose tools)')
    assert not out.exists()


# -------------------------------------------------- 4: --cfg-options nothing reads

def test_unknown_cfg_option_keys():
    from mmengine.config import Config

    from kp_plugins.utils.config_check import unknown_option_keys
    cfg = Config.fromfile(GRID)
    options = {
        'model.test_cfg.flip_tset': False,  # typo
        'model.test_cfg.flip_test': False,  # exists
        'test_dataloader.dataset.bbox_file': 'dets.json',  # new, CocoDataset takes it
        'test_dataloader.dataset.filter_cfg.bbox_score_thr': 0.3,  # new, ditto
        'train_dataloader.pin_memory': True,  # new, DataLoader takes it
        'load_fom': 'x.pth',  # typo of a Runner key
        'train_dataloader.dataset.pipeline.40.input_size': [1, 2],  # no such step
        'model.head.decoder.grid_sise': [6, 8],  # typo in a codec
        'model.head.decoder.grid_size': [6, 8],
    }
    n = len(cfg.train_dataloader.dataset.pipeline)
    assert unknown_option_keys(cfg, options) == [
        "--cfg-options model.test_cfg.flip_tset: model.test_cfg has no key 'flip_tset' and "
        'nothing reads it; the option is ignored (did you mean model.test_cfg.flip_test?)',
        "--cfg-options load_fom: the config has no key 'load_fom' and nothing reads it; the "
        'option is ignored (did you mean load_from?)',
        '--cfg-options train_dataloader.dataset.pipeline.40.input_size: '
        f'train_dataloader.dataset.pipeline is a list of {n}, it has no item 40; the option '
        'is ignored',
        "--cfg-options model.head.decoder.grid_sise: model.head.decoder has no key "
        "'grid_sise' and nothing reads it; the option is ignored (did you mean "
        'model.head.decoder.grid_size?)',
    ]


def test_unknown_cfg_option_warned_by_the_tools(data, tmp_path, monkeypatch, capsys):
    missing = tmp_path / 'nowhere'
    message = run_tool('train.py', [GRID, '--work-dir', str(tmp_path / 'w'), '--cfg-options',
                                    'model.test_cfg.flip_tset=False',
                                    *tiny_run_options(missing)], monkeypatch)
    assert message.startswith('error:')  # stops at the missing data, after the warning
    assert ("warning: --cfg-options model.test_cfg.flip_tset: model.test_cfg has no key "
            "'flip_tset' and nothing reads it; the option is ignored (did you mean "
            'model.test_cfg.flip_test?)\n') in capsys.readouterr().err


# -------------------------------------------------- 5: input sizes that disagree

def affine_index(cfg, split: str) -> int:
    pipeline = cfg[f'{split}_dataloader'].dataset.pipeline
    return next(i for i, t in enumerate(pipeline) if t['type'] == 'TopdownAffine')


def test_affine_and_codec_input_sizes_disagree(data, tmp_path, monkeypatch):
    """Today: trains (regression targets out to +-2 instead of +-0.75), exit 0."""
    from mmengine.config import Config
    cfg = Config.fromfile(REGRESSION)
    i = affine_index(cfg, 'train')
    work = tmp_path / 'w'
    message = run_tool('train.py', [
        REGRESSION, '--work-dir', str(work), '--cfg-options', *tiny_run_options(data),
        f'train_dataloader.dataset.pipeline.{i}.input_size=[192,256]'], monkeypatch)
    assert (f'train_dataloader.dataset.pipeline[{i}] (TopdownAffine) has input_size=(192, '
            '256) but model.head.decoder (KPRegressionLabel) has input_size=(96, 128): the '
            'crops, the training targets and the decode must use one input size (W, H)'
            ) in message
    assert not work.exists() or not list(work.glob('*.pth'))


def test_test_pipeline_input_size_refused_by_inference(tmp_path, monkeypatch):
    from mmengine.config import Config
    cfg = Config.fromfile(GRID)
    i = affine_index(cfg, 'test')
    onnx = tmp_path / 'grid.onnx'
    message = run_tool('export_onnx.py', [
        GRID, 'none', '--out', str(onnx), '--cfg-options',
        f'test_dataloader.dataset.pipeline.{i}.input_size=[128,128]'], monkeypatch)
    assert message.startswith(
        f'error: {GRID}: the config disagrees with itself: test_dataloader.dataset.pipeline'
        f'[{i}] (TopdownAffine) has input_size=(128, 128) but model.head.decoder (KPGridLabel) '
        'has input_size=(96, 128)')
    assert not onnx.exists()


def test_shipped_configs_agree_with_themselves():
    """No false alarm on the configs we ship."""
    import glob

    from mmengine.config import Config

    from kp_plugins.utils.config_check import codec_input_size_problems, input_size_copies
    configs = sorted(glob.glob(osp.join(REPO_ROOT, 'configs', '*.py'))
                     + glob.glob(osp.join(REPO_ROOT, 'configs', 'benchmark', '*.py')))
    assert len(configs) > 10
    for path in configs:
        cfg = Config.fromfile(path)
        assert len(input_size_copies(cfg)) >= 2, path
        assert codec_input_size_problems(cfg) == [], path


# -------------------------------------------------- 8: demo output over the inputs

@pytest.mark.parametrize('case', ['same-folder', 'relative-path', 'symlink', 'output-file'])
def test_demo_never_writes_over_an_input(tmp_path, monkeypatch, case):
    """Today: --out-dir equal to the input folder replaces photo.png by its
    drawing."""
    photos = tmp_path / 'photos'
    photos.mkdir()
    import cv2
    import numpy as np
    cv2.imwrite(str(photos / 'photo.png'), np.full((64, 48, 3), 7, np.uint8))
    before = (photos / 'photo.png').read_bytes()
    inputs, out_dir = [str(photos)], str(photos)
    if case == 'relative-path':
        monkeypatch.chdir(tmp_path)
        inputs, out_dir = ['photos'], './photos/'
    elif case == 'symlink':
        os.symlink(photos, tmp_path / 'link')
        out_dir = str(tmp_path / 'link')
    elif case == 'output-file':  # an input image inside the output folder
        inputs = [str(photos / 'photo.png')]
    message = run_tool('demo.py', [GRID, 'model.pth', *inputs, '--out-dir', out_dir],
                       monkeypatch)
    if case == 'output-file':
        assert message == (f'error: --out-dir {out_dir}: the output {photos}/photo.png would '
                           f'overwrite the input {photos}/photo.png; choose another --out-dir')
    else:
        assert message == (f'error: --out-dir {out_dir} is the input folder {inputs[0]}: the '
                           'drawings and JSON files would be written among (and over) your '
                           'images; choose another --out-dir')
    assert (photos / 'photo.png').read_bytes() == before
    assert sorted(os.listdir(photos)) == ['photo.png']
