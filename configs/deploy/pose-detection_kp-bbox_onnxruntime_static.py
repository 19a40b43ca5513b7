# KPBBoxHead (see _base_/kp_pose-detection.py): a second input `bbox`, the
# (1, 4) xyxy person box in model-input pixels (the backend model computes it
# from the data sample's box, as KPBBoxHead.predict does); outputs
# `keypoints` (1, K, 2), `scores` (1, K).
_base_ = ['./_base_/kp_pose-detection.py']

onnx_config = dict(input_names=['input', 'bbox'])
