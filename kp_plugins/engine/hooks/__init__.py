from .nonfinite_loss_hook import KPNonFiniteLossHook, NonFiniteLossError
from .random_state_hook import KPRandomStateHook

__all__ = ['KPNonFiniteLossHook', 'KPRandomStateHook', 'NonFiniteLossError']
