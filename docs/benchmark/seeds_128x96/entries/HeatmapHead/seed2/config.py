auto_scale_lr = dict(base_batch_size=64, enable=False)
backend_args = dict(backend='local')
codec = dict(
    heatmap_size=(
        24,
        32,
    ),
    input_size=(
        96,
        128,
    ),
    sigma=2,
    type='MSRAHeatmap')
custom_hooks = [
    dict(type='SyncBuffersHook'),
    dict(max_consecutive=5, type='KPNonFiniteLossHook'),
    dict(type='KPRandomStateHook'),
    dict(type='KPResumeValidationHook'),
]
custom_imports = dict(
    allow_failed_imports=False, imports=[
        'kp_plugins',
    ])
data_mode = 'topdown'
data_root = 'data/coco/'
dataset_type = 'CocoDataset'
default_hooks = dict(
    checkpoint=dict(
        by_epoch=True,
        interval=1,
        max_keep_ckpts=1,
        save_best=None,
        type='CheckpointHook'),
    logger=dict(interval=10, type='LoggerHook'),
    param_scheduler=dict(type='ParamSchedulerHook'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    timer=dict(type='IterTimerHook'),
    visualization=dict(enable=False, type='PoseVisualizationHook'))
default_scope = 'mmpose'
env_cfg = dict(
    cudnn_benchmark=False,
    dist_cfg=dict(backend='nccl'),
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0))
kp_benchmark_protocol = dict(
    batch_size=64,
    data_root='/work/shared/data',
    epochs=10,
    extra=dict(),
    log_interval=10,
    lr=0.001,
    milestones=[
        8,
    ],
    name='128x96',
    seed=2,
    step_at=None,
    train_subset=None,
    val_batch_size=32,
    validate=True,
    warmup_iters=0,
    workers=2)
launcher = 'none'
load_from = None
log_level = 'INFO'
log_processor = dict(
    by_epoch=True, num_digits=6, type='LogProcessor', window_size=10)
model = dict(
    backbone=dict(
        arch='lite0',
        out_indices=(8, ),
        pretrained=True,
        type='KPEfficientNetLite'),
    data_preprocessor=dict(
        bgr_to_rgb=True,
        mean=[
            127.0,
            127.0,
            127.0,
        ],
        std=[
            128.0,
            128.0,
            128.0,
        ],
        type='PoseDataPreprocessor'),
    head=dict(
        decoder=dict(
            heatmap_size=(
                24,
                32,
            ),
            input_size=(
                96,
                128,
            ),
            sigma=2,
            type='MSRAHeatmap'),
        in_channels=1280,
        loss=dict(type='KeypointMSELoss', use_target_weight=True),
        out_channels=17,
        type='HeatmapHead'),
    test_cfg=dict(flip_mode='heatmap', flip_test=True, shift_heatmap=True),
    type='TopdownPoseEstimator')
optim_wrapper = dict(
    optimizer=dict(lr=0.001, type='Adam'), type='OptimWrapper')
param_scheduler = [
    dict(
        begin=0,
        by_epoch=True,
        end=10,
        gamma=0.1,
        milestones=[
            8,
        ],
        type='MultiStepLR'),
]
randomness = dict(deterministic=False, seed=2)
resume = False
test_cfg = dict()
test_dataloader = dict(
    batch_size=32,
    dataset=dict(
        ann_file='annotations_val.json',
        data_mode='topdown',
        data_prefix=dict(img='images/'),
        data_root='/work/shared/data/coco_trainval/',
        pipeline=[
            dict(type='LoadImage'),
            dict(type='GetBBoxCenterScale'),
            dict(input_size=(
                96,
                128,
            ), type='TopdownAffine'),
            dict(type='PackPoseInputs'),
        ],
        test_mode=True,
        type='CocoDataset'),
    drop_last=False,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(round_up=False, shuffle=False, type='DefaultSampler'))
