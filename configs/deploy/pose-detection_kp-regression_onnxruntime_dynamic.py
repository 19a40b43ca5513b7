# As pose-detection_kp-regression_onnxruntime_static.py with a dynamic batch.
_base_ = ['./pose-detection_kp-regression_onnxruntime_static.py']

onnx_config = dict(
    dynamic_axes=dict(
        input={0: 'batch'}, coords={0: 'batch'}, visibility={0: 'batch'}))
