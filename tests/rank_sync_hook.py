"""A test-only MMEngine hook (imported by a training subprocess through the
config's ``custom_imports``, with tests/ on ``PYTHONPATH``): after each
training epoch every rank hashes its model's parameters and rank 0 logs
whether the hashes agree. Data-parallel training keeps the ranks' parameters
bit-identical (the same all-reduced gradients, the same optimizer step), so a
difference means the ranks trained apart."""
import hashlib

from mmengine.dist import all_gather_object, get_world_size
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS


def parameter_digest(model) -> str:
    """SHA-1 of every parameter's name and bytes, in the model's order."""
    digest = hashlib.sha1()
    for name, param in model.named_parameters():
        digest.update(name.encode())
        digest.update(param.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


@HOOKS.register_module()
class RankParameterSyncHook(Hook):
    """Logs ``rank parameters: epoch E identical on N ranks`` or
    ``... DIFFER on N ranks: [digests]`` after each training epoch."""

    priority = 'LOW'

    def after_train_epoch(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        digests = all_gather_object(parameter_digest(model))
        state = 'identical' if len(set(digests)) == 1 else f'DIFFER: {digests}'
        print_log(f'rank parameters: epoch {runner.epoch + 1} {state} on '
                  f'{get_world_size()} ranks', logger='current')
