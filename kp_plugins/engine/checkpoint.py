"""Make MMEngine's own checkpoints loadable under ``torch.load(weights_only=True)``.

Since torch 2.6 ``torch.load`` defaults to ``weights_only=True``: only tensors,
containers and allow-listed classes may be unpickled. A checkpoint saved by
MMEngine's ``CheckpointHook`` also holds

* numpy arrays and scalars (``meta.dataset_meta`` of MMPose: sigmas,
  flip indices, colours; logged values in the message hub),
* ``mmengine.logging.HistoryBuffer`` objects (``message_hub.log_scalars``),
  whose pickled ``statistics_methods`` refer to ``getattr(HistoryBuffer, 'mean')``
  etc.; ``builtins.getattr`` itself is never allowed, only a stand-in that
  resolves a registered statistics method of ``HistoryBuffer``,

so ``runner.resume`` and MMPose's ``tools/test.py`` fail with
``UnpicklingError: ... numpy.core.multiarray._reconstruct``. Instead of turning
weights-only loading off (which would let any pickle run code), we add exactly
these classes to torch's safe globals. Arbitrary objects stay refused.
"""
import zipfile
from typing import Any, List

import numpy as np
import torch

_done = False
_BUILTIN_STATISTICS = frozenset({'min', 'max', 'current', 'mean'})


def _history_buffer_getattr(obj: Any, name: str) -> Any:
    """Stand-in for ``builtins.getattr`` while unpickling: resolves only the
    statistics methods MMEngine's ``HistoryBuffer`` pickles by name."""
    from mmengine.logging import HistoryBuffer
    # The built-in four are only put in the class table when a first
    # HistoryBuffer is created; custom ones by ``register_statistics``.
    allowed = _BUILTIN_STATISTICS | set(HistoryBuffer._statistics_methods)
    if obj is HistoryBuffer and name in allowed:
        return getattr(HistoryBuffer, name)
    import pickle
    raise pickle.UnpicklingError(
        f'refusing getattr({obj!r}, {name!r}) in a weights-only checkpoint: '
        'only HistoryBuffer statistics methods are allowed')


def mmengine_checkpoint_globals() -> List[Any]:
    """The classes/functions an MMEngine checkpoint of an MMPose run pickles.

    Returns:
        list: objects (or ``(stand-in, 'module.name')`` pairs) to pass to
        ``torch.serialization.add_safe_globals``.
    """
    from mmengine.logging import HistoryBuffer

    allowed: List[Any] = [
        np.core.multiarray._reconstruct,  # ndarray pickles through this
        np.core.multiarray.scalar,  # numpy scalars (np.float64(...))
        np.ndarray,
        np.dtype,
        HistoryBuffer,
        (_history_buffer_getattr, 'builtins.getattr'),
    ]
    # numpy >= 1.25 pickles dtypes as instances of per-type classes
    # (numpy.dtypes.Float64DType, ...): allow each concrete dtype class.
    dtypes_mod = getattr(np, 'dtypes', None)
    if dtypes_mod is not None:
        for name in dir(dtypes_mod):
            obj = getattr(dtypes_mod, name)
            if isinstance(obj, type) and issubclass(obj, np.dtype):
                allowed.append(obj)
    return allowed


def allow_mmengine_checkpoints() -> None:
    """Allow-list MMEngine checkpoint contents for weights-only loading.

    Idempotent; a no-op on torch versions without
    ``torch.serialization.add_safe_globals`` (< 2.4), where loading is not
    weights-only by default anyway.
    """
    global _done
    if _done:
        return
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is None:
        _done = True
        return
    add_safe_globals(mmengine_checkpoint_globals())
    _done = True


class CheckpointFileError(ValueError):
    """A file given as a checkpoint is not one."""


def check_checkpoint_file(path: str) -> None:
    """Raise :class:`CheckpointFileError` when ``path`` is not a file that
    ``torch.load`` can read: ``torch.save`` writes a zip archive holding a
    ``data.pkl`` (torch >= 1.6) or, before, a pickle (first byte ``0x80``).

    Without this check a text file, an HTML error page saved under a
    ``.pth`` name or a truncated download fails deep inside ``torch.load``
    with ``UnpicklingError ... weights_only=False will likely succeed``,
    which it will not.
    """
    with open(path, 'rb') as f:
        head = f.read(16)
    if head.startswith(b'PK'):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except zipfile.BadZipFile:
            raise CheckpointFileError(
                f'{path} is a damaged zip archive (a truncated download or an '
                'interrupted save?), not a readable PyTorch checkpoint') from None
        if any(name.endswith('data.pkl') for name in names):
            return
        raise CheckpointFileError(
            f'{path} is a zip archive but not a PyTorch checkpoint (no data.pkl '
            f'inside; it holds {names[:3]})')
    if head[:1] == b'\x80':  # a pickle: the format of torch.save before 1.6
        return
    kind = 'an empty file' if not head else (
        'a text file' if all(32 <= c < 127 or c in (9, 10, 13) for c in head)
        else 'an unknown format')
    raise CheckpointFileError(
        f'{path} is not a PyTorch checkpoint: it is {kind} (it starts with '
        f'{head!r}); torch.save writes a zip archive. Pass the .pth file '
        'training saved, e.g. work_dirs/<config>/epoch_N.pth or best_*.pth')
