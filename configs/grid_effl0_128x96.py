# grid_effl0.py at a CPU-friendly 128x96 input: the same 8-pixel cells, so a
# 12x16 grid on the fused 6x8 stride-16 map (2x2 cells per feature vector).
_base_ = ['./grid_effl0.py']

# score_temperature: fitted by tools/fit_score_temperature.py on the COCO persons of
# the benchmark protocol's training split (docs/benchmark.md); refit for another schedule
codec = dict(type='KPGridLabel', input_size=(96, 128), grid_size=(12, 16),
             score_temperature=1.66)

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
