# Scores an mmdeploy SDK model directory (written by tools/mmdeploy/deploy.py
# --dump-info with a kp deploy config, or by tools/export_onnx.py --sdk) with
# mmdeploy's tools/test.py: its SDKEnd2EndModel runs mmdeploy_runtime's
# PoseDetector on each whole image and the data sample's boxes; the SDK crops,
# the graph decodes, the SDK maps back. As mmdeploy's
# configs/mmpose/pose-detection_sdk_static-256x192.py, for any input size
# (the SDK directory's pipeline.json holds it; ext_info is not read).
_base_ = [
    './_base_/pose-detection_static.py', './_base_/backends/sdk.py',
    './_base_/mmdeploy_support.py'
]

codebase_config = dict(model_type='sdk')

backend_config = dict(pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='GetBBoxCenterScale'),
    dict(type='PackPoseInputs')
])

ext_info = dict()
