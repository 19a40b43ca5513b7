"""KPNonFiniteLossHook in tiny real training runs (generated data, a few
iterations of grid_effl0_128x96 through MMEngine's Runner): an iteration
with a NaN loss skips its optimizer step and is reported with its images;
NaN losses in a row stop the run with the last checkpoint to resume from."""
import glob
import json
import os.path as osp
import runpy
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

import kp_plugins  # noqa: F401  (registration)
from kp_plugins.engine.hooks import KPNonFiniteLossHook, NonFiniteLossError

from conftest import REPO_ROOT
from helpers import write_tiny_coco

CONFIG = osp.join(REPO_ROOT, 'configs', 'grid_effl0_128x96.py')


def tiny_config(root, work_dir, epochs=2) -> Config:
    """grid_effl0_128x96 on 6 generated images (batch 2: 3 iterations per
    epoch, in file order, no random augmentation), no validation."""
    write_tiny_coco(root, num_images=6)
    cfg = Config.fromfile(CONFIG)
    codec = cfg.codec
    cfg.train_dataloader.update(batch_size=2, num_workers=0, persistent_workers=False,
                                sampler=dict(type='DefaultSampler', shuffle=False))
    cfg.train_dataloader.dataset.update(
        data_root=str(root), ann_file='annotations.json', data_prefix=dict(img='images/'),
        pipeline=[dict(type='LoadImage'), dict(type='GetBBoxCenterScale'),
                  dict(type='TopdownAffine', input_size=codec['input_size']),
                  dict(type='GenerateTarget', encoder=codec), dict(type='PackPoseInputs')])
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.test_dataloader = cfg.test_cfg = cfg.test_evaluator = None
    cfg.train_cfg = dict(by_epoch=True, max_epochs=epochs, val_interval=100)
    cfg.param_scheduler = []
    cfg.default_hooks.checkpoint.update(interval=1, save_best=None)
    cfg.default_hooks.logger.interval = 1
    cfg.randomness = dict(seed=0)
    cfg.work_dir = str(work_dir)
    # MMEngine keeps one visualizer per name in the process: a name of its
    # own, or the scalars go to an earlier run's folder
    cfg.visualizer.name = f'visualizer_{work_dir}'
    return cfg


class NaNImages(Hook):
    """Injects NaN into the input of every batch that holds image ``img_id``
    (after the data preprocessor, as a corrupt image or an overflow would)."""

    def __init__(self, img_id):
        self.img_id = img_id

    def before_train(self, runner):
        preprocessor = runner.model.data_preprocessor
        forward = preprocessor.forward

        def nan_forward(data, training=False):
            data = forward(data, training)
            if any(s.metainfo['img_id'] == self.img_id for s in data['data_samples']):
                data['inputs'] = data['inputs'] * float('nan')
            return data

        preprocessor.forward = nan_forward


class StepRecorder(Hook):
    """Which iterations changed the model (weights or buffers)."""

    priority = 'LOWEST'

    def __init__(self):
        self.changed = {}

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.before = {k: v.clone() for k, v in runner.model.state_dict().items()}

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.changed[runner.iter] = any(
            not torch.equal(self.before[k], v) for k, v in runner.model.state_dict().items())


def log_text(work_dir) -> str:
    return ''.join(open(p).read() for p in glob.glob(osp.join(str(work_dir), '*', '*.log')))


def test_the_hook_is_on_in_the_configs():
    for name in ('grid_effl0_128x96', 'regression_r50', 'bbox_effl0', 'quickstart', 'yolo_s'):
        cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', f'{name}.py'))
        types = [h['type'] for h in cfg.custom_hooks]
        assert {'KPNonFiniteLossHook', 'KPRandomStateHook', 'KPResumeValidationHook'} <= \
            set(types), name
    with pytest.raises(ValueError, match='max_consecutive'):
        KPNonFiniteLossHook(max_consecutive=0)


def test_a_nan_batch_skips_its_step_and_is_reported(tmp_path):
    """NaN in the batch of image 3 (iterations 2 and 5, one per epoch): its
    steps are skipped and its BatchNorm statistics updates undone, every
    other step is taken, the model stays finite and the run ends normally."""
    cfg = tiny_config(tmp_path / 'data', tmp_path / 'work')
    runner = Runner.from_cfg(cfg)
    recorder = StepRecorder()
    runner.register_hook(recorder)
    runner.register_hook(NaNImages(3))
    runner.train()
    assert recorder.changed == {0: True, 1: False, 2: True, 3: True, 4: False, 5: True}
    assert all(torch.isfinite(v).all() for v in runner.model.state_dict().values())
    log = log_text(tmp_path / 'work')
    assert 'iteration 2 (epoch 1): non-finite loss' in log
    assert 'iteration 5 (epoch 2): non-finite loss' in log
    assert 'on the batch of images [3, 4]' in log
    assert 'epoch 1: 1 iteration(s) with a non-finite loss skipped (1 in this run)' in log
    assert 'epoch 2: 1 iteration(s) with a non-finite loss skipped (2 in this run)' in log
    # the skipped losses stay out of the logged values and their averages
    scalars = glob.glob(str(tmp_path / 'work' / '*' / 'vis_data' / 'scalars.json'))[0]
    records = [json.loads(line) for line in open(scalars)]
    losses = [r['loss'] for r in records if 'loss' in r]
    assert len(losses) == 6 and np.isfinite(losses).all()


