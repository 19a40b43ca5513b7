# Any head except KPBBoxHead (see _base_/kp_pose-detection.py): one input
# `input` (1, 3, H, W), outputs `keypoints` (1, K, 2), `scores` (1, K).
_base_ = ['./_base_/kp_pose-detection.py']
