"""Shared pieces of the head tests: fake batches for unit tests and the
overfit check on one fixed real COCO batch (MMPose's own pipeline)."""
import time
from typing import Dict, List, Tuple

import numpy as np
import torch
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData
from mmpose.datasets import CocoDataset
from mmpose.evaluation.functional import keypoint_pck_accuracy
from mmpose.registry import KEYPOINT_CODECS, MODELS
from mmpose.structures import PoseDataSample

import kp_plugins  # noqa: F401  (registration)

COCO_FLIP_INDICES = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
INPUT_SIZE = (96, 128)  # (W, H)
PREPROCESSOR = dict(type='PoseDataPreprocessor',
                    mean=[123.675, 116.28, 103.53],
                    std=[58.395, 57.12, 57.375], bgr_to_rgb=True)
# A small ResNet-18 (16 base channels, 128 output channels at stride 32).
SMALL_BACKBONE = dict(type='ResNet', depth=18, stem_channels=16,
                      base_channels=16)
SMALL_CHANNELS = 128


def fake_samples(codec_cfg: dict, batch: int = 2, seed: int = 0,
                 k: int = 17) -> List[PoseDataSample]:
    """Data samples built by the codec from random keypoints, with the
    metainfo TopdownAffine + PackPoseInputs leave (flip test included)."""
    rng = np.random.RandomState(seed)
    codec = KEYPOINT_CODECS.build(codec_cfg)
    w, h = codec.input_size
    samples = []
    for _ in range(batch):
        keypoints = rng.uniform([0, 0], [w - 1, h - 1], size=(1, k, 2))
        visible = (rng.rand(1, k) > 0.2).astype(np.float32)
        center = rng.uniform(100, 200, size=2)
        scale = np.array([2.0 * w, 2.0 * h])
        bbox = np.concatenate([center - scale / 2.5, center + scale / 2.5])
        encoded = codec.encode(
            keypoints, visible,
            **{key: value for key, value in dict(
                area=np.array(500.0), bbox=bbox[None], input_center=center,
                input_scale=scale).items()
               if key in codec.auxiliary_encode_keys})
        sample = PoseDataSample(metainfo=dict(
            input_size=(w, h), input_center=center, input_scale=scale,
            flip_indices=COCO_FLIP_INDICES[:k]))
        sample.gt_instances = InstanceData(bboxes=bbox[None].astype(
            np.float32), bbox_scores=np.ones(1, np.float32))
        sample.gt_instance_labels = InstanceData(**{
            key: value for key, value in encoded.items()
            if key in codec.label_mapping_table
        }).to_tensor()
        samples.append(sample)
    return samples


def real_batch(coco_root: str, codec_cfg: dict, num: int = 16
               ) -> Tuple[torch.Tensor, list]:
    """One fixed batch of ``num`` persons (those with >= 8 labelled
    keypoints, in file order) from the COCO train split, through
    CocoDataset + LoadImage, GetBBoxCenterScale, TopdownAffine,
    GenerateTarget(codec), PackPoseInputs and PoseDataPreprocessor."""
    init_default_scope('mmpose')  # CocoDataset builds its pipeline by name
    pipeline = [
        dict(type='LoadImage'),
        dict(type='GetBBoxCenterScale'),
        dict(type='TopdownAffine', input_size=codec_cfg['input_size']),
        dict(type='GenerateTarget', encoder=codec_cfg),
        dict(type='PackPoseInputs'),
    ]
    dataset = CocoDataset(data_root=coco_root,
                          ann_file='annotations_train.json',
                          data_prefix=dict(img='images/'),
                          data_mode='topdown', pipeline=pipeline)
    chosen = [i for i in range(len(dataset))
              if dataset.get_data_info(i)['num_keypoints'] >= 8][:num]
    assert len(chosen) == num
    data = pseudo_collate([dataset[i] for i in chosen])
    data = MODELS.build(PREPROCESSOR)(data, training=True)
    return data['inputs'], data['data_samples']


