from .nonfinite_loss_hook import KPNonFiniteLossHook, NonFiniteLossError

__all__ = ['KPNonFiniteLossHook', 'NonFiniteLossError']
