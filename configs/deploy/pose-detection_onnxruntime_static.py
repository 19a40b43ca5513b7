# MMPose's own one-output heads (HeatmapHead, ...) with mmdeploy on this
# stack: mmdeploy's configs/mmpose/pose-detection_onnxruntime_static.py plus
# the TorchScript-exporter setting torch >= 2.9 needs. Batch 1.
_base_ = ['./_base_/kp_pose-detection.py']
