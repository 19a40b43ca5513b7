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

It also holds the one check every tool runs before loading a checkpoint
into a model (:func:`check_model_checkpoint`; :func:`load_model_checkpoint`
checks and loads): MMEngine and ``mmpose.apis.init_model`` load
non-strictly, so the checkpoint of another model would leave a random head
behind with only a log line to show for it.
"""
import os.path as osp
import re
import zipfile
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

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


# --------------------------------------------------------------------------
# does a checkpoint fit the model it is loaded into?
# --------------------------------------------------------------------------

class CheckpointMismatchError(ValueError):
    """A checkpoint whose weights do not fit the model built from the
    config (another head, another backbone, another keypoint count)."""


#: Keys a checkpoint may hold beyond the model's own without being of
#: another model: MMCV / MMDet 2.x EMA buffers (``ema_backbone_conv1_weight``)
#: saved inside ``state_dict``.
IGNORED_UNEXPECTED_PREFIXES = ('ema_', )
#: Model keys an older checkpoint may lack beside the module's other
#: buffers: BatchNorm's counter (added in torch 0.4.1; unused at inference).
IGNORED_MISSING = {'num_batches_tracked': 'running_mean'}


@dataclass
class KeyMismatch:
    """How a checkpoint's ``state_dict`` differs from a model's.

    Attributes:
        num_model: the model's ``state_dict`` size.
        missing: model keys the checkpoint does not have.
        unexpected: checkpoint keys the model does not have.
        shape: ``(key, checkpoint shape, model shape)`` of keys in both.
    """
    num_model: int
    missing: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)
    shape: List[Tuple[str, tuple, tuple]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.missing or self.unexpected or self.shape)

    @property
    def num_loaded(self) -> int:
        return self.num_model - len(self.missing) - len(self.shape)

    def describe(self) -> str:
        parts = []
        if self.missing:
            parts.append(f'{len(self.missing)} of the model\'s {self.num_model} weights are '
                         f'not in it ({key_prefixes(self.missing)})')
        if self.unexpected:
            parts.append(f'{len(self.unexpected)} of its weights are not in the model '
                         f'({key_prefixes(self.unexpected)})')
        if self.shape:
            shown = ', '.join(f'{k} {tuple(c)} vs {tuple(m)}' for k, c, m in self.shape[:3])
            more = f' and {len(self.shape) - 3} more' if len(self.shape) > 3 else ''
            parts.append(f'{len(self.shape)} differ in shape (checkpoint vs model: '
                         f'{shown}{more})')
        return '; '.join(parts)


def key_prefixes(keys: Sequence[str], depth: int = 2, limit: int = 6) -> str:
    """``'head.fc.* (2), head.vis.* (2)'``: the keys grouped by their first
    ``depth`` module names, in order of appearance."""
    groups: Dict[str, int] = {}
    for key in keys:
        parts = key.split('.')
        prefix = '.'.join(parts[:min(depth, len(parts) - 1)]) if len(parts) > 1 else key
        groups[prefix] = groups.get(prefix, 0) + 1
    shown = [f'{p}.* ({n})' if '.' in p or n > 1 else p for p, n in list(groups.items())[:limit]]
    if len(groups) > limit:
        shown.append(f'and {len(groups) - limit} more')
    return ', '.join(shown)


def read_checkpoint(path: str) -> dict:
    """``torch.load`` of a local checkpoint on the CPU, after
    :func:`check_checkpoint_file`.

    Raises:
        CheckpointFileError: not a file torch can read.
    """
    if not osp.isfile(path):
        raise CheckpointFileError(f'checkpoint {path!r} not found')
    check_checkpoint_file(path)
    allow_mmengine_checkpoints()
    try:
        ckpt = torch.load(path, map_location='cpu')
    except Exception as exc:
        raise CheckpointFileError(
            f'{path} cannot be read as a checkpoint: {type(exc).__name__}: '
            f'{str(exc).splitlines()[0] if str(exc) else ""}') from exc
    if not isinstance(ckpt, dict):
        raise CheckpointFileError(
            f'{path} holds a {type(ckpt).__name__}, not a checkpoint dict with a state_dict '
            '(a whole pickled model? save model.state_dict() instead)')
    return ckpt


def checkpoint_state_dict(ckpt: dict) -> Dict[str, Any]:
    """The weights of a checkpoint (``ckpt['state_dict']``, or ``ckpt``
    itself for a bare state dict), with DDP's ``module.`` prefix removed as
    MMEngine's loading does. An EMA checkpoint's ``ema_state_dict`` is not
    read: MMEngine's ``EMAHook`` keeps the model's keys in ``state_dict``."""
    state = ckpt.get('state_dict', ckpt)
    if not isinstance(state, dict):
        return {}
    return {re.sub(r'^module\.', '', k): v for k, v in state.items()
            if isinstance(v, torch.Tensor)}


def checkpoint_key_mismatch(model: torch.nn.Module, ckpt: dict) -> KeyMismatch:
    """Compare ``model.state_dict()`` with the checkpoint's weights (see
    :func:`checkpoint_state_dict`); the allowed differences
    (:data:`IGNORED_UNEXPECTED_PREFIXES`, :data:`IGNORED_MISSING`)
    are not counted."""
    from mmengine.model import is_model_wrapper
    if is_model_wrapper(model):
        model = model.module
    own = model.state_dict()
    saved = checkpoint_state_dict(ckpt)
    result = KeyMismatch(num_model=len(own))
    for key, value in own.items():
        if key not in saved:
            if not _filled_in_by_loading(key, saved):
                result.missing.append(key)
        elif tuple(saved[key].shape) != tuple(value.shape):
            result.shape.append((key, tuple(saved[key].shape), tuple(value.shape)))
    result.unexpected = [k for k in saved
                         if k not in own and not k.startswith(IGNORED_UNEXPECTED_PREFIXES)]
    return result


def _filled_in_by_loading(key: str, saved: Dict[str, Any]) -> bool:
    """A missing ``key`` that an older checkpoint of the same module may
    lack (:data:`IGNORED_MISSING`)."""
    module, _, name = key.rpartition('.')
    sibling = IGNORED_MISSING.get(name)
    return sibling is not None and f'{module}.{sibling}' in saved


def checkpoint_config(ckpt: dict) -> Optional[dict]:
    """What the checkpoint's ``meta`` says about the config it was saved
    with (MMEngine's Runner stores the config text in ``meta['cfg']`` and
    ``<config name>_<time>`` in ``meta['experiment_name']``): ``name`` (the
    config file's name, when known), ``model``, ``backbone``, ``head``,
    ``scope`` (each ``None`` when unknown); ``None`` without any of them."""
    meta = ckpt.get('meta') if isinstance(ckpt.get('meta'), dict) else {}
    name = meta.get('experiment_name')
    if isinstance(name, str):
        name = re.sub(r'_\d{8}_\d{6}$', '', name)
    else:
        name = None
    info = dict(name=name, model=None, backbone=None, head=None, scope=None)
    text = meta.get('cfg')
    if isinstance(text, str):
        info.update(_config_text_types(text))
    return info if any(info.values()) else None


def _config_text_types(text: str) -> dict:
    """``model`` / ``backbone`` / ``head`` types and ``default_scope`` of a
    config text, read by parsing it (no import runs: ``custom_imports`` is
    only a dict here)."""
    import ast
    found: Dict[str, Optional[str]] = {}
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return found

    def literal_type(call) -> Optional[str]:
        for kw in getattr(call, 'keywords', []):
            if kw.arg == 'type' and isinstance(kw.value, ast.Constant):
                return str(kw.value.value)
        return None

    for node in tree.body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)):
            continue
        target = node.targets[0].id
        if target == 'default_scope' and isinstance(node.value, ast.Constant):
            found['scope'] = str(node.value.value)
        elif target == 'model' and isinstance(node.value, ast.Call):
            found['model'] = literal_type(node.value)
            for kw in node.value.keywords:
                if kw.arg in ('backbone', 'head', 'bbox_head') and isinstance(kw.value, ast.Call):
                    found['head' if kw.arg != 'backbone' else 'backbone'] = literal_type(kw.value)
    return found


def describe_checkpoint_config(info: Optional[dict]) -> str:
    """``"config 'regression_effl0_128x96' (TopdownPoseEstimator, backbone
    KPEfficientNetLite, head KPRegressionHead)"``; ``''`` when unknown."""
    if not info:
        return ''
    parts = [info['model']] if info.get('model') else []
    parts += [f'{k} {info[k]}' for k in ('backbone', 'head') if info.get(k)]
    name = f"config {info['name']!r}" if info.get('name') else 'a config'
    return name + (f' ({", ".join(parts)})' if parts else '')


