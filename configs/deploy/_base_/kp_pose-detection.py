# A kp deploy config: mmdeploy's pose-detection task (onnxruntime) with the
# backend model `kp_end2end` (kp_plugins.deploy.mmdeploy_support). The graph
# takes the crops after the data preprocessor and returns `keypoints`
# (N, K, 2) in model-input pixels and `scores` (N, K): the head's decode runs
# in the graph (kp_plugins.deploy.decode; flip test off). Any head that
# kp_plugins.deploy.decode knows: KPRegressionHead, KPGridHead, KPBBoxHead
# (with the pose-detection_kp-bbox_* configs), MMPose's HeatmapHead,
# SimCCHead, RegressionHead, RLEHead.
# codebase_config.decode_in_graph=False exports the head's raw outputs
# instead (onnx_config.output_names = head_spec(head).raw_names) and the
# backend model decodes them with the same decode.
_base_ = [
    './pose-detection_static.py', './backends/onnxruntime.py',
    './mmdeploy_support.py'
]

codebase_config = dict(model_type='kp_end2end', decode_in_graph=True)
# input_shape=None: the crop size comes from the model config's codec.
# opset 17 (mmdeploy's default is 11), as tools/export_onnx.py: the in-graph
# decodes clamp int64 indices (Clip on integers needs opset >= 12).
onnx_config = dict(
    input_shape=None,
    output_names=['keypoints', 'scores'],
    opset_version=17)
