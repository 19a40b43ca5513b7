from .nonfinite_loss_hook import KPNonFiniteLossHook, NonFiniteLossError
from .random_state_hook import KPRandomStateHook
from .resume_validation_hook import KPResumeValidationHook

__all__ = ['KPNonFiniteLossHook', 'KPRandomStateHook', 'KPResumeValidationHook',
           'NonFiniteLossError']
