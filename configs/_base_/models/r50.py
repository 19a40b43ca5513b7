# ResNet-50 top-down pose estimator without a head, from scratch by default
# (nothing is downloaded). Approach configs add `model.head` and its codec, e.g.
#   _base_ = ['./_base_/default_runtime.py', './_base_/datasets/coco_topdown.py',
#             './_base_/schedule_210e.py', './_base_/models/r50.py']
#   model = dict(head=dict(type='KPRegressionHead', in_channels=2048, ...))
# The backbone returns its last stage: 2048 channels at stride 32 (8x6 for a
# 256x192 input); model.backbone.out_indices=(2, 3) adds the stride-16 stage
# (1024 channels). To start from ImageNet weights (network needed):
#   --cfg-options model.backbone.init_cfg.type=Pretrained \
#                 model.backbone.init_cfg.checkpoint=torchvision://resnet50
model = dict(
    type='TopdownPoseEstimator',
    # torchvision's ImageNet mean / std, RGB
    data_preprocessor=dict(
        type='PoseDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    backbone=dict(type='ResNet', depth=50),
)
