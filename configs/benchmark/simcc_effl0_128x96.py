# simcc_effl0.py at 128x96 (the benchmark's default protocol): SimCC bins of
# half a pixel (split 2.0) with sigma 3, half of the 256x192 sigma (the
# DESIGN.md anchor setting); a 3x4 stride-32 map.
_base_ = ['./simcc_effl0.py']

codec = dict(
    type='SimCCLabel', input_size=(96, 128), sigma=3.0, simcc_split_ratio=2.0)

model = dict(
    head=dict(
        input_size=codec['input_size'],
        in_featuremap_size=tuple([s // 32 for s in codec['input_size']]),
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
