# As pose-detection_kp-grid_onnxruntime_static.py with a dynamic batch.
_base_ = ['./pose-detection_kp-grid_onnxruntime_static.py']

onnx_config = dict(
    dynamic_axes=dict(
        input={0: 'batch'}, presence={0: 'batch'}, offsets={0: 'batch'}))
