# bbox_effl0.py at a CPU-friendly 128x96 input (4x3 backbone features).
_base_ = ['./bbox_effl0.py']

codec = dict(type='KPBBoxLabel', input_size=(96, 128))

model = dict(head=dict(decoder=codec))

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
