"""Deployment: ONNX export with the decode inside the graph
(:mod:`kp_plugins.deploy.export`, torch) and an onnxruntime runtime with
numpy pre- and post-processing (:mod:`kp_plugins.deploy.runtime`, no torch).

Nothing is imported here, so that ``kp_plugins.deploy.runtime`` and
``kp_plugins.deploy.bottomup_runtime`` (with their crop geometry,
:mod:`kp_plugins.utils.crop`) load without torch, and
:mod:`kp_plugins.deploy.mmdeploy_support` (mmdeploy 1.3.1 conversion and
evaluation of every head; it imports mmdeploy) loads only from the deploy
configs in ``configs/deploy/``.
"""
