# Copied unchanged from mmdeploy v1.3.1 (commit bc75c9d6), configs/mmpose/pose-detection_static.py.
# Copyright (c) OpenMMLab. All rights reserved. Apache License 2.0, see
# tools/mmdeploy/LICENSE.
_base_ = ['../_base_/onnx_config.py']

codebase_config = dict(type='mmpose', task='PoseDetection')
