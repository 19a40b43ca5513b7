# Approach 2 (grid): KPGridHead on ResNet-50, COCO 256x192.
# A 24x32 grid of 8-pixel cells (KPGridLabel); per keypoint, presence logits
# per cell + in-cell offsets. No deconvolution stack: the stride-32 map (2048
# ch) is reduced to 128 channels, upsampled x2 and fused with the stride-16
# stage (1024 ch), and a depthwise 3x3 + 1x1 conv + pixel shuffle predicts 2x2
# cells per fused vector. KPGridHead's defaults: softmax cross-entropy over the
# cells against the codec's Gaussian (1 cell) target, L1 on offsets (true cell
# and its neighbours), OKS on softly decoded coordinates.
# The backbone starts from scratch (no download; ImageNet weights: see
# _base_/models/r50.py).
_base_ = [
    './_base_/default_runtime.py',
    './_base_/datasets/coco_topdown.py',
    './_base_/schedule_210e.py',
    './_base_/models/r50.py',
]

codec = dict(type='KPGridLabel', input_size=(192, 256), grid_size=(24, 32))

model = dict(
    # stages 3 and 4: 1024 channels at stride 16, 2048 at stride 32
    backbone=dict(out_indices=(2, 3)),
    head=dict(
        type='KPGridHead',
        in_channels=2048,
        num_keypoints=17,
        in_stride=32,
        fuse_in_channels=1024,
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
