# Benchmark entry: MMPose's SimCCHead (1-D x / y classification, KL loss) on
# the ImageNet-pretrained EfficientNet-Lite0, COCO 256x192. SimCCLabel as in
# MMPose's simcc_res50_8xb64-210e_coco-256x192.py (split 2.0, sigma 6);
# without the deconvolution stack, like MMPose's light-backbone recipe
# simcc_mobilenetv2_wo-deconv-8xb64-210e_coco-256x192.py: the flattened
# stride-32 map goes straight to the 1-D classifiers. Used by tools/benchmark.py.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/datasets/coco_topdown.py',
    '../_base_/schedule_210e.py',
    '../_base_/models/effl0.py',
]

codec = dict(
    type='SimCCLabel', input_size=(192, 256), sigma=6.0, simcc_split_ratio=2.0)

model = dict(
    head=dict(
        type='SimCCHead',
        in_channels=1280,
        out_channels=17,
        input_size=codec['input_size'],
        in_featuremap_size=tuple([s // 32 for s in codec['input_size']]),
        simcc_split_ratio=codec['simcc_split_ratio'],
        deconv_out_channels=None,
        loss=dict(type='KLDiscretLoss', use_target_weight=True),
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
