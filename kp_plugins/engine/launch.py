"""What tools/train.py and tools/test.py share: config loading and the
adjustments that let MMEngine's Runner work on this stack (CPU-only
distributed runs, torch >= 2.6 checkpoints), and the checks that run before
the Runner is built (data paths and content, checkpoint files)."""
import os
import os.path as osp
import sys
from typing import Optional, Sequence

import torch
from mmengine.config import Config, DictAction  # noqa: F401  (re-exported for tools)

from ..utils.config_check import merge_cfg_options
from ..utils.data_check import DataCheckError, DataNotFoundError, check_data_paths, preflight_check
from ..utils.paths import ConfigNotFoundError, resolve_config_path
from .checkpoint import (
    CheckpointFileError,
    CheckpointMismatchError,
    check_checkpoint_file,
    check_model_checkpoint,
    describe_partial_load,
)


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """Load a config (ours or MMPose's own: a file path, ``mmpose::`` bases
    included, or ``mmpose::<path inside mmpose's configs>``) and merge
    ``--cfg-options``. Exits with a clear message when the file is missing or
    does not parse."""
    try:
        path = resolve_config_path(path)
    except ConfigNotFoundError as exc:
        sys.exit(f'error: {exc}')
    try:
        cfg = Config.fromfile(path)
    except Exception as exc:  # syntax errors, missing bases
        sys.exit(f'error: could not load config {path!r}: {type(exc).__name__}: {exc}')
    if cfg_options:
        merge_cfg_options(cfg, cfg_options)
    return cfg


def ensure_kp_plugins_imported(cfg: Config) -> None:
    """Import kp_plugins even for a config that does not list it (e.g. an
    MMPose config evaluating one of our checkpoints), so our modules are
    registered and MMEngine checkpoints load under weights-only torch.load."""
    import kp_plugins  # noqa: F401


def setup_device(cfg: Config, launcher: str) -> None:
    """Let a distributed launch run on CPU: gloo backend and a DDP wrapper
    without ``device_ids`` (MMEngine assumes CUDA for both)."""
    if launcher == 'none' or torch.cuda.is_available():
        return
    cfg.setdefault('env_cfg', {})
    cfg.env_cfg.setdefault('dist_cfg', {})
    cfg.env_cfg.dist_cfg['backend'] = 'gloo'
    if not cfg.get('model_wrapper_cfg'):
        # device_ids=None: MMEngine would otherwise pass [LOCAL_RANK], which
        # DDP rejects for a CPU module.
        cfg.model_wrapper_cfg = dict(
            type='MMDistributedDataParallel', broadcast_buffers=False, device_ids=None,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
    # MMEngine's pytorch launcher calls torch.cuda.set_device(local_rank),
    # which raises without a GPU; initialise the gloo group ourselves first
    # (init_dist leaves an initialised group alone).
    if launcher == 'pytorch' and not torch.distributed.is_initialized():
        torch.distributed.init_process_group(backend='gloo')


def finish_distributed() -> None:
    """End a distributed run cleanly: wait for every rank (rank 0 may still be
    writing the last checkpoint) and destroy the process group.

    Without it a rank that finishes first exits with the gloo group alive, and
    its interpreter teardown can abort (``terminate called without an active
    exception``, SIGABRT), which fails the whole torchrun job."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


def check_data(cfg: Config, splits: Sequence[str], config_name: str,
               check_images: bool = False) -> None:
    """Stop at once, with the expected paths and the --cfg-options to change
    them, when a dataset the run needs is missing; then run the pre-flight
    check of the data's content (:func:`~kp_plugins.utils.data_check.
    preflight_check`): stop listing every problem, or log its counts and
    the persons MMPose will drop."""
    try:
        check_data_paths(cfg, splits, config_name)
        preflight_check(cfg, splits, check_images=check_images, log=_log_data_check)
    except (DataNotFoundError, DataCheckError) as exc:
        sys.exit(f'error: {exc}')


def _log_data_check(line: str) -> None:
    import logging

    from mmengine.logging import print_log
    if os.environ.get('RANK', '0') != '0':  # torchrun: every process checks, one logs
        return
    if line.startswith('WARNING '):
        print_log(f'data check: {line[len("WARNING "):]}', logger='current',
                  level=logging.WARNING)
    else:
        print_log(f'data check: {line}', logger='current')


def check_checkpoint(path: str, option: str) -> None:
    """Stop with a clear message when ``path`` (given as ``option``) is a
    local file that is not a PyTorch checkpoint."""
    if not path or '://' in path or not osp.isfile(path):
        return
    try:
        check_checkpoint_file(path)
    except CheckpointFileError as exc:
        sys.exit(f'error: {option}: {exc}')


def check_runner_checkpoint(runner, path: str, option: str, config: str,
                            strict: bool = True) -> None:
    """Before the Runner loads ``path`` (given as ``option``): stop with a
    clear message when its weights do not fit the Runner's model
    (:func:`~kp_plugins.engine.checkpoint.check_model_checkpoint`), or, with
    ``strict=False`` (fine-tuning from ``load_from``), log how much of it
    is loaded."""
    if not path or '://' in path or not osp.isfile(path):
        return
    try:
        mismatch = check_model_checkpoint(runner.model, path, strict=strict, config=config)
    except CheckpointFileError as exc:
        sys.exit(f'error: {option}: {exc}')
    except CheckpointMismatchError as exc:  # "checkpoint X does not fit ..."
        sys.exit(f'error: {exc}' if option == 'checkpoint' else f'error: {option}: {exc}')
    if mismatch and os.environ.get('RANK', '0') == '0':
        import logging

        from mmengine.logging import print_log
        print_log(describe_partial_load(mismatch, path), logger='current',
                  level=logging.WARNING)


def default_work_dir(config_path: str) -> str:
    return osp.join('./work_dirs', osp.splitext(osp.basename(config_path))[0])


def set_local_rank(local_rank: int) -> None:
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(local_rank)
