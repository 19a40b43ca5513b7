# Benchmark entry: MMPose's RegressionHead (DeepPose: globally pooled features
# -> 17 (x, y) / input size, SmoothL1) on the ImageNet-pretrained
# EfficientNet-Lite0, COCO 256x192. Head and codec as MMPose's
# td-reg_res50_8xb64-210e_coco-256x192.py, with a GlobalAveragePooling neck
# in front of it like there. Used by tools/benchmark.py.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/datasets/coco_topdown.py',
    '../_base_/schedule_210e.py',
    '../_base_/models/effl0.py',
]

codec = dict(type='RegressionLabel', input_size=(192, 256))

model = dict(
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='RegressionHead',
        in_channels=1280,
        num_joints=17,
        loss=dict(type='SmoothL1Loss', use_target_weight=True),
        decoder=codec),
    test_cfg=dict(flip_test=True, shift_coords=True))

train_pipeline = [
    *_base_.train_pipeline_head,
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs'),
]
val_pipeline = [
    *_base_.val_pipeline_head,
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='PackPoseInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = val_dataloader
