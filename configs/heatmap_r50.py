# Approach 4 (heatmap): MMPose's top-down HeatmapHead + MSRAHeatmap codec on
# ResNet-50, COCO 256x192 (the td-hm_res50_8xb64-210e_coco-256x192 recipe).
# The backbone starts from scratch (no download; ImageNet weights: see
# _base_/models/r50.py).
_base_ = [
    './_base_/default_runtime.py',
    './_base_/datasets/coco_topdown.py',
    './_base_/schedule_210e.py',
    './_base_/models/r50.py',
]

codec = dict(
    type='MSRAHeatmap', input_size=(192, 256), heatmap_size=(48, 64), sigma=2)

model = dict(
    head=dict(
        type='HeatmapHead',
        in_channels=2048,
        out_channels=17,
        loss=dict(type='KeypointMSELoss', use_target_weight=True),
        decoder=codec),
    test_cfg=dict(flip_test=True, flip_mode='heatmap', shift_heatmap=True))

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
