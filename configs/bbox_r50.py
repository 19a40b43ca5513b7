# Approach 3 (bbox): KPBBoxHead on ResNet-50, COCO 256x192.
# Keypoints relative to the person box ((p - box centre) / sqrt(box area),
# KPBBoxLabel), the box's geometry in the crop fed to the head; OKS with the
# area in box units + L1 on coordinates, BCE on visibility. Training jitters
# the box (KPRandomBBoxJitter, before GetBBoxCenterScale) so the head stays
# accurate on detector boxes. The backbone starts from scratch (no download;
# ImageNet weights: see _base_/models/r50.py).
_base_ = [
    './_base_/default_runtime.py',
    './_base_/datasets/coco_topdown.py',
    './_base_/schedule_210e.py',
    './_base_/models/r50.py',
]

codec = dict(type='KPBBoxLabel', input_size=(192, 256))

model = dict(
    head=dict(
        type='KPBBoxHead',
        in_channels=2048,
        num_keypoints=17,
        hidden_channels=512,
        loss=[
            dict(type='KPOKSLoss', mode='linear', loss_name='loss_oks'),
            dict(type='KPL1Loss', loss_name='loss_l1'),
        ],
        visibility_loss=dict(
            type='KPBCELoss', loss_weight=0.1, loss_name='loss_visibility'),
        decoder=codec),
    test_cfg=dict(flip_test=True))

train_pipeline = [
    dict(type='LoadImage'),
    dict(type='KPRandomBBoxJitter', side_factor=0.1, prob=0.5),
    *_base_.train_pipeline_head[1:],  # GetBBoxCenterScale, flip, half body...
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
