import functools
import random
from typing import Any, Dict, Optional

import numpy as np
import torch
from mmengine.hooks import Hook
from mmpose.registry import HOOKS

#: Key of the random state in a checkpoint.
CHECKPOINT_KEY = 'kp_random_state'


def get_random_state() -> Dict[str, Any]:
    """The process's Python, NumPy and torch (CPU, and CUDA if any) random
    states, in types a weights-only ``torch.load`` accepts."""
    state = dict(python=list(random.getstate()), numpy=list(np.random.get_state()),
                 torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def set_random_state(state: Dict[str, Any]) -> None:
    """Inverse of :func:`get_random_state`."""
    python = state['python']
    random.setstate((python[0], tuple(python[1]), python[2]))
    np.random.set_state(tuple(state['numpy']))
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


@HOOKS.register_module()
class KPRandomStateHook(Hook):
    """Make ``--resume`` continue the random streams of the interrupted run,
    so that a resumed run trains on the same augmentations, drop-path masks
    and sample order as an uninterrupted one.

    MMEngine restores weights, optimizer, schedulers and epoch, but not

    * the random state: the resumed process starts from a fresh seed, so
      every random draw of the epochs after the resume (data augmentation in
      the main process, stochastic depth, ...) differs;
    * the sampler's and the data-loader workers' seed when the config sets
      no ``randomness.seed``: the resumed run draws a new seed and builds its
      data loader with it before it reads the checkpoint's seed, so it
      shuffles the epochs differently.

    This hook saves the Python, NumPy and torch random states in every
    checkpoint (``kp_random_state``) and, on resume, puts them back when
    training starts, together with the checkpoint's seed for the training
    sampler and the data-loader workers. It also keeps validation from
    moving the training's random stream (validation draws from it, e.g.
    to seed its data loader), so that a run validated at epoch N and one
    resumed after epoch N draw the same numbers.

    What it cannot restore: the random streams of data-loader workers that
    live across epochs (``persistent_workers=True``). A resumed run restarts
    them, so its augmentations after the resume differ from an uninterrupted
    run's; for a bit-exact resume, train with ``persistent_workers=False``
    (workers are then re-seeded identically at every epoch) or
    ``num_workers=0``.
    """

    priority = 'VERY_LOW'

    def __init__(self) -> None:
        self._resumed: Optional[Dict[str, Any]] = None
        self._before_val: Optional[Dict[str, Any]] = None

    # ------------------------------------------------------------ saving
    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        # a checkpoint saved during validation (save_best) records the
        # training's stream as it was before validation
        checkpoint[CHECKPOINT_KEY] = (self._before_val if self._before_val is not None
                                      else get_random_state())

    # ------------------------------------------------------------ validation
    def before_val(self, runner) -> None:
        if getattr(runner, '_train_loop', None) is not None:  # validating in training
            self._before_val = get_random_state()

    def after_val(self, runner) -> None:
        if self._before_val is not None:
            set_random_state(self._before_val)
            self._before_val = None

    # ------------------------------------------------------------ resuming
    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if getattr(runner, '_resume', False) and CHECKPOINT_KEY in checkpoint:
            # applied in before_train: Runner.resume re-seeds after this hook
            self._resumed = dict(state=checkpoint[CHECKPOINT_KEY],
                                 seed=checkpoint.get('meta', {}).get('seed'))

    def before_train(self, runner) -> None:
        if self._resumed is None:
            return
        seed = self._resumed['seed']
        loader = runner.train_dataloader
        if seed is not None:
            sampler = getattr(loader, 'sampler', None)
            if hasattr(sampler, 'seed'):
                sampler.seed = seed
            init = getattr(loader, 'worker_init_fn', None)
            if isinstance(init, functools.partial) and 'seed' in init.keywords:
                loader.worker_init_fn = functools.partial(
                    init.func, *init.args, **dict(init.keywords, seed=seed))
        set_random_state(self._resumed['state'])
        runner.logger.info('KPRandomStateHook: random state and sampler seed '
                           f'({seed}) of the checkpoint restored')
        self._resumed = None
