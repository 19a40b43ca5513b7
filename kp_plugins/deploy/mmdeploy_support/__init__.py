"""mmdeploy 1.3.1 support for kp_plugins, without patching mmdeploy.

The deploy configs in ``configs/deploy/`` import this package through
``custom_imports``; it registers, in mmdeploy's own registries:

- a rewriter of ``torch.onnx.export``, active only inside mmdeploy's export:
  the TorchScript exporter (``dynamo=False``; torch >= 2.9 defaults to
  dynamo), and for kp deploy configs the head's decode in the graph and the
  ``bbox`` input of ``KPBBoxHead`` (:mod:`.export_rewriter`);
- the backend model ``kp_end2end`` (``codebase_config.model_type``): the
  person boxes as a second backend input and the head's whole decode
  (:mod:`.pose_detection_model`);
- for ``tools/deploy.py --dump-info``, the SDK files (``pipeline.json``) of a
  kp deploy config: the decode is in the graph, the SDK maps the keypoints
  back to the image (:mod:`.sdk_export`).

What a kp deploy config declares: :mod:`.deploy_config`. ``import
kp_plugins`` never imports this package (nor mmdeploy).
"""
try:
    import mmdeploy  # noqa: F401
except ImportError as error:  # pragma: no cover - depends on the install
    raise ImportError(
        'kp_plugins.deploy.mmdeploy_support needs mmdeploy 1.3.1: '
        '`pip install --no-deps mmdeploy==1.3.1 aenum` (docs/mmdeploy.md)'
    ) from error

from .deploy_config import KP_MODEL_TYPE  # noqa: E402
from .export_rewriter import MMDeployPoseModel  # noqa: E402
from .pose_detection_model import KPEnd2EndModel  # noqa: E402
from .sdk_export import KPPoseDetection  # noqa: E402

__all__ = ['KP_MODEL_TYPE', 'KPEnd2EndModel', 'KPPoseDetection', 'MMDeployPoseModel']
