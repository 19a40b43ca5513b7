# Approach 1 (regression): KPRegressionHead on ResNet-50, COCO 256x192.
# Globally pooled features -> 17 (x, y) in an isotropic frame of the input
# (KPRegressionLabel) + 17 visibility logits; L1 + OKS (weight 0.1) on
# coordinates, BCE on visibility. The backbone starts from scratch (no download; ImageNet
# weights: see _base_/models/r50.py).
_base_ = [
    './_base_/default_runtime.py',
    './_base_/datasets/coco_topdown.py',
    './_base_/schedule_210e.py',
    './_base_/models/r50.py',
]

codec = dict(type='KPRegressionLabel', input_size=(192, 256))

model = dict(
    head=dict(
        type='KPRegressionHead',
        in_channels=2048,
        num_keypoints=17,
        loss=[
            dict(type='KPL1Loss', loss_name='loss_l1'),
            # OKS at a tenth of L1's weight: near a keypoint its gradient is
            # many times L1's and it vanishes far away, so at full weight it
            # pulls on the keypoints that are already close (docs/benchmark.md)
            dict(type='KPOKSLoss', mode='linear', loss_weight=0.1,
                 loss_name='loss_oks'),
        ],
        visibility_loss=dict(
            type='KPBCELoss', loss_weight=0.1, loss_name='loss_visibility'),
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
