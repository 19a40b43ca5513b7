# mmdeploy's own configs/mmpose/pose-detection_onnxruntime_static.py (its
# End2EndModel decodes outside the graph: MMPose's one-output heads such as
# HeatmapHead) on torch >= 2.9: plus the TorchScript-exporter setting.
# Batch 1. For kp_plugins' heads use pose-detection_kp_* / _kp-bbox_*.
_base_ = [
    './_base_/pose-detection_static.py', './_base_/backends/onnxruntime.py',
    './_base_/mmdeploy_support.py'
]

onnx_config = dict(input_shape=None)
