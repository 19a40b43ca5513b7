"""kp_plugins: keypoint heads, codecs, losses and tools for MMPose 1.x.

``import kp_plugins`` registers every module of the package into MMPose's
registries (``mmpose.registry``): configs load it with::

    custom_imports = dict(imports=['kp_plugins'], allow_failed_imports=False)
    default_scope = 'mmpose'

It also allow-lists, for ``torch.load(weights_only=True)``, exactly the
objects MMEngine's own checkpoints hold, so resume and ``tools/test.py`` work
on torch >= 2.6 (see :mod:`kp_plugins.engine.checkpoint`).

Light imports. The ONNX runtime needs numpy, OpenCV and onnxruntime only,
so an import statement that asks for one of :data:`LIGHT_MODULES` alone
(``import kp_plugins.deploy.runtime``, ``from kp_plugins.deploy import
runtime``, ``from kp_plugins.utils.crop import crop_persons`` ...) runs this
file as their parent package but imports neither torch nor MMPose, even
where both are installed. The registration then still happens, once, in the
same process, as soon as it can matter:

- on the first import of any other kp_plugins module (``kp_plugins.models``,
  ``kp_plugins.deploy.export`` ...): once that module's body has run, the
  rest of the registration, before the import statement returns;
- right after the ``mmpose`` package's own ``__init__`` has run, before
  any of its submodules (``mmpose.registry``, ``mmpose.apis`` ...) loads;
- on :func:`register_modules`, or on reading ``kp_plugins.models`` (or
  ``codecs``, ``datasets``, ``evaluation``, ``engine``).

So every way to reach kp_plugins' classes (an import of them, MMPose's
registries, a config's ``custom_imports``, which imports ``mmpose`` first)
finds them registered. Where ``mmpose`` is already imported, or the import
asks for anything else (``import kp_plugins``, ``import
kp_plugins.models`` ...), the registration runs at once, as always.

How the import is told apart: the module the running import statement asked
for is the outermost of the import system's ``_find_and_load`` frames that
lead, through importlib alone, to this file (CPython's import machinery,
3.9 to 3.13); where that cannot be read, the import registers at once.

Without torch (a machine that only runs exported ONNX files, see
``docs/runtime_without_torch.md``), importing kp_plugins registers nothing
and :mod:`kp_plugins.deploy.runtime` works.
"""
import importlib
import importlib.abc
import importlib.util
import sys
from typing import Optional

from .version import __version__

#: torch is installed (found without importing it); without it nothing is
#: registered (MMPose itself needs torch) and only the runtime works.
TORCH_AVAILABLE = importlib.util.find_spec('torch') is not None

#: Modules that import no torch and no MMPose: an import that asks for one
#: of these alone leaves the registration for later (see above).
LIGHT_MODULES = frozenset((
    f'{__name__}.version',
    f'{__name__}.deploy',
    f'{__name__}.deploy.runtime',
    f'{__name__}.deploy.bottomup_runtime',
    f'{__name__}.utils',
    f'{__name__}.utils.crop',
))
#: The subpackages the registration imports (in this order), bound as
#: attributes of kp_plugins like any imported submodule.
_REGISTERING = ('codecs', 'datasets', 'evaluation', 'models', 'engine.hooks')
_IMPORTLIB = ('importlib._bootstrap', 'importlib._bootstrap_external')


def register_modules() -> None:
    """Register every kp_plugins module into MMPose's registries and
    allow-list MMEngine checkpoints for ``torch.load`` (what ``import
    kp_plugins`` does). Idempotent; needed explicitly only by code that
    reads MMPose's registries after a light import without importing
    anything of mmpose or kp_plugins (see the module docstring)."""
    _disarm()
    from .engine.checkpoint import allow_mmengine_checkpoints

    allow_mmengine_checkpoints()
    for name in _REGISTERING:
        importlib.import_module(f'{__name__}.{name}')