def is_pose_checkpoint(info: Optional[dict]) -> bool:
    """Whether :func:`checkpoint_config` says an MMPose model saved it."""
    if not info:
        return False
    return info.get('scope') == 'mmpose' or str(info.get('model') or '').endswith(
        'PoseEstimator')


def check_model_checkpoint(model: torch.nn.Module, checkpoint: Union[str, dict],
                           strict: bool = True, config: Optional[str] = None,
                           name: Optional[str] = None) -> KeyMismatch:
    """Check that a checkpoint's weights fit ``model``, before they are
    loaded: MMEngine and ``mmpose.apis.init_model`` load non-strictly, so
    the checkpoint of another model leaves a randomly initialised head (or
    backbone) behind and only logs the missing/unexpected keys.

    Args:
        model: the built model (a DDP wrapper is unwrapped).
        checkpoint: a local path or an already loaded checkpoint dict.
        strict: raise on any mismatch (inference, evaluation, export,
            resuming); ``False`` (fine-tuning from ``load_from``) only
            reports it: see :func:`describe_partial_load`.
        config: the config the model was built from, named in the message.
        name: the checkpoint named in the message (default: its path).

    Returns:
        KeyMismatch: empty (falsy) when every weight fits.

    Raises:
        CheckpointFileError: not a readable checkpoint file.
        CheckpointMismatchError: ``strict`` and the weights do not fit,
            naming the missing/unexpected prefixes and the config the
            checkpoint was saved with when its ``meta`` tells.
    """
    ckpt = read_checkpoint(checkpoint) if isinstance(checkpoint, str) else checkpoint
    if name is None:
        name = checkpoint if isinstance(checkpoint, str) else 'the checkpoint'
    mismatch = checkpoint_key_mismatch(model, ckpt)
    if strict and mismatch:
        saved = describe_checkpoint_config(checkpoint_config(ckpt))
        target = f'the model of {config}' if config else 'the model built from the config'
        raise CheckpointMismatchError(
            f'checkpoint {name} does not fit {target}: {mismatch.describe()}. '
            + (f'It was saved with {saved}. ' if saved else '')
            + 'Loading it would leave these layers randomly initialised; pass the config '
            'the checkpoint was trained with (or the checkpoint of this config)')
    return mismatch


