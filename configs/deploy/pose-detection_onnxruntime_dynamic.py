# As pose-detection_onnxruntime_static.py with a dynamic batch.
_base_ = ['./pose-detection_onnxruntime_static.py']

onnx_config = dict(dynamic_axes=dict(input={0: 'batch'}, output={0: 'batch'}))
