"""Deployment: ONNX export with the decode inside the graph
(:mod:`kp_plugins.deploy.export`, torch) and an onnxruntime runtime with
numpy pre- and post-processing (:mod:`kp_plugins.deploy.runtime`, no torch).

Nothing is imported here, so that ``kp_plugins.deploy.runtime`` and
``kp_plugins.deploy.preprocess`` load without torch.
"""