test_evaluator = [
    dict(
        ann_file='/work/shared/data/coco_trainval/annotations_val.json',
        type='CocoMetric'),
    dict(norm_item='bbox', thr=0.2, type='PCKAccuracy'),
    dict(type='EPE'),
]
train_cfg = dict(by_epoch=True, max_epochs=10, val_interval=1)
train_dataloader = dict(
    batch_size=64,
    dataset=dict(
        datasets=[
            dict(
                ann_file='annotations_train.json',
                data_mode='topdown',
                data_prefix=dict(img='images/'),
                data_root='/work/shared/data/coco_trainval/',
                pipeline=[
                    dict(type='LoadImage'),
                    dict(type='GetBBoxCenterScale'),
                    dict(direction='horizontal', type='RandomFlip'),
                    dict(type='RandomHalfBody'),
                    dict(type='RandomBBoxTransform'),
                    dict(input_size=(
                        96,
                        128,
                    ), type='TopdownAffine'),
                    dict(
                        encoder=dict(
                            heatmap_size=(
                                24,
                                32,
                            ),
                            input_size=(
                                96,
                                128,
                            ),
                            sigma=2,
                            type='MSRAHeatmap'),
                        type='GenerateTarget'),
                    dict(type='PackPoseInputs'),
                ],
                type='CocoDataset'),
            dict(
                ann_file='annotations.json',
                data_mode='topdown',
                data_prefix=dict(img='images/'),
                data_root='/work/shared/data/lspet_subset/',
                pipeline=[
                    dict(type='LoadImage'),
                    dict(type='GetBBoxCenterScale'),
                    dict(direction='horizontal', type='RandomFlip'),
                    dict(type='RandomHalfBody'),
                    dict(type='RandomBBoxTransform'),
                    dict(input_size=(
                        96,
                        128,
                    ), type='TopdownAffine'),
                    dict(
                        encoder=dict(
                            heatmap_size=(
                                24,
                                32,
                            ),
                            input_size=(
                                96,
                                128,
                            ),
                            sigma=2,
                            type='MSRAHeatmap'),
                        type='GenerateTarget'),
                    dict(type='PackPoseInputs'),
                ],
                type='CocoDataset'),
        ],
        type='ConcatDataset'),
    num_workers=2,
    persistent_workers=False,
    sampler=dict(shuffle=True, type='DefaultSampler'))
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(direction='horizontal', type='RandomFlip'),
    dict(type='RandomHalfBody'),
    dict(type='RandomBBoxTransform'),
    dict(input_size=(
        96,
        128,
    ), type='TopdownAffine'),
    dict(
        encoder=dict(
            heatmap_size=(
                24,
                32,
            ),
            input_size=(
                96,
                128,
            ),
            sigma=2,
            type='MSRAHeatmap'),
        type='GenerateTarget'),
    dict(type='PackPoseInputs'),
]
train_pipeline_head = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(direction='horizontal', type='RandomFlip'),
    dict(type='RandomHalfBody'),
    dict(type='RandomBBoxTransform'),
]
val_cfg = dict()
val_dataloader = dict(
    batch_size=32,
    dataset=dict(
        ann_file='annotations_val.json',
        data_mode='topdown',
        data_prefix=dict(img='images/'),
        data_root='/work/shared/data/coco_trainval/',
        pipeline=[
            dict(type='LoadImage'),
            dict(type='GetBBoxCenterScale'),
            dict(input_size=(
                96,
                128,
            ), type='TopdownAffine'),
            dict(type='PackPoseInputs'),
        ],
        test_mode=True,
        type='CocoDataset'),
    drop_last=False,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(round_up=False, shuffle=False, type='DefaultSampler'))
val_evaluator = [
    dict(
        ann_file='/work/shared/data/coco_trainval/annotations_val.json',
        type='CocoMetric'),
    dict(norm_item='bbox', thr=0.2, type='PCKAccuracy'),
    dict(type='EPE'),
]
val_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(input_size=(
        96,
        128,
    ), type='TopdownAffine'),
    dict(type='PackPoseInputs'),
]
val_pipeline_head = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
]
vis_backends = [
    dict(type='LocalVisBackend'),
]
visualizer = dict(
    name='visualizer',
    type='PoseLocalVisualizer',
    vis_backends=[
        dict(type='LocalVisBackend'),
    ])
wholeimage_train_augmentation = [
    dict(padding=1.0, type='GetBBoxCenterScale'),
    dict(direction='horizontal', type='RandomFlip'),
    dict(
        rotate_factor=30.0,
        scale_factor=(
            0.8,
            1.2,
        ),
        shift_prob=0.0,
        type='RandomBBoxTransform'),
]
work_dir = '/work/main/work_dirs/benchmark_128x96_seeds/entries/HeatmapHead/seed2'
