"""configs/yolo_effl0_256.py (approach 5 on EfficientNet-Lite0: YOLOX-Pose
with kp_plugins' KPOKSLoss / KPBCELoss, bottom-up): builds without downloads
and keeps the backbone's ImageNet weights through ``init_weights``; trains a
few iterations through tools/train.py and is scored by tools/test.py (COCO AP
on whole images) on the real COCO subset and on generated synthetic people;
MMPoseInferencer runs it as a bottom-up model, with no detector."""
import glob
import os.path as osp

import numpy as np
import pytest
import torch

from conftest import REPO_ROOT
from helpers import run_tool, shared_coco_options, tool

CONFIG = osp.join(REPO_ROOT, 'configs', 'yolo_effl0_256.py')

#: tools/train.py options of a tiny run: 2 iterations of batch 4, one epoch.
TINY = ['train_dataloader.batch_size=4', 'train_cfg.max_epochs=1', 'train_cfg.val_interval=100',
        'default_hooks.logger.interval=1', 'default_hooks.checkpoint.interval=1']

#: The config on KPSyntheticPoseDataset (configs/_base_/datasets/
#: synthetic_people.py's datasets, bottom-up, tiny): no ../shared needed.
SYNTHETIC = '''
_base_ = ['{base}']
_synthetic = dict(type='KPSyntheticPoseDataset', img_size=(160, 160), seed=0,
                  data_mode='bottomup')
train_dataloader = dict(num_workers=0, persistent_workers=False, dataset=dict(
    _delete_=True, split='train', num_images=8, pipeline=_base_.train_pipeline,
    **_synthetic))
val_dataloader = dict(num_workers=0, persistent_workers=False, dataset=dict(
    _delete_=True, split='val', num_images=3, test_mode=True, pipeline=_base_.val_pipeline,
    **_synthetic))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=None)  # the val split's own annotations
test_evaluator = val_evaluator
'''


def build(config: str = CONFIG):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpose.registry import MODELS

    import kp_plugins  # noqa: F401
    cfg = Config.fromfile(config)
    init_default_scope('mmpose')
    return cfg, MODELS.build(cfg.model)


def test_config_builds_bottom_up_with_kp_losses_and_no_download():
    cfg, model = build()
    assert '://' not in cfg.pretty_text and 'Pretrained' not in cfg.pretty_text
    assert cfg.data_mode == 'bottomup'
    assert cfg.train_dataloader.dataset.data_mode == 'bottomup'
    assert cfg.test_dataloader.dataset.data_mode == 'bottomup'
    assert cfg.model.init_cfg is None  # a model-level Kaiming would hit the backbone
    assert type(model).__name__ == 'BottomupPoseEstimator'
    assert type(model.backbone).__name__ == 'KPEfficientNetLite'
    assert type(model.neck).__name__ == 'YOLOXPAFPN'
    assert type(model.head).__name__ == 'YOLOXPoseHead'
    assert type(model.head.loss_oks).__name__ == 'KPOKSLoss'
    assert type(model.head.loss_vis).__name__ == 'KPBCELoss'
    # the EfficientNet-Lite normalization, not YOLOX's raw pixels
    assert model.data_preprocessor.mean.flatten().tolist() == [127.0] * 3
    assert model.data_preprocessor.std.flatten().tolist() == [128.0] * 3


def test_backbone_levels_feed_the_neck_and_keep_imagenet_weights():
    from kp_plugins.models.backbones.efficientnet_lite import (
        convert_package_state_dict,
        pretrained_weights_path,
    )
    _, model = build()
    model.init_weights()  # as the runner does
    ref = convert_package_state_dict(
        torch.load(pretrained_weights_path('lite0'), map_location='cpu'), 'lite0')
    for name, value in model.backbone.state_dict().items():
        if name in ref:
            torch.testing.assert_close(value, ref[name], msg=name)
    model.eval()
    with torch.no_grad():
        feats = model.backbone(torch.zeros(1, 3, 256, 256))
        assert [tuple(f.shape[1:]) for f in feats] == [(40, 32, 32), (112, 16, 16),
                                                       (320, 8, 8)]
        assert [f.shape[1] for f in feats] == list(model.neck.in_channels)
        outs = model.neck(feats)
        assert [tuple(f.shape[1:]) for f in outs] == [(64, 32, 32), (64, 16, 16),
                                                      (64, 8, 8)]
        cls_scores = model.head.forward(outs)[0]
        assert [tuple(s.shape[2:]) for s in cls_scores] == [(32, 32), (16, 16), (8, 8)]


def train_and_test(cfg: str, tmp_path, opts, env=None) -> str:
    work = tmp_path / 'work'
    res = run_tool([tool('train.py'), cfg, '--work-dir', str(work), '--no-validate',
                    '--cfg-options', *TINY, *opts], env=env)
    assert res.returncode == 0, res.stdout[-5000:]
    assert 'loss_kpt' in res.stdout and 'loss_vis' in res.stdout, res.stdout[-3000:]
    assert 'Epoch(train) [1][2/2]' in res.stdout, res.stdout[-3000:]
    ckpt = osp.join(work, 'epoch_1.pth')
    assert osp.isfile(ckpt), glob.glob(str(work / '*'))
    res = run_tool([tool('test.py'), cfg, ckpt, '--work-dir', str(tmp_path / 'test')]
                   + (['--cfg-options', *opts] if opts else []), env=env)
    assert res.returncode == 0, res.stdout[-5000:]
    assert 'coco/AP: ' in res.stdout, res.stdout[-3000:]
    return res.stdout


