# As pose-detection_kp_onnxruntime_static.py with a dynamic batch.
_base_ = ['./pose-detection_kp_onnxruntime_static.py']

onnx_config = dict(
    dynamic_axes=dict(
        input={0: 'batch'}, keypoints={0: 'batch'}, scores={0: 'batch'}))
