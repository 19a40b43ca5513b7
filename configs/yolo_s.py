# Approach 5 (yolo), MMPose-native: YOLOX-Pose-s, one stage and bottom-up (every
# grid cell predicts a whole person: box, objectness, K keypoints, K visibilities),
# the recipe of MMPose's yoloxpose_s_8xb32-300e_coco-640 with its keypoint branches
# trained by kp_plugins' losses:
#   keypoints   KPOKSLoss  (1 - OKS, COCOeval's formula, dataset sigmas; areas are
#               the assigned GT boxes' areas in input pixels, as in MMPose)
#   visibility  KPBCELoss  (BCE on the visibility logits)
# Box, objectness and class losses stay MMPose's. No download by default: the
# CSPDarknet backbone starts from scratch (MMPose starts it from YOLOX-s COCO
# detection weights; to do the same, network needed:
#   --cfg-options model.backbone.init_cfg.type=Pretrained model.backbone.init_cfg.prefix=backbone. \
#     model.backbone.init_cfg.checkpoint=https://download.openmmlab.com/mmdetection/v2.0/yolox/yolox_s_8x8_300e_coco/yolox_s_8x8_300e_coco_20211121_095711-4592a793.pth
# ). Evaluated by the same CocoMetric as approaches 1-4 (configs/_base_/datasets/
# coco_topdown.py: score_mode='bbox_keypoint', OKS-NMS); MMPose's own YOLOX-Pose
# config scores with score_mode='bbox', nms_mode='none'.
# The Ultralytics side of approach 5 is tools/train_yolo.py / tools/test_yolo.py.
_base_ = [
    './_base_/default_runtime.py',
    './_base_/datasets/coco_topdown.py',
]

# One-stage, bottom-up: MMPoseInferencer / init_model read the top-level
# data_mode (the coco_topdown base says 'topdown').
data_mode = 'bottomup'

# ---------------------------------------------------------------- schedule
train_cfg = dict(by_epoch=True, max_epochs=300, val_interval=10, dynamic_intervals=[(280, 1)])
auto_scale_lr = dict(base_batch_size=256)
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3))

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=0.004, weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0, bias_decay_mult=0, bypass_duplicate=True),
    clip_grad=dict(max_norm=0.1, norm_type=2))
param_scheduler = [
    dict(type='QuadraticWarmupLR', by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=0.0002, begin=5, T_max=280, end=280,
         by_epoch=True, convert_to_iter_based=True),
    dict(type='ConstantLR', by_epoch=True, factor=1, begin=280, end=300),
]

# ---------------------------------------------------------------- model
input_size = (640, 640)
widen_factor = 0.5
deepen_factor = 0.33
norm_cfg = dict(type='BN', momentum=0.03, eps=0.001)
codec = dict(type='YOLOXPoseAnnotationProcessor', input_size=input_size)

model = dict(
    type='BottomupPoseEstimator',
    init_cfg=dict(type='Kaiming', layer='Conv2d', a=2.23606797749979,
                  distribution='uniform', mode='fan_in', nonlinearity='leaky_relu'),
    data_preprocessor=dict(
        type='PoseDataPreprocessor',
        pad_size_divisor=32,
        mean=[0, 0, 0],
        std=[1, 1, 1],
        batch_augments=[
            dict(type='BatchSyncRandomResize', random_size_range=(480, 800),
                 size_divisor=32, interval=1),
        ]),
    backbone=dict(
        type='CSPDarknet',
        deepen_factor=deepen_factor,
        widen_factor=widen_factor,
        out_indices=(2, 3, 4),
        spp_kernal_sizes=(5, 9, 13),
        norm_cfg=norm_cfg,
        act_cfg=dict(type='Swish')),
    neck=dict(
        type='YOLOXPAFPN',
        in_channels=[128, 256, 512],
        out_channels=128,
        num_csp_blocks=1,
        use_depthwise=False,
        upsample_cfg=dict(scale_factor=2, mode='nearest'),
        norm_cfg=norm_cfg,
        act_cfg=dict(type='Swish')),
    head=dict(
        type='YOLOXPoseHead',
        num_keypoints=17,
        featmap_strides=(8, 16, 32),
        head_module_cfg=dict(
            num_classes=1,
            in_channels=256,
            feat_channels=256,
            widen_factor=widen_factor,
            stacked_convs=2,
            norm_cfg=norm_cfg,
            act_cfg=dict(type='Swish')),
        prior_generator=dict(type='MlvlPointGenerator', offset=0, strides=[8, 16, 32]),
        assigner=dict(type='SimOTAAssigner', dynamic_k_indicator='oks'),
        overlaps_power=0.5,
        loss_cls=dict(type='BCELoss', reduction='sum', loss_weight=1.0),
        loss_bbox=dict(type='IoULoss', mode='square', eps=1e-16, reduction='sum',
                       loss_weight=5.0),
        loss_obj=dict(type='BCELoss', use_target_weight=True, reduction='sum',
                      loss_weight=1.0),
        loss_oks=dict(type='KPOKSLoss', mode='linear', reduction='mean',
                      metainfo='configs/_base_/datasets/coco.py', loss_weight=30.0),
        loss_vis=dict(type='KPBCELoss', loss_weight=1.0),
        loss_bbox_aux=dict(type='L1Loss', reduction='sum', loss_weight=1.0),
    ),
    test_cfg=dict(score_thr=0.01, nms_thr=0.65))

# ---------------------------------------------------------------- data (bottom-up)
train_pipeline_stage1 = [
    dict(type='LoadImage'),
    dict(type='Mosaic', img_scale=input_size, pad_val=114.0,
         pre_transform=[dict(type='LoadImage')]),
    dict(type='BottomupRandomAffine', input_size=input_size, shift_factor=0.1,
         rotate_factor=10, scale_factor=(0.75, 1.0), pad_val=114,
         distribution='uniform', transform_mode='perspective',
         bbox_keep_corner=False, clip_border=True),
    dict(type='YOLOXMixUp', img_scale=input_size, ratio_range=(0.8, 1.6),
         pad_val=114.0, pre_transform=[dict(type='LoadImage')]),
    dict(type='YOLOXHSVRandomAug'),
    dict(type='RandomFlip'),
    dict(type='FilterAnnotations', by_kpt=True, by_box=True, keep_empty=False),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs'),
]
# the last 20 epochs: no mosaic / mix-up / affine jitter
train_pipeline_stage2 = [
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
    batch_size=32,
    dataset=dict(
        data_mode='bottomup',
        filter_cfg=dict(filter_empty_gt=False, min_size=32),
        pipeline=train_pipeline_stage1))
val_dataloader = dict(
    batch_size=1,
    dataset=dict(data_mode='bottomup', pipeline=val_pipeline))
test_dataloader = val_dataloader

custom_hooks = [
    dict(type='KPNonFiniteLossHook', max_consecutive=5),  # as default_runtime.py
    dict(type='KPRandomStateHook'),
    dict(type='KPResumeValidationHook'),
    dict(type='YOLOXPoseModeSwitchHook', num_last_epochs=20,
         new_train_pipeline=train_pipeline_stage2, priority=48),
    dict(type='SyncNormHook', priority=48),
    dict(type='EMAHook', ema_type='ExpMomentumEMA', momentum=0.0002,
         update_buffers=True, strict_load=False, priority=49),
]
