"""kp_plugins: keypoint heads, codecs, losses and tools for MMPose 1.x.

``import kp_plugins`` registers every module of the package into MMPose's
registries (``mmpose.registry``): configs load it with::

    custom_imports = dict(imports=['kp_plugins'], allow_failed_imports=False)
    default_scope = 'mmpose'

It also allow-lists, for ``torch.load(weights_only=True)``, exactly the
objects MMEngine's own checkpoints hold, so resume and ``tools/test.py`` work
on torch >= 2.6 (see :mod:`kp_plugins.engine.checkpoint`).

Without torch (a machine that only runs exported ONNX files), importing
kp_plugins registers nothing and :mod:`kp_plugins.deploy.runtime` works.
"""
from .version import __version__

try:
    import torch  # noqa: F401
except ModuleNotFoundError:
    # A deployment machine with onnxruntime alone: kp_plugins.deploy.runtime
    # works, nothing is registered (MMPose itself needs torch).
    TORCH_AVAILABLE = False
else:
    TORCH_AVAILABLE = True

if TORCH_AVAILABLE:
    from .engine.checkpoint import allow_mmengine_checkpoints

    allow_mmengine_checkpoints()

    from . import codecs, datasets, evaluation, models  # noqa: E402,F401  (registration)
    from .engine import hooks  # noqa: E402,F401  (registration)

__all__ = ['__version__', 'TORCH_AVAILABLE']