class NaNFrom(Hook):
    """Makes every loss from iteration ``start`` (0-based) on NaN."""

    def __init__(self, start):
        self.start = start

    def before_train(self, runner):
        head = runner.model.head
        loss = head.loss

        def nan_loss(*args, **kwargs):
            losses = loss(*args, **kwargs)
            if runner.iter >= self.start:
                losses['loss_presence'] = losses['loss_presence'] * float('nan')
            return losses

        head.loss = nan_loss


def test_nan_losses_in_a_row_stop_the_run(tmp_path):
    """From iteration 4 on (epoch 2) every loss is NaN: with
    max_consecutive=2 the run stops at iteration 5 naming the iterations,
    the last batch's images and epoch 1's checkpoint; the weights are still
    epoch 1's."""
    cfg = tiny_config(tmp_path / 'data', tmp_path / 'work', epochs=3)
    cfg.custom_hooks = [h if h['type'] != 'KPNonFiniteLossHook' else
                        dict(h, max_consecutive=2) for h in cfg.custom_hooks]
    runner = Runner.from_cfg(cfg)
    runner.register_hook(NaNFrom(3))
    with pytest.raises(NonFiniteLossError) as info:
        runner.train()
    message = str(info.value)
    checkpoint = osp.join(str(tmp_path / 'work'), 'epoch_1.pth')
    assert 'training stopped at iteration 5 (epoch 2)' in message
    assert 'in 2 iterations in a row (iterations 4-5' in message
    assert 'The last batch held images [3, 4]' in message
    assert f'the last checkpoint saved is {checkpoint}' in message
    assert f'--resume {checkpoint}' in message
    assert 'they are all finite' in message
    saved = torch.load(checkpoint, map_location='cpu')['state_dict']
    for name, value in runner.model.state_dict().items():
        torch.testing.assert_close(value, saved[name], msg=name)


def test_tools_train_reports_the_stop_without_a_traceback(tmp_path, monkeypatch, capsys):
    """tools/train.py turns the stop into ``error: training stopped ...``
    (exit status 1) instead of a traceback."""
    cfg = tiny_config(tmp_path / 'data', tmp_path / 'work', epochs=1)
    cfg.custom_hooks = [dict(h, max_consecutive=1) if h['type'] == 'KPNonFiniteLossHook'
                        else h for h in cfg.custom_hooks]
    # a learning rate that blows the weights up at the first step
    cfg.optim_wrapper = dict(optimizer=dict(type='SGD', lr=1e30))
    path = str(tmp_path / 'diverges.py')
    cfg.dump(path)
    monkeypatch.setattr(sys, 'argv', ['train.py', path])
    with pytest.raises(SystemExit) as info:
        runpy.run_path(osp.join(REPO_ROOT, 'tools', 'train.py'), run_name='__main__')
    assert str(info.value).startswith('error: training stopped at iteration 2 (epoch 1)')
    assert 'no checkpoint has been saved yet' in str(info.value)


def test_the_annotation_behind_a_nonfinite_loss_is_named(tmp_path):
    """Image 3's annotation has a negative area (the pre-flight check of
    tools/train.py rejects it; the Runner built here does not run it): the
    grid codec turns it into a negative OKS area and the loss of its batch
    becomes non-finite. The warning and the stop name the image, its file,
    the annotation and the field, not just "the batch" (issue #24)."""
    cfg = tiny_config(tmp_path / 'data', tmp_path / 'work', epochs=1)
    cfg.custom_hooks = [h if h['type'] != 'KPNonFiniteLossHook' else
                        dict(h, max_consecutive=1) for h in cfg.custom_hooks]
    ann = tmp_path / 'data' / 'annotations.json'
    coco = json.loads(ann.read_text())
    coco['annotations'][2]['area'] = -5.0
    ann.write_text(json.dumps(coco))
    runner = Runner.from_cfg(cfg)
    with pytest.raises(NonFiniteLossError) as info:
        runner.train()
    image = osp.join(str(tmp_path / 'data'), 'images', '000003.jpg')
    cause = (f'the annotations behind it: image 3 ({image}), annotation 3: area is zero or '
             'negative for labelled persons: -5.0; gt_instance_labels.areas = -17.4522 '
             '(zero or negative)')
    assert f'The last batch held images [3, 4]; {cause}. Fix or remove those annotations' \
        in str(info.value)
    assert f'on the batch of images [3, 4]; {cause}; optimizer step skipped' in \
        log_text(tmp_path / 'work')


def test_targets_that_are_not_finite_are_named():
    from mmengine.structures import InstanceData
    from mmpose.structures import PoseDataSample

    from kp_plugins.utils.batch_check import annotation_problems_in_batch
    sample = PoseDataSample(metainfo=dict(img_id=7, img_path='a.jpg', id=70))
    sample.gt_instances = InstanceData(keypoints=np.array([[[1.0, np.inf]]]),
                                       areas=np.array([-2.0]))
    clean = PoseDataSample(metainfo=dict(img_id=8, img_path='b.jpg', id=80))
    clean.gt_instances = InstanceData(keypoints=np.zeros((1, 1, 2)), areas=np.ones(1))
    assert annotation_problems_in_batch([sample, clean]) == [
        'image 7 (a.jpg), annotation 70: gt_instances.keypoints holds 1 values that are not '
        'finite; gt_instances.areas = -2 (zero or negative)']