def _requested_module() -> Optional[str]:
    """The module the import statement running this file asked for
    (``kp_plugins`` or one of its submodules), or ``None`` where the frames
    do not say it (another interpreter, ``importlib.reload``, ``exec``)."""
    getframe = getattr(sys, '_getframe', None)
    if getframe is None:
        return None
    requested = None
    frame = getframe(1)
    while frame is not None:
        in_importlib = frame.f_globals.get('__name__') in _IMPORTLIB
        if in_importlib and frame.f_code.co_name == '_find_and_load':
            name = frame.f_locals.get('name')
            if not isinstance(name, str) or name.partition('.')[0] != __name__:
                break
            requested = name
        elif not in_importlib and requested is not None:
            break  # the code that ran the import statement
        frame = frame.f_back
    return requested


class _RegisterOnFirstUse(importlib.abc.MetaPathFinder):
    """A one-shot ``sys.meta_path`` finder, first in the list after a light
    import: the first import of ``mmpose`` or of a kp_plugins module outside
    :data:`LIGHT_MODULES` runs :func:`register_modules`.

    It finds nothing itself: it asks the finders after it for the module's
    spec and returns that spec with its loader's ``exec_module`` wrapped (on
    that loader instance, for this one call) to run the module's body, then
    :func:`register_modules`. So nothing is executed twice: registering
    from ``find_spec``, before the module is loaded, would import a module
    that the import system then loads again from its spec, and registering
    before the body would import a module that is still empty. It leaves
    ``sys.meta_path`` first, so that the imports it causes do not come back
    to it, and comes back if that import fails (the next one tries again),
    unless the failed import has loaded mmpose: then it registers at once.
    """

    finding = False

    def find_spec(self, name, path=None, target=None):
        if self.finding or target is not None or not _triggers_registration(name):
            return None
        # The import system is iterating over sys.meta_path: every path
        # that returns None puts this finder back in its place first.
        _disarm()
        self.finding = True
        try:
            spec = importlib.util.find_spec(name)
        except BaseException:
            _arm()
            raise
        finally:
            self.finding = False
        loader = getattr(spec, 'loader', None)
        if spec is None or not hasattr(loader, 'exec_module'):
            _arm()
            return None
        run = loader.exec_module

        def exec_module(module) -> None:
            del loader.exec_module  # back to the class's own
            try:
                run(module)
            except BaseException:
                # A failed kp_plugins module may have imported mmpose, which
                # this finder would then never see: register now (an error
                # here is shown with the import's).
                if name != 'mmpose' and 'mmpose' in sys.modules:
                    _register_or_arm()
                else:
                    _arm()
                raise
            _register_or_arm()

        loader.exec_module = exec_module
        return spec


def _register_or_arm() -> None:
    """:func:`register_modules`; on failure the finder is armed again (the
    next trigger retries) and the error raised."""
    try:
        register_modules()
    except BaseException:
        _arm()
        raise


def _triggers_registration(name: str) -> bool:
    """Whether importing ``name`` first must register kp_plugins."""
    return name == 'mmpose' or (name.startswith(f'{__name__}.') and name not in LIGHT_MODULES)


_FINDER = _RegisterOnFirstUse()


def _arm() -> None:
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)


def _disarm() -> None:
    # every instance: importlib.reload(kp_plugins) makes a new _FINDER
    for finder in [f for f in sys.meta_path if type(f).__name__ == '_RegisterOnFirstUse'
                   and type(f).__module__ == __name__]:
        sys.meta_path.remove(finder)


def __getattr__(name: str):
    """``kp_plugins.models`` (and the other registering subpackages) after a
    light import: imported, and so registered, on first use."""
    if name in ('codecs', 'datasets', 'evaluation', 'models', 'engine'):
        return importlib.import_module(f'{__name__}.{name}')
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


if TORCH_AVAILABLE:
    if _requested_module() in LIGHT_MODULES and 'mmpose' not in sys.modules:
        _arm()
    else:
        register_modules()

__all__ = ['__version__', 'TORCH_AVAILABLE', 'LIGHT_MODULES', 'register_modules']
