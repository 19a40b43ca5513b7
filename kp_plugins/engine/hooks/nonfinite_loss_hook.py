import math
import os.path as osp
from typing import List, Optional, Sequence

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook
from mmengine.optim import OptimWrapper
from mmpose.registry import HOOKS

from ...utils.batch_check import annotation_problems_in_batch


class NonFiniteLossError(RuntimeError):
    """Training stopped after too many consecutive non-finite losses."""


@HOOKS.register_module()
class KPNonFiniteLossHook(Hook):
    """Skip the optimizer step of every iteration whose loss is NaN or inf,
    and stop the run after ``max_consecutive`` such iterations in a row.

    Policy: **skip, then stop** (no rollback). A non-finite loss (one bad
    batch, an overflow) neither updates the weights nor the optimizer state:
    the loss is checked before ``backward`` and the step is left out, and
    the model's buffers (BatchNorm running statistics, which the forward
    pass of a NaN batch would turn NaN) are put back as they were before
    the iteration, so the model stays that of the last finite step. The iteration is logged as a
    warning with its number and the image ids of its batch (and, where an
    annotation of the batch holds the value behind it, e.g. an area <= 0 or
    a coordinate that is not finite in float32, the image, its file, the
    annotation and the field: :func:`~kp_plugins.utils.batch_check.
    annotation_problems_in_batch`), and its losses
    are kept out of the logged running averages (they would show ``nan``
    for the next ``window_size`` iterations). When ``max_consecutive``
    iterations in a row are non-finite the run is not recovering (diverged
    learning rate, broken data), and it stops with
    :class:`NonFiniteLossError` naming the iteration, the images of the
    last batch and the last checkpoint saved, from which the user resumes
    (``tools/train.py CONFIG --resume PATH``, e.g. with a lower learning
    rate). Unlike Ultralytics, which reloads its last good weights and goes
    on, nothing is reloaded behind the user's back.

    In a distributed run every process skips when any process's loss is
    non-finite (one all-reduce of a flag per iteration), so the processes
    stay in step.

    Args:
        max_consecutive: non-finite iterations in a row that stop the run
            (>= 1).
    """

    priority = 'HIGHEST'  # before RuntimeInfoHook logs the outputs

    def __init__(self, max_consecutive: int = 5) -> None:
        if int(max_consecutive) != max_consecutive or max_consecutive < 1:
            raise ValueError('KPNonFiniteLossHook: max_consecutive must be an '
                             f'integer >= 1, got {max_consecutive!r}')
        self.max_consecutive = int(max_consecutive)
        self.consecutive = 0
        self.skipped_in_epoch = 0
        self.skipped_total = 0
        self._batch_ids: List = []
        self._batch_samples: List = []
        self._data_problems: List[str] = []
        self._skipped_now = False
        self._buffers: List[torch.Tensor] = []
        self._model = None

    # ------------------------------------------------------------ the guard
    def before_train(self, runner) -> None:
        self._model = runner.model
        wrappers = self._optim_wrappers(runner.optim_wrapper)
        for wrapper in wrappers:
            if not getattr(wrapper, '_kp_nonfinite_guard', False):
                self._guard(wrapper)

    @staticmethod
    def _optim_wrappers(optim_wrapper) -> Sequence[OptimWrapper]:
        if isinstance(optim_wrapper, OptimWrapper):
            return [optim_wrapper]
        # OptimWrapperDict: one wrapper per sub-model
        return list(getattr(optim_wrapper, 'optim_wrappers', {}).values())

    def _guard(self, wrapper: OptimWrapper) -> None:
        """Wrap ``wrapper.update_params`` (backward + step + zero_grad, called
        by the model's ``train_step``) so a non-finite loss skips all three."""
        update_params = wrapper.update_params
        hook = self

        def guarded_update_params(loss: torch.Tensor, *args, **kwargs):
            if hook.loss_is_finite(loss):
                return update_params(loss, *args, **kwargs)
            hook._skipped_now = True
            hook.restore_buffers()
            return None

        wrapper.update_params = guarded_update_params
        wrapper._kp_nonfinite_guard = True

    @staticmethod
    def loss_is_finite(loss: torch.Tensor) -> bool:
        """Whether the loss is finite in every process."""
        finite = torch.isfinite(loss.detach()).all().to(torch.float32)
        if get_world_size() > 1:
            finite = finite.reshape(1)
            all_reduce(finite, op='min')  # all processes agree to skip
        return bool(finite.item() > 0)

    # ------------------------------------------------------------ bookkeeping
    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        self._skipped_now = False
        self._batch_ids = self.image_ids(data_batch)
        self._batch_samples = (data_batch.get('data_samples') or []
                               if isinstance(data_batch, dict) else [])
        self._data_problems = []
        # the forward pass updates BatchNorm statistics: keep a copy to put
        # back if this iteration is skipped
        self._buffers = [b.detach().clone() for b in runner.model.buffers()]

    def restore_buffers(self) -> None:
        """Put the model's buffers back as they were before this iteration."""
        if self._model is None or not self._buffers:
            return
        with torch.no_grad():
            for buffer, saved in zip(self._model.buffers(), self._buffers):
                buffer.copy_(saved)

    @staticmethod
    def image_ids(data_batch) -> List:
        """Image ids (``img_id`` of the data samples' metainfo) of a batch."""
        if not isinstance(data_batch, dict):
            return []
        ids = []
        for sample in data_batch.get('data_samples') or []:
            meta = getattr(sample, 'metainfo', {})
            ids.append(meta.get('img_id', meta.get('img_path', '?')))
        return ids

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        if not self._skipped_now:
            self.consecutive = 0
            return
        self.consecutive += 1
        self.skipped_in_epoch += 1
        self.skipped_total += 1
        values = {}
        if outputs:
            # keep the non-finite values out of the logged running averages
            for key in [k for k in outputs if 'loss' in k]:
                values[key] = float(outputs.pop(key))
        iteration = runner.iter + 1
        shown = ', '.join(f'{k}={v:g}' for k, v in values.items()
                          if not math.isfinite(v)) or 'loss not finite'
        self._data_problems = annotation_problems_in_batch(self._batch_samples)
        runner.logger.warning(
            f'KPNonFiniteLossHook: iteration {iteration} (epoch '
            f'{runner.epoch + 1}): non-finite loss ({shown}) on the batch of '
            f'images {self._batch_ids}{self.data_cause()}; optimizer step skipped '
            f'({self.consecutive} in a row, the run stops at '
            f'{self.max_consecutive})')
        if self.consecutive >= self.max_consecutive:
            raise NonFiniteLossError(self.stop_message(runner, iteration))

    def after_train_epoch(self, runner) -> None:
        if self.skipped_in_epoch:
            runner.logger.warning(
                f'KPNonFiniteLossHook: epoch {runner.epoch + 1}: '
                f'{self.skipped_in_epoch} iteration(s) with a non-finite loss '
                f'skipped ({self.skipped_total} in this run)')
        self.skipped_in_epoch = 0

    def stop_message(self, runner, iteration: int) -> str:
        first = iteration - self.consecutive + 1
        checkpoint = self.last_checkpoint(runner.work_dir)
        finite = all(torch.isfinite(p).all() for p in runner.model.parameters())
        where = (f'the last checkpoint saved is {checkpoint}: resume from it '
                 f'with `tools/train.py CONFIG --resume {checkpoint}` (e.g. '
                 'with a lower learning rate)' if checkpoint else
                 'no checkpoint has been saved yet')
        return (
            f'training stopped at iteration {iteration} (epoch '
            f'{runner.epoch + 1}): the loss was NaN or inf in '
            f'{self.consecutive} iterations in a row (iterations {first}-'
            f'{iteration}; KPNonFiniteLossHook max_consecutive='
            f'{self.max_consecutive}); their optimizer steps were skipped, so '
            'the weights are those of the last finite step (they are '
            f'{"all finite" if finite else "NOT finite"}). The last batch held '
            f'images {self._batch_ids}{self.data_cause()}. '
            + ('Fix or remove those annotations (tools/train.py\'s data check '
               f'rejects them before training); {where}.' if self._data_problems else
               'Look for broken annotations or images in those batches, or a '
               f'learning rate that is too high; {where}.'))

    def data_cause(self) -> str:
        """``'; the annotations behind it: ...'`` when an annotation of the
        batch holds the value behind the non-finite loss, else ``''``."""
        if not self._data_problems:
            return ''
        return '; the annotations behind it: ' + ' | '.join(self._data_problems)

    @staticmethod
    def last_checkpoint(work_dir: str) -> Optional[str]:
        """The path MMEngine's CheckpointHook recorded in ``last_checkpoint``."""
        marker = osp.join(work_dir, 'last_checkpoint')
        if not osp.isfile(marker):
            return None
        with open(marker) as f:
            path = f.read().strip()
        return path or None
