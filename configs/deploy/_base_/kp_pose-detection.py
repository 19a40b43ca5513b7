# mmdeploy's pose-detection task (onnxruntime backend) with kp_plugins'
# additions: `custom_imports` loads kp_plugins.deploy.mmdeploy_support when
# mmdeploy reads this config (torch.onnx.export rewriter: TorchScript exporter
# and the `bbox` input of KPBBoxHead; the `kp_end2end` backend model that
# decodes all of a kp head's outputs with the head's own decode).
_base_ = ['./pose-detection_static.py', './backends/onnxruntime.py']

custom_imports = dict(
    imports=['kp_plugins.deploy.mmdeploy_support'],
    allow_failed_imports=False)

codebase_config = dict(model_type='kp_end2end')
# onnx_config.input_shape=None: the crop size comes from the model config's
# codec (input_size).
onnx_config = dict(input_shape=None)
