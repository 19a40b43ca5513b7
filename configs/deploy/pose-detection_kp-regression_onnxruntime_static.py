# KPRegressionHead: outputs coords (B, K, 2) in the codec's frame and
# visibility logits (B, K), decoded by the head's codec. Batch 1.
_base_ = ['./_base_/kp_pose-detection.py']

onnx_config = dict(output_names=['coords', 'visibility'])
