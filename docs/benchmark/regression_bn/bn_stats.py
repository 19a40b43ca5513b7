"""Validation metrics of a checkpoint twice: BatchNorm with its running
statistics (eval mode, what every test runs) and with each batch's own
statistics. A large gap means the running statistics lag the weights.

    python docs/benchmark/regression_bn/bn_stats.py CONFIG CHECKPOINT
"""
import sys

import torch
from mmengine.config import Config
from mmengine.runner import Runner

from kp_plugins import register_modules

register_modules()
cfg = Config.fromfile(sys.argv[1])
cfg.work_dir = '/tmp/bn_stats'
cfg.load_from = sys.argv[2]
runner = Runner.from_cfg(cfg)
print('running statistics (eval mode):', runner.test())


def batch_statistics(module: torch.nn.Module) -> None:
    if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
        module.train()  # normalize by the batch's statistics
        module.momentum = 0.0  # and leave the running ones alone


model_eval = runner.model.eval


def eval_with_batch_statistics(*args, **kwargs):
    out = model_eval(*args, **kwargs)
    runner.model.apply(batch_statistics)
    return out


runner.model.eval = eval_with_batch_statistics
print('batch statistics:', runner.test())
