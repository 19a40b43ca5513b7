# grid_effl0.py at a CPU-friendly 128x96 input: the same 8-pixel cells, so a
# 12x16 grid on the 3x4 stride-32 map (4x4 cells per feature vector).
# 192 cells instead of 768: pos_weight keeps the grid_effl0.py ratio
# (cells / 12) between the one positive cell and the negatives.
_base_ = ['./grid_effl0.py']

codec = dict(type='KPGridLabel', input_size=(96, 128), grid_size=(12, 16))

model = dict(
    head=dict(
        presence_loss=dict(pos_weight=16.0),
        decoder=codec))

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
