# KPGridHead: outputs presence logits (B, K, Gh, Gw) and in-cell offsets
# (B, K, 2, Gh, Gw), decoded by the head's codec (best cell + offset; with
# KPSoftmaxCELoss scored by the softmax over cells, as the head predicts).
# Batch 1.
_base_ = ['./_base_/kp_pose-detection.py']

onnx_config = dict(output_names=['presence', 'offsets'])
