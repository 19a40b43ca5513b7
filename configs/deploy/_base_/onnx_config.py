# Copied unchanged from mmdeploy v1.3.1 (commit bc75c9d6), configs/_base_/onnx_config.py.
# Copyright (c) OpenMMLab. All rights reserved. Apache License 2.0, see
# tools/mmdeploy/LICENSE.
onnx_config = dict(
    type='onnx',
    export_params=True,
    keep_initializers_as_inputs=False,
    opset_version=11,
    save_file='end2end.onnx',
    input_names=['input'],
    output_names=['output'],
    input_shape=None,
    optimize=True)
