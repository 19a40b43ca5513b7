# As pose-detection_onnxruntime_static.py with a dynamic batch.
_base_ = ['./_base_/kp_pose-detection.py']

onnx_config = dict(
    dynamic_axes=dict(input={0: 'batch'}, output={0: 'batch'}))
