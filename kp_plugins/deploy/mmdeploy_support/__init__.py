"""mmdeploy 1.3.1 support for kp_plugins, without patching mmdeploy.

The deploy configs in ``configs/deploy/`` import this package through
``custom_imports``; it registers, in mmdeploy's own registries:

- a rewriter of ``torch.onnx.export``, active only inside mmdeploy's export:
  the TorchScript exporter (``dynamo=False``; torch >= 2.9 defaults to
  dynamo) and the ``bbox`` graph input of ``KPBBoxHead`` models
  (:mod:`.export_rewriter`);
- the backend model ``kp_end2end`` (``codebase_config.model_type``): the
  person boxes as a second backend input and the head's own decode on all
  its outputs (:mod:`.pose_detection_model`);
- the runtime fixes mmdeploy 1.3.1 needs on this stack (:mod:`.compat`).

``import kp_plugins`` never imports this package (nor mmdeploy).
"""
try:
    import mmdeploy  # noqa: F401
except ImportError as error:  # pragma: no cover - depends on the install
    raise ImportError(
        'kp_plugins.deploy.mmdeploy_support needs mmdeploy 1.3.1: '
        '`pip install --no-deps mmdeploy==1.3.1` (README, "mmdeploy")'
    ) from error

from . import compat, export_rewriter, pose_detection_model  # noqa: E402,F401
from .heads import (BBOX_INPUT, RAW_OUTPUTS, decode_raw_outputs,  # noqa: E402
                    kp_head_type)
from .pose_detection_model import KPEnd2EndModel  # noqa: E402

__all__ = ['BBOX_INPUT', 'RAW_OUTPUTS', 'KPEnd2EndModel',
           'decode_raw_outputs', 'kp_head_type']
