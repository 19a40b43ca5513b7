"""Checks of a config against itself that MMEngine does not make.

* :func:`codec_input_size_problems`: every copy of the model input size
  (the head's codec, the ``GenerateTarget`` encoders, ``TopdownAffine`` /
  ``BottomupResize`` / ``BottomupRandomAffine`` / ``KPWholeImageBBox`` in
  every pipeline) must be the same: a crop of one size with targets and
  decode of another trains and evaluates silently wrong numbers (a
  regression head learns targets out to +-2 instead of +-0.75).
* :func:`unknown_option_keys`: ``--cfg-options`` keys the config does not
  have; ``Config.merge_from_dict`` adds them silently and nothing reads a
  misspelt one (``model.test_cfg.flip_tset=False``).
"""
import difflib
import inspect
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

#: Pipeline steps whose ``input_size`` is the model input ``(W, H)``.
INPUT_SIZE_STEPS = ('TopdownAffine', 'BottomupResize', 'BottomupRandomAffine',
                    'KPWholeImageBBox')


class ConfigConsistencyError(ValueError):
    """Parts of a config that disagree (the message names both)."""


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _datasets(cfg: Any, key: str) -> Iterator[Tuple[str, Any]]:
    """``(option path, dataset cfg)`` for a dataset and its children."""
    if not isinstance(cfg, dict):
        return
    children = cfg.get('datasets')
    if children:
        for i, child in enumerate(children):
            yield from _datasets(child, f'{key}.datasets.{i}')
        return
    if isinstance(cfg.get('dataset'), dict):
        yield from _datasets(cfg['dataset'], f'{key}.dataset')
        return
    yield key, cfg


def input_size_copies(cfg: Any, splits: Sequence[str] = ('train', 'val', 'test')
                      ) -> List[Tuple[str, list]]:
    """Every place the config states the model input size, as
    ``(where, [W, H])``: ``model.head.decoder`` first, then each split's
    pipeline steps and ``GenerateTarget`` encoders (a list of encoders,
    as multi-level codecs take, gives one entry each)."""
    found: List[Tuple[str, list]] = []
    head = (cfg.get('model') or {}).get('head') or {}
    decoder = head.get('decoder') if isinstance(head, dict) else None
    if isinstance(decoder, dict) and decoder.get('input_size') is not None:
        found.append((f'model.head.decoder ({decoder.get("type")})',
                      _plain(decoder['input_size'])))
    seen = set()
    for split in splits:
        loader = cfg.get(f'{split}_dataloader')
        if not isinstance(loader, dict):
            continue
        for key, ds in _datasets(loader.get('dataset'), f'{split}_dataloader.dataset'):
            if id(ds) in seen:  # test_dataloader = val_dataloader
                continue
            seen.add(id(ds))
            for i, step in enumerate(ds.get('pipeline') or []):
                if not isinstance(step, dict):
                    continue
                where = f'{key}.pipeline[{i}] ({step.get("type")})'
                if step.get('type') in INPUT_SIZE_STEPS and step.get('input_size') is not None:
                    found.append((where, _plain(step['input_size'])))
                if step.get('type') == 'GenerateTarget':
                    encoders = step.get('encoder')
                    encoders = encoders if isinstance(encoders, (list, tuple)) else [encoders]
                    for j, enc in enumerate(encoders):
                        if isinstance(enc, dict) and enc.get('input_size') is not None:
                            suffix = f'[{j}]' if len(encoders) > 1 else ''
                            found.append((f'{where} encoder{suffix} ({enc.get("type")})',
                                          _plain(enc['input_size'])))
    return found


def codec_input_size_problems(cfg: Any, splits: Sequence[str] = ('train', 'val', 'test')
                              ) -> List[str]:
    """One message per copy of the input size (:func:`input_size_copies`)
    that differs from the first (the head's codec when it has one)."""
    copies = input_size_copies(cfg, splits)
    if not copies:
        return []
    ref_where, ref = copies[0]
    problems = []
    for where, size in copies[1:]:
        if size != ref:
            problems.append(
                f'{where} has input_size={tuple(size)} but {ref_where} has '
                f'input_size={tuple(ref)}: the crops, the training targets and the decode '
                'must use one input size (W, H), or the keypoints are encoded and decoded '
                'in a frame of another size. Define it once (codec = dict(..., '
                "input_size=...), TopdownAffine(input_size=codec['input_size'])) or change "
                'every copy with --cfg-options')
    return problems


def check_codec_input_sizes(cfg: Any, splits: Sequence[str] = ('train', 'val', 'test')) -> None:
    """Raise :class:`ConfigConsistencyError` listing
    :func:`codec_input_size_problems`."""
    problems = codec_input_size_problems(cfg, splits)
    if problems:
        raise ConfigConsistencyError('the config disagrees with itself: '
                                     + '; '.join(problems))


