# deeppose_effl0.py at 128x96 (the benchmark's default protocol).
_base_ = ['./deeppose_effl0.py']

codec = dict(type='RegressionLabel', input_size=(96, 128))

model = dict(head=dict(decoder=codec))

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