def describe_partial_load(mismatch: KeyMismatch, name: str) -> str:
    """The warning for a non-strict (fine-tuning) load."""
    return (f'load_from {name} fits the model only in part: {mismatch.num_loaded} of its '
            f'{mismatch.num_model} weights are loaded, the rest start from their '
            f'initialisation: {mismatch.describe()}')


def load_model_checkpoint(model: torch.nn.Module, checkpoint: Union[str, dict],
                          config: Optional[str] = None, name: Optional[str] = None) -> dict:
    """Check (:func:`check_model_checkpoint`, strict) and load a local
    checkpoint (path, or a dict from :func:`read_checkpoint` named by
    ``name``) into ``model`` as MMEngine's ``load_checkpoint`` does, and
    return the checkpoint dict (its ``meta`` holds e.g. ``dataset_meta``).

    Raises:
        CheckpointFileError, CheckpointMismatchError: see
        :func:`check_model_checkpoint`.
    """
    from mmengine.model import is_model_wrapper
    from mmengine.runner.checkpoint import _load_checkpoint_to_model
    ckpt = read_checkpoint(checkpoint) if isinstance(checkpoint, str) else checkpoint
    check_model_checkpoint(model, ckpt, strict=True, config=config,
                           name=checkpoint if isinstance(checkpoint, str) else name)
    _load_checkpoint_to_model(model.module if is_model_wrapper(model) else model, ckpt,
                              strict=False)
    return ckpt