#: Top-level keys MMEngine's ``Runner.from_cfg`` (and the tools) read besides
#: ``Runner.__init__``'s parameters.
RUNNER_KEYS = ('runner_type', 'model_wrapper_cfg', 'compile', 'custom_imports',
               'find_unused_parameters', 'filename')
#: Keys of a ``*_dataloader`` dict (MMEngine's ``build_dataloader``: the
#: rest go to ``torch.utils.data.DataLoader``).
DATALOADER_KEYS = ('dataset', 'sampler', 'batch_sampler', 'collate_fn', 'worker_init_fn')


def _registered(type_name: Any, scope: str) -> Any:
    """The class (or function) a config's ``type`` names, looked up in the
    registries of ``scope`` (``mmpose``, ``mmdet``) and MMEngine's; ``None``
    when not found."""
    if not isinstance(type_name, str):
        return type_name if callable(type_name) else None
    import importlib

    from mmengine.registry import Registry
    modules = []
    for name in (f'{scope}.registry', 'mmengine.registry'):
        try:
            modules.append(importlib.import_module(name))
        except ImportError:
            continue
    for module in modules:
        for value in vars(module).values():
            if isinstance(value, Registry):
                try:
                    found = value.get(type_name)
                except Exception:  # a scope whose package is not installed
                    found = None
                if found is not None:
                    return found
    return None


def _parameters(obj: Any) -> Optional[set]:
    """Names the constructor of ``obj`` (and of its base classes) takes;
    ``None`` when they cannot be told."""
    targets = [c.__dict__['__init__'] for c in inspect.getmro(obj)
               if '__init__' in c.__dict__ and c is not object] if inspect.isclass(obj) else [obj]
    names: set = set()
    for target in targets:
        try:
            sig = inspect.signature(target)
        except (TypeError, ValueError):
            return None
        names.update(p.name for p in sig.parameters.values()
                     if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name != 'self')
    return names


def _accepted_keys(node: dict, path: List[str], scope: str) -> Optional[set]:
    """Keys that something reads in the dict at ``path`` beyond those it
    has: its class's parameters (a dict with a ``type``), a Runner's or a
    DataLoader's; ``None``: cannot tell (no warning)."""
    if not path:
        from mmengine.runner import Runner
        return (_parameters(Runner) or set()) | set(RUNNER_KEYS)
    if len(path) == 1 and path[0].endswith('_dataloader'):
        from torch.utils.data import DataLoader
        return (_parameters(DataLoader) or set()) | set(DATALOADER_KEYS)
    if 'type' in node:
        target = _registered(node['type'], scope)
        return _parameters(target) if target is not None else None
    return set()


def unknown_option_keys(cfg: Any, options: Dict[str, Any]) -> List[str]:
    """One line per ``--cfg-options`` key that the config does not have and
    that nothing reads, naming the nearest existing key when one is close
    (``model.test_cfg.flip_tset`` -> ``model.test_cfg.flip_test``). Call it
    before merging. A new key that the dict's class (its ``type``), the
    Runner or a DataLoader takes as a parameter is fine
    (``test_dataloader.dataset.bbox_file``)."""
    scope = cfg.get('default_scope') or 'mmpose'
    lines = []
    for key in options or {}:
        node: Any = getattr(cfg, '_cfg_dict', cfg)  # a Config holds a ConfigDict
        parts = key.split('.')
        for i, part in enumerate(parts):
            here = '.'.join(parts[:i]) or 'the config'
            if isinstance(node, (list, tuple)):
                if part.isdigit() and int(part) < len(node):
                    node = node[int(part)]
                    continue
                lines.append(f'--cfg-options {key}: {here} is a list of {len(node)}, it has '
                             f'no item {part}; the option is ignored')
                break
            if not isinstance(node, dict):
                break
            if part in node:
                node = node[part]
                continue
            accepted = _accepted_keys(node, parts[:i], scope)
            if accepted is None or part in accepted:
                break
            known = sorted(set(map(str, node.keys())) | accepted)
            near = difflib.get_close_matches(part, known, n=1, cutoff=0.75)
            hint = f" (did you mean {'.'.join(parts[:i] + [near[0]])}?)" if near else ''
            lines.append(f'--cfg-options {key}: {here} has no key {part!r} and nothing reads '
                         f'it; the option is ignored{hint}')
            break
    return lines


def merge_cfg_options(cfg: Any, options: Optional[Dict[str, Any]], warn=None) -> List[str]:
    """``cfg.merge_from_dict(options)``, after telling (``warn``, default:
    ``warning: ...`` on stderr, once per process rank 0) about the keys
    :func:`unknown_option_keys` finds. Returns those lines."""
    if not options:
        return []
    lines = unknown_option_keys(cfg, options)
    if warn is None:
        import os
        import sys

        def warn(line: str) -> None:
            if os.environ.get('RANK', '0') == '0':
                print(f'warning: {line}', file=sys.stderr)
    for line in lines:
        warn(line)
    cfg.merge_from_dict(options)
    return lines
