import glob
import json
import os.path as osp
from typing import Optional

from mmengine.hooks import Hook
from mmpose.registry import HOOKS


@HOOKS.register_module()
class KPResumeValidationHook(Hook):
    """Validate the resumed epoch first when the interrupted run did not.

    MMEngine saves an epoch's checkpoint before it validates that epoch, so
    a run killed in between (or during the validation) leaves a checkpoint
    whose validation never happened, and ``--resume`` goes straight on with
    the next epoch: that epoch's metrics are missing from the logs, the
    per-epoch curves and the choice of the best checkpoint. This hook, on
    resume, looks for the resumed epoch's validation in the run's logged
    scalars (``<work_dir>/<timestamp>/vis_data/scalars.json``) and, if it is
    not there and the epoch is one that validates (``val_interval``), runs
    the validation before training continues. It is logged as that epoch's.
    """

    # after every other hook's before_train (CheckpointHook's, which the
    # validation's save_best needs, runs at VERY_LOW)
    priority = 'LOWEST'

    def __init__(self) -> None:
        self._resumed_epoch: Optional[int] = None

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if getattr(runner, '_resume', False):
            self._resumed_epoch = checkpoint.get('meta', {}).get('epoch')

    def before_train(self, runner) -> None:
        epoch, self._resumed_epoch = self._resumed_epoch, None
        loop = getattr(runner, '_val_loop', None)
        if not epoch or loop is None or not getattr(runner.train_loop, 'val_interval', 0):
            return
        if epoch % runner.train_loop.val_interval or \
                epoch < getattr(runner.train_loop, 'val_begin', 1):
            return
        if self.validated(runner.work_dir, epoch):
            return
        runner.logger.info(f'KPResumeValidationHook: epoch {epoch} was not validated '
                           'before the interruption; validating it now')
        runner.val_loop.run()

    @staticmethod
    def validated(work_dir: str, epoch: int) -> bool:
        """Whether the logged scalars of ``work_dir`` hold a validation
        record of ``epoch`` (a record without losses or learning rate whose
        ``step`` is the epoch)."""
        for path in glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')):
            with open(path) as f:
                for line in f:
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError:
                        continue  # a line cut by the interruption
                    if record.get('step') == epoch and 'lr' not in record and \
                            not any(k.startswith('loss') for k in record):
                        return True
        return False
