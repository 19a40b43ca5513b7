# KPBBoxHead: a second graph input `bbox`, the (B, 4) xyxy person boxes in
# model-input pixels (the backend model computes them from each sample's
# box, as KPBBoxHead.predict does); outputs coords (B, K, 2) in the box
# frame and visibility logits (B, K), decoded by the head's codec. Batch 1.
_base_ = ['./_base_/kp_pose-detection.py']

onnx_config = dict(
    input_names=['input', 'bbox'], output_names=['coords', 'visibility'])