def decoded_pck(model, inputs, data_samples, thr: float = 0.05) -> float:
    """PCK@thr (of the input size) of the model's decoded keypoints against
    the transformed ground truth, over labelled in-input keypoints."""
    model.eval()
    with torch.no_grad():
        feats = model.extract_feat(inputs)
        preds = model.head.predict(feats, data_samples, test_cfg={})
    model.train()
    pred = np.concatenate([p.keypoints for p in preds])
    gt, mask = [], []
    w, h = INPUT_SIZE
    for sample in data_samples:
        # transformed ground truth = what the codec got; recover it from
        # the image-space keypoints with the estimator's own mapping
        center = sample.metainfo['input_center']
        scale = sample.metainfo['input_scale']
        kpts = (np.asarray(sample.gt_instances.keypoints) - center +
                0.5 * scale) / scale * np.array([w, h])
        gt.append(kpts)
        inside = ((kpts >= 0) & (kpts <= [w - 1, h - 1])).all(-1)
        mask.append(inside & (np.asarray(
            sample.gt_instances.keypoints_visible) > 0.5))
    norm = np.tile(np.array([w, h], np.float32), (pred.shape[0], 1))
    _, pck, _ = keypoint_pck_accuracy(pred, np.concatenate(gt),
                                      np.concatenate(mask), thr, norm)
    return float(pck)


def overfit(head_cfg: dict, coco_root: str, iters: int = 200,
            lr: float = 2e-3, backbone: dict = SMALL_BACKBONE
            ) -> Dict[str, float]:
    """Train a small ResNet-18 + the head on one fixed real batch; return
    first/last total loss, PCK@0.05 of the decoded keypoints and time.

    Runs single-threaded: these tiny tensors gain nothing from a second
    thread, and on a busy 2-core runner OpenMP threads that spin-wait make
    each step 10-25x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _overfit(head_cfg, coco_root, iters, lr, backbone)
    finally:
        torch.set_num_threads(threads)


def _overfit(head_cfg: dict, coco_root: str, iters: int,
             lr: float, backbone: dict) -> Dict[str, float]:
    torch.manual_seed(0)
    np.random.seed(0)
    inputs, data_samples = real_batch(coco_root, head_cfg['decoder'])
    model = MODELS.build(dict(type='TopdownPoseEstimator',
                              backbone=backbone, head=head_cfg))
    model.init_weights()
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(
        optimizer, milestones=[int(iters * 0.75)], gamma=0.1)
    start = time.time()
    totals = []
    for _ in range(iters):
        losses = model.loss(inputs, data_samples)
        total = sum(v for k, v in losses.items() if k.startswith('loss'))
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        scheduler.step()
        totals.append(float(total))
    return dict(first=totals[0], last=totals[-1],
                drop=1 - totals[-1] / totals[0],
                pck=decoded_pck(model, inputs, data_samples),
                seconds=time.time() - start)


def check_loss_and_gradients(head_cfg: dict, feat_shape=(2, 32, 4, 3),
                             expected_keys=()) -> dict:
    """Losses of the head on random features: expected keys, finite values,
    finite non-zero gradients on every parameter that gets one."""
    head = MODELS.build(head_cfg)
    head.init_weights()
    feats = (torch.randn(*feat_shape),)
    losses = head.loss(feats, fake_samples(head_cfg['decoder'],
                                           batch=feat_shape[0]))
    assert set(expected_keys) <= set(losses), sorted(losses)
    assert 'acc_pose' in losses
    total = 0
    for key, value in losses.items():
        assert torch.isfinite(value).all(), key
        if key.startswith('loss'):
            assert value.dim() == 0 and value.requires_grad, key
            total = total + value
    total.backward()
    grads = [p.grad for p in head.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)
    return losses


def check_estimator_predict(head_cfg: dict, flip_test: bool,
                            backbone: dict = SMALL_BACKBONE) -> None:
    """TopdownPoseEstimator.predict (MMPose's flip-test path included) gives
    image-space keypoints (1, K, 2) and scores in [0, 1] per sample."""
    model = MODELS.build(dict(type='TopdownPoseEstimator',
                              backbone=backbone, head=head_cfg,
                              test_cfg=dict(flip_test=flip_test)))
    model.eval()
    samples = fake_samples(head_cfg['decoder'], batch=2)
    w, h = KEYPOINT_CODECS.build(head_cfg['decoder']).input_size
    with torch.no_grad():
        results = model.predict(torch.randn(2, 3, h, w), samples)
    for result in results:
        pred = result.pred_instances
        assert pred.keypoints.shape == (1, 17, 2)
        assert pred.keypoint_scores.shape == (1, 17)
        assert np.isfinite(pred.keypoints).all()
        assert ((pred.keypoint_scores >= 0) &
                (pred.keypoint_scores <= 1)).all()