@pytest.mark.slow
def test_trains_and_tests_on_the_real_coco_subset(tmp_path, coco_trainval):
    opts = shared_coco_options(coco_trainval) + [
        'train_dataloader.dataset.indices=8', 'val_dataloader.dataset.indices=4',
        'test_dataloader.dataset.indices=4']
    train_and_test(CONFIG, tmp_path, opts)


@pytest.mark.slow
def test_trains_and_tests_on_synthetic_people(tmp_path):
    cfg = tmp_path / 'yolo_effl0_synthetic.py'
    cfg.write_text(SYNTHETIC.format(base=CONFIG))
    env = {'KP_PLUGINS_CACHE': str(tmp_path / 'cache')}
    out = train_and_test(str(cfg), tmp_path, [], env=env)
    assert f'loaded the annotation file from {tmp_path / "cache"}' in out


def test_mmpose_inferencer_runs_it_bottom_up_without_a_detector(tmp_path):
    """MMPoseInferencer reads data_mode='bottomup': no detector is built (nor
    downloaded); every person of the image comes from the one model."""
    import cv2
    from mmpose.apis import MMPoseInferencer
    from test_inferencer import save_random_checkpoint, small_config
    cfg_path = small_config(CONFIG, tmp_path)
    ckpt = str(tmp_path / 'random.pth')
    meta = save_random_checkpoint(cfg_path, ckpt)
    image = str(tmp_path / 'image.jpg')
    cv2.imwrite(image, np.random.RandomState(0).randint(0, 255, (240, 300, 3), np.uint8))
    inferencer = MMPoseInferencer(pose2d=cfg_path, pose2d_weights=ckpt, device='cpu')
    # Pose2DInferencer builds a detector (_init_detector) only for top-down
    assert getattr(inferencer.inferencer, 'detector', None) is None
    out = next(inferencer(image, return_datasamples=True))
    pred = out['predictions'][0].pred_instances
    assert pred.keypoints.shape[1:] == (meta['num_keypoints'], 2)
    assert pred.keypoint_scores.shape[1:] == (meta['num_keypoints'], )


def test_demo_draws_the_persons_it_finds_without_boxes(tmp_path):
    """tools/demo.py with the bottom-up config: no detector and no boxes; its
    JSON holds the persons of mmpose.apis.inference_bottomup on the same
    image (those scoring >= --bbox-thr), and a detector option is refused."""
    import json

    import cv2
    from mmpose.apis import inference_bottomup, init_model
    from test_inferencer import save_random_checkpoint, small_config

    from kp_plugins.apis import predict_poses_bottomup
    cfg_path = small_config(CONFIG, tmp_path)
    ckpt = str(tmp_path / 'random.pth')
    save_random_checkpoint(cfg_path, ckpt)
    image = str(tmp_path / 'image.jpg')
    cv2.imwrite(image, np.random.RandomState(0).randint(0, 255, (240, 300, 3), np.uint8))
    # random weights score every candidate around 1e-4: keep them all and switch NMS
    # off, so that nearly equal scores (rounded differently in another process)
    # cannot change which candidates survive
    opts = ['model.test_cfg.score_thr=0.0', 'model.test_cfg.nms_thr=1.0']
    model = init_model(cfg_path, ckpt, device='cpu', cfg_options=dict(
        model=dict(test_cfg=dict(score_thr=0.0, nms_thr=1.0))))
    ref = inference_bottomup(model, image)[0].pred_instances
    out = tmp_path / 'out'
    res = run_tool([tool('demo.py'), cfg_path, ckpt, image, '--out-dir', str(out),
                    '--bbox-thr', '0', '--cfg-options', *opts])
    assert res.returncode == 0, res.stdout[-3000:]
    record = json.loads((out / 'image.json').read_text())
    assert record['boxes_from'] == 'bottom-up model'
    persons = record['persons']
    assert len(persons) == len(ref.bbox_scores) == 32 * 32 + 16 * 16 + 8 * 8  # all priors
    # the same persons, matched by box (the order of equal scores is free)
    boxes = np.array([p['bbox'] for p in persons])
    dist = np.abs(boxes[:, None] - ref.bboxes[None]).sum(-1)
    match = dist.argmin(1)
    assert len(set(match.tolist())) == len(match) and dist.min(1).max() < 0.03
    np.testing.assert_allclose([p['keypoints'] for p in persons], ref.keypoints[match],
                               atol=0.006)
    np.testing.assert_allclose([p['bbox_score'] for p in persons], ref.bbox_scores[match],
                               atol=1e-5)
    # --bbox-thr keeps the persons scoring at least it (same process: same scores)
    thr = float(np.median(ref.bbox_scores))
    kept = predict_poses_bottomup(model, cv2.imread(image), thr).pred_instances
    assert 0 < len(kept.bbox_scores) == int((ref.bbox_scores >= thr).sum()) < len(persons)
    assert kept.bbox_scores.min() >= thr
    assert (out / 'image.png').is_file()
    res = run_tool([tool('demo.py'), cfg_path, ckpt, image, '--out-dir', str(out),
                    '--det-config', 'x.py', '--det-checkpoint', 'y.pth'])
    assert res.returncode != 0 and 'bottom-up model: it finds the persons itself' in res.stdout
